"""Geometry of the hypersphere used to reason about A-Softmax.

Pure numpy.  Angles are in radians unless a name ends in ``_deg``.
"""

import numpy as np


def random_unit_vectors(n, dim, seed=0):
    """``n`` points drawn uniformly on the sphere S^(dim-1), ``[n, dim]``.

    A standard normal vector has a rotation-invariant density, so its
    direction is uniform on the sphere.
    """
    vectors = np.random.default_rng(seed).standard_normal((n, dim))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def angle_between(u, v):
    """Angle between rows of ``u`` and ``v`` (broadcast), in radians."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    cos = np.sum(u * v, axis=-1) / (np.linalg.norm(u, axis=-1)
                                    * np.linalg.norm(v, axis=-1))
    return np.arccos(np.clip(cos, -1.0, 1.0))


def chord_length(cos_theta):
    """Euclidean distance between two unit vectors: sqrt(2 - 2 cos)."""
    return np.sqrt(np.maximum(2.0 - 2.0 * np.asarray(cos_theta), 0.0))


def random_pair_angles(n_pairs, dim, seed=0):
    """Angles between ``n_pairs`` independent random pairs on S^(dim-1)."""
    points = random_unit_vectors(2 * n_pairs, dim, seed)
    return angle_between(points[:n_pairs], points[n_pairs:])


def softmax(logits):
    """Row-wise softmax, numerically stable."""
    z = np.asarray(logits, float)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def binary_region_edges(m, theta12):
    """Angular extent of class 1's A-Softmax region in the binary case.

    Class weights W1, W2 lie ``theta12`` apart in a plane.  A feature at
    angle theta1 from W1 belongs to class 1 when cos(m theta1) > cos theta2
    (m theta1 < theta2 while both are below pi).  Towards W2,
    theta2 = theta12 - theta1, so the edge is at theta12/(m+1); away from
    W2, theta2 = theta12 + theta1, so it is at theta12/(m-1).  Returns
    ``(towards, away)`` in radians; ``away`` is inf for m = 1.
    """
    m = np.asarray(m, float)
    towards = theta12 / (m + 1)
    with np.errstate(divide="ignore"):
        away = np.where(m > 1, theta12 / np.maximum(m - 1, 0), np.inf)
    return towards, away


def binary_intra_inter(m, theta12):
    """(max intra-class angle, min inter-class angle) for two classes.

    Intra: the width of a class region, theta12 (1/(m+1) + 1/(m-1)).
    Inter: the gap between the two regions, theta12 (m-1)/(m+1).
    """
    towards, away = binary_region_edges(m, theta12)
    return towards + away, theta12 - 2 * towards


def multiclass_intra_inter(m, theta_neighbour):
    """The same for a class with a neighbour on each side at one angle.

    Both edges are at theta/(m+1): intra 2 theta/(m+1), inter
    theta (m-1)/(m+1).  The criterion intra < inter needs m > 3.
    """
    edge = theta_neighbour / (np.asarray(m, float) + 1)
    return 2 * edge, theta_neighbour - 2 * edge


def minimal_m(intra_inter, lo=1.0, hi=10.0, tol=1e-10):
    """Smallest m with max intra < min inter, by bisection.

    ``intra_inter(m)`` returns the pair; the criterion must fail at
    ``lo`` and hold at ``hi``.
    """
    def holds(m):
        intra, inter = intra_inter(m)
        return intra < inter

    if holds(lo) or not holds(hi):
        raise ValueError("the criterion must fail at lo and hold at hi")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if holds(mid) else (mid, hi)
    return hi


def circle_regions(class_angles, m, n=3600):
    """Label points on the unit circle by the A-Softmax criterion.

    ``class_angles`` are the directions of the class weights (radians).
    A point at angle phi is given class y when psi(theta_y) > cos theta_j
    for every other class j (psi for the integer margin ``m``); points
    that meet no class's criterion get -1.  Returns ``(phi, labels)``.
    """
    from sphereface.margins import psi

    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    points = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    weights = np.stack([np.cos(class_angles), np.sin(class_angles)], axis=1)
    cos = points @ weights.T
    labels = np.full(n, -1)
    for y in range(len(class_angles)):
        target = np.asarray(psi(cos[:, y], m))
        others = np.delete(cos, y, axis=1).max(axis=1)
        labels[target >= others] = y
    return phi, labels


def arc_widths(phi, labels):
    """Widths (radians) of the contiguous arcs of each label on a circle.

    Returns ``{label: [widths]}``; the arc that wraps past 0 is joined.
    """
    step = 2 * np.pi / len(phi)
    changes = np.flatnonzero(labels != np.roll(labels, 1))
    if len(changes) == 0:
        return {int(labels[0]): [2 * np.pi]}
    widths = {}
    starts = np.append(changes, changes[0] + len(labels))
    for a, b in zip(starts[:-1], starts[1:]):
        widths.setdefault(int(labels[a]), []).append((b - a) * step)
    return widths

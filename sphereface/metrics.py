"""Accuracy and angle statistics of embeddings, all in degrees.

``cos`` is always ``[n, classes]`` (cosine to each class weight),
``embeddings`` ``[n, dim]``, ``labels`` ``[n]`` ints.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_BIN_WIDTH = 0.01  # degrees: quantiles are exact to this
_N_BINS = round(180 / _BIN_WIDTH)


def accuracy(logits, labels):
    """Fraction of rows whose argmax equals the label."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if len(logits) != len(labels):
        raise ValueError(f"{len(logits)} predictions for {len(labels)} "
                         "labels")
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def _degrees(cos):
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def target_angles(cos, labels):
    """theta_y: each sample's angle to its own class weight ``[n]``."""
    cos = np.asarray(cos)
    return _degrees(cos[np.arange(len(cos)), labels])


def nearest_other_angles(cos, labels):
    """min over j != y of theta_j: the closest wrong class ``[n]``."""
    cos = np.array(cos, dtype=float)
    cos[np.arange(len(cos)), labels] = -np.inf
    return _degrees(cos.max(axis=1))


def mean_margin(cos, labels):
    """Mean over samples of (min theta_j - theta_y), degrees."""
    return float(np.mean(nearest_other_angles(cos, labels)
                         - target_angles(cos, labels)))


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _quantile_from_hist(hist, q):
    cumulative = np.cumsum(hist)
    index = int(np.searchsorted(cumulative, q * cumulative[-1]))
    return (index + 1) * _BIN_WIDTH  # upper edge of the bin


def _histogram(angles):
    bins = np.minimum((angles / _BIN_WIDTH).astype(np.int64), _N_BINS - 1)
    return np.bincount(bins.ravel(), minlength=_N_BINS)


def _without_self_pairs(angles, row0, col0):
    """Block angles as a flat array, minus each sample with itself.

    ``angles[i, j]`` pairs sample ``row0 + i`` with ``col0 + j`` (one
    class, so the block may cross the diagonal).
    """
    rows = np.arange(len(angles))
    cols = rows + row0 - col0
    inside = (cols >= 0) & (cols < angles.shape[1])
    keep = np.ones(angles.shape, bool)
    keep[rows[inside], cols[inside]] = False
    return angles[keep]


def class_angle_stats(embeddings, labels, chunk=1024, q=0.95):
    """Intra- and inter-class angles over all pairs of samples.

    Returns a dict with per-class arrays ``max_intra``, ``intra_q``
    (the ``q`` quantile of intra-class pair angles), ``min_inter`` and
    ``inter_q`` (the ``1 - q`` quantile of angles to other classes), and
    the global ``max_intra_deg``, ``min_inter_deg`` and their quantile
    variants.  Samples are sorted by class; pairs go in blocks of at
    most ``chunk`` x ``chunk`` and quantiles come from 0.01-degree
    histograms, so memory stays O(chunk^2) per worker whatever the
    number of samples.  Each pair of different classes is computed once
    and counted for both classes.
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    unit, labels = _unit(embeddings)[order], labels[order]
    classes, starts = np.unique(labels, return_index=True)
    ends = np.append(starts[1:], len(labels))
    k = len(classes)
    max_intra, min_inter = np.zeros(k), np.full(k, 180.0)
    intra_hist = np.zeros((k, _N_BINS))
    inter_hist = np.zeros((k, _N_BINS))

    def blocks(ci, cj):
        """Angle blocks between class ci's rows and class cj's."""
        for row in range(starts[ci], ends[ci], chunk):
            rows = unit[row:min(row + chunk, ends[ci])]
            for col in range(starts[cj], ends[cj], chunk):
                cols = unit[col:min(col + chunk, ends[cj])]
                yield row, col, _degrees(rows @ cols.T)

    def class_against_later(ci):
        """Class ci against itself and every later class (in a thread:
        numpy's array work releases the GIL)."""
        intra_max, intra_h = 0.0, np.zeros(_N_BINS)
        for row, col, angles in blocks(ci, ci):
            angles = _without_self_pairs(angles, row, col)
            if angles.size:
                intra_max = max(intra_max, angles.max())
                intra_h += _histogram(angles)
        inter = {}
        for cj in range(ci + 1, k):
            smallest, hist = 180.0, np.zeros(_N_BINS)
            for _, _, angles in blocks(ci, cj):
                smallest = min(smallest, angles.min())
                hist += _histogram(angles)
            inter[cj] = smallest, hist
        return ci, intra_max, intra_h, inter

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        for ci, intra_max, intra_h, inter in pool.map(class_against_later,
                                                      range(k)):
            max_intra[ci], intra_hist[ci] = intra_max, intra_h
            for cj, (smallest, hist) in inter.items():
                for c in (ci, cj):  # each pair counts for both classes
                    min_inter[c] = min(min_inter[c], smallest)
                    inter_hist[c] += hist
    all_intra, all_inter = intra_hist.sum(0), inter_hist.sum(0)
    return {
        "classes": classes,
        "max_intra": max_intra,
        "min_inter": min_inter,
        "intra_q": np.array([_quantile_from_hist(h, q) for h in intra_hist]),
        "inter_q": np.array([_quantile_from_hist(h, 1 - q)
                             for h in inter_hist]),
        "max_intra_deg": float(max_intra.max()),
        "min_inter_deg": float(min_inter.min()),
        "intra_q_deg": _quantile_from_hist(all_intra, q),
        "inter_q_deg": _quantile_from_hist(all_inter, 1 - q),
    }


def criterion_fraction(stats, quantile=False):
    """Share of classes whose max intra angle < their min inter angle.

    The SphereFace criterion.  ``quantile=True`` uses the q / 1-q
    quantiles instead of the extremes, which one outlier cannot flip.
    """
    if quantile:
        return float(np.mean(stats["intra_q"] < stats["inter_q"]))
    return float(np.mean(stats["max_intra"] < stats["min_inter"]))


def angular_fisher_score(embeddings, labels):
    """S_w / S_b with cosine distances; lower is more discriminative.

    S_w = sum over samples of (1 - cos(x, class mean));
    S_b = sum over classes of n_c (1 - cos(class mean, overall mean)).
    """
    unit, labels = _unit(embeddings), np.asarray(labels)
    overall = _unit(unit.mean(axis=0, keepdims=True))[0]
    within, between = 0.0, 0.0
    for c in np.unique(labels):
        members = unit[labels == c]
        centre = _unit(members.mean(axis=0, keepdims=True))[0]
        within += float(np.sum(1.0 - members @ centre))
        between += len(members) * float(1.0 - centre @ overall)
    return within / between


def weight_angles(weights):
    """Angles between class weight columns ``[dim, classes]`` -> matrix."""
    unit = _unit(np.asarray(weights).T)
    return _degrees(unit @ unit.T)

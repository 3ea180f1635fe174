"""The A-Softmax loss family (SphereFace, Liu et al. 2017) and its kin.

Notation: ``x`` is a feature ``[batch, dim]``, ``W`` the class weights
``[dim, classes]``, ``cos_theta[i, j]`` the cosine of the angle between
``x_i`` and the (normalised) weight of class ``j``.  Every head predicts
from cosine logits; the margin only shapes the training target.
"""

import math

import keras
import tensorflow as tf

SUPPORTED_M = (1, 2, 3, 4)
KINDS = ("softmax", "modified", "a-softmax", "cosface", "arcface")
# Smallest squared norm used when dividing by |x|: keeps values and
# gradients finite for a zero feature.
_EPS = 1e-12
# SphereFace-20's published lambda schedule (the only place these
# numbers are written): lambda starts at 1000 and anneals to its floor
# of 5 at step 1,659 of the official 28,000-step run.
LAMBDA_BASE = 1000.0
LAMBDA_GAMMA = 0.12
LAMBDA_POWER = 1.0
LAMBDA_MIN = 5.0
OFFICIAL_STEPS = 28000


def chebyshev_cos_m_theta(cos_theta, m):
    """cos(m*theta) from cos(theta), by the Chebyshev polynomial T_m."""
    c = cos_theta
    polys = {1: lambda: c,
             2: lambda: 2 * c**2 - 1,
             3: lambda: 4 * c**3 - 3 * c,
             4: lambda: 8 * c**4 - 8 * c**2 + 1}
    _check_m(m)
    return polys[m]()


def _check_m(m):
    if m not in SUPPORTED_M:
        raise ValueError(
            f"m={m!r} is not supported: A-Softmax is defined here for the "
            f"integer margins {SUPPORTED_M}")


def psi(cos_theta, m):
    """SphereFace's monotone target function, from cos(theta).

    psi(theta) = (-1)^k cos(m theta) - 2k  for theta in [k pi/m, (k+1) pi/m].
    k is found by comparing cos(theta) with cos(j pi/m), so no ``acos``
    is needed and the gradient stays finite at cos(theta) = +-1.
    psi falls from 1 at theta = 0 to 1 - 2m at theta = pi.
    """
    _check_m(m)
    cos_theta = tf.convert_to_tensor(cos_theta)
    k = tf.zeros_like(cos_theta)
    for j in range(1, m):
        k += tf.cast(cos_theta <= math.cos(j * math.pi / m), cos_theta.dtype)
    sign = 1.0 - 2.0 * tf.math.floormod(k, 2.0)  # (-1)^k
    return sign * chebyshev_cos_m_theta(cos_theta, m) - 2.0 * k


def lambda_schedule(step, base=LAMBDA_BASE, gamma=LAMBDA_GAMMA,
                    power=LAMBDA_POWER, lambda_min=LAMBDA_MIN):
    """lambda = max(lambda_min, base * (1 + gamma * step) ** -power).

    The defaults are SphereFace-20's: lambda starts at 1000 (nearly
    plain softmax) and anneals to its floor of 5 at step 1,659.
    """
    step = tf.cast(step, tf.float32)
    value = base * tf.pow(1.0 + gamma * step, -power)
    return tf.maximum(tf.cast(lambda_min, tf.float32), value)


def feature_norm(features):
    """|x| per row, ``[batch, 1]``; finite gradient even at x = 0."""
    squared = tf.reduce_sum(tf.square(features), axis=-1, keepdims=True)
    return tf.sqrt(tf.maximum(squared, _EPS))


def cosine(features, weights):
    """cos(theta) between each feature and each class weight.

    features ``[batch, dim]``, weights ``[dim, classes]`` ->
    ``[batch, classes]``, clipped to [-1, 1].
    """
    unit_w = tf.math.l2_normalize(weights, axis=0, epsilon=_EPS)
    cos_theta = tf.matmul(features, unit_w) / feature_norm(features)
    return tf.clip_by_value(cos_theta, -1.0, 1.0)


def _replace_target(logits, target, labels):
    """Put ``target`` ``[batch]`` into column ``labels`` of ``logits``."""
    one_hot = tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype)
    return logits * (1.0 - one_hot) + target[:, None] * one_hot


def _target_cos(cos_theta, labels):
    one_hot = tf.one_hot(labels, tf.shape(cos_theta)[-1],
                         dtype=cos_theta.dtype)
    return tf.reduce_sum(cos_theta * one_hot, axis=-1)


def a_softmax_logits(features, weights, labels, m=4, lam=0.0):
    """A-Softmax training logits ``[batch, classes]``.

    Non-target logits are |x| cos(theta_j); the target logit is
    |x| (lam cos(theta_y) + psi(theta_y)) / (1 + lam).  ``lam`` blends in
    plain cosine logits to ease the start of training (lam -> inf is the
    modified softmax, lam = 0 the full margin).
    """
    labels = tf.cast(labels, tf.int32)
    norm = feature_norm(features)
    cos_theta = cosine(features, weights)
    cos_y = _target_cos(cos_theta, labels)
    target = (lam * cos_y + psi(cos_y, m)) / (1.0 + lam)
    return _replace_target(norm * cos_theta, norm[:, 0] * target, labels)


def cosface_logits(features, weights, labels, margin=0.35, scale=16.0):
    """CosFace (large-margin cosine) logits: s (cos(theta_y) - margin)."""
    labels = tf.cast(labels, tf.int32)
    cos_theta = cosine(features, weights)
    target = _target_cos(cos_theta, labels) - margin
    return scale * _replace_target(cos_theta, target, labels)


def arcface_logits(features, weights, labels, margin=0.5, scale=16.0):
    """ArcFace (additive angular margin) logits: s cos(theta_y + margin).

    Past theta_y = pi - margin, cos(theta + margin) would turn back up;
    there the target continues linearly (as in the ArcFace code) so it
    keeps falling with theta.
    """
    labels = tf.cast(labels, tf.int32)
    cos_theta = cosine(features, weights)
    cos_y = _target_cos(cos_theta, labels)
    sin_y = tf.sqrt(tf.maximum(1.0 - tf.square(cos_y), _EPS))
    shifted = cos_y * math.cos(margin) - sin_y * math.sin(margin)
    fallback = cos_y - math.sin(math.pi - margin) * margin
    target = tf.where(cos_y > math.cos(math.pi - margin), shifted, fallback)
    return scale * _replace_target(cos_theta, target, labels)


@keras.saving.register_keras_serializable(package="sphereface")
class MarginHead(keras.layers.Layer):
    """Classification head for every loss in the family.

    ``kind``: ``softmax`` (W x + b), ``modified`` (normalised W, no bias),
    ``a-softmax`` (angular margin ``m`` with the lambda schedule),
    ``cosface`` and ``arcface`` (additive margins on normalised features,
    ``margin`` and ``scale``).  ``call(features)`` returns the prediction
    logits and needs no labels; ``margin_logits(features, labels)`` the
    training logits.  The lambda schedule reads ``self.step``, which the
    training loop advances once per optimiser step.
    """

    def __init__(self, num_classes=10, kind="a-softmax", m=4, margin=None,
                 scale=16.0, lambda_base=LAMBDA_BASE,
                 lambda_gamma=LAMBDA_GAMMA, lambda_power=LAMBDA_POWER,
                 lambda_min=LAMBDA_MIN, **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}; expected one of {KINDS}")
        if kind == "a-softmax":
            _check_m(m)
        self.num_classes = num_classes
        self.kind = kind
        self.m = 1 if kind == "modified" else m
        default_margin = {"cosface": 0.35, "arcface": 0.5}.get(kind)
        self.margin = default_margin if margin is None else margin
        self.scale = scale
        self.lambda_args = {"base": lambda_base, "gamma": lambda_gamma,
                            "power": lambda_power, "lambda_min": lambda_min}

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(dim, self.num_classes),
            initializer="glorot_uniform")
        self.bias = (self.add_weight(name="bias", shape=(self.num_classes,),
                                     initializer="zeros")
                     if self.kind == "softmax" else None)
        self.step = self.add_weight(name="step", shape=(),
                                    initializer="zeros", trainable=False)

    def lam(self):
        """The current lambda of the A-Softmax blend."""
        return lambda_schedule(self.step, **self.lambda_args)

    def cosine(self, features):
        """cos(theta_j) to every class weight, ``[batch, classes]``."""
        return cosine(features, self.kernel)

    def call(self, features):
        """Prediction logits: W x + b for softmax, else cosine logits.

        |x| cos(theta_j) is computed as x . W_j/|W_j|, which needs no
        clipping: the exported graph keeps to a few simple ops.
        """
        if self.kind == "softmax":
            return tf.matmul(features, self.kernel) + self.bias
        unit_w = tf.math.l2_normalize(self.kernel, axis=0, epsilon=_EPS)
        logits = tf.matmul(features, unit_w)
        if self.kind in ("cosface", "arcface"):
            return self.scale * logits / feature_norm(features)
        return logits

    def margin_logits(self, features, labels):
        """The logits the training loss sees, margin included (in the
        head's dtype, whatever the backbone's)."""
        features = tf.cast(features, self.compute_dtype)
        if self.kind == "a-softmax":
            return a_softmax_logits(features, self.kernel, labels, self.m,
                                    self.lam())
        if self.kind == "cosface":
            return cosface_logits(features, self.kernel, labels,
                                  self.margin, self.scale)
        if self.kind == "arcface":
            return arcface_logits(features, self.kernel, labels,
                                  self.margin, self.scale)
        return self(features)

    def get_config(self):
        config = super().get_config()
        args = self.lambda_args
        config.update(
            num_classes=self.num_classes, kind=self.kind, m=self.m,
            margin=self.margin, scale=self.scale, lambda_base=args["base"],
            lambda_gamma=args["gamma"], lambda_power=args["power"],
            lambda_min=args["lambda_min"])
        return config

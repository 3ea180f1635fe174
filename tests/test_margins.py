import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from sphereface import margins


def psi_by_angle(theta, m):
    """The paper's definition, through the angle itself."""
    k = np.minimum(np.floor(theta * m / np.pi), m - 1)
    return (-1.0) ** k * np.cos(m * theta) - 2 * k


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_psi_matches_angle_definition(m):
    theta = np.linspace(0, np.pi, 20001)
    got = margins.psi(np.cos(theta), m).numpy()
    np.testing.assert_allclose(got, psi_by_angle(theta, m), atol=1e-9)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_psi_monotone_continuous_endpoints(m):
    theta = np.linspace(0, np.pi, 20001)
    values = margins.psi(np.cos(theta), m).numpy()
    assert values[0] == pytest.approx(1.0)
    assert values[-1] == pytest.approx(1 - 2 * m)
    steps = np.diff(values)
    assert np.all(steps < 0)
    # continuity: no step larger than the slope bound m * dtheta allows
    assert np.max(np.abs(steps)) <= m * (theta[1] - theta[0]) * 1.0001


@pytest.mark.parametrize("m", [0, 5, 1.5, "4"])
def test_psi_rejects_other_m(m):
    with pytest.raises(ValueError, match="not supported"):
        margins.psi(0.5, m)


def test_lambda_schedule_values():
    lam = lambda s: float(margins.lambda_schedule(s))
    assert lam(0) == pytest.approx(1000.0)
    assert lam(1) == pytest.approx(1000.0 / 1.12)
    assert lam(100) == pytest.approx(1000.0 / 13.0)
    assert lam(1000) == pytest.approx(1000.0 / 121.0)
    assert lam(10**6) == pytest.approx(5.0)  # the floor
    assert lam(1658) > 5.0 and lam(1659) == pytest.approx(5.0)
    assert float(margins.lambda_schedule(10, base=10, gamma=1, power=2,
                                         lambda_min=0)) == pytest.approx(
        10 / 121)


def reference_logits(x, w, y, m, lam):
    x, w = x.astype(np.float64), w.astype(np.float64)
    w = w / np.linalg.norm(w, axis=0, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    cos = np.clip(x @ w / norm, -1, 1)
    logits = norm * cos
    rows = np.arange(len(y))
    theta = np.arccos(cos[rows, y])
    logits[rows, y] = norm[:, 0] * (lam * cos[rows, y]
                                    + psi_by_angle(theta, m)) / (1 + lam)
    return logits


@pytest.mark.parametrize("m,lam", [(1, 0.0), (2, 5.0), (3, 0.0), (4, 0.0),
                                   (4, 1000.0)])
def test_a_softmax_logits_match_float64_reference(m, lam):
    rng = np.random.default_rng(m)
    x = rng.normal(size=(64, 8)).astype(np.float32) * 3
    w = rng.normal(size=(8, 10)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    got = margins.a_softmax_logits(x, w, y, m, lam).numpy()
    np.testing.assert_allclose(got, reference_logits(x, w, y, m, lam),
                               rtol=1e-4, atol=1e-4)


def test_head_at_the_lambda_floor_applies_the_margin():
    head = margins.MarginHead(10, kind="a-softmax", m=4)
    head.build((None, 8))
    head.step.assign(2000.0)  # past step 1,659: lambda at its floor
    assert float(head.lam()) == pytest.approx(5.0)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 8)).astype(np.float32) * 3
    y = rng.integers(0, 10, 64)
    got = head.margin_logits(x, y).numpy()
    np.testing.assert_allclose(
        got, reference_logits(x, head.kernel.numpy(), y, 4, 5.0),
        rtol=1e-4, atol=1e-4)
    rows = np.arange(64)
    plain = head(x).numpy()[rows, y]  # |x| cos(theta_y): no margin
    assert np.all(got[rows, y] < plain - 0.05 * np.abs(plain))


@pytest.mark.parametrize("m", margins.SUPPORTED_M)
def test_a_softmax_gradients_match_finite_differences(m):
    rng = np.random.default_rng(10 + m)
    x = tf.constant(rng.normal(size=(6, 4)) * 2)  # float64
    w = tf.constant(rng.normal(size=(4, 5)))
    y = tf.constant(rng.integers(0, 5, 6), tf.int32)
    lam = float(margins.lambda_schedule(10**6))  # the floor: 5
    assert lam == 5.0

    def loss(x, w):
        logits = margins.a_softmax_logits(x, w, y, m, lam)
        return tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    theoretical, numerical = tf.test.compute_gradient(loss, [x, w])
    for exact, estimate in zip(theoretical, numerical):
        np.testing.assert_allclose(exact, estimate, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["a-softmax", "cosface", "arcface"])
def test_gradients_finite_at_edges(kind):
    w = tf.Variable(np.eye(3, 4, dtype=np.float32))
    # features exactly on a class weight (cos = 1), opposite it (cos = -1),
    # and a zero feature.
    x = tf.Variable(np.array([[2, 0, 0], [-2, 0, 0], [0, 0, 0]],
                             np.float32))
    y = tf.constant([0, 0, 1])
    fn = {"a-softmax": lambda: margins.a_softmax_logits(x, w, y, 4, 0.0),
          "cosface": lambda: margins.cosface_logits(x, w, y),
          "arcface": lambda: margins.arcface_logits(x, w, y)}[kind]
    with tf.GradientTape() as tape:
        logits = fn()
        loss = tf.reduce_sum(logits)
    grads = tape.gradient(loss, [x, w])
    assert np.all(np.isfinite(logits.numpy()))
    for g in grads:
        assert np.all(np.isfinite(g.numpy()))


def test_cosface_and_arcface_targets():
    w = np.eye(2, dtype=np.float32)
    theta = 0.6
    x = np.array([[math.cos(theta), math.sin(theta)]], np.float32)
    cos = margins.cosface_logits(x, w, [0], margin=0.35, scale=1.0).numpy()
    assert cos[0, 0] == pytest.approx(math.cos(theta) - 0.35, abs=1e-6)
    assert cos[0, 1] == pytest.approx(math.sin(theta), abs=1e-6)
    arc = margins.arcface_logits(x, w, [0], margin=0.5, scale=2.0).numpy()
    assert arc[0, 0] == pytest.approx(2 * math.cos(theta + 0.5), abs=1e-5)


def test_arcface_target_keeps_falling_past_pi_minus_m():
    w = np.eye(2, dtype=np.float32)
    thetas = np.linspace(0, np.pi, 400)
    x = np.stack([np.cos(thetas), np.sin(thetas)], 1).astype(np.float32)
    target = margins.arcface_logits(x, w, np.zeros(400, int), 0.5,
                                    1.0).numpy()[:, 0]
    assert np.all(np.diff(target) < 1e-6)


@pytest.mark.parametrize("kind", margins.KINDS)
def test_head_predicts_without_labels_from_cosine(kind):
    head = margins.MarginHead(10, kind=kind)
    x = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
    logits = head(x).numpy()
    assert logits.shape == (16, 10)
    if kind != "softmax":
        np.testing.assert_array_equal(
            logits.argmax(1), head.cosine(x).numpy().argmax(1))
    labels = np.arange(16) % 10
    assert head.margin_logits(x, labels).shape == (16, 10)


def test_head_config_roundtrip_and_bad_kind():
    head = margins.MarginHead(7, kind="arcface", margin=0.3, scale=8.0)
    clone = margins.MarginHead.from_config(head.get_config())
    assert (clone.kind, clone.margin, clone.scale, clone.num_classes) == (
        "arcface", 0.3, 8.0, 7)
    with pytest.raises(ValueError, match="kind="):
        margins.MarginHead(kind="sphere")
    with pytest.raises(ValueError, match="not supported"):
        margins.MarginHead(kind="a-softmax", m=6)


def test_head_lambda_follows_step():
    head = margins.MarginHead(3, kind="a-softmax")
    head.build((None, 2))
    assert float(head.lam()) == pytest.approx(1000.0)
    head.step.assign(100.0)
    assert float(head.lam()) == pytest.approx(1000.0 / 13.0)


@pytest.mark.parametrize("kind", margins.KINDS)
def test_few_steps_lower_loss_on_separable_problem(kind):
    keras.utils.set_random_seed(0)  # the head's initial weights
    rng = np.random.default_rng(0)
    centres = np.array([[3, 0], [-3, 0], [0, 3]], np.float32)
    y = rng.integers(0, 3, 96)
    x = centres[y] + rng.normal(scale=0.3, size=(96, 2)).astype(np.float32)
    head = margins.MarginHead(3, kind=kind, m=2)
    head.build((None, 2))
    head.step.assign(2000.0)  # A-Softmax: lambda at its floor of 5
    opt = tf.keras.optimizers.SGD(0.05)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    losses = []
    for _ in range(30):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, head.margin_logits(x, y))
        grads = tape.gradient(loss, head.trainable_weights)
        opt.apply_gradients(zip(grads, head.trainable_weights))
        head.step.assign_add(1.0)  # as the training step does
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]
    assert float(head.lam()) == pytest.approx(5.0)

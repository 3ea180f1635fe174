import tracemalloc

import numpy as np
import pytest

from sphereface import metrics


def directions(degrees):
    rad = np.radians(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1)


def test_accuracy_and_length_mismatch():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0]])
    assert metrics.accuracy(logits, [0, 1, 1]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        metrics.accuracy(logits, [0, 1])


def test_target_nearest_and_margin():
    weights = directions([0, 90, 180]).T  # [2, 3]
    feats = directions([10, 100])
    cos = feats @ weights
    labels = np.array([0, 1])
    np.testing.assert_allclose(metrics.target_angles(cos, labels), [10, 10])
    np.testing.assert_allclose(metrics.nearest_other_angles(cos, labels),
                               [80, 80])
    assert metrics.mean_margin(cos, labels) == pytest.approx(70.0)


def test_class_angle_stats_exact():
    # class 0 at 0, 10, 20 degrees; class 1 at 90, 95 degrees
    emb = directions([0, 10, 20, 90, 95]) * [[1], [2], [3], [1], [5]]
    labels = np.array([0, 0, 0, 1, 1])
    for chunk in (1, 2, 100):
        stats = metrics.class_angle_stats(emb, labels, chunk=chunk)
        np.testing.assert_allclose(stats["max_intra"], [20, 5], atol=1e-9)
        np.testing.assert_allclose(stats["min_inter"], [70, 70], atol=1e-9)
        assert stats["max_intra_deg"] == pytest.approx(20)
        assert stats["min_inter_deg"] == pytest.approx(70)
    assert metrics.criterion_fraction(stats) == 1.0


def all_pairs_stats(embeddings, labels, q=0.95):
    """class_angle_stats the direct way: the whole angle matrix at once,
    quantiles from the sorted angles (the upper edge of their bin)."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    angles = np.degrees(np.arccos(np.clip(unit @ unit.T, -1, 1)))
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    other = labels[:, None] != labels[None, :]

    def quantile(values, p):
        ordered = np.sort(values)
        value = ordered[int(np.ceil(p * len(ordered))) - 1]
        return (np.floor(value / 0.01) + 1) * 0.01

    classes = np.unique(labels)
    rows = [labels == c for c in classes]
    intra = [angles[r][:, r][~np.eye(r.sum(), dtype=bool)] for r in rows]
    inter = [angles[r][:, ~r].ravel() for r in rows]
    return {"max_intra": [a.max() for a in intra],
            "min_inter": [a.min() for a in inter],
            "intra_q": [quantile(a, q) for a in intra],
            "inter_q": [quantile(a, 1 - q) for a in inter],
            "intra_q_deg": quantile(angles[same], q),
            "inter_q_deg": quantile(angles[other], 1 - q)}


@pytest.mark.parametrize("chunk", [7, 64, 1024])
def test_class_angle_stats_match_all_pairs_at_once(chunk):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 300)
    emb = rng.normal(size=(300, 5)) + 2.0 * np.eye(5)[labels]
    stats = metrics.class_angle_stats(emb, labels, chunk=chunk)
    expected = all_pairs_stats(emb, labels)
    for key, value in expected.items():
        np.testing.assert_allclose(stats[key], value, rtol=0, atol=1e-9,
                                   err_msg=key)
    whole = metrics.class_angle_stats(emb, labels, chunk=300)
    for key in ("intra_q", "inter_q", "intra_q_deg", "inter_q_deg"):
        np.testing.assert_array_equal(stats[key], whole[key], err_msg=key)


def test_class_angle_stats_memory_does_not_grow_with_the_set():
    # 3,000 samples: one row of blocks against all of them at once would
    # hold 128 x 3,000 angles (3 MB) in each of several temporaries
    rng = np.random.default_rng(0)
    emb, labels = rng.normal(size=(3000, 8)), rng.integers(0, 4, 3000)
    tracemalloc.start()
    try:
        metrics.class_angle_stats(emb, labels, chunk=128)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8e6, f"{peak / 1e6:.1f} MB"


def test_criterion_fraction_counts_failing_class():
    # class 1 spans 60 degrees but lies 30 degrees from class 0
    emb = directions([0, 5, 35, 95])
    labels = np.array([0, 0, 1, 1])
    stats = metrics.class_angle_stats(emb, labels)
    np.testing.assert_allclose(stats["max_intra"], [5, 60], atol=1e-9)
    np.testing.assert_allclose(stats["min_inter"], [30, 30], atol=1e-9)
    assert metrics.criterion_fraction(stats) == 0.5


def test_quantile_variant_ignores_one_outlier():
    rng = np.random.default_rng(0)
    a = rng.uniform(-5, 5, 200)
    b = rng.uniform(85, 95, 200)
    angles = np.concatenate([a, b, [80.0]])  # one class-0 sample near 1
    labels = np.array([0] * 200 + [1] * 200 + [0])
    stats = metrics.class_angle_stats(directions(angles), labels, chunk=64)
    assert metrics.criterion_fraction(stats) == 0.0
    assert metrics.criterion_fraction(stats, quantile=True) == 1.0
    assert stats["intra_q_deg"] < 10 and stats["inter_q_deg"] > 70


def test_angular_fisher_score():
    tight = directions([0, 1, 90, 91, 180, 181])
    loose = directions([0, 40, 90, 130, 180, 220])
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert metrics.angular_fisher_score(tight, labels) < \
        metrics.angular_fisher_score(loose, labels)
    # exact value: class means at 0 and 90 degrees, overall at 45
    emb = directions([-10, 10, 80, 100])
    cls = np.array([0, 0, 1, 1])
    within = 4 * (1 - np.cos(np.radians(10)))
    between = 4 * (1 - np.cos(np.radians(45)))
    assert metrics.angular_fisher_score(emb, cls) == pytest.approx(
        within / between)


def test_weight_angles():
    w = directions([0, 60, 180]).T
    np.testing.assert_allclose(metrics.weight_angles(w),
                               [[0, 60, 180], [60, 0, 120], [180, 120, 0]],
                               atol=1e-6)

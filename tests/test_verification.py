import numpy as np
import pytest

from sphereface import verification as v


def scored(same_scores, diff_scores):
    scores = np.r_[same_scores, diff_scores]
    same = np.repeat([True, False], [len(same_scores), len(diff_scores)])
    return scores, same


def test_separated_scores_are_perfect():
    scores, same = scored([0.9, 0.8, 0.7], [0.6, 0.5, 0.4])
    far, tar, _ = v.roc_curve(scores, same)
    assert v.auc(far, tar) == 1.0
    assert v.equal_error_rate(far, tar) == 0.0
    assert v.best_accuracy(scores, same) == pytest.approx((1.0, 0.65))
    # three different pairs cannot resolve a FAR of 0.1
    assert v.tar_at_far(far, tar, 0.1, 3) is None
    assert v.tar_at_far(far, tar, 0.5, 3) == 1.0


def test_interleaved_scores_exact():
    scores, same = scored([0.9, 0.7, 0.5, 0.3], [0.8, 0.6, 0.4, 0.2])
    far, tar, thresholds = v.roc_curve(scores, same)
    np.testing.assert_allclose(far, [0, 0, .25, .25, .5, .5, .75, .75, 1])
    np.testing.assert_allclose(tar, [0, .25, .25, .5, .5, .75, .75, 1, 1])
    assert thresholds[0] == np.inf
    # Mann-Whitney: 10 of the 16 (same, different) pairs ordered right
    assert v.auc(far, tar) == pytest.approx(10 / 16)
    assert v.equal_error_rate(far, tar) == pytest.approx(0.5)
    assert v.tar_at_far(far, tar, 0.25, 4) == 0.5
    assert v.best_accuracy(scores, same) == pytest.approx((5 / 8, 0.85))


def test_tied_scores_move_together():
    scores, same = scored([0.5, 0.5], [0.5, 0.1])
    far, tar, _ = v.roc_curve(scores, same)
    np.testing.assert_allclose(far, [0, 0.5, 1])
    np.testing.assert_allclose(tar, [0, 1, 1])
    assert v.auc(far, tar) == pytest.approx(0.75)
    assert v.equal_error_rate(far, tar) == pytest.approx(1 / 3)


def test_fold_accuracy_uses_the_other_folds_threshold():
    # fold 0 separates at 0.5; fold 1 is inverted, so each fold's
    # threshold from the other fold gets it all right or all wrong.
    scores, same = scored([0.9, 0.4], [0.1, 0.6])
    fold = np.array([0, 1, 0, 1])
    mean, std, per_fold = v.fold_accuracy(scores, same, fold)
    np.testing.assert_allclose(per_fold, [1.0, 0.0])
    assert mean == 0.5
    assert std == pytest.approx(np.sqrt(0.5))


def test_scores_need_both_kinds_and_one_length():
    with pytest.raises(ValueError, match="both same and different"):
        v.roc_curve([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="one length"):
        v.roc_curve([0.1, 0.2, 0.3], [True, False])


def test_make_pairs_are_distinct_balanced_and_seeded():
    labels = np.repeat(np.arange(4), 25)
    pairs = v.make_pairs(labels, n_same=200, n_diff=200, folds=10, seed=3)
    assert len(pairs) == 400
    a, b = pairs.first, pairs.second
    assert np.all(a != b)
    np.testing.assert_array_equal(labels[a] == labels[b], pairs.same)
    keys = set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))
    assert len(keys) == 400
    for k in range(10):
        in_fold = pairs.fold == k
        assert pairs.same[in_fold].sum() == 20
        assert (~pairs.same[in_fold]).sum() == 20
    again = v.make_pairs(labels, n_same=200, n_diff=200, folds=10, seed=3)
    np.testing.assert_array_equal(again.first, a)
    other = v.make_pairs(labels, n_same=200, n_diff=200, folds=10, seed=4)
    assert not np.array_equal(other.first, a)


def test_make_pairs_bad_input():
    with pytest.raises(ValueError, match="at least two labels"):
        v.make_pairs(np.zeros(10, int), n_same=10, n_diff=10)
    with pytest.raises(ValueError, match="allow only 2$"):
        v.make_pairs(np.array([0, 0, 1, 1]), n_same=10, n_diff=10)
    with pytest.raises(ValueError, match="multiples of folds"):
        v.make_pairs(np.arange(100) % 5, n_same=15, n_diff=20)


def test_verify_on_constructed_embeddings():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 40)
    centres = np.eye(8)[:5] * 10
    tight = centres[labels] + rng.normal(0, 0.5, (200, 8))
    loose = centres[labels] + rng.normal(0, 20, (200, 8))
    pairs = v.make_pairs(labels, n_same=300, n_diff=300, seed=0)
    good, bad = v.verify(tight, pairs), v.verify(loose, pairs)
    assert good["auc"] == 1.0 and good["eer"] == 0.0
    assert good["acc_10fold_mean"] == 1.0
    assert 0.4 < bad["auc"] < 0.75 and bad["eer"] > 0.3
    assert set(good["tar_at_far"]) == {"0.1", "0.01", "0.001", "0.0001"}
    assert good["tar_at_far"]["0.001"] is None  # 300 pairs: too few
    assert good["tar_at_far"]["0.01"] == 1.0


def test_snapping_on_constructed_features():
    # two trained classes along x and y; four samples of a new identity,
    # two snapped to x (0 and 10 degrees), two to y (80 and 90 degrees)
    rad = np.radians([0, 10, 80, 90])
    emb = np.stack([np.cos(rad), np.sin(rad)], axis=1)
    cosines = emb @ np.eye(2)
    pairs = v.Pairs(np.array([0, 0, 1]), np.array([1, 3, 2]),
                    np.array([True, True, False]), np.zeros(3, int))
    found = v.snapping(emb, cosines, pairs)
    assert found["same_pairs_split"] == 0.5
    assert found["same_angle_split_deg"] == pytest.approx(90)
    assert found["same_angle_together_deg"] == pytest.approx(10)
    assert found["different_angle_deg"] == pytest.approx(70)
    assert found["nearest_class_angle_deg"] == pytest.approx(5)

"""Open-set verification: are two samples the same identity?

Face-recognition papers judge features by comparing pairs, not by
classifying: two faces of people never seen in training are declared
the same person when the cosine of their features passes a threshold.
This module builds LFW-style pair sets from labelled test data and
scores them the way those papers do: ROC, AUC, equal error rate, the
true accept rate at a fixed false accept rate, and the 10-fold
accuracy whose threshold is chosen on nine folds and scored on the
tenth.

Scores are similarities: a pair is accepted as "same" when its score
is at least the threshold.
"""

import dataclasses

import numpy as np

FARS = (1e-1, 1e-2, 1e-3, 1e-4)


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Index pairs into a test set, with ground truth and fold numbers."""

    first: np.ndarray
    second: np.ndarray
    same: np.ndarray  # bool
    fold: np.ndarray  # 0 .. folds-1

    def __len__(self):
        return len(self.same)


def make_pairs(labels, n_same=3000, n_diff=3000, folds=10, seed=0):
    """An LFW-style pair set: ``n_same`` same-label, ``n_diff`` other.

    Pairs are distinct (no pair twice, in either order, and no sample
    with itself) and drawn with ``seed``; each fold gets an equal share
    of same and different pairs, as in LFW's ten splits of 300 + 300.
    """
    labels = np.asarray(labels)
    if n_same % folds or n_diff % folds:
        raise ValueError(f"n_same={n_same} and n_diff={n_diff} must be "
                         f"multiples of folds={folds}")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2 or counts.max() < 2:
        found = dict(zip(classes.tolist(), counts.tolist()))
        raise ValueError("pairs need at least two labels and a label "
                         f"with two samples; label counts: {found}")
    rng = np.random.default_rng(seed)
    same = _draw(labels, n_same, rng, want_same=True)
    diff = _draw(labels, n_diff, rng, want_same=False)
    first = np.concatenate([same[:, 0], diff[:, 0]])
    second = np.concatenate([same[:, 1], diff[:, 1]])
    truth = np.repeat([True, False], [n_same, n_diff])
    fold = np.concatenate([np.arange(n_same) % folds,
                           np.arange(n_diff) % folds])
    return Pairs(first, second, truth, fold)


def _draw(labels, count, rng, want_same):
    """``count`` distinct unordered index pairs of equal/unequal label."""
    n = len(labels)
    possible = _pair_count(labels, want_same)
    if count > possible:
        kind = "same-label" if want_same else "different-label"
        raise ValueError(f"asked for {count} {kind} pairs; the labels "
                         f"allow only {possible}")
    chosen, seen = [], set()
    while len(chosen) < count:
        i, j = rng.integers(0, n, size=(2, 2 * count))
        for a, b in zip(i.tolist(), j.tolist()):
            key = (min(a, b), max(a, b))
            if (a == b or (labels[a] == labels[b]) != want_same
                    or key in seen):
                continue
            seen.add(key)
            chosen.append((a, b))
            if len(chosen) == count:
                break
    return np.array(chosen, dtype=np.int64)


def _pair_count(labels, same):
    counts = np.unique(labels, return_counts=True)[1].astype(np.int64)
    same_pairs = int((counts * (counts - 1) // 2).sum())
    n = len(labels)
    return same_pairs if same else n * (n - 1) // 2 - same_pairs


def pair_scores(embeddings, pairs):
    """Cosine similarity of each pair's two embeddings."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return np.sum(unit[pairs.first] * unit[pairs.second], axis=1)


def _check(scores, same):
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if scores.shape != same.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and same {same.shape} "
                         "must be 1-D and of one length")
    if same.all() or not same.any():
        raise ValueError("need both same and different pairs")
    return scores, same


def roc_curve(scores, same):
    """False and true accept rates at every distinct threshold.

    Returns ``(far, tar, thresholds)``, starting at (0, 0) with an
    infinite threshold and ending at (1, 1); tied scores move together.
    """
    scores, same = _check(scores, same)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_same = scores[order], same[order]
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    true_acc = np.cumsum(sorted_same)[last_of_run]
    false_acc = np.cumsum(~sorted_same)[last_of_run]
    far = np.r_[0.0, false_acc / (~same).sum()]
    tar = np.r_[0.0, true_acc / same.sum()]
    return far, tar, np.r_[np.inf, sorted_scores[last_of_run]]


def auc(far, tar):
    """Area under the ROC curve (trapezoids)."""
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))


def equal_error_rate(far, tar):
    """The rate at which false accepts equal false rejects (1 - TAR).

    Interpolated linearly between the two ROC points that straddle it.
    """
    frr = 1.0 - tar
    gap = far - frr  # rises from -1 to +1 along the curve
    k = int(np.argmax(gap >= 0))
    if gap[k] == 0:
        return float(far[k])
    t = -gap[k - 1] / (gap[k] - gap[k - 1])
    return float(far[k - 1] + t * (far[k] - far[k - 1]))


def tar_at_far(far, tar, target, n_different):
    """The best TAR with FAR at most ``target``, or None.

    None when the pair set is too small to measure that FAR: with
    ``n_different`` different pairs the smallest non-zero FAR is
    1 / n_different, so a target below it cannot be resolved.
    """
    if target * n_different < 1:
        return None
    return float(tar[far <= target + 1e-12].max())


def best_accuracy(scores, same):
    """The best accuracy over all thresholds, and that threshold.

    The threshold returned is the midpoint between the last accepted
    score and the next, so it generalises to unseen scores.
    """
    scores, same = _check(scores, same)
    far, tar, thresholds = roc_curve(scores, same)
    n_same, n_diff = same.sum(), (~same).sum()
    correct = tar * n_same + (1 - far) * n_diff
    k = int(np.argmax(correct))
    lower = thresholds[k + 1] if k + 1 < len(thresholds) else -np.inf
    upper = thresholds[k]
    if np.isinf(upper):
        threshold = np.nextafter(scores.max(), np.inf)
    elif np.isinf(lower):
        threshold = upper
    else:
        threshold = (upper + lower) / 2
    return float(correct[k] / len(scores)), float(threshold)


def fold_accuracy(scores, same, fold):
    """LFW's protocol: per fold, threshold from the other nine.

    Returns ``(mean, std, per_fold)``; ``std`` is over folds (ddof=1).
    """
    scores, same = _check(scores, same)
    fold = np.asarray(fold)
    results = []
    for k in np.unique(fold):
        test = fold == k
        _, threshold = best_accuracy(scores[~test], same[~test])
        accepted = scores[test] >= threshold
        results.append(float(np.mean(accepted == same[test])))
    results = np.array(results)
    std = float(results.std(ddof=1)) if len(results) > 1 else 0.0
    return float(results.mean()), std, results


def verify(embeddings, pairs, fars=FARS):
    """Every verification number for one network on one pair set."""
    scores = pair_scores(embeddings, pairs)
    far, tar, _ = roc_curve(scores, pairs.same)
    n_diff = int((~pairs.same).sum())
    mean, std, _ = fold_accuracy(scores, pairs.same, pairs.fold)
    return {
        "pairs": len(pairs),
        "auc": auc(far, tar),
        "eer": equal_error_rate(far, tar),
        "tar_at_far": {f"{f:g}": tar_at_far(far, tar, f, n_diff)
                       for f in fars},
        "acc_best": best_accuracy(scores, pairs.same)[0],
        "acc_10fold_mean": mean,
        "acc_10fold_std": std,
    }


def snapping(embeddings, cosines, pairs):
    """Where the pairs' samples sit relative to the trained classes.

    ``cosines`` are each sample's cosines to the class weights of the
    classes the network was trained on.  A sample of an identity never
    trained on is "snapped" towards the trained class it resembles;
    for same-identity pairs this reports how often the two samples
    snap to different trained classes, and the mean angle between the
    two samples in either case (degrees).
    """
    nearest = np.argmax(cosines, axis=1)
    angles = np.degrees(np.arccos(np.clip(
        pair_scores(embeddings, pairs), -1.0, 1.0)))
    used = np.unique(np.r_[pairs.first, pairs.second])
    split = nearest[pairs.first] != nearest[pairs.second]
    same_split = pairs.same & split
    same_together = pairs.same & ~split
    return {
        "nearest_class_angle_deg": float(np.mean(np.degrees(np.arccos(
            np.clip(cosines[used].max(axis=1), -1.0, 1.0))))),
        "same_pairs_split": float(same_split.sum() / pairs.same.sum()),
        "same_angle_split_deg": float(angles[same_split].mean()),
        "same_angle_together_deg": float(angles[same_together].mean()),
        "different_angle_deg": float(angles[~pairs.same].mean()),
    }

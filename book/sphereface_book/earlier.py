"""The earlier public version's accuracy figure, re-implemented.

The earlier public version of this MNIST-to-Ascend pipeline scored the
tool's text output by counting the correctly predicted **samples** and
dividing by the number of prediction **files**.  That is the accuracy
only when every file holds one sample (batch size 1); at gear 32 it is
about 32 times too large.  This module exists so that chapter 6 can
compute that figure on the same files as the package's own scoring
(:func:`sphereface.ascend.accuracy`, which divides by samples) and show
where the two part.  It is written for the book from that description;
the package does not use it.

The published figures sit here too, so that the chapter's table reads
them from one place.
"""

import dataclasses
from pathlib import Path

import numpy as np

from sphereface.ascend.scoring import prediction_dir

# Published by the earlier version: its "Accuracy Train" and "Accuracy
# Infer" (the om at batch size 1, force_fp16), both beside 5,120
# inference images drawn from a reshuffled MNIST test set.
PUBLISHED_TRAIN = 0.9895
PUBLISHED_OM_BATCH_1 = 0.9900
PUBLISHED_IMAGES = 5120


@dataclasses.dataclass
class EarlierFigure:
    """``correct`` samples over ``files`` prediction files."""

    correct: int
    samples: int
    files: int

    @property
    def figure(self):
        """What the earlier version printed as its accuracy."""
        return self.correct / self.files


def _read(path, what):
    words = path.read_text().split()
    if not words:
        raise ValueError(f"{path}: empty {what} file")
    try:
        return np.array(words, np.float64).astype(np.int64)
    except ValueError as exc:
        raise ValueError(f"{path}: non-numeric {what} ({exc})") from exc


def _by_number(folder, suffix):
    """``{n: path}`` for the files ``<n>_..<suffix>`` in ``folder``."""
    found = {}
    for path in folder.iterdir():
        if path.name.endswith(suffix):
            number = path.name.split("_")[0]
            if not number.isdigit():
                raise ValueError(f"{path}: name does not start with "
                                 "'<number>_'")
            if int(number) in found:
                raise ValueError(f"{path}: a second file numbered {number} "
                                 f"(also {found[int(number)].name})")
            found[int(number)] = path
    return found


def earlier_figure(label_dir, predict_dir):
    """Score a run the earlier way: correct samples / prediction files.

    Each prediction file (msame's ``*_output_0.txt`` or ais_bench's
    ``*_0.txt``) is matched to the label file with the same number
    before the first underscore, and each label is compared with the
    prediction at the same position.  Padding, which the earlier
    version never had (its batches were always full), is not scored.
    A missing or extra file, or a file with fewer predictions than
    labels, is an error naming the file.
    """
    label_dir = Path(label_dir)
    if not label_dir.is_dir():
        raise FileNotFoundError(f"{label_dir}: no such folder")
    labels = _by_number(label_dir, "_label.txt")
    if not labels:
        raise FileNotFoundError(f"{label_dir}: no *_label.txt files")
    folder = prediction_dir(predict_dir)
    predictions = _by_number(folder, "_0.txt")
    for number in sorted(set(predictions) ^ set(labels)):
        if number in labels:
            raise ValueError(f"{labels[number]}: no prediction file "
                             f"{number}_... in {folder}")
        raise ValueError(f"{predictions[number]}: no label file "
                         f"{number}_label.txt in {label_dir}")
    correct = samples = 0
    for number, path in labels.items():
        truth = _read(path, "label")
        predicted = _read(predictions[number], "prediction")
        if len(predicted) < len(truth):
            raise ValueError(
                f"{predictions[number]}: {len(predicted)} predictions for "
                f"the {len(truth)} labels in {path.name}")
        correct += int(np.sum(predicted[:len(truth)] == truth))
        samples += len(truth)
    return EarlierFigure(correct, samples, files=len(predictions))

"""Accuracy from msame's text output, right for every batch size.

The earlier public script divided the number of correct **samples** by
the number of **files**, which is only right at batch size 1.  Here each
prediction file is matched to its label file by the number before the
first underscore, every sample is scored once, padding is excluded via
the manifest, and anything missing, extra, empty or malformed is an
error that names the file.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np

from sphereface.ascend.bins import read_manifest

_INDEX = re.compile(r"^(\d+)_")
OUTPUT_SUFFIX = "_output_0.txt"


@dataclasses.dataclass
class Accuracy:
    """``correct`` of ``total`` samples; ``errors`` lists the misses.

    Each error is ``(sample_index, label, predicted)``, sample_index
    counting from 0 over the whole converted set.
    """

    correct: int
    total: int
    errors: list
    files: int = 0

    @property
    def accuracy(self):
        return self.correct / self.total

    @property
    def old_script_figure(self):
        """What the earlier public script printed: correct / files.

        Equal to the accuracy only at batch size 1.
        """
        return self.correct / self.files

    def __str__(self):
        return (f"{self.correct} / {self.total} correct: accuracy "
                f"{self.accuracy:.4%}")


def _index(path):
    match = _INDEX.match(path.name)
    if not match:
        raise ValueError(f"{path}: name does not start with '<number>_'")
    return int(match.group(1))


def _read_numbers(path, what):
    text = path.read_text().strip()
    if not text:
        raise ValueError(f"{path}: empty {what} file")
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: non-numeric {what} ({exc})") from exc
    if not np.all(values == np.round(values)):
        raise ValueError(f"{path}: {what} values must be class ids")
    return values.astype(np.int64)


def prediction_dir(predict_dir):
    """The folder that holds the ``*_output_0`` files.

    Accepts msame's timestamped run folder itself, or the ``--output``
    folder holding exactly one run.
    """
    predict_dir = Path(predict_dir)
    if not predict_dir.is_dir():
        raise FileNotFoundError(f"{predict_dir}: no such folder")
    if any(p.name.endswith("_output_0.txt") or p.name.endswith(
            "_output_0.bin") for p in predict_dir.iterdir()):
        return predict_dir
    runs = [p for p in predict_dir.iterdir() if p.is_dir()]
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise FileNotFoundError(
            f"{predict_dir}: no *_output_0.txt files and no run folder")
    raise ValueError(
        f"{predict_dir}: {len(runs)} run folders "
        f"({', '.join(sorted(p.name for p in runs)[:3])}); pass one")


def _files(folder, suffix, what):
    found = {}
    for path in folder.iterdir():
        if not path.name.endswith(suffix):
            continue
        index = _index(path)
        if index in found:
            raise ValueError(f"{path}: a second {what} file for batch "
                             f"{index} (also {found[index].name})")
        found[index] = path
    return found


def accuracy(label_dir, predict_dir):
    """Score msame's predictions against the converted labels.

    ``label_dir`` is ``bin_path/label_{bs}``; ``predict_dir`` msame's
    output folder or its timestamped run folder (TXT format).
    """
    label_dir = Path(label_dir)
    if not label_dir.is_dir():
        raise FileNotFoundError(f"{label_dir}: no such folder")
    folder = prediction_dir(predict_dir)
    if any(p.name.endswith("_output_0.bin") for p in folder.iterdir()):
        raise ValueError(f"{folder}: predictions are .bin files; run msame "
                         "with --outfmt TXT (upper case)")
    labels = _files(label_dir, "_label.txt", "label")
    predictions = _files(folder, OUTPUT_SUFFIX, "prediction")
    if not labels:
        raise FileNotFoundError(f"{label_dir}: no *_label.txt files")
    missing = sorted(set(labels) - set(predictions))
    extra = sorted(set(predictions) - set(labels))
    if missing:
        raise ValueError(
            f"{folder}: no prediction for {len(missing)} label file(s), "
            f"e.g. {labels[missing[0]].name}")
    if extra:
        raise ValueError(
            f"{predictions[extra[0]]}: no label file "
            f"{extra[0]}_label.txt in {label_dir}")
    manifest = read_manifest(label_dir)
    batch_size = manifest["batch_size"] if manifest else None
    correct, total, errors = 0, 0, []
    for index in sorted(labels):
        truth = _read_numbers(labels[index], "label")
        predicted = _read_numbers(predictions[index], "prediction")
        expected = batch_size or len(truth)
        if len(predicted) != expected:
            raise ValueError(
                f"{predictions[index]}: {len(predicted)} predictions, "
                f"expected {expected} (labels in {labels[index].name}: "
                f"{len(truth)})")
        if len(truth) > expected:
            raise ValueError(f"{labels[index]}: {len(truth)} labels for a "
                             f"batch of {expected}")
        predicted = predicted[:len(truth)]  # padding is never scored
        first = (index - 1) * (batch_size or len(truth))
        for position in np.flatnonzero(predicted != truth):
            errors.append((first + int(position), int(truth[position]),
                           int(predicted[position])))
        correct += int(np.sum(predicted == truth))
        total += len(truth)
    if manifest and total != manifest["samples"]:
        raise ValueError(f"{label_dir}: labels hold {total} samples, the "
                         f"manifest says {manifest['samples']}")
    return Accuracy(correct, total, errors, files=len(labels))

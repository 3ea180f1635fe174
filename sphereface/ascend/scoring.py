"""Accuracy from msame's or ais_bench's text output, for every batch size.

The earlier public script divided the number of correct **samples** by
the number of **files**, which is only right at batch size 1.  Here each
prediction file is matched to its label file by the number before the
first underscore, every sample is scored once, padding is excluded (the
batch size comes from the manifest, or else from the first label file),
and anything missing, extra, empty or malformed is an error that names
the file.  Prediction files are msame's ``<stem>_output_0.txt`` or
ais_bench's ``<stem>_0.txt``; older msame builds write the whole output
buffer of the largest gear, of which the first batch-size values count.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np

from sphereface.ascend.bins import read_manifest

_INDEX = re.compile(r"^(\d+)_")
MSAME_SUFFIX = "_output_0.txt"
AIS_BENCH_SUFFIX = "_0.txt"


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
    notes: list = dataclasses.field(default_factory=list)

    @property
    def accuracy(self):
        return self.correct / self.total

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
    """The folder that holds the prediction files.

    Accepts the tool's timestamped run folder itself, or the
    ``--output`` folder holding exactly one run (ais_bench's
    ``<stamp>_summary.json`` beside it is not a run).
    """
    predict_dir = Path(predict_dir)
    if not predict_dir.is_dir():
        raise FileNotFoundError(f"{predict_dir}: no such folder")
    if any(p.name.endswith(("_0.txt", "_0.bin"))
           for p in predict_dir.iterdir()):
        return predict_dir
    runs = [p for p in predict_dir.iterdir() if p.is_dir()]
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise FileNotFoundError(
            f"{predict_dir}: no *_0.txt prediction files and no run folder")
    raise ValueError(
        f"{predict_dir}: {len(runs)} run folders "
        f"({', '.join(sorted(p.name for p in runs)[:3])}); pass one")


def _files(folder, suffix, what, exclude=None):
    found = {}
    for path in folder.iterdir():
        if not path.name.endswith(suffix):
            continue
        if exclude and path.name.endswith(exclude):
            continue
        index = _index(path)
        if index in found:
            raise ValueError(f"{path}: a second {what} file for batch "
                             f"{index} (also {found[index].name})")
        found[index] = path
    return found


def _prediction_files(folder):
    """msame's ``*_output_0.txt`` or ais_bench's ``*_0.txt``, not both."""
    if any(p.name.endswith("_0.bin") for p in folder.iterdir()):
        raise ValueError(f"{folder}: predictions are .bin files; run the "
                         "tool with --outfmt TXT (upper case)")
    msame = _files(folder, MSAME_SUFFIX, "prediction")
    ais_bench = _files(folder, AIS_BENCH_SUFFIX, "prediction",
                       exclude=MSAME_SUFFIX)
    if msame and ais_bench:
        raise ValueError(f"{folder}: holds both msame (*{MSAME_SUFFIX}) "
                         f"and ais_bench (*{AIS_BENCH_SUFFIX}) outputs")
    return msame or ais_bench


def _batch_size(label_dir, labels, manifest):
    """From the manifest, else the first label file (a whole batch)."""
    if manifest:
        return int(manifest["batch_size"]), []
    first = labels[min(labels)]
    size = len(_read_numbers(first, "label"))
    note = (f"no manifest in {label_dir}: batch size {size} taken from "
            f"{first.name}")
    return size, [note]


def accuracy(label_dir, predict_dir):
    """Score the predictions against the converted labels.

    ``label_dir`` is ``bin_path/label_{bs}``; ``predict_dir`` the tool's
    output folder or its timestamped run folder (TXT format).
    """
    label_dir = Path(label_dir)
    if not label_dir.is_dir():
        raise FileNotFoundError(f"{label_dir}: no such folder")
    folder = prediction_dir(predict_dir)
    labels = _files(label_dir, "_label.txt", "label")
    predictions = _prediction_files(folder)
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
    batch_size, notes = _batch_size(label_dir, labels, manifest)
    correct, total, errors, buffer = 0, 0, [], None
    for index in sorted(labels):
        truth = _read_numbers(labels[index], "label")
        predicted = _read_numbers(predictions[index], "prediction")
        if len(truth) > batch_size:
            raise ValueError(f"{labels[index]}: {len(truth)} labels for a "
                             f"batch of {batch_size}")
        if len(predicted) < batch_size:
            raise ValueError(
                f"{predictions[index]}: {len(predicted)} predictions, "
                f"expected {batch_size} (labels in {labels[index].name}: "
                f"{len(truth)})")
        if len(predicted) > batch_size:  # an older msame's whole buffer
            if buffer is None:
                buffer = len(predicted)
                notes.append(
                    f"each prediction file holds {buffer} values (an older "
                    "msame writes the whole buffer of the largest gear): "
                    f"the first {batch_size} of each are scored")
            elif len(predicted) != buffer:
                raise ValueError(
                    f"{predictions[index]}: {len(predicted)} predictions, "
                    f"expected {batch_size} (or {buffer} like the others)")
        predicted = predicted[:len(truth)]  # padding is never scored
        first = (index - 1) * batch_size
        for position in np.flatnonzero(predicted != truth):
            errors.append((first + int(position), int(truth[position]),
                           int(predicted[position])))
        correct += int(np.sum(predicted == truth))
        total += len(truth)
    if manifest and total != manifest["samples"]:
        raise ValueError(f"{label_dir}: labels hold {total} samples, the "
                         f"manifest says {manifest['samples']}")
    return Accuracy(correct, total, errors, files=len(labels), notes=notes)

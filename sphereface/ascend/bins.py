"""The test set as msame input: one raw float32 ``.bin`` per batch.

Layout (the earlier public scripts' names, so their commands still fit)::

    bin_path/image_{bs}/{i}_image.bin   bs x 28 x 28 x 1 float32, NHWC
    bin_path/label_{bs}/{i}_label.txt   the batch's labels, one per line
    bin_path/label_{bs}/manifest.json   batch size, sample count, ...

``i`` counts from 1.  The last batch, if partial, is padded with zero
images to the full batch size (an om with a fixed gear needs whole
batches); its label file holds only the real labels and the manifest
records the sample count, so padding is never scored.
"""

import json
import re
from pathlib import Path

import numpy as np

IMAGE_BYTES = 28 * 28 * 1 * 4  # one float32 NHWC image
MANIFEST = "manifest.json"
_IMAGE_FILE = re.compile(r"^[1-9]\d*_image\.bin$")
_LABEL_FILE = re.compile(r"^[1-9]\d*_label\.txt$")


def bin_dirs(bin_path, batch_size):
    """``(image_dir, label_dir)`` for a batch size."""
    bin_path = Path(bin_path)
    return (bin_path / f"image_{batch_size}",
            bin_path / f"label_{batch_size}")


def _own_files(folder, pattern, extra=()):
    """Files an earlier conversion wrote in ``folder``; refuse others'.

    Only looks: nothing is removed until every check has passed.
    """
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: exists and is not a folder")
    ours, foreign = [], []
    for path in folder.iterdir():
        own = pattern.match(path.name) or path.name in extra
        (ours if own else foreign).append(path)
    if foreign:
        raise FileExistsError(
            f"{folder}: holds files this tool did not write "
            f"({', '.join(sorted(p.name for p in foreign)[:3])}...); "
            "choose an empty folder")
    return ours


def _as_unit_floats(images):
    """float32 images in [0, 1]; uint8 scaled by 1/255 (and said so)."""
    if images.dtype == np.uint8:
        return (images / 255.0).astype(np.float32), \
            "uint8 images scaled to [0, 1] (divided by 255)"
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images are {images.dtype}; expected float in "
                         "[0, 1] (or uint8 0-255, scaled here)")
    low, high = float(np.min(images)), float(np.max(images))
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low
            and high <= 1):
        raise ValueError(f"images range over [{low:g}, {high:g}]; the "
                         "network expects float images in [0, 1]")
    return images.astype(np.float32), None


def _check_labels(labels, count):
    if labels.ndim != 1:
        raise ValueError(f"labels have shape {labels.shape}, expected [n]")
    if len(labels) != count:
        raise ValueError(f"{count} images but {len(labels)} labels")
    if not (np.issubdtype(labels.dtype, np.integer)
            or np.all(labels == np.round(labels))):
        raise ValueError("labels must be class ids (whole numbers)")


def convert_to_bin(images, labels, bin_path, batch_size, overwrite=False):
    """Write ``images`` ``[n, 28, 28, 1]`` and ``labels`` ``[n]``.

    Images must be float in [0, 1] (training's scaling); uint8 images
    are scaled by 1/255 and the manifest's ``note`` says so.  Every
    check (sizes, values, both folders) passes before anything is
    written or replaced.  Returns the manifest (a dict): ``ceil(n /
    batch_size)`` files, the last one padded.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be at least 1")
    if images.shape[1:] != (28, 28, 1):
        raise ValueError(f"images have shape {images.shape}, expected "
                         "[n, 28, 28, 1]")
    if len(images) == 0:
        raise ValueError("no images to convert")
    _check_labels(labels, len(images))
    images, note = _as_unit_floats(images)
    image_dir, label_dir = bin_dirs(bin_path, batch_size)
    earlier = (_own_files(image_dir, _IMAGE_FILE)
               + _own_files(label_dir, _LABEL_FILE, extra=(MANIFEST,)))
    if earlier and not overwrite:
        raise FileExistsError(
            f"{image_dir.parent}: already holds {len(earlier)} files of "
            f"an earlier conversion at batch size {batch_size}; pass "
            "overwrite=True (--overwrite) to replace them")
    for path in earlier:
        path.unlink()
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(exist_ok=True)
    files = -(-len(images) // batch_size)
    for index in range(files):
        rows = slice(index * batch_size, (index + 1) * batch_size)
        batch = images[rows]
        if len(batch) < batch_size:
            pad = np.zeros((batch_size - len(batch), 28, 28, 1), np.float32)
            batch = np.concatenate([batch, pad])
        batch.tofile(image_dir / f"{index + 1}_image.bin")
        text = "".join(f"{int(y)}\n" for y in labels[rows])
        (label_dir / f"{index + 1}_label.txt").write_text(text)
    manifest = {"batch_size": int(batch_size), "samples": len(images),
                "files": files, "padded": files * batch_size - len(images),
                "input": "input_x float32 NHWC [bs, 28, 28, 1] in [0, 1]"}
    if note:
        manifest["note"] = note
    (label_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def read_manifest(label_dir):
    """The manifest beside the labels, or None (older label folders)."""
    path = Path(label_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
        int(manifest["batch_size"]), int(manifest["samples"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a valid manifest ({exc})") from exc
    return manifest

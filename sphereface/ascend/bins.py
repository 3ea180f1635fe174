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


def _prepare(folder, pattern, overwrite, extra=()):
    """Make ``folder`` ready; refuse to mix with or replace others' files."""
    folder.mkdir(parents=True, exist_ok=True)
    ours, foreign = [], []
    for path in folder.iterdir():
        own = pattern.match(path.name) or path.name in extra
        (ours if own else foreign).append(path)
    if foreign:
        raise FileExistsError(
            f"{folder}: holds files this tool did not write "
            f"({', '.join(sorted(p.name for p in foreign)[:3])}...); "
            "choose an empty folder")
    if ours and not overwrite:
        raise FileExistsError(
            f"{folder}: already holds {len(ours)} converted files; pass "
            "overwrite=True (--overwrite) to replace them")
    for path in ours:
        path.unlink()


def convert_to_bin(images, labels, bin_path, batch_size, overwrite=False):
    """Write ``images`` ``[n, 28, 28, 1]`` float32 and ``labels`` ``[n]``.

    Returns the manifest (a dict).  Every image is written: ``ceil(n /
    batch_size)`` files, the last one padded.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be at least 1")
    if images.shape[1:] != (28, 28, 1):
        raise ValueError(f"images have shape {images.shape}, expected "
                         "[n, 28, 28, 1]")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(images) == 0:
        raise ValueError("no images to convert")
    image_dir, label_dir = bin_dirs(bin_path, batch_size)
    _prepare(image_dir, _IMAGE_FILE, overwrite)
    _prepare(label_dir, _LABEL_FILE, overwrite, extra=(MANIFEST,))
    images = images.astype(np.float32)
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

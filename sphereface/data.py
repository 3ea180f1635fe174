"""MNIST from the standard IDX files, validated, and tf.data pipelines.

The four files (``train-images-idx3-ubyte`` and friends, gzipped or not)
are searched for in: an explicit folder, ``$MNIST_DATA``, ``./MNIST_data``
(the folder the original scripts used), then the Keras cache
(``~/.keras/datasets/mnist.npz``) and only then the Keras download.  A
file that is truncated or corrupt raises
:class:`MnistFormatError` naming the file; partial data is never returned.
"""

import gzip
import os
from pathlib import Path

import numpy as np

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# IDX magic numbers: two zero bytes, the type code (0x08 = uint8), ndim.
IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
IMAGE_SIDE = 28


class MnistFormatError(ValueError):
    """An IDX file is not what MNIST's format says it must be."""


class MnistNotFoundError(FileNotFoundError):
    """The MNIST files are in none of the places searched."""


def _read_bytes(path):
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        # gzip raises EOFError on a truncated stream, BadGzipFile on junk.
        raise MnistFormatError(f"{path}: cannot read ({exc})") from exc


def read_idx(path, expected_magic):
    """Read one IDX file into a uint8 array, checking header and length.

    ``expected_magic`` is :data:`IMAGE_MAGIC` (shape ``[n, 28, 28]``) or
    :data:`LABEL_MAGIC` (shape ``[n]``).
    """
    raw = _read_bytes(path)
    ndim = expected_magic & 0xFF
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise MnistFormatError(
            f"{path}: {len(raw)} bytes is shorter than the "
            f"{header_len}-byte IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise MnistFormatError(
            f"{path}: magic number 0x{magic:08x}, expected "
            f"0x{expected_magic:08x}")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
            for i in range(ndim)]
    if ndim == 3 and dims[1:] != [IMAGE_SIDE, IMAGE_SIDE]:
        raise MnistFormatError(
            f"{path}: images are {dims[1]}x{dims[2]}, expected "
            f"{IMAGE_SIDE}x{IMAGE_SIDE}")
    expected_len = header_len + int(np.prod(dims))
    if len(raw) != expected_len:
        raise MnistFormatError(
            f"{path}: {len(raw)} bytes, but the header {dims} needs "
            f"{expected_len} (truncated or padded file)")
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_len)
    return data.reshape(dims)


def _find_file(folder, stem):
    for name in (stem + ".gz", stem):
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


def find_mnist_dir(data_dir=None):
    """Return ``(folder, places_looked)``; folder is None if not found.

    An explicit ``data_dir`` must hold the files: a wrong folder is an
    error, not a reason to quietly read MNIST from somewhere else.
    """
    if data_dir is not None:
        missing = [s for s in FILES.values() if not _find_file(data_dir, s)]
        if not Path(data_dir).is_dir():
            raise MnistNotFoundError(f"{data_dir}: no such folder")
        if missing:
            raise MnistNotFoundError(
                f"{data_dir}: missing {', '.join(missing)} (.gz or not)")
        return Path(data_dir), [Path(data_dir)]
    candidates = []
    if os.environ.get("MNIST_DATA"):
        candidates.append(Path(os.environ["MNIST_DATA"]))
    candidates.append(Path("MNIST_data"))
    for folder in candidates:
        if all(_find_file(folder, s) for s in FILES.values()):
            return folder, candidates
    return None, candidates


def _load_from(folder):
    arrays = {key: read_idx(_find_file(folder, stem),
                            IMAGE_MAGIC if key.endswith("images")
                            else LABEL_MAGIC)
              for key, stem in FILES.items()}
    out = []
    for split in ("train", "test"):
        images, labels = arrays[split + "_images"], arrays[split + "_labels"]
        if len(images) != len(labels):
            raise MnistFormatError(
                f"{folder}: {len(images)} {split} images but "
                f"{len(labels)} {split} labels")
        if labels.max(initial=0) > 9:
            raise MnistFormatError(
                f"{_find_file(folder, FILES[split + '_labels'])}: "
                f"label {labels.max()} is not a digit")
        out.append((to_float_images(images), labels.astype(np.int32)))
    return tuple(out)


def to_float_images(images):
    """uint8 ``[n, 28, 28]`` -> float32 ``[n, 28, 28, 1]`` in [0, 1].

    The one scaling used everywhere: training, export and the .bin files.
    """
    return (np.asarray(images, np.float32) / 255.0)[..., None]


def _load_with_keras(candidates):
    """Keras's cached ``mnist.npz`` if present, else Keras's download."""
    try:
        import tensorflow as tf
        (xtr, ytr), (xte, yte) = tf.keras.datasets.mnist.load_data()
    except Exception as exc:  # offline, blocked, or no TensorFlow
        places = "\n  ".join(str(c) for c in candidates)
        raise MnistNotFoundError(
            "MNIST not found. Looked for the four IDX files "
            f"({', '.join(FILES.values())}, .gz or not) in:\n  {places}\n"
            "then in the Keras cache (~/.keras/datasets/mnist.npz), and "
            f"the Keras download failed ({exc}).\nPut the files in one "
            "folder and pass it as data_dir or set MNIST_DATA."
        ) from exc
    return ((to_float_images(xtr), ytr.astype(np.int32)),
            (to_float_images(xte), yte.astype(np.int32)))


def load_mnist(data_dir=None):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``.

    Images are float32 ``[n, 28, 28, 1]`` in [0, 1]; labels int32 ``[n]``.
    """
    folder, candidates = find_mnist_dir(data_dir)
    if folder is None:
        return _load_with_keras(candidates)
    return _load_from(folder)


def shift_images(images, shift, rng):
    """Translate each image ``[n, 28, 28, 1]`` by up to ``shift`` pixels.

    Offsets in x and y are drawn per image from ``rng`` (a numpy
    Generator); pixels moved in from outside the image are zero.
    """
    if shift == 0:
        return images
    n, size = len(images), images.shape[1]
    padded = np.pad(images, [(0, 0), (shift, shift), (shift, shift),
                             (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(
        padded, (size, size), axis=(1, 2))  # [n, 2s+1, 2s+1, 1, 28, 28]
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, n))
    return np.moveaxis(windows[np.arange(n), dy, dx], 1, -1)


def warp_images(images, angles, zooms, offsets):
    """Rotate, zoom and move each image ``[n, 28, 28, 1]`` about its centre.

    ``angles`` in degrees (positive turns the image clockwise as shown),
    ``zooms`` as factors (2 doubles the size), ``offsets`` as ``[n, 2]``
    pixels (rows, columns).  Each output pixel samples the source
    bilinearly at the inverse-transformed position; pixels from outside
    the image are zero.
    """
    n, size = len(images), images.shape[1]
    padded = np.pad(images[..., 0], [(0, 0), (1, 1), (1, 1)]).reshape(n, -1)
    grid = np.arange(size, dtype=np.float32) - (size - 1) / 2
    dy = grid[None, :, None] - offsets[:, 0, None, None]
    dx = grid[None, None, :] - offsets[:, 1, None, None]
    rad = np.radians(angles)
    cos = (np.cos(rad) / zooms)[:, None, None]
    sin = (np.sin(rad) / zooms)[:, None, None]
    src_y = cos * dy - sin * dx + (size - 1) / 2
    src_x = sin * dy + cos * dx + (size - 1) / 2
    y0, x0 = np.floor(src_y), np.floor(src_x)
    wy, wx = src_y - y0, src_x - x0
    first = np.arange(n)[:, None, None] * padded.shape[1]

    def at(y, x):  # beyond the image: the padded zero border
        y = np.clip(y, -1, size).astype(np.int64) + 1
        x = np.clip(x, -1, size).astype(np.int64) + 1
        return np.take(padded, first + y * (size + 2) + x)

    out = ((1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1))
           + wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1)))
    return out[..., None].astype(images.dtype)


def augment_images(images, rng, shift=0, rotation=0.0, zoom=0.0,
                   chunk=256):
    """Random moves (up to ``shift`` pixels), rotations (up to
    ``rotation`` degrees either way) and zooms (by up to ``zoom``, a
    fraction) drawn per image from ``rng``.

    Without rotation and zoom this is :func:`shift_images` (whole-pixel
    moves, same draws); otherwise every image is warped once, in chunks
    small enough for the CPU cache (larger chunks were slower).
    """
    if not rotation and not zoom:
        return shift_images(images, shift, rng)
    n = len(images)
    angles = rng.uniform(-rotation, rotation, n).astype(np.float32)
    zooms = rng.uniform(1 - zoom, 1 + zoom, n).astype(np.float32)
    offsets = rng.integers(-shift, shift + 1, (n, 2)).astype(np.float32)
    return np.concatenate([
        warp_images(images[i:i + chunk], angles[i:i + chunk],
                    zooms[i:i + chunk], offsets[i:i + chunk])
        for i in range(0, n, chunk)])


def train_dataset(images, labels, batch_size, seed=0, epoch=0, shift=0,
                  rotation=0.0, zoom=0.0, drop_remainder=True):
    """One epoch of shuffled, batched ``(image, label)`` as tf.data.

    Shuffling and augmentation (:func:`augment_images`) come from a numpy
    generator seeded with ``(seed, epoch)``, so every epoch differs and
    every run repeats.  They are done in numpy: a per-image gather in
    the graph was half of the training step's time on a CPU.

    tf.data's autotuning is off, with a fixed prefetch of two batches:
    with it on, deleting an epoch's finished iterator sometimes blocked
    for about half as long as the epoch trained (26 s after a 50 s
    epoch on 60,000 images, 2-core CPU), and the batches are in memory
    anyway.
    """
    import tensorflow as tf

    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(images))
    batch_images = augment_images(images[order], rng, shift, rotation, zoom)
    ds = tf.data.Dataset.from_tensor_slices((batch_images, labels[order]))
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)

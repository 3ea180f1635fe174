"""Shared fixtures: small MNIST-format files written on the fly."""

import gzip
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from sphereface import data


def write_idx(path, array, magic, compress=False):
    header = magic.to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as handle:
        handle.write(raw)
    return path


def make_mnist(folder, n_train=5, n_test=3, compress=False):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = rng.integers(0, 10, n)
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images,
                  data.IMAGE_MAGIC, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels,
                  data.LABEL_MAGIC, compress)
    return folder


def make_tiny_mnist():
    """A learnable stand-in for MNIST: the digit is a bright square."""
    rng = np.random.default_rng(0)

    def make(n):
        labels = rng.integers(0, 10, n).astype(np.int32)
        images = rng.random((n, 28, 28, 1), np.float32) * 0.1
        for i, y in enumerate(labels):
            r, c = divmod(int(y), 5)
            images[i, 4 + 10 * r:10 + 10 * r, 2 + 5 * c:6 + 5 * c] = 1.0
        return images, labels

    return make(512), make(200)


@pytest.fixture
def tiny_mnist():
    """:func:`make_tiny_mnist`, fresh for each test."""
    return make_tiny_mnist()

import numpy as np
import pytest
from conftest import make_mnist, write_idx

from sphereface import data


@pytest.mark.parametrize("compress", [False, True])
def test_load_small_files(tmp_path, compress):
    make_mnist(tmp_path, compress=compress)
    (xtr, ytr), (xte, _) = data.load_mnist(tmp_path)
    assert xtr.shape == (5, 28, 28, 1) and xte.shape == (3, 28, 28, 1)
    assert xtr.dtype == np.float32 and ytr.dtype == np.int32
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0
    name = "train-images-idx3-ubyte" + (".gz" if compress else "")
    raw = data.read_idx(tmp_path / name, data.IMAGE_MAGIC)
    np.testing.assert_allclose(xtr[..., 0], raw / 255.0, rtol=1e-6)


def test_truncated_file_names_file(tmp_path):
    make_mnist(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(data.MnistFormatError, match="t10k-images.*truncated"):
        data.load_mnist(tmp_path)


def test_truncated_gzip_stream(tmp_path):
    make_mnist(tmp_path, compress=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(data.MnistFormatError, match="train-labels"):
        data.load_mnist(tmp_path)


def test_not_gzip_at_all(tmp_path):
    make_mnist(tmp_path, compress=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"hello world!")
    with pytest.raises(data.MnistFormatError, match="train-labels"):
        data.load_mnist(tmp_path)


def test_wrong_magic(tmp_path):
    make_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    images = tmp_path / "train-images-idx3-ubyte"
    labels.write_bytes(images.read_bytes())  # images where labels belong
    with pytest.raises(data.MnistFormatError, match="magic number"):
        data.load_mnist(tmp_path)


def test_short_header(tmp_path):
    make_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(data.MnistFormatError, match="header"):
        data.load_mnist(tmp_path)


def test_wrong_image_size(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 27, 28)),
              data.IMAGE_MAGIC)
    with pytest.raises(data.MnistFormatError, match="27x28"):
        data.load_mnist(tmp_path)


def test_count_mismatch(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4),
              data.LABEL_MAGIC)
    with pytest.raises(data.MnistFormatError, match="3 test images but 4"):
        data.load_mnist(tmp_path)


def test_label_out_of_range(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2, 12]),
              data.LABEL_MAGIC)
    with pytest.raises(data.MnistFormatError, match="label 12"):
        data.load_mnist(tmp_path)


def test_explicit_folder_missing(tmp_path):
    with pytest.raises(data.MnistNotFoundError, match="no such folder"):
        data.load_mnist(tmp_path / "nowhere")


def test_explicit_folder_incomplete(tmp_path):
    make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.MnistNotFoundError, match="t10k-labels"):
        data.load_mnist(tmp_path)


def test_search_order_env_then_cwd(tmp_path, monkeypatch):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    make_mnist(env_dir, n_train=2)
    cwd = tmp_path / "cwd"
    (cwd / "MNIST_data").mkdir(parents=True)
    make_mnist(cwd / "MNIST_data", n_train=4)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("MNIST_DATA", str(env_dir))
    assert len(data.load_mnist()[0][0]) == 2
    monkeypatch.delenv("MNIST_DATA")
    assert len(data.load_mnist()[0][0]) == 4


def test_offline_error_lists_places(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNIST_DATA", str(tmp_path / "empty"))

    def fail():
        raise OSError("network unreachable")

    import tensorflow as tf
    monkeypatch.setattr(tf.keras.datasets.mnist, "load_data", fail)
    with pytest.raises(data.MnistNotFoundError) as info:
        data.load_mnist()
    message = str(info.value)
    assert "empty" in message and "MNIST_data" in message
    assert "network unreachable" in message and "MNIST_DATA" in message


def test_train_dataset_shapes_and_seed():
    images = np.random.default_rng(1).random((10, 28, 28, 1), np.float32)
    labels = np.arange(10, dtype=np.int32)
    batches = list(data.train_dataset(images, labels, 4, seed=3, shift=2))
    assert [b[0].shape[0] for b in batches] == [4, 4]
    again = list(data.train_dataset(images, labels, 4, seed=3, shift=2))
    np.testing.assert_array_equal(batches[0][1], again[0][1])
    np.testing.assert_array_equal(batches[0][0], again[0][0])
    other = list(data.train_dataset(images, labels, 4, seed=3, epoch=1))
    assert not np.array_equal(batches[0][1], other[0][1])


def test_shift_moves_pixels_and_keeps_images_apart():
    images = np.zeros((200, 28, 28, 1), np.float32)
    images[:, 14, 14, 0] = np.arange(1, 201)
    out = data.shift_images(images, 2, np.random.default_rng(0))
    assert out.shape == images.shape
    seen = set()
    for i in range(200):
        (r, c), = np.argwhere(out[i, ..., 0] > 0)
        assert abs(r - 14) <= 2 and abs(c - 14) <= 2
        assert out[i, r, c, 0] == i + 1  # each image keeps its own pixel
        seen.add((r, c))
    assert len(seen) == 25
    assert data.shift_images(images, 0, None) is images

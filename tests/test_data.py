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


def test_train_dataset_does_not_autotune():
    # autotuning made deleting a finished epoch's iterator block for
    # seconds (see train_dataset); the batches are in memory already
    images = np.zeros((8, 28, 28, 1), np.float32)
    ds = data.train_dataset(images, np.zeros(8, np.int32), 4)
    assert ds.options().autotune.enabled is False


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


def _one_warp(image, angle=0.0, zoom=1.0, offset=(0, 0)):
    return data.warp_images(image[None], np.float32([angle]),
                            np.float32([zoom]), np.float32([offset]))[0]


def test_warp_identity_rotation_and_move_are_exact():
    image = np.random.default_rng(2).random((28, 28, 1), np.float32)
    np.testing.assert_array_equal(_one_warp(image), image)
    # 90 degrees: clockwise in row/column coordinates, up to float error
    np.testing.assert_allclose(_one_warp(image, angle=90.0),
                               np.rot90(image, -1), atol=1e-5)
    moved = np.zeros_like(image)
    moved[3:, :-2] = image[:-3, 2:]  # 3 rows down, 2 columns left
    np.testing.assert_allclose(_one_warp(image, offset=(3, -2)), moved,
                               atol=1e-6)


def test_warp_zoom_scales_area_and_keeps_pixel_range():
    image = np.zeros((28, 28, 1), np.float32)
    image[11:17, 11:17] = 1.0  # a 6x6 square at the centre
    bigger = _one_warp(image, zoom=2.0)
    assert 4 * 36 * 0.8 < bigger.sum() < 4 * 36 * 1.2
    assert bigger.min() >= 0.0 and bigger.max() <= 1.0


def translated(image, dy, dx):
    """``image`` moved ``dy`` rows down and ``dx`` columns right, zeros
    coming in: the expectation, written independently of the module."""
    out = np.zeros_like(image)
    size = image.shape[0]
    out[max(dy, 0):size + min(dy, 0), max(dx, 0):size + min(dx, 0)] = (
        image[max(-dy, 0):size + min(-dy, 0), max(-dx, 0):size + min(-dx, 0)])
    return out


def test_augment_without_rotation_or_zoom_moves_whole_pixels():
    images = np.random.default_rng(3).random((200, 28, 28, 1), np.float32)
    out = data.augment_images(images, np.random.default_rng(4), shift=2)
    moves = []
    for image, moved in zip(images, out):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(moved, translated(image, dy, dx))]
        assert len(found) == 1, found  # a move of at most 2 pixels
        moves += found
    assert len(set(moves)) == 25  # every move in the range is drawn
    np.testing.assert_array_equal(
        out, data.augment_images(images, np.random.default_rng(4), shift=2))


def test_augment_rotates_within_bounds_and_repeats():
    images = np.zeros((40, 28, 28, 1), np.float32)
    images[:, 4:24, 13:15] = 1.0  # a vertical bar through the centre
    out = data.augment_images(images, np.random.default_rng(5), shift=0,
                              rotation=30.0, zoom=0.0, chunk=16)
    assert out.shape == images.shape and out.dtype == np.float32
    again = data.augment_images(images, np.random.default_rng(5), shift=0,
                                rotation=30.0, zoom=0.0, chunk=16)
    np.testing.assert_array_equal(out, again)
    for bar in out[..., 0]:  # the bar's tilt stays within 30 degrees
        rows, cols = np.nonzero(bar > 0.5)
        slope = np.polyfit(rows - 13.5, cols - 13.5, 1)[0]
        assert abs(np.degrees(np.arctan(slope))) <= 31.0
    tilts = [np.polyfit(*np.nonzero(b > 0.5), 1)[0] for b in out[..., 0]]
    assert np.ptp(tilts) > 0.3  # and the angles differ between images

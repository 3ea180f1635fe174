"""The book's re-implementation of the earlier correct / files figure."""

import json

import pytest
from sphereface_book import earlier

from sphereface.ascend import accuracy


def write_labels(folder, batches, manifest=None):
    folder.mkdir(parents=True)
    for i, labels in enumerate(batches, 1):
        (folder / f"{i}_label.txt").write_text(
            " ".join(str(y) for y in labels))
    if manifest:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_run(folder, batches, suffix="_image_output_0.txt"):
    folder.mkdir(parents=True)
    for i, predicted in enumerate(batches, 1):
        (folder / f"{i}{suffix}").write_text(
            "".join(f"{p} " for p in predicted))
    return folder


def test_batch_1_figure_is_the_accuracy(tmp_path):
    labels = write_labels(tmp_path / "label_1", [[7], [2], [1], [0]])
    run = write_run(tmp_path / "run", [[7], [2], [3], [0]])
    result = earlier.earlier_figure(labels, run)
    assert (result.correct, result.samples, result.files) == (3, 4, 4)
    assert result.figure == pytest.approx(0.75)
    assert result.figure == pytest.approx(accuracy(labels, run).accuracy)


def test_batch_4_figure_is_about_4_times_the_accuracy(tmp_path):
    """Ten images in three files, the last one padded (4 + 4 + 2)."""
    labels = write_labels(tmp_path / "label_4",
                          [[3, 1, 4, 1], [5, 9, 2, 6], [5, 3]],
                          {"batch_size": 4, "samples": 10})
    run = write_run(tmp_path / "out" / "2021926_9_59_40_1",
                    [[3, 1, 4, 7], [5, 9, 2, 6], [5, 8, 0, 0]],
                    suffix="_image_0.txt")  # ais_bench's names
    result = earlier.earlier_figure(labels, run.parent)
    assert (result.correct, result.samples, result.files) == (8, 10, 3)
    assert result.figure == pytest.approx(8 / 3)
    right = accuracy(labels, run)
    assert right.accuracy == pytest.approx(0.8)
    assert result.figure / right.accuracy == pytest.approx(10 / 3)


@pytest.mark.parametrize("damage,message", [
    (lambda labels, run: (run / "2_image_output_0.txt").unlink(),
     "2_label.txt: no prediction file"),
    (lambda labels, run: (labels / "3_label.txt").unlink(),
     "3_image_output_0.txt: no label file 3_label.txt"),
    (lambda labels, run: (run / "1_image_output_0.txt").write_text("3 1"),
     "1_image_output_0.txt: 2 predictions for the 4 labels"),
    (lambda labels, run: (run / "2_image_output_0.txt").write_text(" \n"),
     "2_image_output_0.txt: empty prediction file"),
    (lambda labels, run: (labels / "1_label.txt").write_text("3 x 4 1"),
     "1_label.txt: non-numeric label"),
    (lambda labels, run: (run / "1_image_0.txt").write_text("3 1 4 1"),
     "a second file numbered 1"),
    (lambda labels, run: (run / "one_image_output_0.txt").write_text("1"),
     "one_image_output_0.txt: name does not start with"),
])
def test_bad_input_names_the_file(tmp_path, damage, message):
    labels = write_labels(tmp_path / "label_4",
                          [[3, 1, 4, 1], [5, 9, 2, 6], [5, 3]])
    run = write_run(tmp_path / "run", [[3, 1, 4, 7], [5, 9, 2, 6], [5, 8]])
    damage(labels, run)
    with pytest.raises(ValueError, match=message):
        earlier.earlier_figure(labels, run)


def test_missing_folders_and_labels(tmp_path):
    run = write_run(tmp_path / "run", [[1]])
    with pytest.raises(FileNotFoundError, match="nowhere: no such folder"):
        earlier.earlier_figure(tmp_path / "nowhere", run)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\*_label.txt files"):
        earlier.earlier_figure(tmp_path / "empty", run)


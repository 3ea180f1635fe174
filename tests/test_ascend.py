"""sphereface.ascend's file formats, conversion, scoring and commands.

The command line is tested in test_ascend_cli.py, the toolkit search in
test_ascend_toolkit.py, and the tools on a fake CANN box in
test_ascend_box.py.
"""

import datetime
import json
import os
import stat

import numpy as np
import pytest

from sphereface.ascend import (
    ToolError,
    accuracy,
    ais_bench_command,
    atc_command,
    check_bins,
    convert_to_bin,
    format_txt,
    msame_command,
    new_stamp_dir,
    read_manifest,
    run_msame,
)
from sphereface.ascend.msame_format import output_name

# --- msame's text format and names ------------------------------------

def test_txt_1d_is_one_line_with_trailing_space_no_newline():
    assert format_txt(np.array([3, 7, 1], np.int32)) == "3 7 1 "
    assert format_txt(np.int32(5)) == "5 "


def test_txt_2d_float_rows_like_cpp_stream():
    values = np.array([[0.123456789, 1e-5], [-3.0, 2.5]], np.float32)
    assert format_txt(values) == "0.123457 1e-05 \n-3 2.5 \n"


def test_output_name_cuts_last_extension():
    assert output_name("1_image.bin") == "1_image_output_0.txt"
    assert output_name("dir/12_image.bin", 1) == "12_image_output_1.txt"
    assert output_name("noext") == "noext_output_0.txt"


def test_stamp_folder_unpadded_and_never_reused(tmp_path):
    now = datetime.datetime(2023, 6, 10, 9, 5, 7, 123456)
    folder = new_stamp_dir(tmp_path / "out", now)
    assert folder.name == "2023610_9_5_7_123456"
    with pytest.raises(FileExistsError):
        new_stamp_dir(tmp_path / "out", now)
    with pytest.raises(FileNotFoundError, match="only the last level"):
        new_stamp_dir(tmp_path / "a" / "b")


# --- .bin conversion ----------------------------------------------------

def images_labels(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28, 1), np.float32),
            rng.integers(0, 10, n).astype(np.int32))


def test_convert_pads_last_batch_and_writes_manifest(tmp_path):
    images, labels = images_labels(10)
    manifest = convert_to_bin(images, labels, tmp_path, 4)
    assert manifest["files"] == 3 and manifest["padded"] == 2
    image_dir, label_dir = tmp_path / "image_4", tmp_path / "label_4"
    names = sorted(os.listdir(image_dir))
    assert names == ["1_image.bin", "2_image.bin", "3_image.bin"]
    for name in names:
        assert (image_dir / name).stat().st_size == 4 * 28 * 28 * 4
    last = np.fromfile(image_dir / "3_image.bin", np.float32)
    last = last.reshape(4, 28, 28, 1)
    np.testing.assert_array_equal(last[:2], images[8:])
    assert not last[2:].any()
    assert (label_dir / "3_label.txt").read_text() == \
        f"{labels[8]}\n{labels[9]}\n"
    assert read_manifest(label_dir)["samples"] == 10


def test_convert_refuses_to_overwrite_unless_asked(tmp_path):
    images, labels = images_labels(5)
    convert_to_bin(images, labels, tmp_path, 2)
    with pytest.raises(FileExistsError, match="overwrite"):
        convert_to_bin(images, labels, tmp_path, 2)
    convert_to_bin(images[:3], labels[:3], tmp_path, 2, overwrite=True)
    assert sorted(os.listdir(tmp_path / "image_2")) == ["1_image.bin",
                                                        "2_image.bin"]


def test_convert_never_touches_foreign_files(tmp_path):
    (tmp_path / "image_1").mkdir()
    (tmp_path / "image_1" / "notes.txt").write_text("mine")
    images, labels = images_labels(2)
    with pytest.raises(FileExistsError, match="did not write"):
        convert_to_bin(images, labels, tmp_path, 1, overwrite=True)
    assert (tmp_path / "image_1" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("kwargs,message", [
    ({"batch_size": 0}, "at least 1"),
    ({"images": np.zeros((3, 28, 28))}, "expected"),
    ({"labels": np.zeros(4)}, "3 images but 4 labels"),
])
def test_convert_bad_input(tmp_path, kwargs, message):
    images, labels = images_labels(3)
    args = {"images": images, "labels": labels, "bin_path": tmp_path,
            "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        convert_to_bin(**args)


def test_convert_checks_both_folders_before_removing_anything(tmp_path):
    images, labels = images_labels(4)
    convert_to_bin(images, labels, tmp_path, 2)
    (tmp_path / "label_2" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="label_2: holds files"):
        convert_to_bin(images[:2], labels[:2], tmp_path, 2, overwrite=True)
    assert sorted(os.listdir(tmp_path / "image_2")) == ["1_image.bin",
                                                        "2_image.bin"]


@pytest.mark.parametrize("images,message", [
    (np.full((2, 28, 28, 1), 255.0, np.float32), r"range over \[255, 255\]"),
    (np.full((2, 28, 28, 1), -0.5, np.float32), r"range over \[-0.5"),
    (np.full((2, 28, 28, 1), np.nan, np.float32), "range over"),
    (np.zeros((2, 28, 28, 1), np.int16), "int16; expected float"),
])
def test_convert_requires_float_images_in_unit_range(tmp_path, images,
                                                     message):
    with pytest.raises(ValueError, match=message):
        convert_to_bin(images, [1, 2], tmp_path, 2)
    assert not (tmp_path / "image_2").exists()


def test_convert_scales_uint8_and_says_so(tmp_path):
    images = np.full((2, 28, 28, 1), 255, np.uint8)
    images[1] = 51
    manifest = convert_to_bin(images, [3, 4], tmp_path, 2)
    assert manifest["note"] == "uint8 images scaled to [0, 1] (divided " \
        "by 255)"
    written = np.fromfile(tmp_path / "image_2" / "1_image.bin", np.float32)
    np.testing.assert_allclose(written[[0, 784]], [1.0, 0.2], rtol=1e-6)
    assert "note" not in convert_to_bin(images / 255.0, [3, 4],
                                        tmp_path / "f", 2)


@pytest.mark.parametrize("labels,message", [
    (np.zeros((3, 1)), r"labels have shape \(3, 1\)"),
    (np.array([1.0, 2.5, 3.0]), "class ids"),
])
def test_convert_checks_labels(tmp_path, labels, message):
    images, _ = images_labels(3)
    with pytest.raises(ValueError, match=message):
        convert_to_bin(images, labels, tmp_path, 2)


# --- accuracy on hand-written msame fixtures ----------------------------

def write_labels(folder, batches, batch_size=None, samples=None):
    folder.mkdir(parents=True)
    for i, labels in enumerate(batches, 1):
        (folder / f"{i}_label.txt").write_text(
            "".join(f"{y}\n" for y in labels))
    if batch_size:
        (folder / "manifest.json").write_text(json.dumps(
            {"batch_size": batch_size, "samples": samples}))
    return folder


def write_run(folder, batches):
    folder.mkdir(parents=True)
    for i, predicted in enumerate(batches, 1):
        # msame: values each followed by a space, no final newline
        (folder / f"{i}_image_output_0.txt").write_text(
            "".join(f"{p} " for p in predicted))
    return folder


@pytest.fixture
def batch4(tmp_path):
    labels = write_labels(tmp_path / "label_4",
                          [[3, 1, 4, 1], [5, 9, 2, 6], [5, 3]], 4, 10)
    run = write_run(tmp_path / "out" / "2021926_9_59_40_1",
                    [[3, 1, 4, 7], [5, 9, 2, 6], [5, 8, 0, 0]])
    return labels, run


def test_accuracy_counts_samples_not_files(batch4):
    labels, run = batch4
    result = accuracy(labels, run)
    assert (result.correct, result.total) == (8, 10)
    assert result.accuracy == pytest.approx(0.8)
    assert result.errors == [(3, 1, 7), (9, 3, 8)]
    assert str(result) == "8 / 10 correct: accuracy 80.0000%"
    assert result.files == 3


def test_accuracy_accepts_output_folder_with_one_run(batch4):
    labels, run = batch4
    assert accuracy(labels, run.parent).correct == 8
    (run.parent / "2021926_10_0_0_5").mkdir()
    with pytest.raises(ValueError, match="2 run folders"):
        accuracy(labels, run.parent)


def test_accuracy_batch1_with_old_style_labels(tmp_path):
    """Label files from the earlier script: np.savetxt floats, no
    manifest."""
    folder = tmp_path / "label_1"
    folder.mkdir()
    for i, y in enumerate([7, 2, 1], 1):
        np.savetxt(folder / f"{i}_label.txt", np.array([y], np.int64))
    run = write_run(tmp_path / "run", [[7], [2], [0]])
    result = accuracy(folder, run)
    assert (result.correct, result.total) == (2, 3)


@pytest.mark.parametrize("damage,message", [
    (lambda run: (run / "2_image_output_0.txt").unlink(),
     "no prediction for 1 label file"),
    (lambda run: (run / "9_image_output_0.txt").write_text("1 "),
     "9_image_output_0.txt: no label file"),
    (lambda run: (run / "1_image_output_0.txt").write_text(""),
     "1_image_output_0.txt: empty prediction"),
    (lambda run: (run / "1_image_output_0.txt").write_text("3 x 4 1 "),
     "1_image_output_0.txt: non-numeric"),
    (lambda run: (run / "1_image_output_0.txt").write_text("3 1 4 "),
     "1_image_output_0.txt: 3 predictions, expected 4"),
    (lambda run: (run / "1_image_output_0.txt").write_text("3 1.5 4 1 "),
     "class ids"),
    (lambda run: (run / "1_image_output_0.bin").write_bytes(b"1234"),
     "--outfmt TXT"),
])
def test_accuracy_bad_predictions_name_the_file(batch4, damage, message):
    labels, run = batch4
    damage(run)
    with pytest.raises(ValueError, match=message):
        accuracy(labels, run)


def test_accuracy_manifest_mismatch_and_missing_folders(batch4, tmp_path):
    labels, run = batch4
    (labels / "manifest.json").write_text('{"batch_size": 4, '
                                          '"samples": 11}')
    with pytest.raises(ValueError, match="manifest says 11"):
        accuracy(labels, run)
    (labels / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json: not a valid"):
        accuracy(labels, run)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        accuracy(tmp_path / "nope", run)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        accuracy(labels, tmp_path / "nope")


def write_old_labels(folder, batches):
    """As the earlier script wrote them: np.savetxt floats, no manifest."""
    folder.mkdir(parents=True)
    for i, labels in enumerate(batches, 1):
        np.savetxt(folder / f"{i}_label.txt", np.array(labels, np.int64),
                   fmt="%.18e")
    return folder


def test_accuracy_without_manifest_takes_batch_from_first_file(tmp_path):
    labels = write_old_labels(tmp_path / "label_4",
                              [[3, 1, 4, 1], [5, 9, 2, 6], [5, 3]])
    assert (labels / "3_label.txt").read_text() == \
        "5.000000000000000000e+00\n3.000000000000000000e+00\n"
    run = write_run(tmp_path / "run", [[3, 1, 4, 1], [5, 9, 2, 6],
                                       [5, 8, 0, 0]])
    result = accuracy(labels, run)
    assert (result.correct, result.total) == (9, 10)
    assert result.errors == [(9, 3, 8)]  # sample 9: the last batch's 2nd
    assert result.notes == [(f"no manifest in {labels}: batch size 4 "
                             "taken from 1_label.txt")]


def test_accuracy_of_an_older_msame_whole_buffer(batch4):
    labels, run = batch4
    for i, predicted in enumerate([[3, 1, 4, 7], [5, 9, 2, 6],
                                   [5, 8, 0, 0]], 1):
        (run / f"{i}_image_output_0.txt").write_text(
            "".join(f"{p} " for p in predicted + [0] * 28))
    result = accuracy(labels, run)
    assert (result.correct, result.total) == (8, 10)
    assert result.errors == [(3, 1, 7), (9, 3, 8)]
    assert result.notes == [("each prediction file holds 32 values (an "
                             "older msame writes the whole buffer of the "
                             "largest gear): the first 4 of each are "
                             "scored")]
    (run / "2_image_output_0.txt").write_text("5 9 2 6 0 0 ")
    with pytest.raises(ValueError, match="2_image_output_0.txt: 6 "
                       "predictions, expected 4 \\(or 32 like the others"):
        accuracy(labels, run)


@pytest.mark.parametrize("fmt", ["%d", "%f"])
def test_accuracy_of_ais_bench_layout(batch4, tmp_path, fmt):
    labels, _ = batch4
    out = tmp_path / "ais"
    stamp = out / "2023_06_10-09_05_07"
    stamp.mkdir(parents=True)
    (out / "2023_06_10-09_05_07_summary.json").write_text("{}")
    for i, predicted in enumerate([[3, 1, 4, 7], [5, 9, 2, 6],
                                   [5, 8, 0, 0]], 1):
        with open(stamp / f"{i}_image_0.txt", "wb") as handle:
            np.savetxt(handle, np.c_[predicted], fmt=fmt, newline=" ")
            handle.write(b"\n")
    for folder in (stamp, out):  # the stamp folder or its parent
        result = accuracy(labels, folder)
        assert (result.correct, result.total) == (8, 10)
        assert result.errors == [(3, 1, 7), (9, 3, 8)]
    (stamp / "1_image_output_0.txt").write_text("3 1 4 7 ")
    with pytest.raises(ValueError, match="both msame"):
        accuracy(labels, stamp)


# --- atc and msame commands ----------------------------------------------

def test_atc_command_matches_the_seed_command():
    assert atc_command() == [
        "atc", "--model=sphereface.pb", "--framework=3",
        "--output=sphereface", "--soc_version=Ascend310",
        "--input_shape=input_x:-1,28,28,1", "--log=error",
        "--out_nodes=output:0", "--dynamic_batch_size=1,4,8,16,32",
        "--precision_mode=force_fp16"]
    fixed = atc_command(input_shape="input_x:8,28,28,1",
                        dynamic_batch_size=None)
    assert not any(a.startswith("--dynamic") for a in fixed)
    with pytest.raises(ValueError, match="-1"):
        atc_command(input_shape="input_x:8,28,28,1")


def test_msame_command_and_its_pitfalls():
    assert msame_command("m.om", "bin/image_8", "out", 8) == [
        "msame", "--model=m.om", "--input=bin/image_8", "--output=out",
        "--outfmt=TXT", "--device=0", "--dymBatch=8"]
    with pytest.raises(ValueError, match=".om"):
        msame_command("model.pb", "bin/image_1", "out")
    with pytest.raises(ValueError, match="single file"):
        msame_command("m.om", "data.bin/image_1", "out")
    with pytest.raises(ValueError, match="upper case"):
        msame_command("m.om", "bin/image_1", "out", outfmt="txt")



def test_ais_bench_command():
    assert ais_bench_command("m.om", "bin/image_4", "out", 4,
                             python="python3") == [
        "python3", "-m", "ais_bench", "--model", "m.om", "--input",
        "bin/image_4", "--output", "out", "--outfmt", "TXT", "--dymBatch",
        "4", "--device", "0"]


def test_check_bins_names_a_file_of_the_wrong_size(tmp_path):
    images, labels = images_labels(8)
    convert_to_bin(images, labels, tmp_path, 4)
    folder = tmp_path / "image_4"
    (folder / ".hidden").write_text("msame skips dot files")
    assert [p.name for p in check_bins(folder, 4)] == ["1_image.bin",
                                                       "2_image.bin"]
    with pytest.raises(ValueError, match="1_image.bin: 12544 bytes, but "
                       "batch size 8 needs 25088"):
        check_bins(folder, 8)
    with open(folder / "2_image.bin", "ab") as handle:
        handle.write(b"\0" * 4)
    with pytest.raises(ValueError, match="2_image.bin: 12548 bytes"):
        check_bins(folder, 4)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        check_bins(tmp_path / "nope", 4)


# --- running msame: a scripted stand-in that fails as msame does --------

def fake_msame(folder, body):
    script = folder / "msame"
    script.write_text("#!/bin/bash\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


WRITES_OUTPUTS = """
for a in "$@"; do case $a in --input=*) in=${a#*=};; --output=*) out=${a#*=};;
esac; done
stamp=$out/2023610_9_5_7_1; mkdir -p $stamp; echo $stamp
for f in $(ls $in); do echo "[INFO] start to process file:$in/$f"
  [ "$f" = "$FAIL" ] && { echo "[ERROR] Execute model failed"; continue; }
  printf '1 ' > $stamp/${f%.*}_output_0.txt; done
"""


@pytest.fixture
def msame_setup(tmp_path):
    """Two one-image inputs, an empty set_env.sh and a scripted msame."""
    bin_dir = tmp_path / "image_1"
    bin_dir.mkdir()
    for i in (1, 2):
        (bin_dir / f"{i}_image.bin").write_bytes(b"\0" * 3136)
    set_env = tmp_path / "set_env.sh"
    set_env.write_text("export FROM_SET_ENV=1\n")
    return bin_dir, set_env, fake_msame(tmp_path, WRITES_OUTPUTS)


def test_run_msame_finds_new_run_and_checks_outputs(msame_setup, tmp_path):
    bin_dir, set_env, msame = msame_setup
    folder = run_msame(msame, set_env, "m.om", bin_dir, tmp_path / "out", 1)
    assert sorted(os.listdir(folder)) == ["1_image_output_0.txt",
                                          "2_image_output_0.txt"]


def test_run_msame_names_the_input_that_failed(msame_setup, tmp_path,
                                               monkeypatch):
    bin_dir, set_env, msame = msame_setup
    monkeypatch.setenv("FAIL", "2_image.bin")
    with pytest.raises(ToolError, match=r"msame failed on \S*image_1/"
                       r"2_image.bin \(exit 0\):\n\[ERROR\] Execute"):
        run_msame(msame, set_env, "m.om", bin_dir, tmp_path / "out", 1)


def test_run_msame_sees_missing_outputs_and_bad_sizes(msame_setup,
                                                      tmp_path):
    bin_dir, set_env, _ = msame_setup
    silent = fake_msame(tmp_path, "mkdir -p ${3#*=}/run; exit 0\n")
    with pytest.raises(ToolError, match="2 of 2 outputs missing"):
        run_msame(silent, set_env, "m.om", bin_dir, tmp_path / "out", 1)
    with pytest.raises(ValueError, match="1_image.bin: 3136 bytes"):
        run_msame(silent, set_env, "m.om", bin_dir, tmp_path / "out", 4)

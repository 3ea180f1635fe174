"""python -m sphereface.ascend: help, the earlier flags, exit status."""

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import make_mnist
from sphereface.ascend.__main__ import parser


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sphereface.ascend",
                           *map(str, args)], capture_output=True,
                          text=True, check=False, cwd=cwd)


def commands():
    top = parser()
    sub = next(a for a in top._actions
               if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("name", sorted(commands()))
def test_help_is_plain_and_complete(name):
    command = commands()[name]
    text = command.format_help()
    assert "``" not in text and "``" not in parser().format_help()
    for action in command._actions:
        if "-h" in action.option_strings:
            continue
        if action.help == argparse.SUPPRESS:  # an earlier spelling
            for spelling in action.option_strings:
                assert f"[{spelling}" not in text
                assert f"\n  {spelling}" not in text
            continue
        assert action.help, f"{name} {action.option_strings}: no help"
        flag = action.nargs == 0
        assert flag or "(default:" in action.help \
            or "(required)" in action.help, action.option_strings


def test_earlier_spellings_are_hidden_aliases():
    text = commands()["accuracy"].format_help()
    assert "--label-folder" in text and "--predict-folder" in text
    assert "FLODER" not in text and "--label-dir" not in text
    text = commands()["convert-bin"].format_help()
    assert "--bin-path" in text and "--bin_path" not in text
    assert "--batch_size" not in text and "--dataset_path" not in text


def test_convert_with_the_earlier_flags(tmp_path):
    make_mnist(tmp_path, n_test=7)
    result = cli("convert-bin", f"--dataset_path={tmp_path}",
                 f"--bin_path={tmp_path / 'bin'}", "--batch_size=4")
    assert result.returncode == 0, result.stderr
    assert "2 files of 4 images (7 samples, 1 padding)" in result.stdout
    again = cli("convert-bin", "--dataset-path", tmp_path, "--bin-path",
                tmp_path / "bin", "--batch-size", 4)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.fixture
def scored(tmp_path):
    labels = tmp_path / "label_2"
    labels.mkdir()
    (labels / "1_label.txt").write_text("3\n1\n")
    (labels / "2_label.txt").write_text("4\n")
    (labels / "manifest.json").write_text(json.dumps(
        {"batch_size": 2, "samples": 3}))
    run = tmp_path / "out" / "2021926_9_59_40_1"
    run.mkdir(parents=True)
    (run / "1_image_output_0.txt").write_text("3 7 ")
    (run / "2_image_output_0.txt").write_text("4 0 ")
    return labels, run


def test_accuracy_with_earlier_and_new_flags(scored):
    labels, run = scored
    old = cli("accuracy", f"--LABEL_FLODER={labels}",
              f"--PREDICT_FLODER={run}")
    assert old.returncode == 0, old.stderr
    assert old.stdout == "2 / 3 correct: accuracy 66.6667%\n"
    new = cli("accuracy", "--label-folder", labels, "--predict-folder",
              run.parent, "--show-errors", 5)
    assert new.stdout.endswith("  sample 1: label 1, predicted 7\n")
    older = cli("accuracy", "--label-dir", labels, "--predict-dir", run)
    assert older.returncode == 0


def test_runtime_errors_exit_1_naming_the_file(scored):
    labels, run = scored
    (run / "2_image_output_0.txt").unlink()
    bad = cli("accuracy", f"--LABEL_FLODER={labels}",
              f"--PREDICT_FLODER={run}")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ") and "2_label.txt" in bad.stderr
    assert "Traceback" not in bad.stderr and bad.stdout == ""


@pytest.mark.parametrize("args,message", [
    (["accuracy", "--LABEL_FLODER=x"], "--predict-folder is required"),
    (["accuracy", "--label-folder=x", "--nonsense=1"], "unrecognized"),
    (["deploy", "--pb", "m.pb"], "--work is required"),
    (["deploy", "--pb", "m.pb", "--work", "w", "--gears", "1,x"],
     "comma-separated whole numbers"),
    (["run-cpu", "--input=i", "--output=o"], "--batch-size is required"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2(args, message):
    result = cli(*args)
    assert result.returncode == 2 and message in result.stderr
    assert "usage:" in result.stderr


def placeholder_only_pb(path):
    """A GraphDef holding one float Placeholder ``x``, in protobuf bytes."""
    attr = b"\x0a\x05dtype\x12\x02\x30\x01"  # dtype: DT_FLOAT
    node = b"\x0a\x01x\x12\x0bPlaceholder\x2a" + bytes([len(attr)]) + attr
    path.write_bytes(b"\x0a" + bytes([len(node)]) + node)
    return path


def test_run_cpu_keeps_tensorflow_errors_to_one_line(tmp_path):
    pb = placeholder_only_pb(tmp_path / "other.pb")
    (tmp_path / "in").mkdir()
    np.zeros(784, np.float32).tofile(tmp_path / "in" / "1_image.bin")
    result = cli("run-cpu", "--pb", pb, "--input", tmp_path / "in",
                 "--output", tmp_path / "out", "--batch_size", 1)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {pb}: ")
    assert "'output:0'" in result.stderr


def test_cli_prints_commands():
    result = cli("atc-command", "--precision_mode=allow_fp32_to_fp16")
    assert "--precision_mode=allow_fp32_to_fp16" in result.stdout
    result = cli("msame-command", "--model=s.om", "--input=bin/image_32",
                 "--batch_size=32")
    assert result.stdout.strip().endswith("--dymBatch=32")

"""The Ascend path against a fake CANN box (../shared/tools/fake-cann).

``install.sh`` lays out a non-root toolkit in a temporary HOME, msame in
its build folder and ais_bench in a folder for PYTHONPATH; nothing of it
is on the PATH.  The fakes run the model on the CPU in float32, so each
gear must give exactly the shipped model's CPU predictions.  Passing
here is necessary, not sufficient: the real box is the judge.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sphereface.ascend import ToolError, deploy, toolkit

ROOT = Path(__file__).resolve().parents[1]
FAKE_CANN = ROOT.parent / "shared" / "tools" / "fake-cann"
PB = ROOT / "book" / "models" / "sphereface.pb"
REAL_TOOLKIT = toolkit.ASCEND_ROOT.exists()

pytestmark = pytest.mark.skipif(
    not (FAKE_CANN / "install.sh").is_file(),
    reason=f"no fake CANN box at {FAKE_CANN}")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A fake box laid out in a HOME of its own, installed once."""
    home = tmp_path_factory.mktemp("home")
    subprocess.run(["bash", str(FAKE_CANN / "install.sh"), str(home)],
                   check=True, capture_output=True)
    return home


@pytest.fixture
def on_box(box, monkeypatch, tmp_path):
    """HOME is the box; no toolkit variables, no msame, no real root."""
    monkeypatch.setenv("HOME", str(box))
    monkeypatch.setattr(toolkit, "ASCEND_ROOT", tmp_path / "no_root")
    for name in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH", "MSAME",
                 "PYTHONPATH", "FAKE_MSAME_BUFFER", "FAKE_MSAME_FAIL_AT"):
        monkeypatch.delenv(name, raising=False)
    return box


@pytest.fixture(scope="module")
def test_set():
    from sphereface.data import load_mnist

    (_, _), (images, labels) = load_mnist()
    return images, labels


@pytest.fixture(scope="module")
def pb_hits(test_set):
    """Which test images the shipped .pb gets right on the CPU."""
    from sphereface.export import run_pb

    images, labels = test_set
    (predicted,) = run_pb(PB, images, 1000)
    return predicted == labels


@pytest.fixture(scope="module")
def pb_correct(pb_hits):
    """How many test images the shipped .pb gets right on the CPU."""
    return int(np.sum(pb_hits))


def msame_of(box):
    return box / "tools" / "msame" / "out" / "msame"


def test_ais_bench_runs_every_gear_as_the_pb_does(on_box, monkeypatch,
                                                  tmp_path, test_set,
                                                  pb_hits):
    # 1,003 images leave a partial last batch at gears 4 to 32; all
    # 10,000 go through msame in the chapter test below
    n = 1003
    monkeypatch.setenv("PYTHONPATH", str(on_box / "ais_bench_site"))
    lines = []
    images, labels = (a[:n] for a in test_set)
    done = deploy(PB, tmp_path / "work", images, labels, log=lines.append)
    assert done.route == "ais_bench"
    assert [r["gear"] for r in done.records] == [1, 4, 8, 16, 32]
    for record in done.records:
        assert record["route"] == "ais_bench"
        assert (record["correct"], record["total"]) == (
            int(np.sum(pb_hits[:n])), n)
    assert json.loads((tmp_path / "work" / "deployment.json").read_text()
                      ) == done.records
    assert not any("NO NPU" in line for line in lines)


def test_older_msame_whole_buffer_is_scored(on_box, monkeypatch, tmp_path,
                                            test_set):
    monkeypatch.setenv("FAKE_MSAME_BUFFER", "full")
    images, labels = (a[:40] for a in test_set)
    lines = []
    done = deploy(PB, tmp_path / "work", images, labels, gears=(4, 8),
                  msame=msame_of(on_box), log=lines.append)
    assert [(r["route"], r["total"]) for r in done.records] == [
        ("msame", 40), ("msame", 40)]
    assert done.records[0]["correct"] == done.records[1]["correct"] >= 39
    assert ("gear 4: each prediction file holds 8 values (an older msame "
            "writes the whole buffer of the largest gear): the first 4 of "
            "each are scored") in lines


def test_toolkit_without_runner_is_loud(on_box, tmp_path, test_set):
    images, labels = (a[:8] for a in test_set)
    with pytest.raises(ToolError, match="neither msame nor ais_bench"):
        deploy(PB, tmp_path / "work", images, labels, gears=(4, 8))
    assert not (tmp_path / "work").exists()  # checked before writing


def test_no_toolkit_runs_the_stand_in_and_says_so(on_box, monkeypatch,
                                                  tmp_path, test_set):
    monkeypatch.setenv("HOME", str(tmp_path))
    images, labels = (a[:50] for a in test_set)
    lines = []
    done = deploy(PB, tmp_path / "work", images, labels, gears=(1, 8),
                  log=lines.append)
    assert lines[0].startswith("NO NPU WAS USED")
    assert {r["route"] for r in done.records} == {"cpu-stand-in"}
    assert done.om is None and done.board_script is None
    with pytest.raises(FileExistsError, match="overwrite"):
        deploy(PB, tmp_path / "work", images, labels, gears=(1, 8))


def test_wrong_gears_and_bins_fail_before_any_tool(on_box, tmp_path,
                                                   test_set):
    images, labels = (a[:8] for a in test_set)
    with pytest.raises(ValueError, match="2 to 100 batch gears"):
        deploy(PB, tmp_path / "work", images, labels, gears=(4,))
    with pytest.raises(ValueError, match=r"range over \[0, 255\]"):
        deploy(PB, tmp_path / "work", images * 255, labels, gears=(1, 4),
               msame=msame_of(on_box))
    assert not (tmp_path / "work" / "sphereface.om").exists()


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "sphereface.ascend",
                           *map(str, args)], capture_output=True,
                          text=True, check=False, env=env)


@pytest.fixture
def box_env(on_box):
    env = dict(os.environ, HOME=str(on_box))
    env.setdefault("MNIST_DATA", str(ROOT / "MNIST_data"))
    return env


@pytest.mark.skipif(REAL_TOOLKIT, reason="a real toolkit in "
                    f"{toolkit.ASCEND_ROOT} would be found first")
def test_command_converts_here_and_the_board_script_runs_there(
        box_env, tmp_path):
    work = tmp_path / "host"
    convert = cli("deploy", "--pb", PB, "--work", work, "--count", 20,
                  "--gears", "1,4", "--soc_version", "Ascend310P3",
                  "--convert-only", env=box_env)
    assert convert.returncode == 0, convert.stderr
    assert "converted only" in convert.stdout
    assert sorted(p.name for p in work.iterdir()) == [
        "bin", "run_on_board.sh", "sphereface.om"]
    board = tmp_path / "board"
    board.mkdir()
    for name in ("bin", "sphereface.om", "run_on_board.sh"):
        (work / name).rename(board / name)
    env = dict(box_env, MSAME=str(msame_of(Path(box_env["HOME"]))))
    run = subprocess.run(["bash", "run_on_board.sh"], cwd=board, env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("20 / 20 correct") == 2
    with open(board / "bin" / "image_4" / "1_image.bin", "ab") as handle:
        handle.write(b"\0" * 4)
    bad = subprocess.run(["bash", "run_on_board.sh"], cwd=board, env=env,
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "image_4/1_image.bin: does not hold 4 images" in bad.stderr


@pytest.mark.skipif(REAL_TOOLKIT, reason="a real toolkit in "
                    f"{toolkit.ASCEND_ROOT} would be found first")
def test_command_names_the_input_that_failed(box_env, tmp_path):
    result = cli("deploy", "--pb", PB, "--work", tmp_path / "work",
                 "--count", 9, "--gears", "1,8", "--msame",
                 msame_of(Path(box_env["HOME"])),
                 env=dict(box_env, FAKE_MSAME_FAIL_AT="2"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: msame failed on ")
    assert "/bin/image_1/2_image.bin (exit 0):\n[ERROR]" in result.stderr
    assert not (tmp_path / "work" / "deployment.json").exists()


@pytest.mark.skipif(REAL_TOOLKIT, reason="a real toolkit in "
                    f"{toolkit.ASCEND_ROOT} would be found first")
def test_chapter_runs_every_gear_through_msame(box_env, monkeypatch,
                                               tmp_path, pb_correct):
    """Chapter 6 as a reader runs it on a box: $MSAME names msame."""
    import nbformat
    from nbclient import NotebookClient

    for name, value in dict(box_env, MSAME=str(msame_of(Path(
            box_env["HOME"]))), TMPDIR=str(tmp_path)).items():
        monkeypatch.setenv(name, value)
    chapter = nbformat.read(ROOT / "book" / "06_ascend.ipynb", 4)
    NotebookClient(chapter, timeout=1200, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "book")}}
                   ).execute()  # the chapter's assertions run here
    text = "\n".join(output.get("text", "") for cell in chapter.cells
                     if cell.cell_type == "code" for output in cell.outputs)
    assert "route:      msame" in text
    assert "The om ran through msame at every gear." in text
    assert "No NPU" not in text and "NO NPU" not in text
    records = json.loads((tmp_path / "sphereface_ascend" /
                          "deployment.json").read_text())
    assert [(r["gear"], r["route"], r["correct"], r["total"])
            for r in records] == [(g, "msame", pb_correct, 10000)
                                  for g in (1, 4, 8, 16, 32)]

"""``benchmarks/run.py --quick`` runs every section end to end."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location(
        "benchmark_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), *args],
        capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run of every section, into a file holding a book run."""
    out = tmp_path_factory.mktemp("bench") / "benchmarks.json"
    out.write_text(json.dumps({"book_run_seconds": {"fast": {"total_s": 1}}}))
    done = run_script("--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


def test_quick_benchmark_writes_every_section(quick_run):
    out, stdout = quick_run
    record = json.loads(out.read_text())
    assert record["quick"] is True
    assert record["book_run_seconds"] == {"fast": {"total_s": 1}}  # kept
    for key in ("asoftmax_overhead_ratio", "pb_vs_keras_bs32_ratio",
                "matmul_gflops", "training_gflops"):
        assert record[key] > 0, key
    assert "time_to_99_s" in record
    sections = record["sections"]
    assert set(sections["training"]["images_per_s"]) == {
        "softmax", "modified", "a-softmax", "cosface", "arcface",
        "a-softmax, XLA"}
    assert sections["training"]["xla_vs_plain_ratio"] > 0
    assert set(sections["inference"]["images_per_s"]) == {
        "1", "4", "8", "16", "32"}
    assert all(s["peak_memory_mb"] > 50 for s in sections.values())
    assert sections["inference"]["forward_flops"] > 1e6
    assert "Training at batch 256" in stdout
    assert record["machine"]["cores"] >= 1
    assert record["loop_efficiency"] == sections["loop"]["loop_efficiency"]
    assert 0 < record["loop_efficiency"]
    assert sections["loop"]["train_images_per_s"] > 0
    assert set(sections["precision"]["images_per_s"]) == {
        "float32", "mixed_bfloat16"}
    assert record["bf16_vs_fp32_step_ratio"] > 0
    assert isinstance(record["native_bfloat16"], bool)
    assert set(sections["precision"]["bfloat16"]) == {
        "avx512_bf16", "amx_bf16", "native"}
    assert -1 <= record["bf16_accuracy_delta"] <= 1
    assert set(sections["bf16_accuracy"]["test_accuracy"]) == {
        "float32", "mixed_bfloat16"}
    assert "mixed_bfloat16 / float32" in stdout
    script = load_script()
    measured = sections["recipes"]["recipes"]
    assert list(measured) == list(script.QUICK_RECIPES)
    assert set(measured) < set(script.RECIPES)
    for name, recipe in measured.items():
        assert recipe["changes"] == script.RECIPES[name]
        assert [r["seed"] for r in recipe["runs"]] == [0]  # --quick: one
        assert recipe["mean_accuracy"] == recipe["runs"][0]["test_accuracy"]
    # the changes reach the runs: half the batch, twice the steps
    steps = {name: r["runs"][0]["steps"] for name, r in measured.items()}
    assert steps["batch 64"] == 2 * steps["the book's"]
    assert "Chapter 3's A-Softmax network under each recipe" in stdout


def test_only_remeasures_one_section_and_keeps_the_rest(quick_run,
                                                        tmp_path):
    out = tmp_path / "benchmarks.json"
    shutil.copy(quick_run[0], out)
    before = json.loads(out.read_text())
    done = run_script("--quick", "--only", "matmul", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    after = json.loads(out.read_text())
    for name in ("training", "time_to_99", "inference", "loop",
                 "precision", "bf16_accuracy", "recipes"):
        assert after["sections"][name] == before["sections"][name], name
    assert list(after["sections"]) == list(before["sections"])
    assert after["book_run_seconds"] == before["book_run_seconds"]
    # a full-size run cannot keep sections measured at --quick size
    done = run_script("--only", "matmul", "--out", str(out))
    assert done.returncode != 0 and "--quick" in done.stderr
    assert json.loads(out.read_text()) == after  # left as it was


def test_only_needs_the_sections_it_keeps(tmp_path):
    out = tmp_path / "none.json"
    done = run_script("--quick", "--only", "matmul", "--out", str(out))
    assert done.returncode != 0
    assert str(out) in done.stderr and "training" in done.stderr
    assert not out.exists()


def test_a_record_may_lack_the_bf16_accuracy_run(quick_run, tmp_path):
    out = tmp_path / "benchmarks.json"
    record = json.loads(quick_run[0].read_text())
    del record["sections"]["bf16_accuracy"]
    out.write_text(json.dumps(record))
    done = run_script("--quick", "--only", "matmul", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    after = json.loads(out.read_text())
    assert "bf16_accuracy" not in after["sections"]
    assert after["bf16_accuracy_delta"] is None
    assert "mixed_bfloat16 - float32: not measured" in done.stdout

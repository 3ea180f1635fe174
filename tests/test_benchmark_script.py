"""``benchmarks/run.py --quick`` runs every section end to end."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_every_section(tmp_path):
    out = tmp_path / "benchmarks.json"
    out.write_text(json.dumps({"book_run_seconds": {"fast": {"total_s": 1}}}))
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
         "--out", str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
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
    assert "Training at batch 256" in done.stdout
    assert record["machine"]["cores"] >= 1

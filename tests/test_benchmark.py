import time

import keras
import numpy as np
import pytest

from sphereface import benchmark
from sphereface.train import TrainConfig


def test_forward_flops_counts_conv_and_dense_exactly():
    image = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 3, padding="same")(image)
    x = keras.layers.MaxPooling2D()(x)
    out = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    model = keras.Model(image, out)
    # conv: 2*3*3*1*2 per position, 16 positions; dense: 2*8*3
    assert benchmark.forward_flops(model) == 576 + 48


def test_best_rates_keeps_every_candidate_and_orders_them():
    rates = benchmark.best_rates({"fast": lambda: None,
                                  "slow": lambda: time.sleep(0.02)},
                                 items=10, rounds=2)
    assert set(rates) == {"fast", "slow"}
    assert rates["fast"] > rates["slow"] > 0


def test_inference_rates_feeds_whole_batches_only():
    seen = []
    images = np.zeros((10, 28, 28, 1), np.float32)
    table = benchmark.inference_rates({"r": lambda b: seen.append(len(b))},
                                      images, (1, 4), rounds=1)
    assert set(table) == {1, 4} and table[4]["r"] > 0
    assert seen == [1] * 10 + [4, 4]  # the partial batch of 2 is skipped


def test_time_to_accuracy():
    history = {"checks": [{"seconds": 1.0, "test_accuracy": 0.9},
                          {"seconds": 2.5, "test_accuracy": 0.991},
                          {"seconds": 4.0, "test_accuracy": 0.995}]}
    assert benchmark.time_to_accuracy(history, 0.99) == 2.5
    assert benchmark.time_to_accuracy(history, 0.999) is None


def test_training_rates_side_by_side(tiny_mnist):
    (images, labels), _ = tiny_mnist
    configs = {kind: TrainConfig(head=kind, batch_size=8, epochs=1)
               for kind in ("softmax", "a-softmax")}
    rates = benchmark.training_rates(configs, images, labels, steps=2,
                                     rounds=1)
    assert set(rates) == {"softmax", "a-softmax"}
    assert all(rate > 0 for rate in rates.values())
    configs["a-softmax"] = TrainConfig(batch_size=16)
    with pytest.raises(ValueError, match="batch size 16, expected 8"):
        benchmark.training_rates(configs, images, labels, steps=2)


def test_machine_names_cpu_cores_and_versions():
    info = benchmark.machine()
    assert info["cores"] >= 1 and info["cpu"]
    assert {"tensorflow", "numpy", "python"} <= set(info["versions"])


@pytest.mark.parametrize("flags, native", [
    ("fpu avx2 amx_bf16 amx_tile", {"amx_bf16": True,
                                    "avx512_bf16": False}),
    ("fpu avx512f avx512_bf16", {"amx_bf16": False, "avx512_bf16": True}),
    ("fpu avx2 fma avx512_bf16x", {"amx_bf16": False,
                                   "avx512_bf16": False}),
])
def test_bfloat16_support_reads_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: X\nflags\t\t: "
                       f"{flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    found = benchmark.bfloat16_support(cpuinfo)
    assert found == {**native, "native": any(native.values())}
    assert benchmark.bfloat16_support(tmp_path / "none")["native"] is False


def test_loop_rates_put_train_beside_its_bare_step(tiny_mnist, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("SPHEREFACE_CACHE", str(tmp_path))
    timed, bare = [], iter([100.0, 300.0])  # before and after the run

    def bare_step(configs, images, labels, steps, rounds):
        timed.append((configs["step"].batch_size, len(images), steps))
        return {"step": next(bare)}

    monkeypatch.setattr(benchmark, "training_rates", bare_step)
    config = TrainConfig(batch_size=64, embedding_dim=8, shift=0)
    rates = benchmark.loop_rates(config, tiny_mnist, epochs=2, steps=2,
                                 rounds=1)
    assert timed == [(64, 512, 2)] * 2  # same batch size and images
    assert rates["step_before_after"] == [100.0, 300.0]
    assert rates["step_images_per_s"] == 300.0
    assert rates["loop_efficiency"] == pytest.approx(
        rates["train_images_per_s"] / rates["step_images_per_s"])
    assert rates["train_images_per_s"] > 0
    assert not any(tmp_path.iterdir())  # a timing run, never cached


def test_tables_read_a_record_from_before_the_loop_sections():
    """The committed record may predate the loop and precision sections."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "book/results/benchmarks.json"
    record = json.loads(path.read_text())
    for key in ("loop_efficiency", "bf16_vs_fp32_step_ratio",
                "native_bfloat16", "bf16_accuracy_delta"):
        record.pop(key, None)
    text = benchmark.tables(record)
    assert "train() images/s / its bare step's: not measured" in text
    assert "mixed_bfloat16 / float32: not measured" in text


def test_recipe_table_puts_each_recipe_on_a_row():
    runs = [{"seed": 0, "steps": 10, "test_accuracy": 0.99},
            {"seed": 1, "steps": 10, "test_accuracy": 0.995}]
    recipes = {"short": {"runs": runs, "mean_accuracy": 0.9925,
                         "std_accuracy": 0.0035},
               "long": {"runs": [{**r, "steps": 20} for r in runs],
                        "mean_accuracy": 0.9925, "std_accuracy": 0.0035}}
    lines = benchmark.recipe_table(recipes).splitlines()
    assert lines[0].split() == ["recipe", "steps", "seed", "0", "seed", "1",
                                "mean", "std"]
    assert lines[2].split() == ["short", "10", "99.00", "99.50", "99.250",
                                "0.350"]
    assert lines[3].split()[:2] == ["long", "20"]

"""Benchmarks: training and inference speed, FLOPs, memory, machine.

    python benchmarks/run.py            # prints tables, writes JSON
    python benchmarks/run.py --quick    # a smoke run of every section
    python benchmarks/run.py --only time_to_99   # remeasure one section

Each section runs in its own process so that its peak memory is its
own.  Results go to ``book/results/benchmarks.json`` (``--out``);
``book_run_seconds`` there is written by ``benchmarks/book_time.py``
and kept.  Candidates are timed side by side in one process, in
alternating rounds (``sphereface.benchmark``); quote their ratios, not
absolute speeds from different runs.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))  # the book's helpers: sphereface_book
HEADS = ("softmax", "modified", "a-softmax", "cosface", "arcface")
GEARS = (1, 4, 8, 16, 32)
# Recipes compared on chapter 3's three-seed A-Softmax mean: changes to
# the book's full-mode settings (sphereface_book.experiments.FULL).
RECIPES = {"the book's": {}, "6 epochs": {"epochs": 6},
           "weight decay 0.05": {"weight_decay": 0.05},
           "weight decay 0.1": {"weight_decay": 0.1},
           "batch 64": {"batch_size": 64},
           "dropout 0.25": {"dropout": 0.25},
           "learning rate 5e-3": {"learning_rate": 5e-3},
           "learning rate 2e-3": {"learning_rate": 2e-3},
           "stronger warps": {"rotation": 15.0, "zoom": 0.15},
           "shift 3": {"shift": 3},
           "milder warps": {"rotation": 5.0, "zoom": 0.05}}
RECIPE_SEEDS = (0, 1, 2)
# --quick smoke-tests the mechanism on two: a change that shows at that
# size (half the batch makes twice the steps) and the book's to compare.
QUICK_RECIPES = ("the book's", "batch 64")


def section_training(quick):
    """Images/s per head at batch 256 (and A-Softmax under XLA)."""
    from sphereface_book import experiments

    from sphereface import benchmark, data

    (x_train, y_train), _ = data.load_mnist()
    steps = 3 if quick else 20
    configs = {head: dataclasses.replace(experiments.book_config(head),
                                         batch_size=256)
               for head in HEADS}
    configs["a-softmax, XLA"] = configs["a-softmax"]
    rates = benchmark.training_rates(configs, x_train, y_train, steps,
                                     rounds=1 if quick else 3,
                                     xla={"a-softmax, XLA"})
    return {"batch_size": 256, "images_per_s": rates,
            "rounds": 1 if quick else 3,
            "asoftmax_overhead_ratio": rates["softmax"] / rates["a-softmax"],
            "xla_vs_plain_ratio": rates["a-softmax, XLA"]
            / rates["a-softmax"]}


def section_time_to_99(quick):
    """Training seconds of the chapter-3 configuration to 99.0%."""
    from sphereface_book import experiments

    from sphereface import benchmark, data
    from sphereface.train import train

    config = experiments.book_config()
    if quick:  # a smoke test of the mechanism, not a measurement
        config = dataclasses.replace(config, epochs=1, train_size=2560)
    history = train(config, data.load_mnist(), verbose=False,
                    use_cache=False, check_every=25, until=0.99).history
    return {"config": config.key(), "batch_size": config.batch_size,
            "time_to_99_s": benchmark.time_to_accuracy(history, 0.99),
            "checks": history["checks"]}


def section_inference(quick):
    """Images/s of the .pb, the Keras call and onnxruntime per gear."""
    import numpy as np
    from sphereface_book import experiments

    from sphereface import benchmark, data, export, train

    _, (x_test, _) = data.load_mnist()
    config = experiments.book_config()
    # untrained weights: the speed is the architecture's, and no
    # cached training run is needed
    backbone, head = train.build_networks(config)
    net = train.Trained(config, backbone, head, {})
    model = net.inference_model()
    images = x_test[:64 if quick else 1024]
    with tempfile.TemporaryDirectory() as tmp:
        pb = export.freeze_pb(net, Path(tmp) / "net.pb")
        onnx = export.write_onnx(pb, Path(tmp) / "net.onnx")
        with export.pb_session(pb) as pb_run:
            rows = benchmark.inference_rates(
                {"pb": pb_run, "keras": lambda b: model(b, training=False),
                 "onnx": export.onnx_session(onnx)},
                images, GEARS, rounds=1 if quick else 3)
    flops = benchmark.forward_flops(backbone) + 2 * np.prod(
        head.kernel.shape)
    return {"images_per_s": rows, "forward_flops": int(flops),
            "rounds": 1 if quick else 3, "images": len(images),
            "pb_vs_keras_bs32_ratio": rows[32]["pb"] / rows[32]["keras"],
            "onnx_vs_keras_bs32_ratio": rows[32]["onnx"] / rows[32]["keras"]}


def _quick(config, quick):
    """A smoke-test size of ``config`` for ``--quick``."""
    if not quick:
        return config
    return dataclasses.replace(config, epochs=2, train_size=1024)


def section_loop(quick):
    """train()'s images/s over its bare step's (chapter-3 configuration)."""
    from sphereface_book import experiments

    from sphereface import benchmark, data

    config = _quick(experiments.book_config(fast=False), quick)
    rates = benchmark.loop_rates(config, data.load_mnist(),
                                 epochs=2 if quick else 3,
                                 steps=3 if quick else 50,
                                 rounds=1 if quick else 3)
    return {"config": config.key(), "batch_size": config.batch_size,
            **rates}


def section_precision(quick):
    """Step images/s under mixed_bfloat16 and float32, side by side."""
    from sphereface_book import experiments

    from sphereface import benchmark, data

    (x_train, y_train), _ = data.load_mnist()
    config = experiments.book_config(fast=False)
    configs = {name: dataclasses.replace(config, precision=name)
               for name in ("float32", "mixed_bfloat16")}
    rates = benchmark.training_rates(configs, x_train, y_train,
                                     3 if quick else 20,
                                     rounds=1 if quick else 3)
    return {"batch_size": config.batch_size, "images_per_s": rates,
            "rounds": 1 if quick else 3,
            "bf16_vs_fp32_step_ratio": rates["mixed_bfloat16"]
            / rates["float32"],
            "bfloat16": benchmark.bfloat16_support()}


def section_bf16_accuracy(quick):
    """Test accuracy of the chapter-3 run in bfloat16 minus float32."""
    from sphereface_book import experiments

    from sphereface import data
    from sphereface.train import train

    mnist = data.load_mnist()
    accuracy, seconds = {}, {}
    for name in ("float32", "mixed_bfloat16"):
        config = _quick(experiments.book_config(fast=False,
                                                precision=name), quick)
        # the float32 run is the book's own, usually in the cache
        history = train(config, mnist, verbose=False,
                        use_cache=not quick).history
        accuracy[name] = history["test_accuracy"][-1]
        seconds[name] = history["train_seconds"]
    return {"test_accuracy": accuracy, "train_seconds": seconds,
            "bf16_accuracy_delta": accuracy["mixed_bfloat16"]
            - accuracy["float32"]}


def section_recipes(quick):
    """Chapter 3's A-Softmax network, three seeds, under each recipe."""
    from sphereface_book import experiments

    from sphereface import data
    from sphereface.train import train

    mnist = data.load_mnist()
    seeds = RECIPE_SEEDS[:1] if quick else RECIPE_SEEDS
    names = QUICK_RECIPES if quick else RECIPES
    recipes = {}
    for name in names:
        changes = RECIPES[name]
        runs = []
        for seed in seeds:
            config = _quick(experiments.book_config(
                seed=seed, fast=False, **changes), quick)
            history = train(config, mnist, verbose=False,
                            use_cache=not quick).history
            runs.append({"seed": seed, "steps": history["steps"],
                         "test_accuracy": history["test_accuracy"][-1]})
        mean, std = experiments.mean_std(runs, "test_accuracy")
        recipes[name] = {"changes": changes, "runs": runs,
                         "mean_accuracy": mean, "std_accuracy": std}
    return {"recipes": recipes}


def section_matmul(quick):
    from sphereface import benchmark

    n = 256 if quick else 1024
    return {"n": n, "gflops": benchmark.matmul_gflops(n)}


SECTIONS = {"training": section_training, "time_to_99": section_time_to_99,
            "inference": section_inference, "matmul": section_matmul,
            "loop": section_loop, "precision": section_precision,
            "bf16_accuracy": section_bf16_accuracy,
            "recipes": section_recipes}
# Sections a record may lack, since they train full networks:
# bf16_accuracy one in bfloat16 (slow where the CPU has no bfloat16
# instructions), recipes three per recipe (those the book trains come
# from the cache).  ``--only bf16_accuracy recipes`` adds them.
OPTIONAL = ("bf16_accuracy", "recipes")


def run_section(name, quick):
    """Run one section in a child process; its result and peak memory."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = [sys.executable, __file__, "--section", name,
                "--section-out", out.name] + (["--quick"] if quick else [])
        child = subprocess.Popen(args)
        _, status, usage = os.wait4(child.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"benchmark section {name!r} failed")
        result = json.loads(Path(out.name).read_text())
    result["peak_memory_mb"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


def kept_sections(old, args):
    """The sections ``--only`` keeps, if they fit the run being made."""
    from sphereface import benchmark

    kept = {name: result for name, result in old.get("sections", {}).items()
            if name in SECTIONS and name not in args.only}
    missing = sorted(set(SECTIONS) - set(args.only) - set(kept)
                     - set(OPTIONAL))
    if missing:
        raise SystemExit(f"{args.out}: no earlier {', '.join(missing)} "
                         "section to keep; run every section")
    if old.get("machine") != benchmark.machine() or (
            old.get("quick") != args.quick):
        raise SystemExit(f"{args.out} was measured on another machine, "
                         "library version or size (--quick); run every "
                         "section")
    return kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: check that every section runs")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "book" / "results" / "benchmarks.json")
    parser.add_argument("--only", nargs="+", choices=SECTIONS,
                        metavar="SECTION",
                        help="rerun these sections and keep the others "
                        "from --out (measured on this machine)")
    parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--section-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.section:
        result = SECTIONS[args.section](args.quick)
        Path(args.section_out).write_text(json.dumps(result))
        return
    from sphereface import benchmark

    old = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results = kept_sections(old, args) if args.only else {}
    for name in args.only or SECTIONS:
        print(f"running {name} ...", flush=True)
        results[name] = run_section(name, args.quick)
    results = {name: results[name] for name in SECTIONS if name in results}
    record = {**benchmark.summarise(results), "quick": args.quick,
              "machine": benchmark.machine(), "sections": results,
              "book_run_seconds": old.get("book_run_seconds", {})}
    print(benchmark.tables(record))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()

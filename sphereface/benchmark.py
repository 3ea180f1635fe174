"""Measurements behind ``benchmarks/run.py`` and the Performance page.

Speed is only ever compared side by side, in one process and one run:
the candidates are timed in alternation, several rounds, and the best
round of each is kept, so a busy neighbour slows every candidate of a
round rather than one of them.  Every result carries the machine.
"""

import functools
import os
import platform
import time

import numpy as np


def machine():
    """CPU model, core count and the versions that decide the speed."""
    import keras
    import tensorflow as tf

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version(),
                "tensorflow": tf.__version__, "keras": keras.__version__,
                "numpy": np.__version__}
    try:
        import onnxruntime
        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return {"cpu": model, "cores": os.cpu_count(),
            "system": f"{platform.system()} {platform.release()}",
            "versions": versions}


def bfloat16_support(cpuinfo="/proc/cpuinfo"):
    """The CPU's bfloat16 instructions, from its flags.

    ``avx512_bf16`` (AVX-512 BF16) and ``amx_bf16`` (AMX tiles) are what
    make ``mixed_bfloat16`` fast; ``native`` is True if either is there.
    Without them TensorFlow emulates bfloat16 arithmetic in float32.
    """
    flags = set()
    try:
        with open(cpuinfo) as lines:
            flags = next((set(line.split(":", 1)[1].split())
                          for line in lines if line.startswith("flags")),
                         set())
    except OSError:
        pass
    found = {flag: flag in flags for flag in ("avx512_bf16", "amx_bf16")}
    return {**found, "native": any(found.values())}


def forward_flops(model):
    """Floating-point operations of one image's forward pass.

    Counted from the layers: a convolution costs
    ``2 * k_h * k_w * c_in * c_out`` per output position, a dense layer
    ``2 * n_in * n_out`` (a multiply and an add each); biases,
    activations and pooling are left out (well under 1% here).
    """
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            k_h, k_w, c_in, c_out = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * k_h * k_w * c_in * c_out * h * w
        elif isinstance(layer, layers.Dense):
            n_in, n_out = layer.kernel.shape
            total += 2 * n_in * n_out
    return int(total)


def best_rates(candidates, items, rounds=3):
    """Items per second of each candidate, best of ``rounds``.

    ``candidates`` maps a name to a function that processes ``items``
    items once; they run in alternation, round after round.
    """
    best = dict.fromkeys(candidates, 0.0)
    for _ in range(rounds):
        for name, work in candidates.items():
            start = time.perf_counter()
            work()
            rate = items / (time.perf_counter() - start)
            best[name] = max(best[name], rate)
    return best


def inference_rates(runners, images, batch_sizes, rounds=3):
    """Images/s of each runner per batch size, side by side.

    ``runners`` maps a name to a function ``batch -> outputs``; every
    runner gets the same whole batches of ``images``.
    """
    table = {}
    for size in batch_sizes:
        batches = [images[i:i + size]
                   for i in range(0, len(images) - size + 1, size)]
        work = {name: functools.partial(_run_all, run, batches)
                for name, run in runners.items()}
        table[size] = best_rates(work, len(batches) * size, rounds)
    return table


def _run_all(run, batches):
    for batch in batches:
        run(batch)


def matmul_gflops(n=1024, repeats=10):
    """The machine's float32 matrix-multiply rate through TensorFlow.

    The best of ``repeats`` products of two ``n x n`` matrices
    (``2 n^3`` operations each): a practical ceiling for the dense
    arithmetic a network does on this CPU.
    """
    import tensorflow as tf

    a = tf.random.stateless_normal((n, n), seed=(1, 2))
    b = tf.random.stateless_normal((n, n), seed=(3, 4))
    tf.linalg.matmul(a, b).numpy()  # warm up
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def training_rates(configs, images, labels, steps=20, rounds=3, xla=()):
    """Training images per second of each configuration, side by side.

    ``configs`` maps a name to a :class:`TrainConfig`; each gets its
    networks and compiled step (:func:`sphereface.train.prepare`; the
    names in ``xla`` compiled with XLA), one warm-up step, then
    ``steps`` steps per round on the same batches.
    """
    import tensorflow as tf

    from sphereface.train import prepare

    batch = next(iter(configs.values())).batch_size
    batches = [(tf.constant(images[i * batch:(i + 1) * batch]),
                tf.constant(labels[i * batch:(i + 1) * batch]))
               for i in range(steps)]
    steppers = {}
    for name, config in configs.items():
        if config.batch_size != batch:
            raise ValueError(f"{name}: batch size {config.batch_size}, "
                             f"expected {batch} like the others")
        step = prepare(config, steps_per_epoch=steps,
                       jit_compile=name in xla)[2]
        float(step(*batches[0])[0])  # trace and compile
        steppers[name] = _stepper(step, batches)
    return best_rates(steppers, steps * batch, rounds)


def loop_rates(config, mnist, epochs=3, steps=50, rounds=3):
    """``train()``'s images/s beside its bare compiled step's.

    The bare step (:func:`training_rates`) runs on fixed batches of the
    same images at the same batch size, before and after the run (the
    better of the two kept).  ``train()`` runs ``epochs`` epochs of
    ``config`` with a check at each epoch's end; its rate is that of
    the epochs after the first (tracing and the first epoch's
    augmentation, which nothing can overlap, are left out), on the
    training clock, which leaves evaluation out.
    """
    import dataclasses

    from sphereface.train import run_data, train

    config = dataclasses.replace(config, epochs=epochs)
    (images, labels), _ = run_data(config, mnist)
    per_epoch = len(labels) // config.batch_size

    def bare():
        return training_rates({"step": config}, images, labels, steps,
                              rounds)["step"]

    before = bare()
    history = train(config, mnist, verbose=False, use_cache=False,
                    check_every=per_epoch).history
    after = bare()
    seconds = [check["seconds"] for check in history["checks"]]
    loop = ((epochs - 1) * per_epoch * config.batch_size
            / (seconds[-1] - seconds[0]))
    step = max(before, after)
    return {"train_images_per_s": loop, "step_images_per_s": step,
            "step_before_after": [before, after],
            "loop_efficiency": loop / step}


def _stepper(step, batches):
    def run():
        for images, labels in batches:
            loss = step(images, labels)[0]
        float(loss)  # wait for the last step
    return run


def time_to_accuracy(history, target):
    """Training seconds until a check first reached ``target``, or None.

    ``history`` is a run's history with ``checks`` (``train(...,
    check_every=...)``).
    """
    for check in history["checks"]:
        if check["test_accuracy"] >= target:
            return check["seconds"]
    return None



def summarise(sections):
    """Headline ratios and efficiencies from ``benchmarks/run.py``'s
    sections (``training``, ``time_to_99``, ``inference``, ``matmul``,
    ``loop``, ``precision`` and ``bf16_accuracy``).

    Training does about three times the forward pass's arithmetic (the
    forward pass and two products per layer in the backward pass); that
    factor turns images/s into achieved GFLOP/s.
    """
    train_rates = sections["training"]["images_per_s"]
    inference = sections["inference"]
    flops = inference["forward_flops"]
    peak = sections["matmul"]["gflops"]
    train_gflops = 3 * flops * train_rates["a-softmax"] / 1e9
    infer_gflops = flops * inference["images_per_s"]["32"]["pb"] / 1e9
    return {
        "time_to_99_s": sections["time_to_99"]["time_to_99_s"],
        "asoftmax_overhead_ratio":
            sections["training"]["asoftmax_overhead_ratio"],
        "pb_vs_keras_bs32_ratio": inference["pb_vs_keras_bs32_ratio"],
        "training_gflops": train_gflops,
        "inference_gflops": infer_gflops,
        "matmul_gflops": peak,
        "training_efficiency": train_gflops / peak,
        "inference_efficiency": infer_gflops / peak,
        "loop_efficiency": sections["loop"]["loop_efficiency"],
        "bf16_vs_fp32_step_ratio":
            sections["precision"]["bf16_vs_fp32_step_ratio"],
        "native_bfloat16": sections["precision"]["bfloat16"]["native"],
        "bf16_accuracy_delta": sections.get("bf16_accuracy", {}).get(
            "bf16_accuracy_delta"),  # None if not measured
    }


def tables(record):
    """The benchmark record as the text tables the book shows."""
    from sphereface.tables import format_table

    sections, machine = record["sections"], record["machine"]
    rates = sections["training"]["images_per_s"]
    out = [(f"Machine: {machine['cpu']}, {machine['cores']} cores, "
           f"TensorFlow {machine['versions']['tensorflow']}"), ""]
    rounds = sections["training"]["rounds"]
    out.append(f"Training at batch 256 (images/s, best of {rounds} "
               "rounds):")
    out.append(format_table(
        [{"head": h, "rate": r, "ratio": rates["softmax"] / r}
         for h, r in rates.items()],
        {"head": ("head", "s"), "rate": ("images/s", ".0f"),
         "ratio": ("time per step / softmax's", ".2f")}))
    rounds = sections["inference"]["rounds"]
    out.append("")
    out.append(f"Inference on the CPU (images/s, best of {rounds} rounds):")
    out.append(format_table(
        [{"batch": int(g), **r, "ratio": r["pb"] / r["keras"]}
         for g, r in sections["inference"]["images_per_s"].items()],
        {"batch": ("batch", "d"), "pb": (".pb (Session)", ".0f"),
         "keras": ("Keras call", ".0f"), "onnx": ("onnxruntime", ".0f"),
         "ratio": (".pb / Keras", ".2f")}))
    time_99 = record["time_to_99_s"]
    # Records written before the loop and precision sections lack them.
    loop, ratio, delta = (record.get(k) for k in (
        "loop_efficiency", "bf16_vs_fp32_step_ratio", "bf16_accuracy_delta"))
    mflop = sections["inference"]["forward_flops"] / 1e6
    out += ["", "Summary:",
            "  time to 99.0% test accuracy: "
            + (f"{time_99:.0f} s" if time_99 else "not reached"),
            "  A-Softmax time per step / softmax's: "
            + f"{record['asoftmax_overhead_ratio']:.2f}",
            "  A-Softmax step under XLA / without: "
            + f"{sections['training']['xla_vs_plain_ratio']:.2f} (speed)",
            "  .pb / Keras call at batch 32: "
            + f"{record['pb_vs_keras_bs32_ratio']:.2f}",
            f"  forward pass: {mflop:.1f} MFLOP per image",
            f"  matrix multiply: {record['matmul_gflops']:.1f} GFLOP/s",
            f"  training: {record['training_gflops']:.1f} GFLOP/s, "
            + f"{record['training_efficiency']:.0%} of it",
            "  inference (.pb, batch 32): "
            + f"{record['inference_gflops']:.1f} GFLOP/s, "
            + f"{record['inference_efficiency']:.0%} of it",
            "  train() images/s / its bare step's: "
            + (f"{loop:.2f}" if loop is not None else "not measured"),
            "  step images/s, mixed_bfloat16 / float32: "
            + (f"{ratio:.2f} (native bfloat16: "
               + ("yes" if record["native_bfloat16"] else "no") + ")"
               if ratio is not None else "not measured"),
            "  test accuracy, mixed_bfloat16 - float32: "
            + (f"{100 * delta:+.2f} points" if delta is not None
               else "not measured"),
            "  peak memory of each section (MB):"]
    out += [f"    {name:<11} {section['peak_memory_mb']:6.0f}"
            for name, section in sections.items()]
    if "recipes" in sections:
        out += ["", ("Chapter 3's A-Softmax network under each recipe "
                     "(test accuracy %):"),
                recipe_table(sections["recipes"]["recipes"])]
    return "\n".join(out)


def recipe_table(recipes):
    """One row per recipe: its steps, its seeds' accuracies, the mean.

    No training times: the runs may come from a cache filled on another
    day or beside other work; what a recipe costs is its steps.
    """
    from sphereface.tables import format_table

    seeds = [run["seed"] for run in next(iter(recipes.values()))["runs"]]
    columns = {"recipe": ("recipe", "s"), "steps": ("steps", "d"),
               **{f"seed {s}": (f"seed {s}", ".2f") for s in seeds},
               "mean": ("mean", ".3f"), "std": ("std", ".3f")}
    rows = [{"recipe": name, "steps": recipe["runs"][0]["steps"],
             **{f"seed {r['seed']}": 100 * r["test_accuracy"]
                for r in recipe["runs"]},
             "mean": 100 * recipe["mean_accuracy"],
             "std": 100 * recipe["std_accuracy"]}
            for name, recipe in recipes.items()]
    return format_table(rows, columns)

"""The book's training runs: configurations, evaluation, results files.

Chapters call these so that the same configuration (and so the same
cache entry) is used wherever a network appears, and so that every
number in a results table is computed the same way.
"""

import functools
import json

import keras
import numpy as np

from sphereface import data, margins, metrics, verification
from sphereface.tables import format_table
from sphereface.train import TrainConfig, build_networks
from sphereface_book import RESULTS_DIR, fast_mode, writes_book_files

MNIST_TRAIN_IMAGES = 60000
# Full runs turn and zoom every training image besides shifting it
# (measured: A-Softmax's three-seed mean went from 99.54% to 99.59%).
# Other single changes, measured the same way (benchmarks/run.py --only
# recipes, on the Performance page), gained nothing beyond seed noise.
# Fast runs (two epochs on 10,000 images) keep the shifts alone: that is
# too short for the warps to pay off (A-Softmax 96.1% with them).
FULL = {"epochs": 5, "batch_size": 128, "train_size": None,
        "rotation": 10.0, "zoom": 0.1}
FAST = {"epochs": 2, "batch_size": 128, "train_size": 10000}
# Fields that identify a run in a results file.
RECORD_KEY = ("head", "m", "embedding_dim", "schedule", "seed")


def mode_settings(fast=None):
    """Epochs, batch size, training-set size and augmentation of a mode."""
    return dict(FAST if (fast_mode() if fast is None else fast) else FULL)


def scaled_gamma(total_steps):
    """gamma that puts lambda's decay at the official run's proportions.

    The official schedule reaches its floor at step 1,659 of 28,000
    (6% of the run).  Scaling gamma by 28,000 / total_steps keeps that
    fraction for a run of ``total_steps``.
    """
    return margins.LAMBDA_GAMMA * margins.OFFICIAL_STEPS / total_steps


@functools.cache
def _digit_counts():
    """MNIST's training images per digit (read once per process)."""
    (_, labels), _ = data.load_mnist()
    return np.bincount(labels, minlength=10)


def train_images(classes=None, train_size=None):
    """How many MNIST training images a run with these settings uses.

    As ``train`` selects them: the ``classes`` kept (counted in MNIST's
    labels), then at most ``train_size``.
    """
    available = (MNIST_TRAIN_IMAGES if classes is None
                 else int(_digit_counts()[list(classes)].sum()))
    return min(available, train_size or available)


def _steps(epochs, batch_size, classes=None, train_size=None):
    per_epoch = train_images(classes, train_size) // batch_size
    if per_epoch == 0:
        raise ValueError(
            f"{train_images(classes, train_size)} training images make no "
            f"full batch of {batch_size}")
    return epochs * per_epoch


def book_config(head="a-softmax", m=4, embedding_dim=64, seed=0,
                schedule="scaled", fast=None, **overrides):
    """The configuration a chapter trains; ``schedule`` picks lambda's.

    ``scaled``: gamma scaled to the run length, counted on the images
    the run trains on (the book's choice); ``official``: SphereFace-20's
    gamma = 0.12; ``none``: lambda = 0 from the first step (the full
    margin at once).
    """
    settings = {**mode_settings(fast), **overrides}
    steps = _steps(settings["epochs"], settings["batch_size"],
                   settings.get("classes"), settings["train_size"])
    lam = {"scaled": {"lambda_gamma": scaled_gamma(steps)},
           "official": {},
           "none": {"lambda_base": 0.0, "lambda_min": 0.0}}[schedule]
    return TrainConfig(head=head, m=m, embedding_dim=embedding_dim,
                       seed=seed, schedule=schedule, **{**lam, **settings})


def steps_of(config):
    """Optimiser steps in a run of ``config`` on MNIST."""
    return _steps(config.epochs, config.batch_size, config.classes,
                  config.train_size)


def run_fields(config):
    """The fields that name a run in every results record."""
    return {
        "head": config.head,
        "m": {"a-softmax": config.m, "modified": 1}.get(config.head),
        "embedding_dim": config.embedding_dim,
        "seed": config.seed,
        "schedule": (config.schedule if config.head == "a-softmax"
                     else None),
        "epochs": config.epochs,
        "trained_digits": list(config.classes or range(10)),
    }


def evaluate(trained, images, labels):
    """Accuracy and angle statistics of a trained network on a test set.

    Returns a flat record (degrees for angles) ready for a table or
    ``book/results/*.json``.
    """
    embedding, logits = trained.embed(images)
    cos = trained.head.cosine(embedding).numpy()
    stats = metrics.class_angle_stats(embedding, labels)
    return {
        **run_fields(trained.config),
        "test_accuracy": metrics.accuracy(logits, labels),
        "train_seconds": trained.history["train_seconds"],
        "max_intra_deg": stats["max_intra_deg"],
        "min_inter_deg": stats["min_inter_deg"],
        "intra_p95_deg": stats["intra_q_deg"],
        "inter_p5_deg": stats["inter_q_deg"],
        "criterion_fraction": metrics.criterion_fraction(stats),
        "criterion_fraction_p95": metrics.criterion_fraction(
            stats, quantile=True),
        "mean_margin_deg": metrics.mean_margin(cos, labels),
        "mean_target_angle_deg": float(np.mean(
            metrics.target_angles(cos, labels))),
        "fisher": metrics.angular_fisher_score(embedding, labels),
    }


def label(config):
    """A short name for a run: ``a-softmax m=4 (64-d)``."""
    name = config.head
    if config.head == "a-softmax":
        name += f" m={config.m}"
    return f"{name} ({config.embedding_dim}-d)"


def save_results(records, name, key=RECORD_KEY, write=None):
    """Merge ``records`` into ``book/results/<name>.json``, if asked.

    A stored record with the same ``key`` fields is replaced, others are
    kept, so two chapters can add to one file.  Writes only when
    ``write`` (default: :func:`sphereface_book.writes_book_files`, so
    never from a test run or fast mode); returns the path written, or
    None.
    """
    if not (writes_book_files() if write is None else write):
        return None
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    stored = json.loads(path.read_text()) if path.is_file() else []
    new_keys = {tuple(r.get(k) for k in key) for r in records}
    kept = [r for r in stored
            if tuple(r.get(k) for k in key) not in new_keys]
    merged = sorted(kept + list(records), key=lambda r: json.dumps(
        [r.get(k) for k in key]))
    path.write_text(json.dumps(merged, indent=1) + "\n")
    return path


def initial_state(config, images, labels):
    """Loss and mean feature norm of ``config``'s network before its
    first step: the seeded initialisation ``train`` starts from, on
    ``images`` (the start of the curves a history records)."""
    backbone, head = build_networks(config)
    features = backbone(images, training=False)
    loss = keras.losses.sparse_categorical_crossentropy(
        labels, head.margin_logits(features, labels), from_logits=True)
    return {"loss": float(np.mean(loss)),
            "feature_norm_mean": float(np.mean(np.linalg.norm(
                features, axis=1)))}


def collapsed(record):
    """True for a network that does not classify (under half its test
    images right): its classes share directions, so angle statistics
    that compare class means (the angular Fisher score) rank nothing."""
    return record["test_accuracy"] < 0.5


def training_summary(runs):
    """One line per network: how its training ended, from its history.

    ``runs`` maps a name to a ``Trained``; the full per-epoch log is in
    the training cell's (collapsed) output.
    """
    columns = {"name": ("network", "s"), "epochs": ("epochs", "d"),
               "loss": ("mean loss, last epoch", ".4f"),
               "train": ("train %", "%"), "test": ("test %", "%"),
               "seconds": ("train s", ".0f")}
    rows = [{"name": name, "epochs": len(run.history["epoch"]),
             "loss": run.history["loss"][-1],
             "train": run.history["train_accuracy"][-1],
             "test": run.history["test_accuracy"][-1],
             "seconds": run.history["train_seconds"]}
            for name, run in runs.items()]
    return format_table(rows, columns)


def mean_std(records, key):
    """Mean and sample standard deviation of ``key`` over records."""
    values = np.array([r[key] for r in records], float)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


# Open-set verification (chapter 7): train on the seen digits only.
SEEN_DIGITS = tuple(range(8))
VERIFICATION_RUNS = (("softmax", None), ("modified", None),
                     ("a-softmax", 2), ("a-softmax", 3), ("a-softmax", 4),
                     ("cosface", None), ("arcface", None))
# Fields that identify a record in verification.json.
VERIFICATION_KEY = ("head", "m", "split")


def open_set_config(head, m=None, fast=None):
    """A 64-d network trained on ``SEEN_DIGITS`` only."""
    return book_config(head, m=m or 4, fast=fast, classes=SEEN_DIGITS,
                       num_classes=len(SEEN_DIGITS))


def verification_splits(labels, seed=0):
    """``{"seen": pairs, "unseen": pairs}`` over a test set's labels.

    Each is 3,000 same-digit and 3,000 different-digit pairs in ten
    folds, drawn among the seen digits or among the unseen ones; the
    pairs index the full test set.
    """
    labels = np.asarray(labels)
    splits = {}
    for name, mask in (("seen", np.isin(labels, SEEN_DIGITS)),
                       ("unseen", ~np.isin(labels, SEEN_DIGITS))):
        index = np.flatnonzero(mask)
        pairs = verification.make_pairs(labels[index], seed=seed)
        splits[name] = verification.Pairs(
            index[pairs.first], index[pairs.second], pairs.same, pairs.fold)
    return splits


def verification_records(config, embedding, splits):
    """One record per split: the verification numbers of a network.

    ``embedding`` is the network's features of the test set the
    ``splits`` index (``Trained.embed``), computed once by the caller.
    """
    return [{**run_fields(config), "split": name,
             **verification.verify(embedding, pairs)}
            for name, pairs in splits.items()]

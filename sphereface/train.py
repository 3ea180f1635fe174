"""One training function for every loss in the family, with a cache.

A run is described by a :class:`TrainConfig`.  ``train(config)`` returns
a :class:`Trained` (backbone, head, history) and stores the weights and
history under a key derived from the configuration, the data it trained
on and the version of the code that sets the weights, so a chapter that
asks for the same run again loads it in seconds, any chapter can get a
trained network without another notebook having run, and a changed
dataset or training code never gets an old network back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from sphereface import data, margins, metrics
from sphereface.model import build_backbone, build_head, inference_model
from sphereface.progress import progress

# The version of the code that determines a configuration's weights
# (data pipeline, augmentation, backbones, heads, training step,
# optimiser) and what a run records.  Part of every cache key: bump it
# with any change that alters the weights or history a configuration
# trains, so that no older network is loaded for the new code.
WEIGHTS_VERSION = 2
SNAPSHOT_SIZE = 1000  # test images whose 2-D features are kept
# Names of lambda schedules (A-Softmax): ``official`` is SphereFace-20's
# (margins.LAMBDA_*), ``scaled`` the same with gamma scaled to the run's
# length, ``none`` lambda = 0 (the full margin from the first step),
# ``custom`` any other numbers.
SCHEDULES = ("official", "scaled", "none", "custom")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained network.

    ``lambda_*`` are the A-Softmax schedule (official SphereFace-20
    defaults) and ``schedule`` its name in results tables (one of
    :data:`SCHEDULES`, checked against the numbers);
    ``margin``/``scale`` are CosFace's and ArcFace's.
    ``shift`` (pixels), ``rotation`` (degrees) and ``zoom`` (fraction)
    bound the random augmentation of each training image.
    ``train_size`` limits the training images (fast mode); ``classes``
    keeps only those digits (open-set experiments).
    """

    head: str = "a-softmax"
    m: int = 4
    embedding_dim: int = 64
    backbone: str = "small"
    lambda_base: float = margins.LAMBDA_BASE
    lambda_gamma: float = margins.LAMBDA_GAMMA
    lambda_power: float = margins.LAMBDA_POWER
    lambda_min: float = margins.LAMBDA_MIN
    schedule: str = "official"
    margin: float | None = None
    scale: float = 16.0
    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 3e-3
    seed: int = 0
    shift: int = 2
    rotation: float = 0.0
    zoom: float = 0.0
    train_size: int | None = None
    classes: tuple[int, ...] | None = None
    num_classes: int = 10

    def __post_init__(self):
        _check_schedule(self)

    def key(self):
        """A short hash of the configuration alone (see :func:`cache_key`)."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_schedule(config):
    """The schedule's name must say what its numbers do."""
    official = {"lambda_base": margins.LAMBDA_BASE,
                "lambda_gamma": margins.LAMBDA_GAMMA,
                "lambda_power": margins.LAMBDA_POWER,
                "lambda_min": margins.LAMBDA_MIN}
    expected = {"official": official,
                "scaled": {k: v for k, v in official.items()
                           if k != "lambda_gamma"},
                "none": {"lambda_base": 0.0, "lambda_min": 0.0},
                "custom": {}}
    if config.schedule not in expected:
        raise ValueError(f"schedule={config.schedule!r}; expected one of "
                         f"{SCHEDULES}")
    for field, value in expected[config.schedule].items():
        if getattr(config, field) != value:
            raise ValueError(
                f"{field}={getattr(config, field)!r} is not the "
                f"{config.schedule!r} schedule's {value!r}: name the "
                "schedule that runs (schedule='custom' for other numbers)")


def data_fingerprint(*arrays):
    """A hash of the arrays' shapes, types and bytes (the data used)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def cache_key(config, fingerprint):
    """The cache folder's name: configuration, data and code version."""
    text = json.dumps([WEIGHTS_VERSION, dataclasses.asdict(config),
                       fingerprint], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass
class Trained:
    """A trained network: ``backbone`` (image -> embedding), ``head``."""

    config: TrainConfig
    backbone: keras.Model
    head: keras.layers.Layer
    history: dict
    from_cache: bool = False

    def inference_model(self):
        """Images -> ``{"embedding", "logits"}``; needs no labels."""
        return inference_model(self.backbone, self.head)

    def embed(self, images, batch_size=1000):
        """Embeddings ``[n, dim]`` and prediction logits ``[n, classes]``."""
        model = self.inference_model()
        out = model.predict(images, batch_size=batch_size, verbose=0)
        return out["embedding"], out["logits"]


def cache_dir():
    """``$SPHEREFACE_CACHE`` or ``~/.cache/sphereface``."""
    default = Path.home() / ".cache" / "sphereface"
    return Path(os.environ.get("SPHEREFACE_CACHE", default))


def _select(images, labels, config):
    if config.classes is not None:
        keep = np.isin(labels, config.classes)
        images, labels = images[keep], labels[keep]
    if config.train_size is not None:
        images, labels = images[:config.train_size], labels[:config.train_size]
    return images, labels


def build_networks(config):
    """Backbone and head of ``config``, seeded, untrained."""
    keras.utils.set_random_seed(config.seed)
    backbone = build_backbone(config.backbone, config.embedding_dim)
    head = build_head(config)
    head.build((None, config.embedding_dim))
    return backbone, head


def _embed(backbone, images, batch=1000):
    """Test embeddings in batches (inference mode), as numpy."""
    return np.concatenate([
        backbone(images[i:i + batch], training=False).numpy()
        for i in range(0, len(images), batch)])


def _test_accuracy(backbone, head, images, labels):
    return metrics.accuracy(head(_embed(backbone, images)).numpy(), labels)


def _epoch_stats(backbone, head, images, labels):
    """Test accuracy, mean target angle and feature norms, and the
    embeddings they came from."""
    emb = _embed(backbone, images)
    cos = head.cosine(emb).numpy()
    norms = np.linalg.norm(emb, axis=1)
    stats = {"test_accuracy": metrics.accuracy(head(emb).numpy(), labels),
             "mean_target_angle_deg": float(np.mean(
                 metrics.target_angles(cos, labels))),
             "feature_norm_mean": float(norms.mean()),
             "feature_norm_std": float(norms.std())}
    return stats, emb


def _history_keys(config):
    """What every run of ``config`` records, one entry per epoch."""
    keys = ["epoch", "loss", "train_accuracy", "test_accuracy", "lambda",
            "mean_target_angle_deg", "feature_norm_mean",
            "feature_norm_std"]
    return keys + (["snapshots", "snapshot_labels"]
                   if config.embedding_dim == 2 else [])


def _complete(folder, config, check_every=None):
    """A cache entry is used only if it holds all this run records.

    ``history.json`` is written last, so its presence marks finished
    writes; an entry from older code that recorded less, or one without
    the accuracy checks this run asks for, is retrained.
    """
    path = folder / "history.json"
    if not path.is_file():
        return False
    history = json.loads(path.read_text())
    if check_every and history.get("check_every") != check_every:
        return False
    return set(_history_keys(config)) <= set(history)


def _load(config, folder, verbose):
    """The network of a complete cache entry."""
    backbone, head = build_networks(config)
    backbone.load_weights(folder / "backbone.weights.h5")
    with np.load(folder / "head.npz") as saved:
        head.set_weights([saved[f"arr_{i}"] for i in range(len(saved))])
    history = json.loads((folder / "history.json").read_text())
    if verbose:
        margin = f" m={config.m}" if config.head == "a-softmax" else ""
        print(f"loaded {config.head}{margin}, {config.embedding_dim}-d, "
              f"seed {config.seed} from the cache")
    return Trained(config, backbone, head, history, from_cache=True)


def run_data(config, mnist=None):
    """The training and test sets a run of ``config`` uses.

    ``classes`` and ``train_size`` select the training images (the test
    images of the same classes); a selection too small for one full
    batch is an error, since a run of it would train nothing.
    """
    (x_train, y_train), (x_test, y_test) = mnist or data.load_mnist()
    train_set = _select(x_train, y_train, config)
    test_set = _select(x_test, y_test,
                       dataclasses.replace(config, train_size=None))
    if len(train_set[1]) < config.batch_size:
        raise ValueError(
            f"{len(train_set[1])} training images (classes="
            f"{config.classes}, train_size={config.train_size}) make no "
            f"full batch of {config.batch_size}: nothing to train on")
    return train_set, test_set


def train(config, mnist=None, strategy=None, verbose=True, use_cache=True,
          check_every=None, until=None):
    """Train (or load from the cache) the network ``config`` describes.

    ``mnist`` is ``load_mnist()``'s result (loaded if None).  With a
    ``tf.distribute`` ``strategy`` the model is built in its scope and
    every step runs on all its replicas.  Prints one line per epoch and
    shows the steps of each epoch moving (a bar in a terminal, a line
    updated in place in a notebook: :mod:`sphereface.progress`);
    ``verbose="bar"`` forces the bar, ``verbose=False`` prints nothing.
    ``check_every`` steps, the test accuracy is also recorded in
    ``history["checks"]`` with the training time so far (evaluation
    time is never counted in ``train_seconds``); with ``until`` the
    run stops at the first check that reaches that accuracy (and is
    neither loaded from nor stored in the cache: it is not the run the
    configuration describes).  For a
    2-D embedding the features of the first ``SNAPSHOT_SIZE`` test
    images are kept after every epoch (``history["snapshots"]``, labels
    in ``history["snapshot_labels"]``), so they can be shown moving.
    """
    train_set, test_set = run_data(config, mnist)
    fingerprint = data_fingerprint(*train_set, *test_set)
    folder = cache_dir() / cache_key(config, fingerprint)
    if use_cache and not until and _complete(folder, config, check_every):
        return _load(config, folder, verbose)
    run = _Run(config, train_set, test_set, strategy, verbose, check_every)
    reached = False
    for epoch in range(config.epochs):
        reached = run.epoch(epoch, until)
        if reached:
            break
    history = run.finish()
    if use_cache and not reached:
        _save(folder, config, fingerprint, run.backbone, run.head, history)
    return Trained(config, run.backbone, run.head, history)


class _Run:
    """A training run in progress: networks, step, history and clock."""

    def __init__(self, config, train_set, test_set, strategy, verbose,
                 check_every):
        self.config, self.verbose, self.check_every = (config, verbose,
                                                       check_every)
        self.train_set, self.test_set = train_set, test_set
        self.strategy = strategy or tf.distribute.get_strategy()
        self.steps_per_epoch = len(train_set[1]) // config.batch_size
        self.backbone, self.head, self.step = prepare(
            config, self.steps_per_epoch, self.strategy)
        self.history = {key: [] for key in _history_keys(config)}
        self.history["checks"], self.history["check_every"] = [], check_every
        if "snapshots" in self.history:
            self.history["snapshot_labels"] = (
                test_set[1][:SNAPSHOT_SIZE].tolist())
        self.clock = _Clock()

    def epoch(self, epoch, until=None):
        """Train and record one epoch; True once ``until`` is reached."""
        losses, correct, reached = self._steps(epoch, until)
        self._record(epoch, losses, correct)
        return reached

    def _steps(self, epoch, until):
        """The optimiser steps of one epoch, checking as asked."""
        config = self.config
        shown = progress(self.steps_per_epoch, f"epoch {epoch + 1}/"
                         f"{config.epochs}", self.verbose)
        ds = data.train_dataset(*self.train_set, config.batch_size,
                                config.seed, epoch, config.shift,
                                config.rotation, config.zoom)
        losses, correct = [], 0
        for images, labels in self.strategy.experimental_distribute_dataset(
                ds):
            loss, hits = self.step(images, labels)
            losses.append(float(loss))
            correct += int(hits)
            shown.update(len(losses), loss=losses[-1])
            if self.check_every and (
                    int(self.head.step) % self.check_every == 0):
                accuracy = self._check()
                if until and accuracy >= until:
                    return losses, correct, True
        return losses, correct, False

    def _check(self):
        """Record the test accuracy now, with the training time so far."""
        seconds = self.clock.seconds()
        with self.clock.paused():
            accuracy = _test_accuracy(self.backbone, self.head,
                                      *self.test_set)
        self.history["checks"].append({"step": int(self.head.step),
                                       "seconds": seconds,
                                       "test_accuracy": accuracy})
        return accuracy

    def _record(self, epoch, losses, correct):
        """The epoch's line of the history (evaluation time paused)."""
        history, config = self.history, self.config
        with self.clock.paused():
            stats, emb = _epoch_stats(self.backbone, self.head,
                                      *self.test_set)
        if "snapshots" in history:
            history["snapshots"].append(
                np.round(emb[:SNAPSHOT_SIZE], 4).tolist())
        history["epoch"].append(epoch + 1)
        history["loss"].append(float(np.mean(losses)))
        history["train_accuracy"].append(
            correct / (len(losses) * config.batch_size))
        history["lambda"].append(float(self.head.lam()))
        for key, value in stats.items():
            history[key].append(value)
        if self.verbose:
            lam = (f", lambda {history['lambda'][-1]:.1f}"
                   if config.head == "a-softmax" else "")
            print(f"epoch {epoch + 1}/{config.epochs}: "
                  f"loss {history['loss'][-1]:.4f}, "
                  f"train {history['train_accuracy'][-1]:.2%}, "
                  f"test {stats['test_accuracy']:.2%}{lam}", flush=True)

    def finish(self):
        """The complete history: training time and steps taken."""
        self.history["train_seconds"] = self.clock.seconds()
        self.history["steps"] = int(self.head.step.numpy())
        return self.history


def _save(folder, config, fingerprint, backbone, head, history):
    folder.mkdir(parents=True, exist_ok=True)
    backbone.save_weights(folder / "backbone.weights.h5")
    np.savez(folder / "head.npz", *head.get_weights())
    (folder / "config.json").write_text(json.dumps(
        {"config": dataclasses.asdict(config), "data": fingerprint,
         "weights_version": WEIGHTS_VERSION}, indent=1))
    # written last: its presence marks a complete cache entry
    (folder / "history.json").write_text(json.dumps(history, indent=1))


class _Clock:
    """Training time, with evaluation paused out of it."""

    def __init__(self):
        self._start, self._paused = time.perf_counter(), 0.0

    def seconds(self):
        return time.perf_counter() - self._start - self._paused

    @contextlib.contextmanager
    def paused(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - start


def prepare(config, steps_per_epoch, strategy=None, jit_compile=False):
    """Backbone, head and the compiled training step of a run.

    The optimiser is Adam with a cosine decay over the whole run; the
    step advances lambda once.  Used by :func:`train` and by the
    benchmarks, so both time the same step; ``jit_compile=True`` (XLA)
    is there for the benchmarks to measure, not a default.
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        backbone, head = build_networks(config)
        schedule = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, config.epochs * steps_per_epoch)
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(backbone.trainable_variables
                        + head.trainable_variables)
    step = _make_step(backbone, head, optimizer, strategy,
                      config.batch_size, jit_compile)
    return backbone, head, step


def _make_step(backbone, head, optimizer, strategy, global_batch,
               jit_compile=False):
    variables = backbone.trainable_variables + head.trainable_variables

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            embedding = backbone(images, training=True)
            logits = head.margin_logits(embedding, labels)
            per_sample = keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True)
            loss = tf.reduce_sum(per_sample) / global_batch
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        predicted = tf.argmax(head(embedding), axis=1, output_type=tf.int32)
        hits = tf.reduce_sum(tf.cast(predicted == labels, tf.int32))
        return loss, hits

    @tf.function(jit_compile=jit_compile)
    def step(images, labels):
        loss, hits = strategy.run(replica_step, args=(images, labels))
        head.step.assign_add(1.0)  # advances lambda once per step
        return (strategy.reduce("SUM", loss, axis=None),
                strategy.reduce("SUM", hits, axis=None))

    return step

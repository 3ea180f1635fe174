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

import concurrent.futures
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
from sphereface.progress import run_log

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
# Keras dtype policies a run can train under: float32 (the book's
# results), mixed_bfloat16 (fast on CPUs with AMX or AVX-512 BF16),
# mixed_float16 (GPUs).  The head always computes in float32.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# Optimiser steps per compiled call; the loss and hits are read back
# once per call (for the progress display), not after every step.
STEPS_PER_CALL = 25


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
    keeps only those digits (open-set experiments).  ``precision`` is
    the Keras dtype policy the networks train under (:data:`PRECISIONS`).
    ``dropout`` is the backbone's (see :func:`model.build_backbone`);
    ``weight_decay`` is decoupled (AdamW's), off at 0.
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
    precision: str = "float32"
    dropout: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self):
        _check_schedule(self)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}; expected one "
                             f"of {PRECISIONS}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout!r}; expected a "
                             "fraction in [0, 1)")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay={self.weight_decay!r}; "
                             "expected >= 0")

    def key(self):
        """A short hash of the configuration alone (see :func:`cache_key`)."""
        text = json.dumps(_key_fields(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# Fields added after networks were cached, with the value every earlier
# run had: left out of the key at that value, so those runs keep their
# keys (and cache entries).
_LATER_FIELDS = {"precision": "float32", "dropout": 0.0,
                 "weight_decay": 0.0}


def _key_fields(config):
    """The fields that key a configuration (see :data:`_LATER_FIELDS`)."""
    return {name: value for name, value in dataclasses.asdict(config).items()
            if _LATER_FIELDS.get(name, object()) != value}


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
    text = json.dumps([WEIGHTS_VERSION, _key_fields(config), fingerprint],
                      sort_keys=True)
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
    """Backbone and head of ``config``, seeded, untrained.

    The layers take ``config.precision`` as their dtype policy; the
    process's global policy is left as it was.
    """
    keras.utils.set_random_seed(config.seed)
    with dtype_policy(config.precision):
        backbone = build_backbone(config.backbone, config.embedding_dim,
                                  config.dropout)
        head = build_head(config)
        head.build((None, config.embedding_dim))
    return backbone, head


@contextlib.contextmanager
def dtype_policy(name):
    """Keras's global dtype policy set to ``name`` inside the block only."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def _embed(backbone, images, batch=1000):
    """Test embeddings in batches (inference mode), as float32 numpy."""
    return np.concatenate([
        tf.cast(backbone(images[i:i + batch], training=False),
                tf.float32).numpy()
        for i in range(0, len(images), batch)])


def _test_accuracy(backbone, head, images, labels):
    return metrics.accuracy(head(_embed(backbone, images)).numpy(), labels)


def epoch_stats(backbone, head, images, labels):
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
    return keys + (["snapshots", "snapshot_labels", "snapshot_weights"]
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


def _load(config, folder, log):
    """The network of a complete cache entry; its log is shown again."""
    backbone, head = build_networks(config)
    backbone.load_weights(folder / "backbone.weights.h5")
    with np.load(folder / "head.npz") as saved:
        head.set_weights([saved[f"arr_{i}"] for i in range(len(saved))])
    history = json.loads((folder / "history.json").read_text())
    log.line(f"{run_name(config)}: loaded from the cache; its training:")
    for epoch in range(len(history["epoch"])):
        log.line(epoch_line(config, history, epoch))
    log.line(f"trained in {history['train_seconds']:.0f} s")
    return Trained(config, backbone, head, history, from_cache=True)


def run_name(config):
    """A run's name in logs: ``a-softmax m=4, scaled lambda, 64-d, seed
    0`` (the schedule named, since runs may differ by it alone)."""
    margin = (f" m={config.m}, {config.schedule} lambda"
              if config.head == "a-softmax" else "")
    return (f"{config.head}{margin}, {config.embedding_dim}-d, "
            f"seed {config.seed}")


def epoch_line(config, history, epoch):
    """One epoch of a history as a log line (``epoch`` 0-based)."""
    lam = (f", lambda {history['lambda'][epoch]:.1f}"
           if config.head == "a-softmax" else "")
    return (f"epoch {epoch + 1}/{config.epochs}: "
            f"mean loss {history['loss'][epoch]:.4f}, "
            f"train {history['train_accuracy'][epoch]:.2%}, "
            f"test {history['test_accuracy'][epoch]:.2%}{lam}")


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


def is_cached(config, mnist=None, check_every=None):
    """True if ``train(config, mnist, check_every=...)`` would load the
    network from the cache instead of training it."""
    return _complete(_entry(config, mnist)[3], config, check_every)


def _entry(config, mnist):
    """A run's training and test sets, their fingerprint and the cache
    folder they key."""
    train_set, test_set = run_data(config, mnist)
    fingerprint = data_fingerprint(*train_set, *test_set)
    return (train_set, test_set, fingerprint,
            cache_dir() / cache_key(config, fingerprint))


def train(config, mnist=None, strategy=None, verbose=True, use_cache=True,
          check_every=None, until=None):
    """Train (or load from the cache) the network ``config`` describes.

    ``mnist`` is ``load_mnist()``'s result (loaded if None).  With a
    ``tf.distribute`` ``strategy`` the model is built in its scope and
    every step runs on all its replicas.  Logs one line per epoch (the
    epoch's mean loss, train and test accuracy) and shows the steps
    moving: printed lines and a bar in a terminal, one output block per
    run in a notebook (:mod:`sphereface.progress`); a run loaded from
    the cache shows its logged epochs again.  ``verbose="bar"`` forces
    the terminal form, ``verbose=False`` shows nothing.
    ``check_every`` steps, the test accuracy is also recorded in
    ``history["checks"]`` with the training time so far (evaluation
    time is never counted in ``train_seconds``); with ``until`` the
    run stops at the first check that reaches that accuracy (and is
    neither loaded from nor stored in the cache: it is not the run the
    configuration describes).  For a
    2-D embedding the features of the first ``SNAPSHOT_SIZE`` test
    images are kept after every epoch (``history["snapshots"]``, labels
    in ``history["snapshot_labels"]``), with the class weights
    (``history["snapshot_weights"]``), so they can be shown moving.
    """
    train_set, test_set, fingerprint, folder = _entry(config, mnist)
    log = run_log(verbose)
    if use_cache and not until and _complete(folder, config, check_every):
        return _load(config, folder, log)
    run = _Run(config, train_set, test_set, strategy, log, check_every)
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
    """A training run in progress: networks, steps, history and clock.

    Each epoch's shuffled, augmented batches are prepared in a
    background thread while the epoch before trains (every epoch draws
    from its own seeded generator, so the batches are the same as if
    made in turn), and the steps run :data:`STEPS_PER_CALL` to a
    compiled call, the loss and hit count staying on the device until
    the call returns.
    """

    def __init__(self, config, train_set, test_set, strategy, log,
                 check_every):
        self.config, self.log, self.check_every = config, log, check_every
        self.train_set, self.test_set = train_set, test_set
        self._pool = concurrent.futures.ThreadPoolExecutor(1)
        self._next = self._pool.submit(self._dataset, 0)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.steps_per_epoch = len(train_set[1]) // config.batch_size
        self.backbone, self.head, self.step = prepare(
            config, self.steps_per_epoch, self.strategy)
        self.steps = make_steps(self.step)
        self.steps_done = 0
        self.history = {key: [] for key in _history_keys(config)}
        self.history["checks"], self.history["check_every"] = [], check_every
        if "snapshots" in self.history:
            self.history["snapshot_labels"] = (
                test_set[1][:SNAPSHOT_SIZE].tolist())
        self.clock = _Clock()
        log.line(f"{run_name(config)}: {config.epochs} epochs of "
                 f"{self.steps_per_epoch} steps (batch {config.batch_size})")

    def epoch(self, epoch, until=None):
        """Train and record one epoch; True once ``until`` is reached."""
        losses, correct, reached = self._steps(epoch, until)
        self._record(epoch, losses, correct)
        return reached

    def _dataset(self, epoch):
        config = self.config
        return data.train_dataset(*self.train_set, config.batch_size,
                                  config.seed, epoch, config.shift,
                                  config.rotation, config.zoom)

    def _epoch_data(self, epoch):
        """This epoch's batches; the next epoch's are started."""
        ds = self._next.result()
        self._next = (self._pool.submit(self._dataset, epoch + 1)
                      if epoch + 1 < self.config.epochs else None)
        return ds

    def _steps(self, epoch, until):
        """The optimiser steps of one epoch, checking as asked.

        Returns the per-step losses (float32 numpy), the correct
        predictions and whether ``until`` was reached.
        """
        self.log.start(self.steps_per_epoch,
                       f"epoch {epoch + 1}/{self.config.epochs}")
        batches = iter(self.strategy.experimental_distribute_dataset(
            self._epoch_data(epoch)))
        losses, hits, done, reached, loss_sum = [], [], 0, False, 0.0
        while done < self.steps_per_epoch and not reached:
            count = min(STEPS_PER_CALL, self.steps_per_epoch - done)
            if self.check_every:
                count = min(count, self.check_every
                            - self.steps_done % self.check_every)
            call_losses, call_hits = self.steps(batches, tf.constant(count))
            losses.append(call_losses)
            hits.append(call_hits)
            done += count
            self.steps_done += count
            loss_sum += float(tf.reduce_sum(call_losses))
            self.log.update(done, mean_loss=loss_sum / done)
            if self.check_every and self.steps_done % self.check_every == 0:
                accuracy = self._check()
                reached = bool(until) and accuracy >= until
        losses = np.concatenate([loss.numpy() for loss in losses])
        return losses, sum(int(h) for h in hits), reached

    def _check(self):
        """Record the test accuracy now, with the training time so far."""
        seconds = self.clock.seconds()
        with self.clock.paused():
            accuracy = _test_accuracy(self.backbone, self.head,
                                      *self.test_set)
        self.history["checks"].append({"step": self.steps_done,
                                       "seconds": seconds,
                                       "test_accuracy": accuracy})
        return accuracy

    def _record(self, epoch, losses, correct):
        """The epoch's line of the history (evaluation time paused)."""
        history, config = self.history, self.config
        with self.clock.paused():
            stats, emb = epoch_stats(self.backbone, self.head,
                                      *self.test_set)
        if "snapshots" in history:
            history["snapshots"].append(
                np.round(emb[:SNAPSHOT_SIZE], 4).tolist())
            history["snapshot_weights"].append(
                np.round(self.head.kernel.numpy(), 4).tolist())
        history["epoch"].append(epoch + 1)
        history["loss"].append(float(np.mean(losses.astype(np.float64))))
        history["train_accuracy"].append(
            correct / (len(losses) * config.batch_size))
        history["lambda"].append(float(self.head.lam()))
        for key, value in stats.items():
            history[key].append(value)
        self.log.line(epoch_line(config, history, epoch))

    def finish(self):
        """The complete history: training time and steps taken."""
        self.history["train_seconds"] = self.clock.seconds()
        self._pool.shutdown(wait=False)
        self.history["steps"] = int(self.head.step.numpy())
        self.log.line(f"trained in {self.history['train_seconds']:.0f} s")
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

    The optimiser is :func:`make_optimizer`'s; the step advances lambda
    once.  Used by :func:`train` and by the benchmarks, so both time the
    same step; ``jit_compile=True`` (XLA) is there for the benchmarks to
    measure, not a default.
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        backbone, head = build_networks(config)
        optimizer = make_optimizer(config, config.epochs * steps_per_epoch)
        if config.precision == "mixed_float16":  # keeps small gradients
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(backbone.trainable_variables
                        + head.trainable_variables)
    step = _make_step(backbone, head, optimizer, strategy,
                      config.batch_size, jit_compile)
    return backbone, head, step


def make_optimizer(config, total_steps):
    """Adam, or AdamW with ``config.weight_decay``, its learning rate
    decaying along a cosine to zero over the run's ``total_steps``."""
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, total_steps)
    if config.weight_decay:
        return keras.optimizers.AdamW(schedule,
                                      weight_decay=config.weight_decay)
    return keras.optimizers.Adam(schedule)


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
            scaled = optimizer.scale_loss(loss)  # mixed_float16 only
        grads = tape.gradient(scaled, variables)
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


def make_steps(step):
    """``steps(batches, count)``: ``count`` calls of ``step`` on the next
    batches of the iterator ``batches``, in one compiled call.

    Returns the per-step losses ``[count]`` and the summed hits.
    """
    @tf.function
    def steps(batches, count):
        losses = tf.TensorArray(tf.float32, size=count)
        hits = tf.constant(0, tf.int32)
        for i in tf.range(count):
            loss, step_hits = step(*next(batches))
            losses = losses.write(i, loss)
            hits += step_hits
        return losses.stack(), hits

    return steps

"""One training function for every loss in the family, with a cache.

A run is described by a :class:`TrainConfig`.  ``train(config)`` returns
a :class:`Trained` (backbone, head, history) and stores the weights and
history under a key derived from the configuration, so a chapter that
asks for the same configuration again loads it in seconds, and any
chapter can get a trained network without another notebook having run.
"""

import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from sphereface import data, metrics
from sphereface.model import build_backbone, build_head, inference_model

CACHE_VERSION = 1  # bump when a change to the code invalidates old runs


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained network.

    ``lambda_*`` are the A-Softmax schedule (official SphereFace-20
    defaults); ``margin``/``scale`` are CosFace's and ArcFace's.
    ``train_size`` limits the training images (fast mode); ``classes``
    keeps only those digits (open-set experiments).
    """

    head: str = "a-softmax"
    m: int = 4
    embedding_dim: int = 64
    backbone: str = "small"
    lambda_base: float = 1000.0
    lambda_gamma: float = 0.12
    lambda_power: float = 1.0
    lambda_min: float = 5.0
    margin: float | None = None
    scale: float = 16.0
    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 3e-3
    seed: int = 0
    shift: int = 2
    train_size: int | None = None
    classes: tuple[int, ...] | None = None
    num_classes: int = 10

    def key(self):
        """A short hash of the configuration: the cache folder's name."""
        text = json.dumps([CACHE_VERSION, dataclasses.asdict(self)],
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


def _build(config):
    keras.utils.set_random_seed(config.seed)
    backbone = build_backbone(config.backbone, config.embedding_dim)
    head = build_head(config)
    head.build((None, config.embedding_dim))
    return backbone, head


def _epoch_stats(backbone, head, images, labels):
    """Test accuracy, mean target angle and feature norms, from a pass."""
    emb = backbone.predict(images, batch_size=1000, verbose=0)
    logits = head(emb).numpy()
    cos = head.cosine(emb).numpy()
    norms = np.linalg.norm(emb, axis=1)
    return {"test_accuracy": metrics.accuracy(logits, labels),
            "mean_target_angle_deg": float(np.mean(
                metrics.target_angles(cos, labels))),
            "feature_norm_mean": float(norms.mean()),
            "feature_norm_std": float(norms.std())}


def _load(config, folder):
    backbone, head = _build(config)
    backbone.load_weights(folder / "backbone.weights.h5")
    with np.load(folder / "head.npz") as saved:
        head.set_weights([saved[f"arr_{i}"] for i in range(len(saved))])
    history = json.loads((folder / "history.json").read_text())
    return Trained(config, backbone, head, history, from_cache=True)


def train(config, mnist=None, strategy=None, verbose=True, use_cache=True):
    """Train (or load from the cache) the network ``config`` describes.

    ``mnist`` is ``load_mnist()``'s result (loaded if None).  With a
    ``tf.distribute`` ``strategy`` the model is built in its scope and
    every step runs on all its replicas.  Prints one line per epoch;
    ``verbose="bar"`` (the default in a terminal) adds a progress bar
    over the steps of each epoch, ``verbose=False`` prints nothing.
    """
    folder = cache_dir() / config.key()
    if use_cache and (folder / "history.json").is_file():
        trained = _load(config, folder)
        if verbose:
            margin = f" m={config.m}" if config.head == "a-softmax" else ""
            print(f"loaded {config.head}{margin}, {config.embedding_dim}-d, "
                  f"seed {config.seed} from the cache")
        return trained
    (x_train, y_train), (x_test, y_test) = mnist or data.load_mnist()
    x_train, y_train = _select(x_train, y_train, config)
    x_test, y_test = _select(x_test, y_test,
                             dataclasses.replace(config, train_size=None))
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        backbone, head = _build(config)
        steps_per_epoch = max(1, len(x_train) // config.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, config.epochs * steps_per_epoch)
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(backbone.trainable_variables
                        + head.trainable_variables)
    step_fn = _make_step(backbone, head, optimizer, strategy,
                         config.batch_size)
    history = {key: [] for key in (
        "epoch", "loss", "train_accuracy", "test_accuracy", "lambda",
        "mean_target_angle_deg", "feature_norm_mean", "feature_norm_std")}
    show_bar = verbose == "bar" or (verbose is True and sys.stdout.isatty())
    start = time.perf_counter()
    for epoch in range(config.epochs):
        bar = keras.utils.Progbar(steps_per_epoch) if show_bar else None
        ds = data.train_dataset(x_train, y_train, config.batch_size,
                                config.seed, epoch, config.shift)
        losses, correct = [], 0
        for images, labels in strategy.experimental_distribute_dataset(ds):
            loss, hits = step_fn(images, labels)
            losses.append(float(loss))
            correct += int(hits)
            if bar:
                bar.update(len(losses), [("loss", losses[-1])])
        stats = _epoch_stats(backbone, head, x_test, y_test)
        history["epoch"].append(epoch + 1)
        history["loss"].append(float(np.mean(losses)))
        history["train_accuracy"].append(
            correct / (len(losses) * config.batch_size))
        history["lambda"].append(float(head.lam()))
        for key, value in stats.items():
            history[key].append(value)
        if verbose:
            lam = (f", lambda {history['lambda'][-1]:.1f}"
                   if config.head == "a-softmax" else "")
            print(f"epoch {epoch + 1}/{config.epochs}: "
                  f"loss {history['loss'][-1]:.4f}, "
                  f"train {history['train_accuracy'][-1]:.2%}, "
                  f"test {stats['test_accuracy']:.2%}{lam}", flush=True)
    history["train_seconds"] = time.perf_counter() - start
    history["steps"] = int(head.step.numpy())
    if use_cache:
        _save(folder, config, backbone, head, history)
    return Trained(config, backbone, head, history)


def _save(folder, config, backbone, head, history):
    folder.mkdir(parents=True, exist_ok=True)
    backbone.save_weights(folder / "backbone.weights.h5")
    np.savez(folder / "head.npz", *head.get_weights())
    (folder / "config.json").write_text(
        json.dumps(dataclasses.asdict(config), indent=1))
    # written last: its presence marks a complete cache entry
    (folder / "history.json").write_text(json.dumps(history, indent=1))


def _make_step(backbone, head, optimizer, strategy, global_batch):
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

    @tf.function
    def step(images, labels):
        loss, hits = strategy.run(replica_step, args=(images, labels))
        head.step.assign_add(1.0)  # advances lambda once per step
        return (strategy.reduce("SUM", loss, axis=None),
                strategy.reduce("SUM", hits, axis=None))

    return step

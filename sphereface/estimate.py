"""How long a cell's training will take, measured before it starts.

A chapter that trains several networks says first how long that will
take on the reader's machine: a few real steps of each kind of network
(the first run's head stands for the others) are timed (after one untimed call that traces the step), with one
evaluation pass and the augmentation of the first epoch, and multiplied
out over the runs.  Networks already in the cache cost nothing.
"""

import dataclasses
import time

import tensorflow as tf

from sphereface import data
from sphereface import train as training

TIMED_CALLS = 2  # compiled calls timed after the warm-up call
_MEASURED = {}  # speeds per kind of network, measured once a process


@dataclasses.dataclass(frozen=True)
class Speed:
    """What one kind of network costs on this machine."""

    steps_per_second: float
    start_seconds: float  # tracing the step and the evaluation
    augment_per_image: float  # seconds; the first epoch waits for it
    evaluation_seconds: float  # the test pass after every epoch


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The predicted training time of some runs, with its basis."""

    to_train: int
    cached: int
    steps: int
    seconds: float
    speeds: dict  # label -> Speed

    def __str__(self):
        if not self.to_train:
            return (f"{self.cached} network(s), all in the cache: loading "
                    "takes seconds")
        rates = "; ".join(f"{speed.steps_per_second:.1f} steps/s ({name})"
                          for name, speed in self.speeds.items())
        cached = f", {self.cached} in the cache" if self.cached else ""
        return (f"estimated training time on this machine: "
                f"{_duration(self.seconds)} for {self.to_train} "
                f"network(s), {self.steps:,} steps{cached} "
                f"(measured {rates}, plus evaluation after every epoch)")


def _duration(seconds):
    if seconds < 90:
        return f"about {seconds:.0f} s"
    return f"about {seconds / 60:.0f} min"


def _kind(config):
    """What sets a run's speed: network shape, batch and precision (the
    heads differ by a few per cent, measured in the benchmarks)."""
    return (config.backbone, config.embedding_dim, config.batch_size,
            config.precision)


def _label(config):
    return f"{config.embedding_dim}-d, batch {config.batch_size}"


def measure(config, mnist=None):
    """Time a few steps and one evaluation of ``config``'s network."""
    if _kind(config) in _MEASURED:
        return _MEASURED[_kind(config)]
    (images, labels), test_set = training.run_data(config, mnist)
    per_call = training.STEPS_PER_CALL
    count = min(len(labels), config.batch_size * per_call
                * (1 + TIMED_CALLS))
    start = time.perf_counter()
    batches = data.train_dataset(images[:count], labels[:count],
                                 config.batch_size, config.seed, 0,
                                 config.shift, config.rotation, config.zoom)
    augment = (time.perf_counter() - start) / count
    batches = iter(batches.repeat())
    backbone, head, step = training.prepare(
        config, len(labels) // config.batch_size)
    steps = training.make_steps(step)
    calls = tf.constant(per_call)
    start = time.perf_counter()
    steps(batches, calls)[0].numpy()
    training.epoch_stats(backbone, head, *test_set)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(TIMED_CALLS):
        steps(batches, calls)[0].numpy()
    rate = TIMED_CALLS * per_call / (time.perf_counter() - start)
    start = time.perf_counter()
    training.epoch_stats(backbone, head, *test_set)
    evaluation = time.perf_counter() - start
    speed = Speed(rate, max(0.0, first - per_call / rate - evaluation),
                  augment, evaluation)
    _MEASURED[_kind(config)] = speed
    return speed


def estimate(configs, mnist=None):
    """How long ``train`` will take for ``configs`` on this machine."""
    mnist = mnist or data.load_mnist()
    to_train = [c for c in configs if not training.is_cached(c, mnist)]
    speeds, seconds, steps = {}, 0.0, 0
    for config in to_train:
        speed = measure(config, mnist)
        speeds[_label(config)] = speed
        images = len(training.run_data(config, mnist)[0][1])
        run_steps = config.epochs * (images // config.batch_size)
        steps += run_steps
        seconds += (speed.start_seconds + images * speed.augment_per_image
                    + run_steps / speed.steps_per_second
                    + config.epochs * speed.evaluation_seconds)
    return Estimate(len(to_train), len(configs) - len(to_train), steps,
                    seconds, speeds)

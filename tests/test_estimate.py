import dataclasses

import pytest

from sphereface import estimate
from sphereface.train import TrainConfig, train


@pytest.fixture(autouse=True)
def temp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPHEREFACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(estimate, "_MEASURED", {})


CONFIG = TrainConfig(epochs=2, batch_size=64, embedding_dim=8, shift=0)


def test_estimate_multiplies_measured_speed_by_the_runs(tiny_mnist,
                                                        monkeypatch):
    speed = estimate.Speed(steps_per_second=4.0, start_seconds=3.0,
                           augment_per_image=0.001, evaluation_seconds=0.5)
    kinds = []

    def measure(config, mnist=None):
        kinds.append(estimate._kind(config))
        return speed

    monkeypatch.setattr(estimate, "measure", measure)
    softmax = dataclasses.replace(CONFIG, head="softmax", epochs=3)
    got = estimate.estimate([CONFIG, softmax], tiny_mnist)
    # 512 images: 8 steps an epoch, 2 + 3 epochs
    per_run = [3.0 + 0.512 + 16 / 4.0 + 2 * 0.5,
               3.0 + 0.512 + 24 / 4.0 + 3 * 0.5]
    assert got.seconds == pytest.approx(sum(per_run))
    assert (got.to_train, got.cached, got.steps) == (2, 0, 40)
    assert kinds[0] == kinds[1]  # one kind of network
    assert str(got) == (
        "estimated training time on this machine: about 20 s for 2 "
        "network(s), 40 steps (measured 4.0 steps/s (8-d, batch 64), "
        "plus evaluation after every epoch)")


def test_cached_runs_cost_nothing(tiny_mnist):
    train(CONFIG, tiny_mnist, verbose=False)
    got = estimate.estimate([CONFIG], tiny_mnist)
    assert (got.to_train, got.cached, got.seconds) == (0, 1, 0.0)
    assert str(got) == ("1 network(s), all in the cache: loading takes "
                        "seconds")


def test_measure_times_real_steps_once_per_kind(tiny_mnist):
    speed = estimate.measure(CONFIG, tiny_mnist)
    assert speed.steps_per_second > 0 and speed.evaluation_seconds > 0
    assert speed.start_seconds >= 0 and speed.augment_per_image > 0
    other_seed = dataclasses.replace(CONFIG, seed=3, head="softmax")
    assert estimate.measure(other_seed, tiny_mnist) is speed
    wider = dataclasses.replace(CONFIG, embedding_dim=16)
    assert estimate.measure(wider, tiny_mnist) is not speed


def test_durations_read_as_seconds_or_minutes():
    assert estimate._duration(42.4) == "about 42 s"
    assert estimate._duration(14 * 60 + 20) == "about 14 min"

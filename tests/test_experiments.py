import json

import numpy as np
import pytest
from sphereface_book import experiments

from sphereface import margins


def test_scaled_gamma_keeps_the_official_proportion():
    steps = 3744
    gamma = experiments.scaled_gamma(steps)
    official_floor = 1659 / 28000
    lam = margins.lambda_schedule(np.arange(steps), gamma=gamma).numpy()
    floor_step = int(np.argmax(lam <= 5.0))
    assert floor_step / steps == pytest.approx(official_floor, abs=0.001)


def test_book_config_modes_and_schedules():
    full = experiments.book_config(fast=False)
    fast = experiments.book_config(fast=True)
    assert full.train_size is None and fast.train_size is not None
    assert fast.epochs <= full.epochs
    official = experiments.book_config(schedule="official", fast=False)
    assert official.lambda_gamma == 0.12
    none = experiments.book_config(schedule="none", fast=False)
    assert float(margins.lambda_schedule(
        0, none.lambda_base, none.lambda_gamma, none.lambda_power,
        none.lambda_min)) == 0.0
    assert experiments.steps_of(full) == full.epochs * (
        60000 // full.batch_size)
    with pytest.raises(KeyError):
        experiments.book_config(schedule="cosine")


def test_book_config_overrides_the_mode_settings():
    # chapter 3's exercise: the full run without its augmentation
    plain = experiments.book_config(fast=False, rotation=0.0, zoom=0.0,
                                    shift=0)
    full = experiments.book_config(fast=False)
    assert (plain.rotation, plain.zoom, plain.shift) == (0.0, 0.0, 0)
    assert full.rotation > 0 and full.zoom > 0 and full.shift > 0
    assert plain.epochs == full.epochs
    assert plain.lambda_gamma == full.lambda_gamma
    assert experiments.book_config(fast=True).rotation == 0.0
    assert plain.key() != full.key()
    # a longer run gets the lambda schedule scaled to its own length
    longer = experiments.book_config(fast=False, epochs=10)
    assert longer.lambda_gamma == pytest.approx(
        experiments.scaled_gamma(experiments.steps_of(longer)))
    assert longer.lambda_gamma < full.lambda_gamma


def test_label_and_table():
    cfg = experiments.book_config(fast=True, embedding_dim=2)
    assert experiments.label(cfg) == "a-softmax m=4 (2-d)"
    table = experiments.format_table(
        [{"head": "softmax", "acc": 0.99123, "m": None}],
        {"head": ("head", "s"), "acc": ("acc %", "%"), "m": ("m", "d")})
    assert table.splitlines() == ["   head  acc %  m",
                                  "-------  -----  -",
                                  "softmax  99.12  -"]


def test_mean_std():
    mean, std = experiments.mean_std([{"a": 1.0}, {"a": 3.0}], "a")
    assert (mean, std) == (2.0, pytest.approx(np.sqrt(2)))
    assert experiments.mean_std([{"a": 1.0}], "a") == (1.0, 0.0)




def test_results_merge_by_run_key(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "RESULTS_DIR", tmp_path)
    first = [{"head": "softmax", "seed": 0, "acc": 1},
             {"head": "a-softmax", "seed": 0, "acc": 2}]
    experiments.save_results(first, "x", write=True)
    path = experiments.save_results(
        [{"head": "softmax", "seed": 0, "acc": 3},
         {"head": "softmax", "seed": 1, "acc": 4}], "x", write=True)
    stored = json.loads(path.read_text())
    assert sorted((r["head"], r["seed"], r["acc"]) for r in stored) == [
        ("a-softmax", 0, 2), ("softmax", 0, 3), ("softmax", 1, 4)]


def test_schedule_name_is_the_one_asked_for():
    for schedule in ("scaled", "official", "none"):
        config = experiments.book_config(schedule=schedule, fast=False)
        assert config.schedule == schedule
        assert experiments.run_fields(config)["schedule"] == schedule
    # the gamma of a short scaled run can equal the official one: the
    # name still says which schedule ran
    steps = margins.OFFICIAL_STEPS
    same = experiments.book_config(fast=False, epochs=1, batch_size=1,
                                   train_size=steps)
    assert same.lambda_gamma == margins.LAMBDA_GAMMA
    assert experiments.run_fields(same)["schedule"] == "scaled"


def test_gamma_is_scaled_for_the_images_trained_on(tiny_mnist, monkeypatch):
    from sphereface import data
    from sphereface.train import train

    (_, labels), _ = tiny_mnist
    monkeypatch.setattr(data, "load_mnist", lambda: tiny_mnist)
    experiments._digit_counts.cache_clear()
    try:
        config = experiments.book_config(
            fast=True, classes=(0, 1, 2), num_classes=3, epochs=1,
            batch_size=16, embedding_dim=2)
        steps = int(np.isin(labels, (0, 1, 2)).sum()) // 16
    finally:
        experiments._digit_counts.cache_clear()
    assert experiments.steps_of(config) == steps
    assert config.lambda_gamma == experiments.scaled_gamma(steps)
    trained = train(config, mnist=tiny_mnist, verbose=False, use_cache=False)
    assert trained.history["steps"] == steps


def test_a_run_without_a_full_batch_is_refused():
    with pytest.raises(ValueError, match="100 training images make no "
                       "full batch of 128"):
        experiments.book_config(fast=True, train_size=100)


def test_training_summary_is_one_line_per_network():
    import types

    history = {"epoch": [1, 2], "loss": [0.9, 0.31234],
               "train_accuracy": [0.5, 0.9512], "test_accuracy": [0.6, 0.97],
               "train_seconds": 12.6}
    runs = {"softmax (64-d)": types.SimpleNamespace(history=history),
            "a-softmax m=4 (64-d)": types.SimpleNamespace(
                history={**history, "epoch": [1, 2, 3],
                         "loss": [1, 1, 2.0]})}
    lines = experiments.training_summary(runs).splitlines()
    assert len(lines) == 2 + 2
    assert lines[2].split() == ["softmax", "(64-d)", "2", "0.3123", "95.12",
                                "97.00", "13"]
    assert lines[3].split()[3:5] == ["3", "2.0000"]


def test_initial_state_is_the_untrained_network_train_starts_from(
        tiny_mnist):
    from sphereface.train import build_networks

    config = experiments.book_config(fast=True, schedule="none")
    images, labels = tiny_mnist[0][0][:64], tiny_mnist[0][1][:64]
    state = experiments.initial_state(config, images, labels)
    backbone, head = build_networks(config)
    features = backbone(images).numpy()
    norms = np.linalg.norm(features, axis=1)
    assert state["feature_norm_mean"] == pytest.approx(norms.mean(), 1e-5)
    # lambda = 0 from step 0: the target logit is ||x|| psi(theta_y)
    cos = head.cosine(features).numpy()
    theta = np.arccos(np.clip(cos[np.arange(64), labels], -1, 1))
    k = np.floor(4 * theta / np.pi)
    psi = (-1) ** k * np.cos(4 * theta) - 2 * k
    logits = norms[:, None] * cos
    logits[np.arange(64), labels] = norms * psi
    shifted = logits - logits.max(axis=1, keepdims=True)
    want = np.mean(np.log(np.exp(shifted).sum(axis=1))
                   - shifted[np.arange(64), labels])
    assert state["loss"] == pytest.approx(want, rel=1e-4)
    assert state["loss"] > np.log(10)  # the margin starts above chance


def test_collapsed_means_under_half_right():
    assert experiments.collapsed({"test_accuracy": 0.186})
    assert not experiments.collapsed({"test_accuracy": 0.5})

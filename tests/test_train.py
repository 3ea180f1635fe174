import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import make_tiny_mnist
from sphereface import model
from sphereface import train as training
from sphereface.train import TrainConfig, train


@pytest.fixture(autouse=True)
def temp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPHEREFACE_CACHE", str(tmp_path / "cache"))


CONFIG = TrainConfig(epochs=3, batch_size=64, embedding_dim=8, shift=0,
                     lambda_gamma=1.0, schedule="scaled",
                     learning_rate=3e-3)


@pytest.fixture(scope="module")
def config_run():
    """CONFIG trained once, uncached, for the tests that only read it."""
    return train(CONFIG, mnist=make_tiny_mnist(), verbose=False,
                 use_cache=False)


def test_training_learns_and_records_history(config_run):
    trained = config_run
    h = trained.history
    assert h["epoch"] == [1, 2, 3] and h["steps"] == 3 * (512 // 64)
    assert h["loss"][1] < h["loss"][0]
    assert h["test_accuracy"][-1] > 0.5
    assert h["lambda"][-1] < h["lambda"][0]
    for key in ("mean_target_angle_deg", "feature_norm_mean",
                "feature_norm_std", "train_accuracy"):
        assert len(h[key]) == 3
    assert not trained.from_cache


def test_augmentation_settings_reach_every_epoch(tiny_mnist, monkeypatch):
    from sphereface import data

    calls, warp = [], data.augment_images

    def spy(images, rng, shift=0, rotation=0.0, zoom=0.0, **kw):
        calls.append((len(images), shift, rotation, zoom))
        return warp(images, rng, shift, rotation, zoom, **kw)

    monkeypatch.setattr(data, "augment_images", spy)
    config = TrainConfig(epochs=2, batch_size=64, embedding_dim=8, shift=1,
                         rotation=10.0, zoom=0.1)
    train(config, mnist=tiny_mnist, verbose=False, use_cache=False)
    assert calls == [(512, 1, 10.0, 0.1)] * 2


def test_2d_runs_keep_feature_snapshots(tiny_mnist, config_run):
    import matplotlib

    matplotlib.use("Agg")
    from sphereface_book import plots

    from sphereface.train import SNAPSHOT_SIZE

    config = TrainConfig(epochs=2, batch_size=64, embedding_dim=2, shift=0)
    trained = train(config, mnist=tiny_mnist, verbose=False)
    h = trained.history
    n = min(SNAPSHOT_SIZE, len(tiny_mnist[1][1]))
    assert np.shape(h["snapshots"]) == (2, n, 2)
    assert h["snapshot_labels"] == tiny_mnist[1][1][:n].tolist()
    np.testing.assert_allclose(h["snapshot_weights"][-1],
                               trained.head.kernel.numpy(), atol=1e-4)
    assert np.shape(h["snapshot_weights"]) == (2, 2, 10)
    emb, _ = trained.embed(tiny_mnist[1][0][:n])
    np.testing.assert_allclose(h["snapshots"][-1], emb, atol=1e-3)
    fig = plots.feature_evolution(h, epochs=[1, 2], title="run")
    assert len(fig.axes) == 2 and "epoch 2" in fig.axes[1].get_title()
    assert fig.get_suptitle() == "run"
    assert "snapshots" not in config_run.history  # 8-d


def test_cache_entry_missing_a_recorded_field_is_retrained(tiny_mnist):
    from sphereface.train import cache_dir

    config = TrainConfig(epochs=1, batch_size=64, embedding_dim=2, shift=0)
    train(config, mnist=tiny_mnist, verbose=False)
    [path] = cache_dir().glob("*/history.json")
    old = json.loads(path.read_text())
    del old["snapshots"]  # as written by code that kept no snapshots
    path.write_text(json.dumps(old))
    again = train(config, mnist=tiny_mnist, verbose=False)
    assert not again.from_cache and len(again.history["snapshots"]) == 1
    assert train(config, mnist=tiny_mnist, verbose=False).from_cache


def test_feature_evolution_refuses_3d():
    from sphereface_book import plots

    with pytest.raises(ValueError, match="3-D"):
            plots.feature_evolution({"snapshots": np.zeros((1, 4, 3))})


def test_cache_loads_same_config_and_retrains_changed(tiny_mnist, capsys):
    first = train(CONFIG, mnist=tiny_mnist)
    trained_log = capsys.readouterr().out.splitlines()
    assert training.is_cached(CONFIG, tiny_mnist)
    again = train(CONFIG, mnist=tiny_mnist)
    loaded_log = capsys.readouterr().out.splitlines()
    assert again.from_cache
    assert loaded_log[0] == ("a-softmax m=4, scaled lambda, 8-d, seed 0: "
                             "loaded from the cache; its training:")
    assert loaded_log[1:] == trained_log[1:]  # the epochs and the time
    assert again.history == json.loads(json.dumps(first.history))
    images = tiny_mnist[1][0][:50]
    emb1, _ = first.embed(images)
    emb2, _ = again.embed(images)
    np.testing.assert_allclose(emb1, emb2, rtol=1e-5, atol=1e-5)
    assert float(again.head.step.numpy()) == first.history["steps"]
    seed_1 = dataclasses.replace(CONFIG, seed=1)
    assert not training.is_cached(seed_1, tiny_mnist)
    changed = train(seed_1, mnist=tiny_mnist, verbose=False)
    assert not changed.from_cache


def test_checks_and_stopping_at_an_accuracy(tiny_mnist, tmp_path):
    trained = train(CONFIG, mnist=tiny_mnist, verbose=False, check_every=2,
                    until=0.3)
    checks = trained.history["checks"]
    assert [c["step"] for c in checks] == list(range(2, 2 * len(checks) + 1,
                                                     2))
    assert checks[-1]["test_accuracy"] >= 0.3
    assert all(c["test_accuracy"] < 0.3 for c in checks[:-1])
    assert trained.history["steps"] < 3 * (512 // 64)  # stopped early
    assert checks[-1]["seconds"] <= trained.history["train_seconds"]
    # a run stopped early is not the configured run: never cached
    assert not any((tmp_path / "cache").glob("*/history.json"))


# One changed value per field of TrainConfig, each a valid configuration.
CHANGED = {"head": "softmax", "m": 3, "embedding_dim": 3,
           "backbone": "resnet20", "lambda_base": 10.0, "lambda_gamma": 0.5,
           "lambda_power": 2.0, "lambda_min": 1.0, "schedule": "official",
           "margin": 0.3, "scale": 30.0, "epochs": 1, "batch_size": 32,
           "learning_rate": 1e-3, "seed": 1, "shift": 0, "rotation": 5.0,
           "zoom": 0.2, "train_size": 100, "classes": (0, 1),
           "num_classes": 2, "precision": "mixed_bfloat16",
           "dropout": 0.25, "weight_decay": 0.05}


def test_every_field_data_and_code_version_change_the_cache_key(
        monkeypatch):
    base = TrainConfig(schedule="custom")
    assert set(CHANGED) == {f.name for f in dataclasses.fields(base)}
    key = training.cache_key(base, "data")
    keys = {training.cache_key(dataclasses.replace(base, **{name: value}),
                               "data") for name, value in CHANGED.items()}
    assert key not in keys and len(keys) == len(CHANGED)
    assert training.cache_key(TrainConfig(schedule="custom"), "data") == key
    assert training.cache_key(base, "other data") != key
    monkeypatch.setattr(training, "WEIGHTS_VERSION",
                        training.WEIGHTS_VERSION + 1)
    assert training.cache_key(base, "data") != key


def test_data_fingerprint_sees_every_change():
    rng = np.random.default_rng(0)
    images = rng.random((6, 28, 28, 1), np.float32)
    labels = np.arange(6, dtype=np.int32)
    first = training.data_fingerprint(images, labels)
    assert training.data_fingerprint(images.copy(), labels.copy()) == first
    assert training.data_fingerprint(images, labels[::-1]) != first
    changed = images.copy()
    changed[3, 5, 5, 0] += 1e-3
    assert training.data_fingerprint(changed, labels) != first
    assert training.data_fingerprint(images, labels.astype(np.int64)) != (
        first)
    assert training.data_fingerprint(images[:5], labels[:5]) != first


def test_the_cache_returns_only_the_run_asked_for(tiny_mnist):
    config = dataclasses.replace(CONFIG, epochs=1)
    (x, y), test = tiny_mnist
    first = train(config, mnist=tiny_mnist, verbose=False)
    assert not first.from_cache and first.history["checks"] == []
    # the same configuration on other data (labels moved by one)
    assert not train(config, mnist=((x, np.roll(y, 1)), test),
                     verbose=False).from_cache
    # an entry recorded without checks is no hit for a run asking them
    checked = train(config, mnist=tiny_mnist, verbose=False, check_every=4)
    assert not checked.from_cache
    assert [c["step"] for c in checked.history["checks"]] == [4, 8]
    again = train(config, mnist=tiny_mnist, verbose=False, check_every=4)
    assert again.from_cache and again.history["checks"] == json.loads(
        json.dumps(checked.history["checks"]))
    assert train(config, mnist=tiny_mnist, verbose=False).from_cache


def test_schedule_names_must_match_their_numbers():
    assert TrainConfig().schedule == "official"
    with pytest.raises(ValueError, match="lambda_gamma=0.5 is not the "
                       "'official'"):
        TrainConfig(lambda_gamma=0.5)
    with pytest.raises(ValueError, match="lambda_min=5.0 is not the 'none'"):
        TrainConfig(lambda_base=0.0, schedule="none")
    with pytest.raises(ValueError, match="schedule='cosine'"):
        TrainConfig(schedule="cosine")
    assert TrainConfig(lambda_gamma=0.5, schedule="scaled").lambda_gamma == (
        0.5)
    assert TrainConfig(lambda_base=0.0, lambda_min=0.0,
                       schedule="none").schedule == "none"
    assert TrainConfig(lambda_power=2.0, schedule="custom")


def test_inference_model_needs_no_label_and_matches(tiny_mnist,
                                                    config_run):
    trained = config_run
    net = trained.inference_model()
    assert [tuple(i.shape) for i in net.inputs] == [(None, 28, 28, 1)]
    images = tiny_mnist[1][0][:32]
    out = net.predict(images, verbose=0)
    emb = trained.backbone(images, training=False).numpy()
    np.testing.assert_allclose(out["embedding"], emb, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(
        out["logits"].argmax(1), trained.head.cosine(emb).numpy().argmax(1))


def test_no_relu_after_embedding():
    backbone = model.build_backbone("small", 3)
    last = backbone.layers[-1]
    assert last.name == "embedding"
    assert last.activation.__name__ == "linear"
    with pytest.raises(ValueError, match="backbone="):
        model.build_backbone("vgg", 3)


def test_sphereface20_shapes():
    net = model.build_backbone("resnet20", 16)
    assert net.output_shape == (None, 16)
    assert any("p_re_lu" in layer.name for layer in net.layers)


def test_mirrored_strategy_on_two_cpu_devices(tmp_path):
    """The same train() over a 2-replica MirroredStrategy (subprocess:
    logical devices must be set before TensorFlow starts)."""
    script = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from sphereface.train import TrainConfig, train
        rng = np.random.default_rng(0)
        y = rng.integers(0, 10, 256).astype(np.int32)
        x = rng.random((256, 28, 28, 1), np.float32) * 0.1
        for i, label in enumerate(y):
            x[i, 2 * label:2 * label + 4] = 1.0
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        cfg = TrainConfig(epochs=2, batch_size=64, embedding_dim=8,
                          shift=0, lambda_gamma=1.0, schedule="scaled")
        t = train(cfg, mnist=((x, y), (x[:100], y[:100])),
                  strategy=strategy, verbose=False)
        h = t.history
        assert h["steps"] == 8, h["steps"]
        assert h["loss"][1] < h["loss"][0], h["loss"]
        print("ok", h["test_accuracy"][-1])
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], env=env,
                            capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")


def test_evaluate_record(tiny_mnist, config_run):
    from sphereface_book import experiments

    trained = config_run
    images, labels = tiny_mnist[1]
    record = experiments.evaluate(trained, images, labels)
    assert record["test_accuracy"] == trained.history["test_accuracy"][-1]
    assert (record["head"], record["m"], record["schedule"]) == (
        "a-softmax", 4, "scaled")
    official = dataclasses.replace(CONFIG, lambda_gamma=0.12,
                                   schedule="custom")
    assert experiments.run_fields(official)["schedule"] == "custom"
    assert 0 <= record["criterion_fraction"] <= 1
    assert record["max_intra_deg"] >= record["intra_p95_deg"]
    assert record["min_inter_deg"] <= record["inter_p5_deg"]


def test_progress_bar_when_asked(tiny_mnist, capsys):
    train(CONFIG, mnist=tiny_mnist, verbose="bar", use_cache=False)
    out = capsys.readouterr().out
    assert "8/8" in out and "epoch 3/3" in out


def test_a_run_with_no_full_batch_is_refused(tiny_mnist):
    small = dataclasses.replace(CONFIG, train_size=40)
    with pytest.raises(ValueError, match=r"40 training images \(classes="
                       r"None, train_size=40\) make no full batch of 64"):
        train(small, mnist=tiny_mnist, verbose=False)
    one_digit = dataclasses.replace(CONFIG, classes=(3,), batch_size=512)
    with pytest.raises(ValueError, match="make no full batch of 512"):
        train(one_digit, mnist=tiny_mnist, verbose=False)


def test_keys_are_those_from_before_the_later_fields():
    # computed by the code before TrainConfig had ``precision``,
    # ``dropout`` and ``weight_decay``
    assert TrainConfig().key() == "f24585084b75c5a1"
    assert training.cache_key(TrainConfig(), "data") == "a756ac87c6c6842c"
    assert training.cache_key(CONFIG, "data") == "492c74f1f6b30efd"
    with pytest.raises(ValueError, match="precision='bfloat16'"):
        TrainConfig(precision="bfloat16")
    with pytest.raises(ValueError, match="dropout=1.0"):
        TrainConfig(dropout=1.0)
    with pytest.raises(ValueError, match="weight_decay=-0.1"):
        TrainConfig(weight_decay=-0.1)


def test_dropout_and_weight_decay_reach_the_network_and_optimiser(
        monkeypatch):
    import keras

    made = []

    def make_optimizer(config, total_steps):
        made.append(real(config, total_steps))
        return made[-1]

    real = training.make_optimizer
    monkeypatch.setattr(training, "make_optimizer", make_optimizer)
    plain, _, _ = training.prepare(CONFIG, 4)
    assert not any(isinstance(layer, keras.layers.Dropout)
                   for layer in plain.layers)
    assert type(made[-1]) is keras.optimizers.Adam
    config = dataclasses.replace(CONFIG, dropout=0.25, weight_decay=0.05)
    backbone, _, _ = training.prepare(config, 4)
    rates = [layer.rate for layer in backbone.layers
             if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.25]
    assert isinstance(made[-1], keras.optimizers.AdamW)
    assert made[-1].weight_decay == 0.05


def test_loop_trains_what_one_step_per_batch_trains(tiny_mnist,
                                                    monkeypatch):
    from sphereface import data

    monkeypatch.setattr(training, "STEPS_PER_CALL", 3)  # 8 = 3 + 2 + ...
    config = dataclasses.replace(CONFIG, epochs=2, shift=1)
    trained = train(config, mnist=tiny_mnist, verbose=False,
                    use_cache=False, check_every=5)
    assert [c["step"] for c in trained.history["checks"]] == [5, 10, 15]
    (x, y), _ = training.run_data(config, tiny_mnist)
    backbone, head, step = training.prepare(config, len(y) // 64)
    losses = [[float(step(images, labels)[0]) for images, labels in
               data.train_dataset(x, y, 64, config.seed, epoch, 1)]
              for epoch in range(2)]
    for got, want in zip(trained.backbone.weights + trained.head.weights,
                         backbone.weights + head.weights):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert trained.history["loss"] == [np.mean(e) for e in losses]


def test_epochs_are_augmented_in_the_background(tiny_mnist, monkeypatch):
    import threading

    from sphereface import data

    threads, augment = [], data.augment_images

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return augment(*args, **kwargs)

    monkeypatch.setattr(data, "augment_images", spy)
    train(dataclasses.replace(CONFIG, epochs=3), mnist=tiny_mnist,
          verbose=False, use_cache=False)
    assert len(threads) == 3  # no epoch beyond the run's
    assert threading.main_thread() not in threads


def test_progress_is_read_once_per_call(tiny_mnist, monkeypatch):
    shown = []

    class Recorder:
        def start(self, total, title):
            shown.append((title, total, []))

        def update(self, done, **values):
            shown[-1][2].append((done, values["mean_loss"]))

        def line(self, text):
            shown.append(text)

    monkeypatch.setattr(training, "run_log", lambda show: Recorder())
    monkeypatch.setattr(training, "STEPS_PER_CALL", 3)
    trained = train(dataclasses.replace(CONFIG, epochs=2),
                    mnist=tiny_mnist, use_cache=False)
    h = trained.history
    assert shown[0] == ("a-softmax m=4, scaled lambda, 8-d, seed 0: 2 "
                        "epochs of 8 steps (batch 64)")
    for epoch in range(2):
        title, total, calls = shown[1 + 2 * epoch]
        assert (title, total) == (f"epoch {epoch + 1}/2", 8)
        assert [done for done, _ in calls] == [3, 6, 8]
        # the running mean loss ends at the epoch's mean, shown once
        assert calls[-1][1] == pytest.approx(h["loss"][epoch], rel=1e-5)
        assert shown[2 + 2 * epoch] == (
            f"epoch {epoch + 1}/2: mean loss {h['loss'][epoch]:.4f}, "
            f"train {h['train_accuracy'][epoch]:.2%}, "
            f"test {h['test_accuracy'][epoch]:.2%}, "
            f"lambda {h['lambda'][epoch]:.1f}")
    assert shown[-1].startswith("trained in ") and len(shown) == 6


def test_mixed_bfloat16_run_trains_with_a_float32_head(tiny_mnist):
    import keras
    import tensorflow as tf

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float64")  # any other policy
    try:
        config = dataclasses.replace(CONFIG, precision="mixed_bfloat16")
        trained = train(config, mnist=tiny_mnist, verbose=False)
        assert keras.mixed_precision.global_policy().name == "float64"
        again = train(config, mnist=tiny_mnist, verbose=False)
    finally:
        keras.mixed_precision.set_global_policy(before)
    h = trained.history
    assert h["loss"][-1] < h["loss"][0] and h["test_accuracy"][-1] > 0.5
    assert again.from_cache
    images, labels = tiny_mnist[1][0][:16], tiny_mnist[1][1][:16]
    for net in (trained, again):
        emb = net.backbone(images, training=False)
        assert emb.dtype == tf.bfloat16
        assert net.head(emb).dtype == tf.float32
        assert net.head.margin_logits(emb, labels).dtype == tf.float32
        assert all(w.dtype == "float32" for w in net.backbone.weights)


def test_mixed_float16_run_trains_under_its_policy(tiny_mnist):
    import keras

    config = dataclasses.replace(CONFIG, precision="mixed_float16",
                                 epochs=2)
    backbone, _, _ = training.prepare(config, 8)
    assert backbone.layers[1].dtype_policy.name == "mixed_float16"
    trained = train(config, mnist=tiny_mnist, verbose=False)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert np.isfinite(trained.history["loss"]).all()
    assert trained.history["test_accuracy"][-1] > 0.3

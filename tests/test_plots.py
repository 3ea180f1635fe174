"""The book's figures draw what their captions in the text read off."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sphereface_book import plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_det_curves_plot_false_rejects_in_percent_without_zeros():
    far = np.array([0.0, 0.001, 0.01, 0.1, 1.0])
    tar = np.array([0.0, 0.9, 0.99, 1.0, 1.0])
    fig = plots.det_curves({"seen": {"run": (far, tar)}})
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    x, y = ax.lines[0].get_data()
    # FAR 0 and FRR 0 cannot sit on a log axis; FRR = 1 - TAR, in %
    np.testing.assert_allclose(x, [0.1, 1.0])
    np.testing.assert_allclose(y, [10.0, 1.0])
    assert "FAR = FRR" in ax.lines[1].get_label()  # the EER diagonal


def test_pair_angle_histograms_label_every_row():
    rng = np.random.default_rng(0)
    panels = {f"run {i}": (rng.uniform(0, 90, 50), rng.uniform(60, 150, 50))
              for i in range(7)}
    fig = plots.pair_angle_histograms(panels)
    fig.canvas.draw()
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 7
    for ax in shown:
        labels = [t.get_text() for t in ax.get_xticklabels()
                  if t.get_visible()]
        assert "90" in labels, ax.get_title()


def test_binary_boundaries_has_a_legend_for_every_mark():
    fig = plots.binary_boundaries(60)
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert len(texts) == 4
    assert any("W₁" in t for t in texts) and any("W₂" in t for t in texts)


def test_lambda_schedule_marks_every_epoch_end():
    steps = np.arange(1001)
    fig = plots.lambda_schedule(steps, 1000.0 / (1 + 0.12 * steps),
                                floor_step=700, epoch_steps=250)
    ax = fig.axes[0]
    ends = sorted(line.get_xdata()[0] for line in ax.lines[1:]
                  if line.get_linestyle() == ":")
    assert ends == [250, 500, 750, 1000]
    assert len(ax.get_legend().get_texts()) == 2  # floor + one epoch entry


def test_3d_features_sit_on_a_drawn_unit_sphere_with_weights():
    rng = np.random.default_rng(0)
    emb, labels = 5 * rng.standard_normal((40, 3)), np.arange(40) % 10
    kernel = rng.standard_normal((3, 10))
    fig = plots.features_3d({"a": (emb, labels), "b": (emb, labels)},
                            weights={"a": kernel})
    with_w, without = fig.axes[:2]
    assert len(with_w.lines) == 10 and len(without.lines) == 0
    for line, w in zip(with_w.lines, kernel.T):  # unit directions, 1.3 long
        x, y, z = (np.asarray(c)[-1] for c in line.get_data_3d())
        np.testing.assert_allclose([x, y, z], 1.3 * w / np.linalg.norm(w))
    points = np.column_stack(with_w.collections[-1]._offsets3d)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0)
    assert list(with_w.get_zticks()) == [-1, 0, 1]
    plt.close(fig)


def test_feature_evolution_draws_each_epochs_weights():
    rng = np.random.default_rng(1)
    history = {"snapshots": rng.standard_normal((2, 20, 2)).tolist(),
               "snapshot_labels": (np.arange(20) % 10).tolist(),
               "snapshot_weights": rng.standard_normal((2, 2, 10)).tolist(),
               "test_accuracy": [0.5, 0.9]}
    fig = plots.feature_evolution(history)
    for ax, kernel in zip(fig.axes, history["snapshot_weights"]):
        ends = np.array([[line.get_xdata()[-1], line.get_ydata()[-1]]
                         for line in ax.lines])
        w = np.asarray(kernel)
        np.testing.assert_allclose(ends, 1.25 * (w / np.linalg.norm(
            w, axis=0)).T)
    del history["snapshot_weights"]  # older histories: no lines
    assert not plots.feature_evolution(history).axes[0].lines
    plt.close("all")

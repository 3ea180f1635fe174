"""The book's figures draw what their captions in the text read off."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sphereface_book import plots  # noqa: E402


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

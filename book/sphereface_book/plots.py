"""The book's figures.  Each function draws one figure and returns it.

Angles on axes are in degrees; every figure has a title and labelled axes.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sphereface import sphere

CLASS_COLORS = plt.get_cmap("tab10").colors


def _degrees_axis(ax, label="angle θ to the class weight (degrees)"):
    ax.set_xlabel(label)
    ax.set_xlim(0, 180)
    ax.set_xticks(range(0, 181, 30))


def sphere_points(points_2d, points_3d):
    """Uniform points on the circle S^1 and the sphere S^2."""
    fig = plt.figure(figsize=(9, 4.2))
    ax = fig.add_subplot(1, 2, 1)
    ax.scatter(points_2d[:, 0], points_2d[:, 1], s=6)
    ax.set_aspect("equal")
    ax.set(title="S¹: unit vectors in 2-D", xlabel="x₁", ylabel="x₂")
    ax = fig.add_subplot(1, 2, 2, projection="3d")
    ax.scatter(*points_3d.T, s=4, c=points_3d[:, 2], cmap="viridis")
    ax.set(title="S²: unit vectors in 3-D", xlabel="x₁", ylabel="x₂",
           zlabel="x₃")
    ax.set_box_aspect((1, 1, 1))
    fig.tight_layout()
    return fig


def chord_vs_angle(angles, distances):
    """Euclidean distance between unit vectors against their angle."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    theta = np.linspace(0, np.pi, 200)
    ax.plot(np.degrees(theta), sphere.chord_length(np.cos(theta)),
            label="√(2 − 2 cos θ)")
    ax.scatter(np.degrees(angles), distances, s=8, color="C1",
               label="random pairs in 64-D")
    _degrees_axis(ax, "angle θ between the vectors (degrees)")
    ax.set(ylabel="Euclidean distance ‖u − v‖",
           title="On the unit sphere, distance is a function of angle")
    ax.legend()
    return fig


def softmax_radial(weights, direction_deg, norms):
    """Softmax probability of the winning class as a feature grows."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    grid = np.linspace(-4, 4, 301)
    xx, yy = np.meshgrid(grid, grid)
    feats = np.stack([xx.ravel(), yy.ravel()], 1)
    probs = sphere.softmax(feats @ weights)
    ax = axes[0]
    image = ax.imshow(probs.max(1).reshape(xx.shape), origin="lower",
                      extent=(-4, 4, -4, 4), cmap="magma", vmin=0, vmax=1)
    for j, w in enumerate(weights.T):
        ax.arrow(0, 0, *w, width=0.05, color=CLASS_COLORS[j])
    fig.colorbar(image, ax=ax, label="max class probability")
    ax.set(title="Softmax confidence grows with ‖x‖", xlabel="x₁",
           ylabel="x₂")
    direction = np.radians(direction_deg)
    unit = np.array([np.cos(direction), np.sin(direction)])
    p = sphere.softmax(np.outer(norms, unit) @ weights)
    ax = axes[1]
    for j in range(weights.shape[1]):
        ax.plot(norms, p[:, j], color=CLASS_COLORS[j], label=f"class {j}")
    ax.set(title=f"Along one direction ({direction_deg}°)",
           xlabel="feature norm ‖x‖", ylabel="softmax probability")
    ax.legend()
    fig.tight_layout()
    return fig


def binary_boundaries(theta12_deg, ms=(1, 2, 4), bias=0.6):
    """Two-class decision boundaries: softmax, modified, A-Softmax."""
    theta12 = np.radians(theta12_deg)
    w1 = np.array([1.0, 0.0])
    w2 = 1.3 * np.array([np.cos(theta12), np.sin(theta12)])
    fig, axes = plt.subplots(1, 1 + len(ms), figsize=(3.4 * (1 + len(ms)),
                                                      4.0))
    grid = np.linspace(-2, 2, 401)
    xx, yy = np.meshgrid(grid, grid)
    ax = axes[0]
    score = (w1 - w2) @ np.stack([xx.ravel(), yy.ravel()]) + bias
    ax.contourf(xx, yy, score.reshape(xx.shape) > 0, levels=[-.5, .5, 1.5],
                colors=[CLASS_COLORS[1], CLASS_COLORS[0]], alpha=0.3)
    ax.set_title("softmax: (W₁−W₂)·x + b = 0")
    for ax, m in zip(axes[1:], ms):
        phi, labels = sphere.circle_regions(np.array([0.0, theta12]), m)
        for y in (0, 1):
            sel = labels == y
            ax.scatter(np.cos(phi[sel]), np.sin(phi[sel]), s=2,
                       color=CLASS_COLORS[y])
        for angle in phi[labels != np.roll(labels, 1)]:  # region edges
            ax.plot([0, 2 * np.cos(angle)], [0, 2 * np.sin(angle)],
                    lw=0.8, ls="--", color="0.4")
        name = "modified softmax" if m == 1 else f"A-Softmax m={m}"
        ax.set_title(name)
    for ax in axes:
        for j, w in enumerate((w1, w2)):
            ax.arrow(0, 0, *w, width=0.03, color=CLASS_COLORS[j])
        ax.set(xlim=(-2, 2), ylim=(-2, 2), xlabel="x₁", ylabel="x₂")
        ax.set_aspect("equal")
    fig.legend(handles=[
        Line2D([], [], color=CLASS_COLORS[0], lw=3,
               label="class 1: weight W₁ and its region"),
        Line2D([], [], color=CLASS_COLORS[1], lw=3,
               label="class 2: weight W₂ and its region"),
        Line2D([], [], color="0.4", lw=0.8, ls="--",
               label="edge of a region"),
        Patch(facecolor="white", edgecolor="0.6",
              label="blank: claimed by neither class")],
        loc="lower center", ncol=4, frameon=False)
    fig.suptitle(f"Two classes, weights {theta12_deg}° apart")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def margin_vs_m(ms, binary, multi, m_binary, m_multi):
    """Max intra vs min inter angle as m grows (units of theta12)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, (intra, inter), m_min, title in (
            (axes[0], binary, m_binary, "two classes"),
            (axes[1], multi, m_multi, "neighbours on both sides")):
        ax.plot(ms, intra, label="max intra-class angle")
        ax.plot(ms, inter, label="min inter-class angle")
        ax.axvline(m_min, color="k", ls="--", lw=1,
                   label=f"minimal m = {m_min:.3f}")
        ax.set(title=title, xlabel="margin m",
               ylabel="angle / angle between the weights")
        ax.legend()
    fig.tight_layout()
    return fig


def angle_concentration(angles_by_dim):
    """Histograms of angles between random points for several dims."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.linspace(0, 180, 91)
    for dim, angles in angles_by_dim.items():
        ax.hist(np.degrees(angles), bins=bins, density=True,
                histtype="step", lw=1.5, label=f"d = {dim}")
    _degrees_axis(ax, "angle between two random points (degrees)")
    ax.set(ylabel="density",
           title="Random directions become orthogonal as d grows")
    ax.legend()
    return fig


def psi_curves(theta, cos_m_by_m, psi_by_m):
    """psi(theta) for each m, beside the raw cos(m theta)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for m in psi_by_m:
        axes[0].plot(np.degrees(theta), cos_m_by_m[m], label=f"m = {m}")
        axes[1].plot(np.degrees(theta), psi_by_m[m], label=f"m = {m}")
    axes[0].set(title="raw cos(mθ): not monotone", ylabel="target value")
    axes[1].set(title="ψ(θ) = (−1)ᵏ cos(mθ) − 2k", ylabel="ψ(θ)")
    for ax in axes:
        _degrees_axis(ax)
        ax.legend()
    fig.tight_layout()
    return fig


def lambda_blend(theta, blends):
    """(lam cos + psi)/(1 + lam) for several lambda values."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for lam, values in blends.items():
        ax.plot(np.degrees(theta), values, label=f"λ = {lam:g}")
    ax.plot(np.degrees(theta), np.cos(theta), "k:", label="cos θ")
    _degrees_axis(ax)
    ax.set(ylabel="target logit / ‖x‖",
           title="The λ blend of the A-Softmax target (m = 4)")
    ax.legend()
    return fig


def lambda_schedule(steps, lambdas, floor_step=None, epoch_steps=None):
    """lambda over training steps (log scale), with the floor marked.

    ``epoch_steps`` marks the end of every epoch of that length within
    ``steps`` (the book's MNIST run, when ``steps`` spans it).
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(steps, lambdas)
    ax.set_yscale("log")
    if floor_step is not None:
        ax.axvline(floor_step, color="k", ls="--", lw=1,
                   label=f"floor reached at step {floor_step:,}")
    if epoch_steps is not None:
        ends = range(epoch_steps, int(steps[-1]) + 1, epoch_steps)
        for i, end in enumerate(ends):
            ax.axvline(end, color="C2", ls=":", lw=1.5, label=(
                f"end of epoch 1, 2, ... ({epoch_steps} steps each)"
                if i == 0 else None))
    ax.set(xlabel="training step", ylabel="λ (log scale)",
           title="The official λ schedule")
    ax.legend()
    return fig


def circle_regions(class_angles, ms):
    """The circle coloured by the class whose margin criterion holds."""
    fig, axes = plt.subplots(1, len(ms), figsize=(3.2 * len(ms), 3.4))
    for ax, m in zip(np.atleast_1d(axes), ms):
        phi, labels = sphere.circle_regions(class_angles, m)
        colors = [CLASS_COLORS[y] if y >= 0 else (0.85, 0.85, 0.85)
                  for y in labels]
        ax.scatter(np.cos(phi), np.sin(phi), c=colors, s=4)
        for j, angle in enumerate(class_angles):
            ax.arrow(0, 0, 0.8 * np.cos(angle), 0.8 * np.sin(angle),
                     width=0.02, color=CLASS_COLORS[j])
        share = np.mean(labels < 0)
        ax.set_title(f"m = {m}: {share:.0%} of the circle unclaimed")
        ax.set(xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), xlabel="x₁",
               ylabel="x₂")
        ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def training_curves(histories):
    """Loss, test accuracy and mean own-class angle per epoch, per run."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, h in histories.items():
        axes[0].plot(h["epoch"], h["loss"], marker="o", label=name)
        axes[1].plot(h["epoch"], 100 * np.array(h["test_accuracy"]),
                     marker="o", label=name)
        axes[2].plot(h["epoch"], h["mean_target_angle_deg"], marker="o",
                     label=name)
    axes[0].set(title="training loss", xlabel="epoch", ylabel="loss")
    axes[0].set_yscale("log")
    axes[1].set(title="test accuracy (10,000 images)", xlabel="epoch",
                ylabel="accuracy (%)")
    axes[2].set(title="mean angle to own class weight (test)",
                xlabel="epoch", ylabel="θ_y (degrees)")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lambda_over_run(steps, schedules, steps_per_epoch):
    """lambda against the step for several schedules over one run."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, values in schedules.items():
        ax.plot(steps, values, label=name)
    for epoch_end in range(steps_per_epoch, steps[-1] + 1, steps_per_epoch):
        ax.axvline(epoch_end, color="0.85", lw=0.8)
    ax.set_yscale("log")
    ax.set(xlabel="training step (grey lines: epoch ends)",
           ylabel="λ (log scale)", title="λ over this book's MNIST run")
    ax.legend()
    return fig


def features_2d(panels, weights=None):
    """2-D features, raw and normalised, with class weight directions.

    ``panels`` maps a title to ``(embeddings [n, 2], labels [n])``;
    ``weights`` maps the same titles to ``[2, classes]`` (optional).
    """
    n = len(panels)
    fig, axes = plt.subplots(2, n, figsize=(3.3 * n, 6.6))
    axes = np.asarray(axes).reshape(2, n)
    for col, (title, (emb, labels)) in enumerate(panels.items()):
        colors = np.array(CLASS_COLORS)[labels]
        raw, unit = axes[0, col], axes[1, col]
        raw.scatter(emb[:, 0], emb[:, 1], c=colors, s=1, alpha=0.5)
        raw.set_title(title, fontsize=10)
        raw.set(xlabel="x₁", ylabel="x₂")
        norm = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        jitter = 1 + 0.05 * np.random.default_rng(0).standard_normal(
            len(emb))
        unit.scatter(norm[:, 0] * jitter, norm[:, 1] * jitter, c=colors,
                     s=1, alpha=0.5)
        if weights is not None and title in weights:
            _weight_rays(unit, weights[title])
        unit.set(xlim=(-1.4, 1.4), ylim=(-1.4, 1.4), xlabel="x₁/‖x‖",
                 ylabel="x₂/‖x‖")
        unit.set_aspect("equal")
    axes[0, 0].annotate("raw features", (0.02, 0.95),
                        xycoords="axes fraction", fontsize=8, va="top")
    axes[1, 0].annotate("normalised (radius jittered)", (0.02, 0.95),
                        xycoords="axes fraction", fontsize=8, va="top")
    _digit_legend(fig)
    return fig


def _weight_rays(ax, kernel, length=1.25):
    """Each class weight direction as a line from the origin, in the
    class's colour (``kernel`` is ``[dim, classes]``)."""
    w = np.asarray(kernel) / np.linalg.norm(kernel, axis=0)
    for j in range(w.shape[1]):
        ax.plot(*([0, length * c] for c in w[:, j]), color=CLASS_COLORS[j],
                lw=1.2)


def feature_evolution(history, epochs=None, title=None):
    """A 2-D run's normalised test features after chosen epochs.

    ``history`` is a run's history with ``snapshots`` (kept by
    ``train`` for 2-D embeddings); ``epochs`` are 1-based
    (default: all).  One panel per epoch, titled with its test accuracy,
    with the class weight directions of that epoch as lines when the
    history has them (``snapshot_weights``); ``title`` goes above them
    all.
    """
    snapshots = np.asarray(history["snapshots"])
    if snapshots.shape[-1] != 2:
        raise ValueError("feature_evolution draws 2-D embeddings; got "
                         f"{snapshots.shape[-1]}-D snapshots")
    epochs = epochs or range(1, len(snapshots) + 1)
    colors = np.array(CLASS_COLORS)[history["snapshot_labels"]]
    fig, axes = plt.subplots(1, len(epochs), figsize=(2.6 * len(epochs),
                                                      3.0))
    for ax, epoch in zip(np.atleast_1d(axes), epochs):
        emb = snapshots[epoch - 1]
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        ax.scatter(unit[:, 0], unit[:, 1], c=colors, s=2, alpha=0.4)
        if "snapshot_weights" in history:
            _weight_rays(ax, history["snapshot_weights"][epoch - 1])
        accuracy = history["test_accuracy"][epoch - 1]
        ax.set_title(f"epoch {epoch}: {100 * accuracy:.1f}%", fontsize=9)
        ax.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), xticks=[], yticks=[])
        ax.set_aspect("equal")
    if title:
        fig.suptitle(title)
    _digit_legend(fig)
    return fig


def _digit_legend(fig):
    """One legend row naming the colour of each digit, under the axes."""
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=str(d))
               for d, c in enumerate(CLASS_COLORS)]
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=10,
               title="digit", fontsize=8, title_fontsize=8, frameon=False)


def features_3d(panels, weights=None):
    """3-D features normalised onto a drawn unit sphere, one panel per
    run, with the class weight directions as lines when ``weights``
    maps a panel's title to its ``[3, classes]`` kernel."""
    n = len(panels)
    fig = plt.figure(figsize=(4.8 * n, 4.8))
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 25),
                       np.linspace(0, np.pi, 13))
    for col, (title, (emb, labels)) in enumerate(panels.items()):
        ax = fig.add_subplot(1, n, col + 1, projection="3d")
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v),
                          np.cos(v), color="0.8", lw=0.4)
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        ax.scatter(*unit.T, c=np.array(CLASS_COLORS)[labels], s=1,
                   alpha=0.6, depthshade=False)
        if weights is not None and title in weights:
            _weight_rays(ax, weights[title], length=1.3)
        ticks = [-1, 0, 1]
        ax.set(title=title, xlabel="x₁/‖x‖", ylabel="x₂/‖x‖",
               zlabel="x₃/‖x‖", xticks=ticks, yticks=ticks, zticks=ticks,
               xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), zlim=(-1.1, 1.1))
        ax.set_box_aspect((1, 1, 1))
    _digit_legend(fig)
    return fig


def angle_histograms(panels):
    """theta_y against the nearest other class's angle, per run."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), sharey=True)
    bins = np.linspace(0, 180, 91)
    for ax, (title, (target, nearest)) in zip(np.atleast_1d(axes),
                                              panels.items()):
        ax.hist(target, bins=bins, alpha=0.6, label="θ_y (own class)")
        ax.hist(nearest, bins=bins, alpha=0.6,
                label="min θ_j (nearest other)")
        ax.set_yscale("log")
        _degrees_axis(ax, "angle (degrees)")
        ax.set_title(title, fontsize=10)
    np.atleast_1d(axes)[0].set_ylabel("test samples (log scale)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def det_curves(panels):
    """DET curves: false reject against false accept rate, both log.

    ``panels`` maps a title to ``{run name: (far, tar)}``.  On a linear
    TAR axis near-perfect runs all sit on the 100% line; the log false
    reject rate (1 - TAR) keeps them apart.  Lower is better, and a
    curve crosses the dotted diagonal FAR = FRR at its equal error rate.
    Rates of zero cannot be drawn on a log axis and are left out.
    """
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.4), sharey=True)
    for ax, (title, curves) in zip(np.atleast_1d(axes), panels.items()):
        for name, (far, tar) in curves.items():
            frr = 1 - tar
            keep = (far > 0) & (frr > 0)
            ax.plot(100 * far[keep], 100 * frr[keep], label=name, lw=1.2)
        ax.plot([0.01, 100], [0.01, 100], ls=":", color="0.4", lw=1,
                label="FAR = FRR (EER)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # 0.1, 1, 10, not 10^-1 ...
            axis.set_major_formatter(lambda value, _: f"{value:g}")
        ax.set(title=title, xlabel="false accept rate (%, log scale)",
               xlim=(0.1, 100), ylim=(0.01, 100))
        ax.grid(True, which="major", color="0.9")
    np.atleast_1d(axes)[0].set_ylabel("false reject rate (%, log scale)")
    np.atleast_1d(axes)[-1].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def pair_angle_histograms(panels):
    """Angles within same-digit and different-digit pairs, per run.

    ``panels`` maps a title to ``(same angles, different angles)``.
    """
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3 * rows),
                             sharex=True, sharey=True, squeeze=False)
    bins = np.linspace(0, 180, 91)
    for ax, (title, (same, different)) in zip(axes.flat, panels.items()):
        ax.hist(same, bins=bins, alpha=0.6, label="same digit")
        ax.hist(different, bins=bins, alpha=0.6, label="different digits")
        ax.set_title(title, fontsize=10)
        _degrees_axis(ax, "angle between the pair (degrees)")
        ax.tick_params(labelbottom=True)  # sharex hides them otherwise
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("pairs")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig

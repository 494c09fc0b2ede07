"""Does it steer? A steering model on the held-out test frames, against a baseline that always
predicts the training mean, and the figures of it. Angles are in Donkey Car's units: -1 is full
left, +1 full right ("full lock"), so an MAE of 0.05 is 5 % of full lock."""

import time
from pathlib import Path

import numpy as np

from chapter2.run import distribute, plots
from chapter2.run.plots import BLACK, BLUE, ORANGE, SKY_BLUE


def best_model(best_path, model, run):
    """The best epoch's model: `model` itself when it holds that epoch's
    weights (or nothing was saved), else the one saved at `best_path`."""
    import keras

    from chapter2.run import resume

    if Path(best_path).exists() and resume.best_epoch(best_path) != run.points.weights_epoch:
        return keras.models.load_model(str(best_path))
    return model


def test_against_mean(model, X, Y, train_rows, test_rows, run, *, batch_size=64, seed=0, log=print):
    """Score `model` on the test frames against always predicting the training mean; print it
    with units, save predictions.png, angles.png and test_frames.png; return the metrics."""
    test_rows = np.sort(test_rows)
    log(f"testing on {len(test_rows):,} held-out frames ...")
    started = time.perf_counter()
    y_test = Y[test_rows]
    pred = distribute.predict(model, X[test_rows], batch_size=batch_size).reshape(-1)
    mean = float(Y[train_rows].mean())
    metrics = {}
    for name, guess in (("test", pred), ("baseline", mean)):
        metrics[f"{name}_mse"] = float(np.mean((guess - y_test) ** 2))
        metrics[f"{name}_mae"] = float(np.mean(np.abs(guess - y_test)))
    metrics.update(baseline_value=mean, parameters=int(model.count_params()))
    log(
        f"test: MSE {metrics['test_mse']:.4f}, MAE {metrics['test_mae']:.4f} "
        f"({100 * metrics['test_mae']:.1f} % of full lock); always predicting the training mean "
        f"{mean:+.3f}: MSE {metrics['baseline_mse']:.4f}, MAE {metrics['baseline_mae']:.4f} "
        f"({100 * metrics['baseline_mae']:.1f} %)  [angles -1 full left .. +1 full right; "
        f"{time.perf_counter() - started:.1f} s]"
    )
    run.save_figure(scatter_figure(y_test, pred, mean, metrics), "predictions.png")
    run.save_figure(histogram_figure(Y[train_rows], y_test, pred), "angles.png")
    rng = np.random.default_rng(seed)
    shown = rng.choice(len(test_rows), size=min(12, len(test_rows)), replace=False)
    frames = frames_figure(X[test_rows[shown]], y_test[shown], pred[shown])
    run.save_figure(frames, "test_frames.png")
    return metrics


def scatter_figure(true, pred, mean, metrics):
    """Predicted against true angle on the test split."""
    fig, ax = plots.subplots(figsize=(5.5, 5.2))
    lim = max(1.0, float(np.abs(true).max()), float(np.abs(pred).max()))
    ax.plot([-lim, lim], [-lim, lim], color=BLACK, ls="--", lw=1, label="perfect")
    ax.axhline(mean, color=ORANGE, lw=1.5, label=f"always the training mean ({mean:+.2f})")
    ax.scatter(true, pred, s=8, alpha=0.5, color=BLUE, edgecolors="none", label="test frames")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), ylabel="predicted steering angle")
    ax.set_xlabel("true steering angle (-1 full left, +1 full right)")
    ax.set_title(
        f"test split, {len(true):,} frames: MSE {metrics['test_mse']:.4f}, "
        f"mean baseline {metrics['baseline_mse']:.4f}",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8)
    return fig


def histogram_figure(train_true, test_true, test_pred):
    """Distributions of steering angles: training against test labels, and
    the model's predictions against the test labels."""
    fig, axes = plots.subplots(1, 2, figsize=(11, 4), sharey=True)
    lim = max(1.0, float(np.abs(test_pred).max()))
    bins = np.linspace(-lim, lim, 41)
    pred = np.clip(test_pred, -lim, lim)
    filled = (  # each panel's title and its filled histogram
        ("angles: training against test", train_true, "training frames (as recorded)", BLUE),
        ("test angles: true against predicted", test_true, "test: true", ORANGE),
    )
    outlined = ((test_true, "test frames", ORANGE), (pred, "test: predicted", BLUE))
    for ax, (title, a, label_a, colour_a), (b, label_b, colour_b) in zip(axes, filled, outlined):
        ax.hist(a, bins=bins, density=True, color=colour_a, alpha=0.45, label=label_a)
        ax.hist(b, bins=bins, density=True, histtype="step", color=colour_b, lw=2, label=label_b)
        ax.set_xlabel("steering angle (-1 full left, +1 full right)")
        ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("density (fraction of frames per unit angle)")
    return fig


def frames_figure(frames, true, pred, columns=4):
    """Test frames with the steering drawn from the bottom centre (+-1 drawn
    at 45 degrees): the driver's angle solid sky blue, the model's dashed
    orange, both outlined in black so that no lane tape hides them."""
    from matplotlib import patheffects
    from matplotlib.lines import Line2D

    rows = -(-len(frames) // columns)
    size = (3 * columns, 2.5 * rows + 0.6)
    fig, axes = plots.subplots(rows, columns, figsize=size, squeeze=False)
    h, w = frames.shape[1:3]
    outline = [patheffects.withStroke(linewidth=6, foreground=BLACK)]
    line = dict(lw=3, solid_capstyle="round", path_effects=outline)
    styles = (("true (the driver)", SKY_BLUE, "-"), ("predicted (the model)", ORANGE, (0, (2, 1))))
    for ax in axes.flat:
        ax.axis("off")
    for ax, frame, t, p in zip(axes.flat, frames, true, pred):
        ax.imshow(frame)
        for angle, (_, colour, style) in zip((t, p), styles):
            a = np.clip(angle, -1.5, 1.5) * np.pi / 4
            x, y = [w / 2, w / 2 + 0.45 * h * np.sin(a)], [h - 1, h - 1 - 0.45 * h * np.cos(a)]
            ax.plot(x, y, color=colour, ls=style, **line)
        ax.set_title(f"true {t:+.2f}   predicted {p:+.2f}", fontsize=9)
    handles = [Line2D([], [], color=c, ls=s, lw=3, path_effects=outline) for _, c, s in styles]
    labels = [label for label, _, _ in styles]
    fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 1))
    fig.suptitle("test frames: steering angle (-1 full left ... +1 full right)", y=1.04)
    return fig

"""The steering pipeline of Chapter_2_2.py and Chapter_2_3.py.

Both scripts build and compile their own network and share every other
step:

    steering.check_network(FILTERS, KERNEL_SIZE, STRIDES, POOL_SIZE, POOLING, DENSE)  # before any work
    data = steering.load_data(cfg)      # frames and angles, split 80/10/10, batched (mirrored)
    model = build_model(...); model.compile(...)                       # in the script
    run = runfolder.start("chapter_2_2", cfg)
    best_path = steering.train(model, data, run, epochs=EPOCHS, patience=PATIENCE)  # fit, best epoch kept
    steering.test_and_drive(run, cfg, data, best_path, model)   # test split, figures, drive, metrics.json
    steering.drive_saved_model(path, "chapter_2_2", cfg, seconds)   # --drive PATH

The pieces are public too: split, batches, evaluate (test split against the
mean, figures), drive (closed loop in the lane simulator), warmup.

Angles are in Donkey Car's units: -1 is full left, +1 full right ("full
lock"), so an MAE of 0.05 is 5 % of full lock.
"""

import time
import zipfile
from pathlib import Path

import numpy as np

from chapter2.data import driving
from chapter2.run import distribute, flags
from chapter2.run.errors import InputError, brief

STAGES = 3  # the listing's Conv2D -> relu -> MaxPooling2D stages

# Okabe-Ito colours (readable with every common colour-vision deficiency)
SKY_BLUE, ORANGE, BLUE, BLACK = "#56B4E9", "#E69F00", "#0072B2", "#000000"


# --- Settings that cannot work, refused before anything is built ------------

def feature_map(filters, kernel_size, strides, pool_size, pooling, frame=driving.FRAME_SHAPE):
    """(rows, columns, channels) that reach Flatten after the stages
    Conv2D(kernel_size, strides, padding "valid") -> relu -> MaxPooling2D(pool_size)
    (when pooling[i]). Raises InputError when a stage shrinks the frame to nothing."""
    rows, cols = frame[:2]
    for i, (f, pool) in enumerate(zip(filters, pooling), start=1):
        if rows < kernel_size or cols < kernel_size:
            raise _shrunk(f"a {rows}x{cols} map reaches Conv2D {i}, smaller than its "
                          f"{kernel_size}x{kernel_size} kernel")
        rows, cols = (rows - kernel_size) // strides + 1, (cols - kernel_size) // strides + 1
        if pool:
            if rows < pool_size or cols < pool_size:
                raise _shrunk(f"a {rows}x{cols} map reaches MaxPooling2D {i}, smaller than its "
                              f"{pool_size}x{pool_size} pool")
            rows, cols = rows // pool_size, cols // pool_size
    return rows, cols, filters[-1]


def _shrunk(where):
    return InputError(f"--kernel-size/--strides/--pool-size/--pooling: these settings shrink the "
                      f"{driving.FRAME_SHAPE[0]}x{driving.FRAME_SHAPE[1]} frame to nothing ({where})")


def check_network(filters, kernel_size, strides, pool_size, pooling, dense):
    """Refuse, with one line, settings that cannot build or cannot fit: not
    one value per stage, a frame shrunk to nothing, or a Dense layer whose
    weights, with their gradients and adam's two moments (4 copies of 4
    bytes each), exceed the available memory. Returns the Flatten size."""
    for flag, values in (("--filters", filters), ("--pooling", pooling)):
        if len(values) != STAGES:
            raise InputError(f"{flag} expects {STAGES} comma-separated values, one per Conv2D stage of the "
                             f"listing, got {len(values)}")
    rows, cols, channels = feature_map(filters, kernel_size, strides, pool_size, pooling)
    flat = rows * cols * channels
    weights = flat * dense + dense
    flags.require_memory(4 * 4 * weights, f"--dense {dense}: the Dense layer's {weights:,} weights ({flat:,} "
                                          f"Flatten values x {dense:,} units), trained with adam,")
    return flat


# --- Data: shuffle and split by index, mirror on the fly ---------------------

def split(n, validation, test, seed):
    """Shuffled (train, validation, test) index arrays: frames and angles stay
    where they are, so shuffling copies no pixels."""
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(n * test)), int(round(n * validation))
    if n - n_test - n_val < 1 or n_val < 1 or n_test < 1:
        raise InputError(f"{n} frames are too few to split {1 - validation - test:.0%}/{validation:.0%}/{test:.0%} "
                         "into train/validation/test")
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


def batches(X, Y, rows, batch_size, *, mirror=False, shuffle=False, seed=0):
    """A tf.data pipeline of (frames, angles) batches of the frames X[rows].

    It gathers each batch from the uint8 frames only when it is needed, so
    memory stays at one copy of the frames plus a few batches. With
    `mirror`, positions len(rows)..2*len(rows)-1 are the same frames flipped
    left-right with their angles negated (the book appends a mirrored copy
    of the whole training set instead); with `shuffle`, the positions are
    reshuffled every epoch. Returns (dataset, samples per epoch)."""
    import tensorflow as tf

    n = len(rows)
    total = 2 * n if mirror else n

    def gather(positions):
        picked = rows[positions % n]
        order = np.argsort(picked)  # reading frames in memory order is faster
        x = X[picked[order]]
        y = Y[picked[order]].astype(np.float32)
        flip = positions[order] >= n
        x[flip] = x[flip, :, ::-1]
        y[flip] = -y[flip]
        return x, y

    def fetch(positions):
        x, y = tf.numpy_function(gather, [positions], (tf.uint8, tf.float32), stateful=False)
        x.set_shape((None,) + tuple(X.shape[1:]))
        y.set_shape((None,))
        return x, y

    ds = tf.data.Dataset.range(total)
    if shuffle:
        ds = ds.shuffle(total, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(fetch).prefetch(2), total


class Data:
    """The frames X, angles Y and where they came from (`info`), the index
    arrays `train`, `validation`, `test`, and the batched pipelines."""

    def __init__(self, X, Y, info, train, validation, test, batch_size, mirror, seed):
        self.X, self.Y, self.info = X, Y, info
        self.train, self.validation, self.test = train, validation, test
        self.train_batches, self.per_epoch = batches(X, Y, train, batch_size, mirror=mirror, shuffle=True, seed=seed)
        self.val_batches, _ = batches(X, Y, validation, batch_size)
        self.batch_size, self.mirror, self.seed = batch_size, bool(mirror), seed

    def record(self):
        """metrics.json's "dataset": the loader's account plus the split."""
        return dict(self.info, train=len(self.train), validation=len(self.validation), test=len(self.test),
                    mirrored=self.mirror, samples_per_epoch=self.per_epoch)


def load_data(cfg, *, log=print):
    """The frames and angles (--data, else the lane simulator) split by
    VALIDATION_SPLIT/TEST_SPLIT and batched by BATCH_SIZE; every check on
    them runs before the caller makes its run folder."""
    X, Y, info = driving.load(cfg.data, offline=cfg.offline, sim_frames=cfg.SIM_FRAMES, sim_seed=cfg.seed)
    train, validation, test = split(len(X), cfg.VALIDATION_SPLIT, cfg.TEST_SPLIT, cfg.seed)
    data = Data(X, Y, info, train, validation, test, cfg.BATCH_SIZE, cfg.MIRROR, cfg.seed)
    mirrored = f" (+ mirrored: {data.per_epoch:,} samples per epoch)" if cfg.MIRROR else ""
    log(f"split: {len(train):,} training frames{mirrored}, {len(validation):,} validation, {len(test):,} test "
        f"(of {len(X):,} frames of {'x'.join(map(str, X.shape[1:]))} pixels from {info['source']})")
    return data


# --- Training ---------------------------------------------------------------------

def warmup(learning_rate, steps):
    """A learning rate that rises linearly from 0 to `learning_rate` over the
    first `steps` optimizer steps and then stays there; `learning_rate`
    itself when `steps` is 0.

    It is Keras' own CosineDecay with a warm-up and alpha=1 (a "decay" to
    100 % of the rate, so it never decays): a built-in schedule, so that a
    saved model loads anywhere without this module."""
    import keras

    if steps <= 0:
        return learning_rate
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=1, alpha=1.0, warmup_target=learning_rate,
                                                  warmup_steps=steps)


def train(model, data, run, *, epochs, patience, strategy, h5=False):
    """model.fit on the training batches for `epochs`, validated on the
    validation batches, with the listing's two callbacks: the best epoch by
    val_loss saved as best_model.keras (best_model.h5 with `h5`; the
    listing's .hdf5 is rejected by Keras 3) and EarlyStopping after
    `patience` epochs without a better val_loss. An interrupted run goes on
    from its last finished epoch. Returns the best model's path."""
    best_path = run.file("best_model.h5" if h5 else "best_model.keras")
    initial_epoch = run.resume(model)
    # model.fit(...); under --distribute multiworker a training loop stands in (chapter2/run/distribute.py)
    distribute.fit(strategy, model, data.train_batches, epochs=epochs,
                   validation_data=data.val_batches,
                   shuffle=False,  # the pipeline reshuffles every epoch
                   initial_epoch=initial_epoch, verbose=run.verbose,
              callbacks=run.callbacks(samples_per_epoch=data.per_epoch, best_model=best_path,
                                      monitor="val_loss", patience=patience))
    return best_path


# --- After training: the test split and the drive ------------------------------

def test_and_drive(run, cfg, data, best_path, model, *, strategy, log=print):
    """Score the best epoch's model (saved at `best_path`; `model` itself if
    none was saved) on the test split, drive it for DRIVE_SECONDS, write
    metrics.json (whose writer says, after a --quick run, that it was a smoke run)."""
    import keras

    from chapter2.run import resume

    saved = Path(best_path).exists()
    if saved and resume.best_epoch(best_path) != run.points.weights_epoch:
        best = keras.models.load_model(str(best_path))
    else:  # no file, or the model in memory holds the best epoch's weights already
        best = model
    metrics = evaluate(best, data.X, data.Y, data.train, data.test, run, batch_size=data.batch_size,
                       seed=data.seed, log=log)
    drive_metrics, references = drive(best, run, cfg.DRIVE_SECONDS, log=log)
    metrics.update(drive_metrics)
    run.finish(dataset=data.record(), metrics=metrics, source=data.info["source"],
               best_model=Path(best_path).name if saved else None, drive_references=references,
               distribute=distribute.describe(strategy))
    return metrics


def steering_function(model):
    """uint8 frames (B, 120, 160, 3) -> B angles, without Keras' predict overhead."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def infer(frames):
        return model(frames, training=False)

    return lambda frames: infer(tf.convert_to_tensor(np.asarray(frames))).numpy().reshape(-1)


def evaluate(model, X, Y, train_rows, test_rows, run, *, batch_size=64, seed=0, log=print):
    """Score `model` on the test frames against a baseline that always
    predicts the training mean; print it with units, save predictions.png,
    angles.png and test_frames.png; return the metrics."""
    test_rows = np.sort(test_rows)
    log(f"testing on {len(test_rows):,} held-out frames ...")
    started = time.perf_counter()
    y_test = Y[test_rows]
    pred = model.predict(batches(X, Y, test_rows, batch_size)[0], verbose=0).reshape(-1)
    mean = float(Y[train_rows].mean())
    metrics = {"test_mse": float(np.mean((pred - y_test) ** 2)),
               "test_mae": float(np.mean(np.abs(pred - y_test))),
               "baseline_mse": float(np.mean((mean - y_test) ** 2)),
               "baseline_mae": float(np.mean(np.abs(mean - y_test))),
               "baseline_value": mean, "parameters": int(model.count_params())}
    log(f"test: MSE {metrics['test_mse']:.4f}, MAE {metrics['test_mae']:.4f} "
        f"({100 * metrics['test_mae']:.1f} % of full lock); always predicting the training mean "
        f"{mean:+.3f}: MSE {metrics['baseline_mse']:.4f}, MAE {metrics['baseline_mae']:.4f} "
        f"({100 * metrics['baseline_mae']:.1f} %)  [angles -1 full left .. +1 full right; "
        f"{time.perf_counter() - started:.1f} s]")
    run.save_figure(scatter_figure(y_test, pred, mean, metrics), "predictions.png")
    run.save_figure(histogram_figure(Y[train_rows], y_test, pred), "angles.png")
    shown = np.random.default_rng(seed).choice(len(test_rows), size=min(12, len(test_rows)), replace=False)
    run.save_figure(frames_figure(X[test_rows[shown]], y_test[shown], pred[shown]), "test_frames.png")
    return metrics


def scatter_figure(true, pred, mean, metrics):
    """Predicted against true angle on the test split."""
    from chapter2.run import plots

    fig, ax = plots.subplots(figsize=(5.5, 5.2))
    lim = max(1.0, float(np.abs(true).max()), float(np.abs(pred).max()))
    ax.plot([-lim, lim], [-lim, lim], color=BLACK, ls="--", lw=1, label="perfect")
    ax.axhline(mean, color=ORANGE, lw=1.5, label=f"always the training mean ({mean:+.2f})")
    ax.scatter(true, pred, s=8, alpha=0.5, color=BLUE, edgecolors="none", label="test frames")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("true steering angle (-1 full left, +1 full right)")
    ax.set_ylabel("predicted steering angle")
    ax.set_title(f"test split, {len(true):,} frames: MSE {metrics['test_mse']:.4f}, "
                 f"mean baseline {metrics['baseline_mse']:.4f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def histogram_figure(train_true, test_true, test_pred):
    """Distributions of steering angles: training against test labels, and
    the model's predictions against the test labels."""
    from chapter2.run import plots

    fig, axes = plots.subplots(1, 2, figsize=(11, 4), sharey=True)
    lim = max(1.0, float(np.abs(test_pred).max()))
    bins = np.linspace(-lim, lim, 41)
    pairs = ((axes[0], (train_true, "training frames (as recorded)", BLUE), (test_true, "test frames", ORANGE)),
             (axes[1], (test_true, "test: true", ORANGE), (np.clip(test_pred, -lim, lim), "test: predicted", BLUE)))
    for ax, (a, label_a, colour_a), (b, label_b, colour_b) in pairs:
        ax.hist(a, bins=bins, density=True, color=colour_a, alpha=0.45, label=label_a)
        ax.hist(b, bins=bins, density=True, histtype="step", color=colour_b, lw=2, label=label_b)
        ax.set_xlabel("steering angle (-1 full left, +1 full right)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("density (fraction of frames per unit angle)")
    axes[0].set_title("angles: training against test", fontsize=10)
    axes[1].set_title("test angles: true against predicted", fontsize=10)
    return fig


def frames_figure(frames, true, pred, columns=4):
    """Test frames with the steering drawn from the bottom centre (+-1 drawn
    at 45 degrees): the driver's angle solid sky blue, the model's dashed
    orange, both outlined in black so that no lane tape hides them."""
    from matplotlib import patheffects
    from matplotlib.lines import Line2D

    from chapter2.run import plots

    rows = -(-len(frames) // columns)
    fig, axes = plots.subplots(rows, columns, figsize=(3 * columns, 2.5 * rows + 0.6))
    axes = np.asarray(axes).reshape(rows, columns)
    h, w = frames.shape[1:3]
    outline = [patheffects.withStroke(linewidth=6, foreground=BLACK)]
    styles = (("true (the driver)", SKY_BLUE, "-"), ("predicted (the model)", ORANGE, (0, (2, 1))))
    for ax in axes.flat:
        ax.axis("off")
    for ax, frame, t, p in zip(axes.flat, frames, true, pred):
        ax.imshow(frame)
        for angle, (_, colour, style) in zip((t, p), styles):
            a = np.clip(angle, -1.5, 1.5) * np.pi / 4
            ax.plot([w / 2, w / 2 + 0.45 * h * np.sin(a)], [h - 1, h - 1 - 0.45 * h * np.cos(a)], color=colour,
                    ls=style, lw=3, solid_capstyle="round", path_effects=outline)
        ax.set_title(f"true {t:+.2f}   predicted {p:+.2f}", fontsize=9)
    handles = [Line2D([], [], color=c, ls=s, lw=3, path_effects=outline) for _, c, s in styles]
    fig.legend(handles, [label for label, _, _ in styles], loc="upper center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.suptitle("test frames: steering angle (-1 full left ... +1 full right)", y=1.04)
    return fig


# --- Does it drive? Closed loop in the lane simulator ------------------------

def drive(model, run, seconds, *, log=print):
    """Drive `model` round the simulator's evaluation track for `seconds`
    simulated seconds, beside the references (no steering, the ground-truth
    controller); write drive.gif. Returns (metrics, references); no drive
    and ({}, None) when `seconds` is 0."""
    from chapter2.standins import lanesim

    if seconds <= 0:
        return {}, None
    log(f"driving the model round the simulator's evaluation track for {seconds:g} simulated s ...")
    started = time.perf_counter()
    result = lanesim.drive(steering_function(model), seconds=seconds, record=True)
    frames = result.pop("frames", None)
    references = lanesim.drive_references(seconds=seconds)
    if frames is not None and len(frames):
        lanesim.save_gif(frames, run.file("drive.gif"))
        log(f"wrote {run.file('drive.gif')}")
    took = f"{time.perf_counter() - started:.0f} s"
    metrics = {"drive_scored": bool(result.get("scored", True)), "interventions": result["interventions"],
               "mean_abs_offset": result["mean_abs_offset"], "distance": result["distance"],
               "sim_seconds": result["sim_seconds"]}
    n = result["interventions"]
    path = (f"{n} intervention{'' if n == 1 else 's'} in {result['sim_seconds']:.0f} simulated s "
            f"({result['distance']:.0f} m), mean distance from the lane centre {100 * result['mean_abs_offset']:.1f} cm")
    if metrics["drive_scored"]:
        metrics["autonomy"] = result["autonomy"]
        log(f"drive: autonomy {result['autonomy']:.1f} % with {path}; references on the same course: "
            f"no steering {references['no_steering']['autonomy']:.1f} %, ground truth "
            f"{references['ground_truth']['autonomy']:.1f} % [{took}]")
    else:
        log(f"drive not scored ({seconds:g} simulated s is too short for autonomy to mean anything): {path} [{took}]")
    return metrics, references


def check_driveable(model, path):
    """Refuse a model that does not map one 120x160x3 frame to one angle."""
    name = f"--drive {path}"
    inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1:
        raise InputError(f"{name}: the model has {len(inputs)} inputs; a steering model takes exactly one, "
                         f"a {'x'.join(map(str, driving.FRAME_SHAPE))} camera frame")
    shape = tuple(inputs[0].shape[1:])
    if shape != driving.FRAME_SHAPE:
        raise InputError(f"{name}: the model takes input of shape {shape}, expected {driving.FRAME_SHAPE} frames")
    shapes = [tuple(o.shape[1:]) for o in outputs]
    if len(outputs) != 1 or shapes[0] not in ((), (1,)):
        raise InputError(f"{name}: the model gives {len(outputs)} output(s) of shape(s) "
                         f"{', '.join(map(str, shapes)) or 'none'}; a steering model gives one angle per frame, "
                         "shape (1,)")


def load_for_driving(path):
    """The Keras model saved at `path`, checked to be a steering model."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--drive {path}: no such model file")
    try:
        model = keras.models.load_model(str(path))
    except Exception as err:  # Keras raises many kinds for a file it cannot read
        raise InputError(f"--drive {path}: not a loadable Keras model ({_unreadable(path, err)})") from None
    check_driveable(model, path)
    return model


def _unreadable(path, err):
    """Why Keras could not load the file at `path` (it says "File not found"
    for a damaged .keras archive, which would mislead)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        return "damaged or not a .keras file: a .keras file is a zip archive, and this is not one"
    if path.suffix == ".h5" and head != b"\x89HDF\r\n\x1a\n":
        return "damaged or not an .h5 file: it lacks the HDF5 signature"
    return f"{type(err).__name__}: {brief(err, 150)}"


def drive_saved_model(path, script, cfg, seconds, *, log=print):
    """--drive PATH: load a saved model, check it, and drive it; no data, no training."""
    from chapter2.run import runfolder

    if seconds <= 0:
        raise InputError(f"--drive-seconds {seconds:g}: --drive needs a drive of more than 0 simulated seconds")
    model = load_for_driving(path)
    run = runfolder.start(script, cfg)
    metrics, references = drive(model, run, seconds, log=log)
    run.finish(dataset={"source": "none (driving a saved model)", "model": str(path)}, metrics=metrics,
               history=[], timing={}, drive_references=references, model=str(path))
    return 0

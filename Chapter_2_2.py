"""A CNN that steers a car: camera frame in, steering angle out.

Chapter 2, "Building a CNN for self-driving": the chapter's small
PilotNet-style network, three Conv2D + ReLU + MaxPooling2D stages, a
Dense(256) layer and one linear output, learns the steering angle a Donkey
Car driver chose for each 120x160 camera frame (-1 full left ... +1 full
right). Training frames are also shown mirrored left-right with the angle
negated, which doubles the data and balances left and right turns.

Run it:

    python Chapter_2_2.py                   # the chapter's run (4 epochs)
    python Chapter_2_2.py --quick           # a smoke run in well under a minute
    python Chapter_2_2.py --offline         # skip the download, use the lane simulator
    python Chapter_2_2.py --data tub_folder # your own Donkey Car tub, .npz or (X, Y) pickle
    python Chapter_2_2.py --drive runs/chapter_2_2/<stamp>/best_model.keras
                                            # drive a saved model, no training
    python Chapter_2_2.py --help            # every constant below is also a flag

Exercises: 3. change the filter counts (--filters 16,32,64); 4. a stride of
2 in the convolutions (--strides 2); 5. change the pool size (--pool-size 3);
7. change the dropout rate (--dropout 0.5). Chapter_2_3.py is this script
with fewer pooling layers (exercise 6).

Data: the chapter's indoor_lanes.pkl (downloaded once into the Keras cache),
or --data PATH, or, with no network (or --offline), frames rendered by the
project's lane simulator, announced as such in the console and metrics.json.

Does it steer? The test split (which the printed listing leaves empty) is
scored against a baseline that always predicts the training mean. Does it
drive? The trained model then steers a simulated car round a track it never
saw; leaving the lane counts an intervention (the car is put back on the
centre line) and costs 6 s of autonomy, as in NVIDIA's PilotNet evaluation.

Writes runs/chapter_2_2/<timestamp>/: TensorBoard logs, best_model.keras
(best epoch by val_loss), predictions.png (predicted vs true angles),
test_frames.png (frames with true and predicted steering), drive.gif (the
closed-loop drive: camera view and map) and metrics.json.
"""

import re
import sys
import time

from chapter2.run import device

device.prepare()  # TensorFlow's oneDNN CPU kernels: chosen before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from chapter2.run import distribute, flags, plots, runfolder  # noqa: E402
from chapter2.data import driving  # noqa: E402
from chapter2.run.errors import InputError  # noqa: E402

# --- Constants: the chapter's settings, and the knobs for its exercises -----
FILTERS = (8, 16, 32)         # Conv2D filters, one per convolution (exercise 3)
KERNEL_SIZE = 3               # every Conv2D is KERNEL_SIZE x KERNEL_SIZE
STRIDES = 1                   # Conv2D stride (exercise 4: try 2)
POOL_SIZE = 2                 # MaxPooling2D is POOL_SIZE x POOL_SIZE (exercise 5)
POOLING = (True, True, True)  # which convolutions a MaxPooling2D follows (exercise 6)
DENSE = 256                   # units of the hidden Dense layer
DROPOUT = 0.2                 # dropout before the output (exercise 7)
EPOCHS = 4
BATCH_SIZE = 64
PATIENCE = 5                  # EarlyStopping: epochs without a better val_loss
VALIDATION_SPLIT = 0.1        # the book: 0.2 and no test split; we keep a real one
TEST_SPLIT = 0.1
MIRROR = True                 # also train on every frame mirrored, angle negated
SIM_FRAMES = 8000             # simulator frames when the real data is unavailable
DRIVE_SECONDS = 60.0          # simulated seconds of the closed-loop drive (0: no drive)
JIT_COMPILE = False           # XLA-compile the training step: slower for this network on a CPU

QUICK = {"EPOCHS": 1, "SIM_FRAMES": 600, "DRIVE_SECONDS": 4.0}  # --quick's overrides
BOUNDS = {"EPOCHS": (1, None), "BATCH_SIZE": (1, None), "PATIENCE": (0, None),
          "FILTERS": (1, None), "KERNEL_SIZE": (1, 15), "STRIDES": (1, 10), "POOL_SIZE": (1, 10),
          "DENSE": (1, None), "DROPOUT": (0, 0.99), "VALIDATION_SPLIT": (0.01, 0.5),
          "TEST_SPLIT": (0.01, 0.5), "SIM_FRAMES": (20, 200_000), "DRIVE_SECONDS": (0, 3600)}


def build_model(filters=FILTERS, kernel_size=KERNEL_SIZE, strides=STRIDES, pool_size=POOL_SIZE,
                pooling=POOLING, dense=DENSE, dropout=DROPOUT):
    """The chapter's network; with the defaults exactly the printed listing."""
    img_in = keras.Input(shape=driving.FRAME_SHAPE, name="img_in")
    # The listing feeds raw 0-255 pixels; scaling inside the model lets the
    # saved model take camera frames as they come.
    x = layers.Rescaling(1.0 / 255)(img_in)
    for f, pool in zip(filters, pooling):
        # The listing writes Convolution2D(8, 3, 3): Keras 1's (filters, rows,
        # cols). In Keras 3 the third argument is the *stride*, so that line
        # silently builds a stride-3 network; the kernel is a tuple now.
        x = layers.Conv2D(f, (kernel_size, kernel_size), strides=strides)(x)
        x = layers.Activation("relu")(x)
        if pool:
            x = layers.MaxPooling2D(pool_size=(pool_size, pool_size))(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense)(x)
    x = layers.Activation("linear")(x)
    x = layers.Dropout(dropout)(x)
    angle_out = layers.Dense(1, name="angle_out")(x)
    # Model(input=..., output=...) as printed is rejected: inputs/outputs now.
    return keras.Model(inputs=img_in, outputs=angle_out, name="steering")


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


# --- Evaluation ----------------------------------------------------------------

def steering_function(model):
    """uint8 frames (B, 120, 160, 3) -> B angles, without Keras' predict overhead."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def infer(frames):
        return model(frames, training=False)

    return lambda frames: infer(tf.convert_to_tensor(np.asarray(frames))).numpy().reshape(-1)


def scatter_figure(true, pred, title):
    fig, ax = plots.subplots(figsize=(5.5, 5))
    ax.scatter(true, pred, s=6, alpha=0.4)
    lim = max(1.0, float(np.abs(true).max()), float(np.abs(pred).max()))
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="perfect")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("true steering angle")
    ax.set_ylabel("predicted steering angle")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return fig


def frames_figure(frames, true, pred, columns=4):
    """Test frames with the steering drawn from the bottom centre: green the
    driver's angle, red the model's (+-1 is drawn as 45 degrees)."""
    rows = -(-len(frames) // columns)
    fig, axes = plots.subplots(rows, columns, figsize=(3 * columns, 2.5 * rows))
    axes = np.asarray(axes).reshape(rows, columns)
    h, w = frames.shape[1:3]
    for ax in axes.flat:
        ax.axis("off")
    for ax, frame, t, p in zip(axes.flat, frames, true, pred):
        ax.imshow(frame)
        for angle, colour in ((t, "lime"), (p, "red")):
            a = np.clip(angle, -1.5, 1.5) * np.pi / 4
            ax.plot([w / 2, w / 2 + 0.4 * h * np.sin(a)], [h - 1, h - 1 - 0.4 * h * np.cos(a)], color=colour, lw=2.5)
        ax.set_title(f"true {t:+.2f}  pred {p:+.2f}", fontsize=9)
    fig.suptitle("test frames: true steering (green), predicted (red)")
    return fig


def drive(model_or_predict, run, seconds, *, log=print):
    """Closed-loop drive in the lane simulator; its metrics, the references
    (no steering, the ground-truth controller), and drive.gif in the run folder."""
    from chapter2.standins import lanesim

    predict = model_or_predict if callable(model_or_predict) and not isinstance(model_or_predict, keras.Model) \
        else steering_function(model_or_predict)
    started = time.perf_counter()
    result = lanesim.drive(predict, seconds=seconds, record=True)
    frames = result.pop("frames", None)
    references = lanesim.drive_references(seconds=seconds)
    if frames is not None and len(frames):
        lanesim.save_gif(frames, run.file("drive.gif"))
        log(f"wrote {run.file('drive.gif')}")
    log(f"drive: autonomy {result['autonomy']:.1f}% with {result['interventions']} interventions in "
        f"{result['sim_seconds']:.0f} simulated s, mean |offset| {result['mean_abs_offset']:.3f}; "
        f"references: no steering {references['no_steering']['autonomy']:.1f}%, "
        f"ground truth {references['ground_truth']['autonomy']:.1f}% "
        f"({time.perf_counter() - started:.0f} s)")
    return result, references


def _drive_metrics(result):
    return {"autonomy": result["autonomy"], "interventions": result["interventions"],
            "mean_abs_offset": result["mean_abs_offset"], "distance": result["distance"],
            "sim_seconds": result["sim_seconds"]}


def add_flags(parser):
    parser.add_argument("--offline", action="store_true",
                        help="skip the download of indoor_lanes.pkl and use the lane simulator")
    parser.add_argument("--drive", type=str, default=None, metavar="MODEL_PATH",
                        help="drive a saved model (.keras or .h5) in the simulator, without training")
    parser.add_argument("--h5", action="store_true",
                        help="keep the best model as legacy best_model.h5 instead of .keras "
                             "(the book's .hdf5 name is rejected by Keras 3)")
    distribute.add_flags(parser)


def main(argv=None, namespace=None, script="chapter_2_2", quick=None):
    """Train, test and drive. Chapter_2_3 calls this with its own constants."""
    namespace = globals() if namespace is None else namespace
    cfg = flags.parse_args(
        namespace, argv,
        data="frames and steering angles: a pickle of (X, Y), an .npz with X and Y, "
             "or a Donkey Car tub folder (v1 or v2)",
        quick=QUICK if quick is None else quick, bounds=BOUNDS, extra=add_flags)
    if len(cfg.FILTERS) != len(cfg.POOLING):
        raise InputError(f"--filters has {len(cfg.FILTERS)} values but --pooling has {len(cfg.POOLING)}; "
                         "give one pooling flag per convolution")
    if cfg.drive is not None:
        return drive_saved_model(cfg, script)
    strategy = distribute.strategy(cfg)
    keras.utils.set_random_seed(cfg.seed)  # the same --seed builds the same initial weights
    try:  # built before any data is loaded, so impossible constants fail at once
        with strategy.scope():
            model = build_model(cfg.FILTERS, cfg.KERNEL_SIZE, cfg.STRIDES, cfg.POOL_SIZE, cfg.POOLING,
                                cfg.DENSE, cfg.DROPOUT)
    except ValueError as err:
        reason = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(err)).split())[:120]  # without terminal colours
        raise InputError("--filters/--kernel-size/--strides/--pool-size/--pooling: these settings shrink a "
                         f"120x160 frame to nothing ({reason})") from None

    # --- Data: uint8 frames (N, 120, 160, 3) and angles (N,), checked before
    # the run folder exists, so bad input leaves nothing behind.
    X, Y, info = driving.load(cfg.data, offline=cfg.offline, sim_frames=cfg.SIM_FRAMES, sim_seed=cfg.seed)
    train, val, test = split(len(X), cfg.VALIDATION_SPLIT, cfg.TEST_SPLIT, cfg.seed)
    cfg.run_dir = distribute.worker_run_dir() or cfg.run_dir  # only the chief writes under runs/
    run = runfolder.start(script, cfg)
    train_batches, per_epoch = batches(X, Y, train, cfg.BATCH_SIZE, mirror=cfg.MIRROR, shuffle=True, seed=cfg.seed)
    val_batches, _ = batches(X, Y, np.sort(val), cfg.BATCH_SIZE)
    print(f"data: {info['source']} {X.shape}; train {len(train)} frames"
          f"{' (+ mirrored: ' + str(per_epoch) + ' per epoch)' if cfg.MIRROR else ''}, "
          f"validation {len(val)}, test {len(test)}")

    # --- Model: adam, mean squared error, the best epoch kept by val_loss
    with strategy.scope():
        model.compile(optimizer="adam", loss="mean_squared_error", metrics=["mean_absolute_error"],
                      jit_compile=cfg.JIT_COMPILE)
    model.summary()
    best_path = run.file("best_model.h5" if cfg.h5 else "best_model.keras")
    callbacks = run.callbacks(samples_per_epoch=per_epoch) + [
        runfolder.AtomicModelCheckpoint(str(best_path), monitor="val_loss", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.PATIENCE),
    ]
    distribute.fit(strategy, model, train_batches, epochs=cfg.EPOCHS, validation_data=val_batches,
                   shuffle=False, callbacks=callbacks, verbose=2)  # the pipeline shuffles

    # --- Does it steer? The best model on the test split, against the mean.
    best = keras.models.load_model(str(best_path)) if best_path.exists() else model
    test = np.sort(test)
    y_test = Y[test]
    pred = best.predict(batches(X, Y, test, cfg.BATCH_SIZE)[0], verbose=0).reshape(-1)
    mean = float(Y[train].mean())
    metrics = {"test_mse": float(np.mean((pred - y_test) ** 2)),
               "test_mae": float(np.mean(np.abs(pred - y_test))),
               "baseline_mse": float(np.mean((mean - y_test) ** 2)),
               "baseline_mae": float(np.mean(np.abs(mean - y_test))),
               "baseline_value": mean, "parameters": int(best.count_params())}
    print(f"test: MSE {metrics['test_mse']:.4f}, MAE {metrics['test_mae']:.4f}; always predicting the "
          f"training mean {mean:+.3f}: MSE {metrics['baseline_mse']:.4f}, MAE {metrics['baseline_mae']:.4f}")
    run.save_figure(scatter_figure(y_test, pred, f"test split ({len(test)} frames): "
                                                 f"MSE {metrics['test_mse']:.4f} vs mean {metrics['baseline_mse']:.4f}"),
                    "predictions.png")
    shown = np.random.default_rng(cfg.seed).choice(len(test), size=min(12, len(test)), replace=False)
    run.save_figure(frames_figure(X[test[shown]], y_test[shown], pred[shown]), "test_frames.png")

    # --- Does it drive? Closed loop, on a track it never saw.
    references = None
    if cfg.DRIVE_SECONDS > 0:
        result, references = drive(best, run, cfg.DRIVE_SECONDS)
        metrics.update(_drive_metrics(result))

    dataset = dict(info, train=len(train), validation=len(val), test=len(test),
                   mirrored=bool(cfg.MIRROR), samples_per_epoch=per_epoch)
    run.finish(dataset=dataset, metrics=metrics, source=info["source"], best_model=best_path.name,
               drive_references=references, distribute=distribute.describe(strategy))
    return 0


def drive_saved_model(cfg, script):
    """--drive MODEL_PATH: load a saved model and drive it; no data, no training."""
    from pathlib import Path

    path = Path(cfg.drive)
    if not path.is_file():
        raise InputError(f"--drive {path}: no such model file")
    try:
        model = keras.models.load_model(str(path))
    except Exception as err:  # Keras raises many kinds for a file it cannot read
        raise InputError(f"--drive {path}: not a loadable Keras model ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:150]})") from None
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if shape != driving.FRAME_SHAPE:
        raise InputError(f"--drive {path}: the model takes input of shape {shape}, expected {driving.FRAME_SHAPE} frames")
    seconds = cfg.DRIVE_SECONDS if cfg.DRIVE_SECONDS > 0 else DRIVE_SECONDS
    run = runfolder.start(script, cfg)
    result, references = drive(model, run, seconds)
    run.finish(dataset={"source": "none (driving a saved model)", "model": str(path)},
               metrics=_drive_metrics(result), history=[], timing={}, drive_references=references,
               model=str(path))
    return 0


if __name__ == "__main__":
    sys.exit(flags.run(main))

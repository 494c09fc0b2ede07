"""A CNN that steers a car: camera frame in, steering angle out.

Chapter 2, "Building a CNN for self-driving": the chapter's small
PilotNet-style network, three Conv2D -> relu -> MaxPooling2D stages, a
Dense(256) layer and one linear output, learns the steering angle a driver
chose for each 120x160 camera frame (-1 full left ... +1 full right).
Training frames are also shown mirrored left-right with the angle negated.

Run it:

    python Chapter_2_2.py                   # the chapter's run (4 epochs)
    python Chapter_2_2.py --quick           # a smoke run in well under a minute
    python Chapter_2_2.py --lab             # the exercises' lab size: 2,000 frames, a 30 s drive
    python Chapter_2_2.py --data PATH       # your recordings (see --help for the formats)
    python Chapter_2_2.py --drive runs/chapter_2_2/<stamp>/best_model.keras
    python Chapter_2_2.py --help            # every constant below is also a flag

Exercises: 3. change the filter counts (--filters 16,32,64); 4. a stride of
2 in the convolutions (--strides 2); 5. change the pool size (--pool-size 3);
7. change the dropout rate (--dropout 0.5). Chapter_2_3.py keeps only the
first pooling layer (exercise 6).

Data: the chapter's indoor_lanes.pkl is no longer published; --data PATH
reads your own recordings, and without it the project's lane simulator
renders a stand-in, announced as such in the console and metrics.json.

Does it steer? The test split (which the printed listing leaves empty) is
scored against always predicting the training mean. Does it drive? The
model then steers a simulated car round a course it never saw; leaving the
lane is an intervention that costs 6 s of autonomy, as in NVIDIA's PilotNet.

Writes runs/chapter_2_2/<timestamp>/: TensorBoard logs, best_model.keras,
predictions.png (predicted against true angles), angles.png (histograms),
test_frames.png, drive.gif and metrics.json.
"""

import sys

from chapter2.run import startup

# Answers --help at once and keeps TensorFlow's start-up chatter quiet: before TensorFlow loads.
startup.begin(__name__, __file__)

import keras
import numpy as np
from keras import layers

from chapter2.data import driving
from chapter2.run import distribute, flags, resume, runfolder, tblog
from chapter2.run.errors import InputError
from chapter2.steering import checks, drive, evaluation, pipeline

# --- The chapter's settings and the exercise knobs ---
FILTERS = (8, 16, 32)  # Conv2D filters of the three stages (exercise 3)
KERNEL_SIZE = 3  # every Conv2D is KERNEL_SIZE x KERNEL_SIZE
STRIDES = 1  # Conv2D stride (exercise 4: try 2)
POOL_SIZE = 2  # every MaxPooling2D is POOL_SIZE x POOL_SIZE (exercise 5)
POOLING = (True, True, True)  # which stages end in a MaxPooling2D (Chapter_2_3.py: exercise 6)
DENSE = 256  # units of the hidden Dense layer
DROPOUT = 0.2  # dropout before the output (exercise 7)
EPOCHS = 4  # passes over the training frames
BATCH_SIZE = 64  # frames per optimizer step
PATIENCE = 5  # EarlyStopping: epochs without a better val_loss
# --- Data ---
VALIDATION_SPLIT = 0.1  # the listing: 0.2 and an empty test split; we keep a real one
TEST_SPLIT = 0.1  # frames held out for the test after training
MIRROR = True  # also train on every frame mirrored, angle negated
SIM_FRAMES = 8000  # frames the lane simulator renders when no --data is given
# --- Run ---
DRIVE_SECONDS = 60.0  # simulated seconds of the closed-loop drive (0: no drive)
JIT_COMPILE = False  # XLA-compile the training step (slower for this network on a CPU)

QUICK = {"EPOCHS": 2, "SIM_FRAMES": 600, "DRIVE_SECONDS": 4.0}
LAB = {"SIM_FRAMES": 2000, "DRIVE_SECONDS": 30.0}
BOUNDS = {
    "EPOCHS": (1, None),
    "BATCH_SIZE": (1, None),
    "PATIENCE": (0, None),
    "FILTERS": (1, None),
    "KERNEL_SIZE": (1, 15),
    "STRIDES": (1, 10),
    "POOL_SIZE": (1, 10),
    "DENSE": (1, None),
    "DROPOUT": (0, 0.99),
    "VALIDATION_SPLIT": (0.01, 0.5),
    "TEST_SPLIT": (0.01, 0.5),
    "SIM_FRAMES": (20, 200_000),
    "DRIVE_SECONDS": (0, 3600),
}


def build_model(
    filters=FILTERS,
    kernel_size=KERNEL_SIZE,
    strides=STRIDES,
    pool_size=POOL_SIZE,
    pooling=POOLING,
    dense=DENSE,
    dropout=DROPOUT,
):
    """The chapter's network; with the defaults exactly the printed listing."""
    kernel, pool = (kernel_size, kernel_size), (pool_size, pool_size)
    img_in = keras.Input(shape=(120, 160, 3), name="img_in")
    # The listing feeds raw 0-255 pixels; scaling inside the model keeps the
    # first steps stable and lets the saved model take frames as they come.
    x = layers.Rescaling(1.0 / 255)(img_in)
    # The listing writes Convolution2D(8, 3, 3): Keras 1's (filters, rows, cols).
    # In Keras 3 the third argument is the stride, so that line would silently
    # build a stride-3 network: the kernel is a tuple now, the stride a keyword.
    x = layers.Conv2D(filters[0], kernel, strides=strides)(x)
    x = layers.Activation("relu")(x)
    if pooling[0]:
        x = layers.MaxPooling2D(pool_size=pool)(x)
    x = layers.Conv2D(filters[1], kernel, strides=strides)(x)
    x = layers.Activation("relu")(x)
    if pooling[1]:
        x = layers.MaxPooling2D(pool_size=pool)(x)
    x = layers.Conv2D(filters[2], kernel, strides=strides)(x)
    x = layers.Activation("relu")(x)
    if pooling[2]:
        x = layers.MaxPooling2D(pool_size=pool)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense)(x)
    x = layers.Activation("linear")(x)
    x = layers.Dropout(dropout)(x)
    angle_out = layers.Dense(1, name="angle_out")(x)
    # The listing's Model(input=..., output=...) is rejected: inputs/outputs now.
    return keras.Model(inputs=img_in, outputs=angle_out, name="pilotnet")


def main(argv=None):
    cfg = flags.parse(
        globals(),
        argv,
        quick=QUICK,
        lab=LAB,
        bounds=BOUNDS,
        data="your recordings: a Donkey Car tub, a Udacity simulator recording, a Sully Chen folder, "
        "an .npz of X and Y, or an (X, Y) pickle",
        options={
            "drive": "drive a saved model (.keras or .h5) in the simulator, without training",
            "distribute": "several devices or machines",
            "h5": "keep the best model as legacy best_model.h5 (the listing's .hdf5 is "
            "rejected by Keras 3)",
        },
    )
    # one device unless --distribute says otherwise (first: it sets up devices)
    strategy = distribute.strategy(cfg)
    checks.check_network(
        cfg.FILTERS, cfg.KERNEL_SIZE, cfg.STRIDES, cfg.POOL_SIZE, cfg.POOLING, cfg.DENSE
    )
    if cfg.drive is not None:
        return drive.saved_model(cfg.drive, "chapter_2_2", cfg, cfg.DRIVE_SECONDS)

    # --- Data: camera frames X (N, 120, 160, 3) as uint8 and steering angles Y (N,),
    # -1 full left ... +1 full right; --data, a kept indoor_lanes.pkl, or the lane simulator.
    X, Y, source = driving.load(cfg.data, sim_frames=cfg.SIM_FRAMES, sim_seed=cfg.seed)
    # The listing shuffles X and Y together, then keeps 80 % to train and 20 % to validate (its test
    # split comes out empty). Here the shuffle is an order of indices (no pixels copied) and the test
    # split is real.
    order = np.random.default_rng(cfg.seed).permutation(len(X))
    n_test, n_val = round(len(X) * cfg.TEST_SPLIT), round(len(X) * cfg.VALIDATION_SPLIT)
    test, validation, train = (
        order[:n_test],
        order[n_test : n_test + n_val],
        order[n_test + n_val :],
    )
    if min(len(train), n_val, n_test) < 1:
        raise InputError(f"{len(X)} frames are too few to split into train/validation/test")
    # The listing appends every training frame mirrored left-right with its angle negated; the
    # pipeline mirrors each batch as it is gathered instead, so memory holds one copy of the frames.
    train_batches, samples_per_epoch = pipeline.batches(
        X,
        Y,
        train,
        cfg.BATCH_SIZE,
        mirror=cfg.MIRROR,
        shuffle=True,
        seed=cfg.seed,
        replicas=strategy.num_replicas_in_sync,
    )
    val_batches, _ = pipeline.batches(
        X, Y, validation, cfg.BATCH_SIZE, replicas=strategy.num_replicas_in_sync
    )
    print(
        f"split: {len(train):,} training frames ({samples_per_epoch:,} samples per epoch"
        f"{' with the mirrored ones' if cfg.MIRROR else ''}), {n_val:,} validation, {n_test:,} test, "
        f"from {source['source']}"
    )

    # --- Model: adam and mean squared error, as printed
    with strategy.scope():
        model = build_model(
            cfg.FILTERS,
            cfg.KERNEL_SIZE,
            cfg.STRIDES,
            cfg.POOL_SIZE,
            cfg.POOLING,
            cfg.DENSE,
            cfg.DROPOUT,
        )
        model.compile(
            optimizer="adam",
            loss="mean_squared_error",
            metrics=["mean_absolute_error"],
            jit_compile=cfg.JIT_COMPILE,
        )
    run = runfolder.start("chapter_2_2", cfg, data=runfolder.fingerprint(X, Y))
    model.summary()

    # --- Training: the listing's two callbacks, then fit
    # the listing: ~/best_autopilot.hdf5
    best_path = run.file("best_model.h5" if cfg.h5 else "best_model.keras")
    callbacks = [
        # ModelCheckpoint(save_best_only=True), resumable
        resume.BestModel(best_path, monitor="val_loss"),
        resume.EarlyStopping(monitor="val_loss", patience=cfg.PATIENCE),  # Keras' own, resumable
        tblog.TensorBoard(run.logs),  # not in this listing: to compare with Chapter_2_3
    ]
    # an interrupted run goes on after its last finished epoch
    initial_epoch = run.resume(model, callbacks)
    # history.csv, resume points, NaN guard
    callbacks += run.callbacks(samples_per_epoch=samples_per_epoch)
    if distribute.is_multiworker(strategy):
        # Keras' fit fails under MultiWorkerMirroredStrategy (docs/scale.md): a plain training loop stands in.
        distribute.fit(
            strategy,
            model,
            train_batches,
            epochs=cfg.EPOCHS,
            validation_data=val_batches,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
            verbose=run.verbose,
        )
    else:
        # train_batches reshuffles every epoch itself
        model.fit(
            train_batches,
            epochs=cfg.EPOCHS,
            validation_data=val_batches,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
            verbose=run.verbose,
            shuffle=False,
        )

    # --- Does it steer? The best epoch's model on the test frames, against always
    # predicting the training mean. Does it drive? It steers a simulated car round
    # a course no frame shows.
    best = evaluation.best_model(best_path, model, run)
    metrics = evaluation.test_against_mean(
        best, X, Y, train, test, run, batch_size=cfg.BATCH_SIZE, seed=cfg.seed
    )
    drive_metrics, references = drive.closed_loop(best, run, cfg.DRIVE_SECONDS)
    run.finish(
        dataset=dict(
            source,
            train=len(train),
            validation=n_val,
            test=n_test,
            mirrored=cfg.MIRROR,
            samples_per_epoch=samples_per_epoch,
        ),
        metrics=dict(metrics, **drive_metrics),
        source=source["source"],
        best_model=best_path.name if best_path.exists() else None,
        drive_references=references,
        distribute=distribute.describe(strategy),
    )
    return 0


if __name__ == "__main__":
    sys.exit(flags.run(main))

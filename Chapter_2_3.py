"""The steering CNN with fewer pooling layers: what spatial layout is worth.

Chapter 2, "Spatial convolution and pooling": Chapter_2_2's network, data,
training and evaluation with only the first MaxPooling2D kept (the listing
comments the other two out), Dropout 0.5, 10 epochs and an 80/10/10 split.
Without the later pooling the feature maps stay large (55x75x32 before
Flatten instead of 13x18x32), so the Dense layer grows from 1.9 million to
33.8 million weights: training is much slower, and the learner compares
both runs (test error, closed-loop autonomy, time per epoch) to see what
pooling buys and what it throws away.

Run it:

    python Chapter_2_3.py              # the chapter's run (10 epochs)
    python Chapter_2_3.py --quick      # a smoke run in well under a minute
    python Chapter_2_3.py --lab        # the exercises' lab size: 1,500 frames, 4 epochs, a 30 s drive
    python Chapter_2_3.py --help       # every constant below is also a flag
    python Chapter_2_3.py --drive runs/chapter_2_3/<stamp>/best_model.keras

Exercises: 6. remove all pooling (--no-pooling: the Flatten has 114x154x32
values and Dense 144 million weights, about 580 MB; expect it to need more
epochs and far more time); 7. change the dropout rate (--dropout 0.2); the
knobs of Chapter_2_2 (--filters, --strides, --pool-size) work here too.
TensorBoard compares this run with Chapter_2_2's: tensorboard --logdir runs

One change to training: adam's learning rate is 3 % of its default and
rises from 0 over the first WARMUP_STEPS steps. With the listing's plain
adam, the first step moves each of the 33.8 million Dense weights by the
full learning rate at once, and the network's output jumps to tens or
hundreds (docs/differences.md has the figures).

Data and outputs as in Chapter_2_2.py; writes runs/chapter_2_3/<timestamp>/.
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
FILTERS = (8, 16, 32)  # Conv2D filters of the three convolutions (exercise 3 of Chapter_2_2)
KERNEL_SIZE = 3  # every Conv2D is KERNEL_SIZE x KERNEL_SIZE
STRIDES = 1  # Conv2D stride
POOL_SIZE = 2  # the MaxPooling2D is POOL_SIZE x POOL_SIZE
POOLING = True  # keep the one MaxPooling2D after the first Conv2D
# (exercise 6: --no-pooling removes it too)
DENSE = 256  # units of the hidden Dense layer
DROPOUT = 0.5  # dropout before the output: 0.2 in Chapter_2_2 (exercise 7)
EPOCHS = 10  # passes over the training frames: 4 in Chapter_2_2
BATCH_SIZE = 64  # frames per optimizer step
PATIENCE = 5  # EarlyStopping: epochs without a better val_loss
LEARNING_RATE = 0.00003  # adam's learning rate: 3 % of its default, 0.001, which the listing uses
# and with which this network jumps off course (docs/differences.md)
WARMUP_STEPS = 5  # optimizer steps over which the learning rate rises from 0 to LEARNING_RATE
# --- Data ---
VALIDATION_SPLIT = 0.1  # the listing's 80/10/10 split
TEST_SPLIT = 0.1  # frames held out for the test after training
MIRROR = True  # also train on every frame mirrored, angle negated
SIM_FRAMES = 8000  # frames the lane simulator renders when no --data is given
# --- Run ---
DRIVE_SECONDS = 60.0  # simulated seconds of the closed-loop drive (0: no drive)
JIT_COMPILE = False  # XLA-compile the training step: slower than oneDNN's kernels on a CPU

# --quick: a smoke run of under half a minute (fewer frames and a shorter drive than Chapter_2_2's:
# each of its steps takes longer)
QUICK = {"EPOCHS": 2, "SIM_FRAMES": 540, "DRIVE_SECONDS": 2.0}
LAB = {"EPOCHS": 4, "SIM_FRAMES": 1500, "DRIVE_SECONDS": 30.0}
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
    "LEARNING_RATE": (1e-7, 1.0),
    "WARMUP_STEPS": (0, None),
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
    """The section's network: Chapter_2_2's with only the first MaxPooling2D."""
    kernel = (kernel_size, kernel_size)
    img_in = keras.Input(shape=(120, 160, 3), name="img_in")
    x = layers.Rescaling(1.0 / 255)(img_in)  # the listing feeds raw 0-255 pixels
    # Convolution2D(8, 3, 3) in the listing: in Keras 3 the third number
    # would be the stride, so the kernel is a tuple and the stride a keyword.
    x = layers.Conv2D(filters[0], kernel, strides=strides)(x)
    x = layers.Activation("relu")(x)
    if pooling:
        x = layers.MaxPooling2D(pool_size=(pool_size, pool_size))(x)
    x = layers.Conv2D(filters[1], kernel, strides=strides)(x)
    x = layers.Activation("relu")(x)
    # x = MaxPooling2D(pool_size=(2, 2))(x)   commented out in the listing
    x = layers.Conv2D(filters[2], kernel, strides=strides)(x)
    x = layers.Activation("relu")(x)
    # x = MaxPooling2D(pool_size=(2, 2))(x)   commented out in the listing
    x = layers.Flatten()(x)
    x = layers.Dense(dense)(x)
    x = layers.Activation("linear")(x)
    x = layers.Dropout(dropout)(x)
    angle_out = layers.Dense(1, name="angle_out")(x)
    # The listing's Model(input=..., output=...) is rejected: inputs/outputs now.
    return keras.Model(inputs=img_in, outputs=angle_out, name="pilotnet_less_pooling")


def warmup(learning_rate, steps):
    """A learning rate rising from 0 to `learning_rate` over the first `steps`
    optimizer steps, then constant: Keras' own CosineDecay with a warm-up and
    alpha=1 (it "decays" to 100 %), so the saved model loads without this file."""
    if steps <= 0:
        return learning_rate
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=1, alpha=1.0, warmup_target=learning_rate, warmup_steps=steps
    )


def main(argv=None):
    cfg = flags.parse(
        globals(),
        argv,
        quick=QUICK,
        lab=LAB,
        bounds=BOUNDS,
        data="your recordings, as for Chapter_2_2.py",
        options={
            "drive": "drive a saved model (.keras or .h5) in the simulator, without training",
            "distribute": "several devices or machines",
            "h5": "keep the best model as legacy best_model.h5 (not the listing's .hdf5)",
        },
    )
    # one device unless --distribute says otherwise (first: it sets up devices)
    strategy = distribute.strategy(cfg)
    checks.check_network(
        cfg.FILTERS,
        cfg.KERNEL_SIZE,
        cfg.STRIDES,
        cfg.POOL_SIZE,
        (cfg.POOLING, False, False),
        cfg.DENSE,
    )
    if cfg.drive is not None:
        return drive.saved_model(cfg.drive, "chapter_2_3", cfg, cfg.DRIVE_SECONDS)

    # --- Data, as in Chapter_2_2: frames X (N, 120, 160, 3) uint8, angles Y (N,)
    X, Y, source = driving.load(cfg.data, sim_frames=cfg.SIM_FRAMES, sim_seed=cfg.seed)
    # The listing shuffles X and Y together and splits them 80/10/10 into train/validation/test;
    # here the shuffle is an order of indices, so no pixels are copied.
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

    # --- Model: adam (its learning rate warmed up) and mean squared error
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
        adam = keras.optimizers.Adam(learning_rate=warmup(cfg.LEARNING_RATE, cfg.WARMUP_STEPS))
        model.compile(
            optimizer=adam,
            loss="mean_squared_error",
            metrics=["mean_absolute_error"],
            jit_compile=cfg.JIT_COMPILE,
        )
    run = runfolder.start("chapter_2_3", cfg, data=runfolder.fingerprint(X, Y))
    model.summary()  # 33.8 million weights in the Dense layer: Chapter_2_2 has 1.9 million

    # --- Training: the listing's ModelCheckpoint, EarlyStopping and TensorBoard, then fit
    # the listing: ~/best_autopilot.hdf5
    best_path = run.file("best_model.h5" if cfg.h5 else "best_model.keras")
    callbacks = [
        # ModelCheckpoint(save_best_only=True), resumable
        resume.BestModel(best_path, monitor="val_loss"),
        resume.EarlyStopping(monitor="val_loss", patience=cfg.PATIENCE),  # Keras' own, resumable
        tblog.TensorBoard(run.logs),  # into the run folder, not /tmp/selfdriving
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

    # --- Does it steer, does it drive? As in Chapter_2_2: compare the two runs.
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

"""A convolutional autoencoder that learns to redraw MNIST digits.

Chapter 2, "Convolutional neural networks": the encoder squeezes a 28x28
digit through three Conv2D + MaxPooling2D stages into a (4, 4, 8) code of 128
numbers; the decoder mirrors it with UpSampling2D back to 28x28. Trained to
reproduce its own input, the network must learn what strokes digits are made
of. The printed listing trains 50 epochs on MNIST with adadelta.

Run it:

    python Chapter_2_1.py              # the chapter's run (50 epochs)
    python Chapter_2_1.py --quick      # a smoke run: 2 epochs on 2,048 digits
    python Chapter_2_1.py --lab        # the exercises' lab size: 5 epochs on 6,000 digits
    python Chapter_2_1.py --help       # every constant below is also a flag

Exercises: 1. change the filter counts (--filters 32,16,16) or the kernel
size (--kernel-size 5); 2. remove pooling layers with their matching
upsampling (--pooling true,true,false).

Data: MNIST from keras.datasets (downloaded once into ~/.keras/datasets), or
--data PATH (mnist.npz, or a folder of the four IDX files), or, offline or
when the download fails, generated stand-in digits that say so.

Writes runs/chapter_2_1/<date-time>/: TensorBoard logs (loss curves, and
originals beside reconstructions every epoch), model.keras,
reconstructions.png (the chapter's figure) and metrics.json.
"""

import sys

from chapter2.run import startup

# Answers --help at once and keeps TensorFlow's start-up chatter quiet: before TensorFlow loads.
startup.begin(__name__, __file__)

import keras
import numpy as np
from keras import layers

from chapter2.data import mnist
from chapter2.run import distribute, flags, plots, runfolder, tblog
from chapter2.run.errors import InputError

# --- The chapter's settings and the exercise knobs ------------------------------
FILTERS = (16, 8, 8)  # encoder Conv2D filters; the decoder mirrors them (exercise 1)
KERNEL_SIZE = 3  # every Conv2D is KERNEL_SIZE x KERNEL_SIZE (exercise 1)
POOLING = (True, True, True)  # which MaxPooling2D / UpSampling2D pairs exist (exercise 2)
OPTIMIZER = "adadelta"  # the chapter's optimizer (any Keras optimizer name)
LEARNING_RATE = 1.0  # Adadelta's old default; Keras 3's default, 0.001, barely trains
EPOCHS = 50  # passes over the training digits
BATCH_SIZE = 128  # digits per optimizer step
# --- Data ------------------------------------------------------------------------
TRAIN_DIGITS = 60000  # training digits used (MNIST has 60,000)
TEST_DIGITS = 10000  # test digits used for validation (MNIST has 10,000)
SHOW_DIGITS = 10  # digits in the reconstructions figure

QUICK = {"EPOCHS": 2, "TRAIN_DIGITS": 2048, "TEST_DIGITS": 512}
LAB = {"EPOCHS": 5, "TRAIN_DIGITS": 6000, "TEST_DIGITS": 1000}
BOUNDS = {
    "FILTERS": (1, 1024),
    "KERNEL_SIZE": (1, 9),
    "LEARNING_RATE": (0, 100),
    "EPOCHS": (1, 100000),
    "BATCH_SIZE": (1, 60000),
    "TRAIN_DIGITS": (1, None),
    "TEST_DIGITS": (1, None),
    "SHOW_DIGITS": (1, 50),
}
image_size = 28
steps_per_execution = 16  # batches per call into TensorFlow (compile): less Python between steps


def build_model(filters=FILTERS, kernel_size=KERNEL_SIZE, pooling=POOLING):
    """The chapter's autoencoder: with the defaults exactly the listing."""
    k = (kernel_size, kernel_size)
    input_img = keras.Input(shape=(image_size, image_size, 1))

    # Encoder: 28x28x1 -> 28x28x16 -> 14x14 -> 14x14x8 -> 7x7 -> 7x7x8 -> 4x4x8
    x = layers.Conv2D(filters[0], k, activation="relu", padding="same")(input_img)
    if pooling[0]:
        x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(filters[1], k, activation="relu", padding="same")(x)
    if pooling[1]:
        x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(filters[2], k, activation="relu", padding="same")(x)
    if pooling[2]:
        x = layers.MaxPooling2D((2, 2), padding="same")(x)
    encoded = x  # the (4, 4, 8) code: 128 numbers

    # Decoder: 4x4x8 -> 8x8 -> 16x16 -> (valid) 14x14x16 -> 28x28 -> 28x28x1
    x = layers.Conv2D(filters[2], k, activation="relu", padding="same")(encoded)
    if pooling[2]:
        x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(filters[1], k, activation="relu", padding="same")(x)
    if pooling[1]:
        x = layers.UpSampling2D((2, 2))(x)
    # The listing's one padding="valid": pooling 7x7 rounded up to 4x4, so the
    # decoder overshoots to 16x16; "valid" trims it to 14x14. An exercise
    # variant where "valid" would not land on 28x28 keeps "same".
    lands = (x.shape[1] - (kernel_size - 1)) * (2 if pooling[0] else 1) == image_size
    x = layers.Conv2D(filters[0], k, activation="relu", padding="valid" if lands else "same")(x)
    if pooling[0]:
        x = layers.UpSampling2D((2, 2))(x)
    extra = x.shape[1] - image_size  # only a kernel-size variant overshoots here
    if extra > 0:
        x = layers.Cropping2D(((extra // 2, extra - extra // 2),) * 2)(x)
    decoded = layers.Conv2D(1, k, activation="sigmoid", padding="same")(x)

    autoencoder = keras.Model(input_img, decoded, name="autoencoder")
    autoencoder.encoded_shape = tuple(encoded.shape[1:])
    return autoencoder


def make_optimizer(name=OPTIMIZER, learning_rate=LEARNING_RATE):
    # Keras 3 changed Adadelta's default learning rate from 1.0 to 0.001: with
    # `optimizer='adadelta'` as printed, this model barely moves in 50 epochs.
    try:
        return keras.optimizers.get(
            {"class_name": name, "config": {"learning_rate": learning_rate}}
        )
    except ValueError:
        raise InputError(
            f"--optimizer {name!r} is not a Keras optimizer "
            "(for example adadelta, adam, sgd, rmsprop)"
        ) from None


def to_images(x):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], as the listing."""
    return (x.astype("float32") / 255.0)[..., None]


def reconstruction_figure(originals, reconstructions, title):
    n = len(originals)
    fig, axes = plots.subplots(2, n, figsize=(2 * n, 4.4), squeeze=False)
    for i in range(n):
        # The listing calls plt.subplot(2, n, i) with i from 0, which
        # matplotlib rejects (numbers start at 1); the axes grid avoids it.
        for row, images in enumerate((originals, reconstructions)):
            axes[row, i].imshow(
                images[i].reshape(image_size, image_size), cmap="gray", vmin=0, vmax=1
            )
            axes[row, i].axis("off")
    axes[0, 0].set_title("original", loc="left", fontsize=10)
    axes[1, 0].set_title("reconstruction", loc="left", fontsize=10)
    fig.suptitle(title)
    return fig


def main(argv=None):
    cfg = flags.parse(
        globals(),
        argv,
        quick=QUICK,
        lab=LAB,
        bounds=BOUNDS,
        data="a local mnist.npz (Keras' layout) or a folder with the four MNIST IDX files",
        options={
            "offline": "skip the MNIST download and use generated stand-in digits",
            "distribute": "several devices or machines",
        },
    )
    if len(cfg.FILTERS) != 3 or len(cfg.POOLING) != 3:
        raise InputError("--filters and --pooling each take three values, one per encoder Conv2D")
    strategy = distribute.strategy(cfg)  # one device unless --distribute says otherwise
    # Built first, so that a setting Keras rejects fails before any data is loaded.
    with strategy.scope():
        autoencoder = build_model(cfg.FILTERS, cfg.KERNEL_SIZE, cfg.POOLING)
        autoencoder.compile(
            optimizer=make_optimizer(cfg.OPTIMIZER, cfg.LEARNING_RATE),
            loss="binary_crossentropy",
            # Not in the listing: the same steps, fewer trips through Python. One replica only:
            # with several, Keras' multi-step loop fails ("You must feed a value for placeholder").
            steps_per_execution=steps_per_execution if strategy.num_replicas_in_sync == 1 else 1,
        )

    # --- Data: digits scaled to [0, 1], shape (N, 28, 28, 1); labels unused.
    digits = mnist.load(
        cfg.data, offline=cfg.offline, seed=cfg.seed, sizes=(cfg.TRAIN_DIGITS, cfg.TEST_DIGITS)
    )
    x_train, x_test = to_images(digits.x_train), to_images(digits.x_test)
    origin = "" if digits.source == "synthetic" else f" ({digits.source})"
    print(f"data: {digits.name}{origin}, train {x_train.shape}, test {x_test.shape}")
    run = runfolder.start("chapter_2_1", cfg, data=runfolder.fingerprint(x_train, x_test))
    autoencoder.summary()
    # The batches fit(x_train, x_train, batch_size=128, shuffle=True) makes of the arrays, reshuffled
    # every epoch, as a tf.data pipeline with tf.data's autotuning off (docs/differences.md says why)
    # and cut so that every replica of a --distribute run gets a share of every batch.
    train_digits = distribute.dataset(
        strategy, x_train, x_train, batch_size=cfg.BATCH_SIZE, shuffle=True, seed=cfg.seed
    )
    test_digits = distribute.dataset(strategy, x_test, x_test, batch_size=cfg.BATCH_SIZE)
    untrained_loss = distribute.evaluate(strategy, autoencoder, test_digits)

    # --- Training: x -> x, validated on the test digits. The listing:
    # autoencoder.fit(x_train, x_train, epochs=50, batch_size=128, shuffle=True,
    #                 validation_data=(x_test, x_test), callbacks=[TensorBoard(log_dir='/tmp/autoencoder')])
    shown = x_test[: cfg.SHOW_DIGITS]
    callbacks = [
        # Keras' TensorBoard callback, into the run folder, not /tmp/autoencoder
        tblog.TensorBoard(run.logs),
        tblog.ImageLogger(
            run.logs,
            "originals | reconstructions",  # TensorBoard's Images tab, every epoch
            lambda m: np.concatenate([shown[:4], distribute.predict(m, shown[:4])], axis=2),
            4,
        ),
    ]
    # an interrupted run goes on after its last epoch
    initial_epoch = run.resume(autoencoder, callbacks)
    # history.csv, resume points, NaN guard
    callbacks += run.callbacks(samples_per_epoch=len(x_train))
    if distribute.is_multiworker(strategy):
        # Keras' fit fails under MultiWorkerMirroredStrategy (docs/scale.md): a plain training loop stands in.
        distribute.fit(
            strategy,
            autoencoder,
            train_digits,
            epochs=cfg.EPOCHS,
            validation_data=test_digits,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
            verbose=run.verbose,
        )
    else:
        # train_digits reshuffles every epoch itself
        autoencoder.fit(
            train_digits,
            epochs=cfg.EPOCHS,
            validation_data=test_digits,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
            verbose=run.verbose,
            shuffle=False,
        )

    # --- Evaluation and the chapter's figure: test digits above their reconstructions
    val_loss = distribute.evaluate(strategy, autoencoder, test_digits)
    # autoencoder.predict, on any replica count
    decoded_imgs = distribute.predict(autoencoder, shown)
    run.save_model(autoencoder, "model.keras")
    run.save_figure(
        reconstruction_figure(
            shown, decoded_imgs, f"{digits.name}: test digits and their reconstructions"
        ),
        "reconstructions.png",
    )
    metrics = {
        "val_loss": val_loss,
        "untrained_val_loss": untrained_loss,
        "code_shape": list(autoencoder.encoded_shape),
        "parameters": autoencoder.count_params(),
    }
    history = run.history()
    if history:
        metrics["loss"] = history[-1]["loss"]
    run.finish(
        dataset=digits.info(),
        metrics=metrics,
        history=history,
        distribute=distribute.describe(strategy),
    )
    print(
        f"val_loss {val_loss:.4f} (binary cross-entropy per pixel; untrained {untrained_loss:.4f})"
    )
    if not (cfg.quick or cfg.lab):
        print("the Keras blog reports about 0.094 after 50 epochs on MNIST")
    return 0


if __name__ == "__main__":
    sys.exit(flags.run(main))

"""A convolutional autoencoder that learns to redraw MNIST digits.

Chapter 2, "Convolutional neural networks": the encoder squeezes a 28x28
digit through three Conv2D + MaxPooling2D stages into a (4, 4, 8) code of 128
numbers; the decoder mirrors it with UpSampling2D back to 28x28. Trained to
reproduce its own input, the network must learn what strokes digits are made
of. The printed listing trains 50 epochs on MNIST with adadelta.

Run it:

    python Chapter_2_1.py              # the chapter's run (50 epochs)
    python Chapter_2_1.py --quick      # a smoke run in well under a minute
    python Chapter_2_1.py --help       # every constant below is also a flag

Exercises: 1. change the filter counts (--filters 32,16,16) or kernel size
(--kernel-size 5); 2. remove pooling layers with their matching upsampling
(--pooling true,true,false). Dropping a pool drops its mirrored UpSampling2D,
so the output stays 28x28.

Data: MNIST from keras.datasets (downloaded once into ~/.keras/datasets), or
--data PATH (mnist.npz, or a folder of the four IDX files), or, when the
download fails, a generated stand-in of handwriting-like digits that says so.

Writes runs/chapter_2_1/<timestamp>/: TensorBoard logs (loss curves and
originals beside reconstructions every epoch), model.keras,
reconstructions.png (the chapter's figure) and metrics.json.
"""

import sys

from chapter2.run import device

device.prepare()  # TensorFlow's oneDNN CPU kernels: chosen before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from chapter2.run import distribute, flags, plots, runfolder, tblog  # noqa: E402
from chapter2.data import mnist  # noqa: E402
from chapter2.run.errors import InputError  # noqa: E402

# --- Constants: the chapter's settings, and the knobs for its exercises -----
FILTERS = (16, 8, 8)        # encoder Conv2D filters; the decoder mirrors them (8, 8, 16)
KERNEL_SIZE = 3             # every Conv2D is KERNEL_SIZE x KERNEL_SIZE (exercise 1)
POOLING = (True, True, True)  # which MaxPooling2D/UpSampling2D pairs exist (exercise 2)
OPTIMIZER = "adadelta"      # the chapter's optimizer
LEARNING_RATE = 1.0         # Adadelta's old default; Keras 3's is 0.001 (see build_model)
EPOCHS = 50
BATCH_SIZE = 128
SHOW_DIGITS = 10            # digits in the reconstructions figure

IMAGE_SIZE = 28


def build_model(filters=FILTERS, kernel_size=KERNEL_SIZE, pooling=POOLING):
    """The chapter's autoencoder. With the defaults this is exactly the
    listing: 28x28x1 -> (4, 4, 8) code -> 28x28x1."""
    k = (kernel_size, kernel_size)
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="digit")

    # Encoder: Conv2D then (optionally) MaxPooling2D, three times.
    x, size, sizes_before_pool = inputs, IMAGE_SIZE, []
    for f, pool in zip(filters, pooling):
        x = layers.Conv2D(f, k, activation="relu", padding="same")(x)
        if pool:
            sizes_before_pool.append(size)
            x = layers.MaxPooling2D((2, 2), padding="same")(x)
            size = -(-size // 2)  # "same" pooling rounds up: 7 -> 4
    encoded = x

    # Decoder: the mirror image, Conv2D then UpSampling2D. Pooling 7 -> 4
    # rounded up, so upsampling overshoots (4 -> 8 -> 16 -> 32); the listing
    # puts one Conv2D with padding="valid" before the last upsampling
    # (16 -> 14, so 14 -> 28). We use "valid" exactly where it lands a level
    # back on its encoder size, which is that same layer for the defaults.
    for f, pool in zip(reversed(filters), reversed(pooling)):
        padding = "same"
        if pool:
            target = sizes_before_pool.pop()
            if 2 * (size - (kernel_size - 1)) == target:
                padding = "valid"
                size -= kernel_size - 1
        x = layers.Conv2D(f, k, activation="relu", padding=padding)(x)
        if pool:
            x = layers.UpSampling2D((2, 2))(x)
            size *= 2
    if size != IMAGE_SIZE:
        # Only exercise variants get here (e.g. a 5x5 kernel): trim the border.
        extra = size - IMAGE_SIZE
        x = layers.Cropping2D(((extra // 2, extra - extra // 2),) * 2)(x)
    outputs = layers.Conv2D(1, k, activation="sigmoid", padding="same", name="reconstruction")(x)

    model = keras.Model(inputs, outputs, name="autoencoder")
    model.encoded_shape = tuple(encoded.shape[1:])
    return model


def make_optimizer(name=OPTIMIZER, learning_rate=LEARNING_RATE):
    # Keras 3 changed Adadelta's default learning rate from 1.0 to 0.001:
    # with `optimizer='adadelta'` as printed, this model barely moves in 50
    # epochs. Passing the old rate explicitly keeps the chapter's training.
    return keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate}})


def to_images(x):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], as the listing."""
    return (x.astype("float32") / 255.0)[..., None]


def side_by_side(model, originals):
    """Originals next to their reconstructions, for TensorBoard's Images tab."""
    recon = model.predict(originals, verbose=0)
    return np.concatenate([originals, recon], axis=2)


def reconstruction_figure(originals, reconstructions, title):
    n = len(originals)
    fig, axes = plots.subplots(2, n, figsize=(2 * n, 4.4))
    axes = np.asarray(axes).reshape(2, n)
    for i in range(n):
        # The printed listing calls plt.subplot(2, n, i) with i from 0, which
        # matplotlib rejects (subplot numbers start at 1); the axes grid
        # avoids the arithmetic.
        for row, images in enumerate((originals, reconstructions)):
            ax = axes[row, i]
            ax.imshow(images[i].reshape(IMAGE_SIZE, IMAGE_SIZE), cmap="gray", vmin=0, vmax=1)
            ax.get_xaxis().set_visible(False)
            ax.get_yaxis().set_visible(False)
    axes[0, 0].set_title("original", loc="left", fontsize=10)
    axes[1, 0].set_title("reconstruction", loc="left", fontsize=10)
    fig.suptitle(title)
    return fig


def add_flags(parser):
    parser.add_argument("--offline", action="store_true",
                        help="skip the MNIST download and use the generated stand-in digits")
    distribute.add_flags(parser)


def main(argv=None):
    cfg = flags.parse_args(
        globals(), argv,
        data="a local mnist.npz (Keras' layout) or a folder with the four MNIST IDX files",
        quick={"EPOCHS": 1},
        bounds={"EPOCHS": (1, None), "BATCH_SIZE": (1, None), "KERNEL_SIZE": (1, 9),
                "FILTERS": (1, None), "SHOW_DIGITS": (1, 50), "LEARNING_RATE": (0, None)},
        extra=add_flags,
    )
    if len(cfg.FILTERS) != len(cfg.POOLING):
        raise InputError(f"--filters has {len(cfg.FILTERS)} values but --pooling has "
                             f"{len(cfg.POOLING)}; give one pooling flag per Conv2D")
    strategy = distribute.strategy(cfg)
    cfg.run_dir = distribute.worker_run_dir() or cfg.run_dir  # only the chief writes under runs/
    run = runfolder.start("chapter_2_1", cfg)

    # --- Data: digits scaled to [0, 1], shape (N, 28, 28, 1); labels unused.
    digits = mnist.load(cfg.data, offline=cfg.offline, seed=cfg.seed, quick=cfg.quick)
    x_train, x_test = to_images(digits.x_train), to_images(digits.x_test)
    if cfg.quick:
        x_train, x_test = x_train[:2048], x_test[:512]
    print(f"data: {digits.name} ({digits.source}), train {x_train.shape}, test {x_test.shape}")

    # --- Model
    with strategy.scope():
        model = build_model(cfg.FILTERS, cfg.KERNEL_SIZE, cfg.POOLING)
        model.compile(optimizer=make_optimizer(cfg.OPTIMIZER, cfg.LEARNING_RATE), loss="binary_crossentropy")
    model.summary()
    untrained_loss = distribute.evaluate(strategy, model, x_test, x_test, batch_size=cfg.BATCH_SIZE)

    # --- Training: x -> x, validated on the test digits.
    shown = x_test[:cfg.SHOW_DIGITS]
    callbacks = run.callbacks(samples_per_epoch=len(x_train)) + [
        tblog.ImageLogger(run.logs, "originals | reconstructions", lambda m: side_by_side(m, shown[:4]), 4),
    ]
    distribute.fit(strategy, model, x_train, x_train, epochs=cfg.EPOCHS, batch_size=cfg.BATCH_SIZE, shuffle=True,
                   validation_data=(x_test, x_test), callbacks=callbacks, verbose=2, seed=cfg.seed)

    # --- Evaluation and the chapter's figure
    val_loss = distribute.evaluate(strategy, model, x_test, x_test, batch_size=cfg.BATCH_SIZE)
    decoded = model.predict(shown, verbose=0)
    run.save_model(model, "model.keras")
    fig = reconstruction_figure(shown, decoded, f"{digits.name}: test digits and their reconstructions")
    run.save_figure(fig, "reconstructions.png")

    history = run.history()
    metrics = {"loss": history[-1]["loss"], "val_loss": val_loss, "untrained_val_loss": untrained_loss,
               "code_shape": list(model.encoded_shape), "parameters": model.count_params()}
    run.finish(
        dataset={"name": digits.name, "source": digits.source, "note": digits.note,
                 "train": len(x_train), "test": len(x_test)},
        metrics=metrics, history=history, distribute=distribute.describe(strategy))
    print(f"val_loss {val_loss:.4f} (untrained {untrained_loss:.4f}); "
          f"the Keras blog reports about 0.094 after 50 epochs on MNIST")
    return 0


if __name__ == "__main__":
    sys.exit(flags.run(main))

"""Chapter_2_1's listing (the convolutional autoencoder) as printed, on Keras 3.

A benchmark peer: what a reader gets by typing in the listing and fixing only
what no longer runs. Lines marked `# Keras 3:` or `# fix:` are those fixes:

  - optimizer='adadelta' now means a learning rate of 0.001 (it was 1.0),
    with which the model barely trains: Adadelta(learning_rate=1.0).
  - the plotting loop's plt.subplot(2, n, i) starts at i = 0, which
    matplotlib rejects: the index counts from 1.

Lines marked `# bench:` are for timing, not from the book: the digits are
synthetic by default (random pixels of MNIST's shape and dtype; `--data
mnist` uses the listing's mnist.load_data(), which downloads), the sizes come
from flags (defaults: the listing's 60,000 / 10,000 digits, 50 epochs), the
TensorBoard logs go to a temporary folder, fit is quiet, and the figure is
drawn only with --plot. Training runs on TensorFlow's default kernels, as a
plain program gets them.

    python bench/listings/listing_2_1_autoencoder.py --samples 12800 --epochs 4

Prints one JSON line last: train_samples_per_s (median over the epochs after
the first; validation is not in the timed span) and fit_wall_s.
"""

import os
import tempfile
import time

import numpy as np
import timing  # bench: the timing helpers beside this file

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
from keras.callbacks import TensorBoard
from keras.layers import Conv2D, Input, MaxPooling2D, UpSampling2D
from keras.models import Model


def parse_args(argv=None):
    parser = timing.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=timing.at_least(1), default=60000, help="training digits")
    parser.add_argument("--val-samples", type=timing.at_least(1), default=10000, help="test digits")
    parser.add_argument(
        "--epochs",
        type=timing.at_least(2),
        default=50,
        help="epochs (at least 2: the first is not timed)",
    )
    parser.add_argument("--data", choices=("synthetic", "mnist"), default="synthetic")
    parser.add_argument("--plot", default=None, help="write the listing's figure to this PNG")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    input_img = Input(shape=(28, 28, 1))

    x = Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
    x = MaxPooling2D((2, 2), padding="same")(x)
    x = Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = MaxPooling2D((2, 2), padding="same")(x)
    x = Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    encoded = MaxPooling2D((2, 2), padding="same")(x)

    x = Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
    x = UpSampling2D((2, 2))(x)
    x = Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = UpSampling2D((2, 2))(x)
    x = Conv2D(16, (3, 3), activation="relu")(x)
    x = UpSampling2D((2, 2))(x)
    decoded = Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

    autoencoder = Model(input_img, decoded)
    # Keras 3: 'adadelta' alone now means learning_rate=0.001; the listing trained with 1.0
    autoencoder.compile(
        optimizer=keras.optimizers.Adadelta(learning_rate=1.0), loss="binary_crossentropy"
    )

    if args.data == "mnist":
        from keras.datasets import mnist

        (x_train, _), (x_test, _) = mnist.load_data()
        x_train, x_test = x_train[: args.samples], x_test[: args.val_samples]  # bench: sizes
    else:  # bench: MNIST's shapes and dtype, random pixels
        rng = np.random.default_rng(0)
        x_train = rng.integers(0, 256, (args.samples, 28, 28), dtype=np.uint8)
        x_test = rng.integers(0, 256, (args.val_samples, 28, 28), dtype=np.uint8)

    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    x_train = np.reshape(x_train, (len(x_train), 28, 28, 1))
    x_test = np.reshape(x_test, (len(x_test), 28, 28, 1))

    timer = timing.make_epoch_timer(keras)  # bench
    with tempfile.TemporaryDirectory() as log_dir:  # bench: the book logs to /tmp/autoencoder
        start = time.perf_counter()
        autoencoder.fit(
            x_train,
            x_train,
            epochs=args.epochs,
            batch_size=128,
            shuffle=True,
            validation_data=(x_test, x_test),
            callbacks=[TensorBoard(log_dir=log_dir), timer],  # bench: the timer
            verbose=0,  # bench: quiet
        )
        fit_wall_s = time.perf_counter() - start

    if args.plot:  # bench: the figure only on request
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        decoded_imgs = autoencoder.predict(x_test, verbose=0)
        n = 10
        plt.figure(figsize=(20, 4))
        for i in range(n):
            # display original
            ax = plt.subplot(2, n, i + 1)  # fix: matplotlib rejects index 0; subplots count from 1
            plt.imshow(x_test[i].reshape(28, 28))
            plt.gray()
            ax.get_xaxis().set_visible(False)
            ax.get_yaxis().set_visible(False)

            # display reconstruction
            ax = plt.subplot(2, n, i + 1 + n)
            plt.imshow(decoded_imgs[i].reshape(28, 28))
            plt.gray()
            ax.get_xaxis().set_visible(False)
            ax.get_yaxis().set_visible(False)
        plt.savefig(args.plot)

    timing.report(
        "2_1_ae",
        len(x_train),
        timer,
        fit_wall_s,
        batch_size=128,
        epochs=args.epochs,
        data=args.data,
        keras=keras.__version__,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

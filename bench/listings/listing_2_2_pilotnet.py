"""Chapter_2_2's listing (the steering CNN) as printed, on Keras 3.

A benchmark peer: what a reader gets by typing in the listing and fixing only
what Keras 3 no longer runs. Lines marked `# Keras 3:` are those fixes:

  - Convolution2D(8, 3, 3) was Keras 1's (filters, rows, cols); in Keras 3
    the third argument is the stride: Conv2D(8, (3, 3)).
  - Model(input=..., output=...) is rejected: inputs=/outputs=.
  - ModelCheckpoint rejects a .hdf5 path: a .keras file.

Lines marked `# bench:` are for timing, not from the book: the recording is
synthetic by default (random uint8 frames of the pickle's shape and angles
in [-1, 1]; the listing downloads 450 MB), its size comes from --samples
(frames in the recording; the listing's shuffle, 80/20 split and mirroring
follow, so an epoch trains on 1.6x that many), the best model goes to a
temporary folder, and fit is quiet. `--data PATH` reads an .npz with X and Y
instead. Training runs on TensorFlow's default kernels, as a plain program
gets them.

    python bench/listings/listing_2_2_pilotnet.py --samples 800 --epochs 4

Prints one JSON line last: train_samples_per_s (median over the epochs after
the first; validation and the checkpoint are not in the timed span) and
fit_wall_s.
"""

import os
import tempfile
import time

import numpy as np
import timing  # bench: the timing helpers beside this file

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
from keras.callbacks import EarlyStopping, ModelCheckpoint
from keras.layers import Activation, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from keras.models import Model


def parse_args(argv=None):
    parser = timing.Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=timing.at_least(5), default=4000, help="frames in the synthetic recording"
    )
    parser.add_argument(
        "--epochs",
        type=timing.at_least(2),
        default=4,
        help="epochs (at least 2: the first is not timed)",
    )
    parser.add_argument("--data", default=None, help="an .npz with X (N, 120, 160, 3) and Y (N,)")
    return parser.parse_args(argv)


def load_recording(args):
    """bench: the (X, Y) the listing unpickles, from a file or made up."""
    if args.data:
        try:
            with np.load(args.data) as f:
                X, Y = f["X"], f["Y"]
        except (OSError, KeyError, ValueError) as err:
            timing.Parser().error(f"--data {args.data}: expected an .npz with X and Y ({err})")
        if X.ndim != 4 or X.shape[1:] != (120, 160, 3) or len(Y) != len(X):
            timing.Parser().error(
                f"--data {args.data}: expected X (N, 120, 160, 3) and Y (N,), "
                f"got {X.shape} and {Y.shape}"
            )
        return X, Y
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (args.samples, 120, 160, 3), dtype=np.uint8)
    Y = rng.uniform(-1, 1, args.samples).astype(np.float32)
    return X, Y


def main(argv=None):
    args = parse_args(argv)
    X, Y = load_recording(args)

    # shuffle the frames and their angles together
    s = np.arange(X.shape[0])
    np.random.shuffle(s)
    X = X[s]
    Y = Y[s]

    # 80% to train, 20% to validate
    N = len(X)
    train_n = int(N * 0.8)
    X_train, Y_train = X[:train_n], Y[:train_n]
    X_val, Y_val = X[train_n:], Y[train_n:]

    # augment: every training frame mirrored left-right, its angle negated
    X_train = np.concatenate([X_train, X_train[:, :, ::-1, :]])
    Y_train = np.concatenate([Y_train, -Y_train])

    img_in = Input(shape=(120, 160, 3), name="img_in")
    x = img_in
    x = Conv2D(8, (3, 3))(x)  # Keras 3: (3, 3) is the kernel; a third number is the stride
    x = Activation("relu")(x)
    x = MaxPooling2D(pool_size=(2, 2))(x)

    x = Conv2D(16, (3, 3))(x)  # Keras 3: as above
    x = Activation("relu")(x)
    x = MaxPooling2D(pool_size=(2, 2))(x)

    x = Conv2D(32, (3, 3))(x)  # Keras 3: as above
    x = Activation("relu")(x)
    x = MaxPooling2D(pool_size=(2, 2))(x)

    x = Flatten(name="flattened")(x)
    x = Dense(256)(x)
    x = Activation("linear")(x)
    x = Dropout(0.2)(x)

    angle_out = Dense(1, name="angle_out")(x)

    model = Model(inputs=[img_in], outputs=[angle_out])  # Keras 3: inputs=/outputs=
    model.compile(optimizer="adam", loss="mean_squared_error")

    timer = timing.make_epoch_timer(keras)  # bench
    with tempfile.TemporaryDirectory() as folder:
        # Keras 3: a .keras path (the book saves ~/best_autopilot.hdf5); bench: a temporary folder
        model_path = os.path.join(folder, "best_autopilot.keras")
        callbacks = [
            ModelCheckpoint(model_path, monitor="val_loss", save_best_only=True),
            EarlyStopping(monitor="val_loss", patience=5),
            timer,  # bench
        ]
        start = time.perf_counter()
        model.fit(
            X_train,
            Y_train,
            batch_size=64,
            epochs=args.epochs,
            validation_data=(X_val, Y_val),
            callbacks=callbacks,
            verbose=0,  # bench: quiet
        )
        fit_wall_s = time.perf_counter() - start

    timing.report(
        "2_2_pilotnet",
        len(X_train),
        timer,
        fit_wall_s,
        batch_size=64,
        epochs=args.epochs,
        frames=N,
        keras=keras.__version__,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

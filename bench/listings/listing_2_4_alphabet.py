"""Chapter_2_4's listing (the alphabet LSTM) as printed, on Keras 3.

A benchmark peer: what a reader gets by typing in the listing and fixing only
what Keras 3 no longer runs. The line marked `# Keras 3:` is that fix:
keras.utils.np_utils is gone, to_categorical now lives in keras.utils.

Lines marked `# bench:` are for timing, not from the book: --epochs (default:
the listing's 500) and the JSON line. numpy.random.seed(7) stays as printed,
though Keras 3 no longer draws its initial weights from numpy's generator.

    python bench/listings/listing_2_4_alphabet.py --epochs 500

Prints the listing's lines (the pairs, one line per epoch, the accuracy and
the predictions), then one JSON line last: fit_wall_s (the model.fit call,
start to end) and the accuracy. bench/bench_alphabet.py --listing takes this
file.
"""

import os
import time

import numpy
import timing  # bench: the timing helpers beside this file

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
from keras.layers import LSTM, Dense
from keras.models import Sequential
from keras.utils import to_categorical  # Keras 3: was keras.utils.np_utils


def parse_args(argv=None):
    parser = timing.Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs",
        type=timing.at_least(2),
        default=500,
        help="epochs (at least 2: the first is not timed)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    # fix random seed for reproducibility
    numpy.random.seed(7)
    # define the raw dataset
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    # create mapping of characters to integers (0-25) and the reverse
    char_to_int = {c: i for i, c in enumerate(alphabet)}
    int_to_char = {i: c for i, c in enumerate(alphabet)}
    # prepare the dataset of input to output pairs encoded as integers
    seq_length = 1
    dataX = []
    dataY = []
    for i in range(0, len(alphabet) - seq_length, 1):
        seq_in = alphabet[i : i + seq_length]
        seq_out = alphabet[i + seq_length]
        dataX.append([char_to_int[char] for char in seq_in])
        dataY.append(char_to_int[seq_out])
        print(seq_in, "->", seq_out)
    # reshape X to be [samples, time steps, features]
    X = numpy.reshape(dataX, (len(dataX), seq_length, 1))
    # normalize
    X = X / float(len(alphabet))
    # one hot encode the output variable
    y = to_categorical(dataY)
    # create and fit the model
    model = Sequential()
    model.add(LSTM(32, input_shape=(X.shape[1], X.shape[2])))
    model.add(Dense(y.shape[1], activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    timer = timing.make_epoch_timer(keras)  # bench
    start = time.perf_counter()  # bench
    # bench: the timer
    model.fit(X, y, epochs=args.epochs, batch_size=1, verbose=2, callbacks=[timer])
    fit_wall_s = time.perf_counter() - start  # bench
    # summarize performance of the model
    scores = model.evaluate(X, y, verbose=0)
    print("Model Accuracy: %.2f%%" % (scores[1] * 100))
    # demonstrate some model predictions
    for pattern in dataX:
        x = numpy.reshape(pattern, (1, len(pattern), 1))
        x = x / float(len(alphabet))
        prediction = model.predict(x, verbose=0)
        index = numpy.argmax(prediction)
        result = int_to_char[index]
        seq_in = [int_to_char[value] for value in pattern]
        print(seq_in, "->", result)

    timing.report(
        "2_4_alphabet",
        len(X),
        timer,
        fit_wall_s,
        batch_size=1,
        epochs=args.epochs,
        accuracy=round(float(scores[1]), 4),
        keras=keras.__version__,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Chapter_2_5's listing (the rock-paper-scissors LSTM) as printed, on Keras 3.

A benchmark peer: what a reader gets by typing in the listing and fixing only
what no longer runs. Lines marked `# Keras 3:` or `# fix:` are those fixes:

  - LSTM(output_dim=64, input_dim=1) is rejected: units=64, and the model
    starts from an explicit Input of shape (None, 1).
  - each line was read as characters and never turned into numbers, so no
    game trained: the moves are converted to integers.
  - the bare `try/except` around each fit printed "error" and went on,
    which hid every failure (the one above included): a failure now stops
    the run.
  - model.metrics_names no longer lines up with evaluate()'s list:
    evaluate(return_dict=True).

Lines marked `# bench:` are for timing, not from the book: --data (default:
the repository's data.txt), --games (the first N lines; default all),
--epochs (per game; default the listing's EPOCH_NP = 100), the model is
saved to a temporary folder, and fit is quiet.

    python bench/listings/listing_2_5_rps.py --games 5 --epochs 10

Prints the listing's evaluation and predictions, then one JSON line last:
fit_wall_s (all the games' fit calls together) and per-game seconds.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import timing  # bench: the timing helpers beside this file

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
from keras.layers import LSTM, Dense, Input
from keras.models import Sequential

EPOCH_NP = 100
INPUT_SHAPE = (1, -1, 1)
OUTPUT_SHAPE = (1, -1, 3)
DATA_FILE = Path(__file__).resolve().parents[2] / "data.txt"  # bench: the repository's data.txt
MODEL_FILE = "RPS_model.h5"

np.random.seed(7)


def parse_args(argv=None):
    parser = timing.Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA_FILE, help="games, one a line, moves 0/1/2"
    )
    parser.add_argument(
        "--games",
        type=timing.at_least(1),
        default=None,
        help="train on the first N games (default: all)",
    )
    parser.add_argument(
        "--epochs", type=timing.at_least(1), default=EPOCH_NP, help="epochs per game"
    )
    return parser.parse_args(argv)


def simple_model():
    new_model = Sequential()
    new_model.add(Input(shape=(None, 1)))  # Keras 3: the input_dim=1 of the first LSTM
    new_model.add(LSTM(units=64, return_sequences=True, activation="sigmoid"))  # Keras 3: units=
    new_model.add(LSTM(units=64, return_sequences=True, activation="sigmoid"))
    new_model.add(LSTM(units=64, return_sequences=True, activation="sigmoid"))
    new_model.add(Dense(64, activation="relu"))
    new_model.add(Dense(64, activation="relu"))
    new_model.add(Dense(3, activation="softmax"))
    new_model.compile(
        loss="categorical_crossentropy",
        optimizer="adam",
        metrics=["accuracy", "categorical_crossentropy"],
    )
    return new_model


def read_games(filename, limit):
    """bench: the lines of data.txt as integer moves; a bad line is one error line, exit 2."""
    try:
        lines = Path(filename).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        timing.Parser().error(f"--data {filename}: cannot read it ({err})")
    games = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if set(line.strip()) - set("012") or len(line.strip()) < 2:
            timing.Parser().error(
                f"--data {filename} line {number}: expected at least two moves, each 0, 1 or 2"
            )
        games.append(line.strip())
    if not games:
        timing.Parser().error(f"--data {filename}: no games in it")
    return games[:limit] if limit else games


def batch_generator(games):
    for line in games:
        data_vector = np.array([int(move) for move in line])  # fix: the moves as numbers
        input_data = np.reshape(data_vector[:-1], INPUT_SHAPE)
        output_data = np.zeros((len(data_vector) - 1, 3))
        output_data[np.arange(len(data_vector) - 1), data_vector[1:]] = 1
        output_data = np.reshape(output_data, OUTPUT_SHAPE)
        yield input_data, output_data


def train_model(model, games, epochs, model_file):
    seconds = []  # bench
    for input_data, output_data in batch_generator(games):
        # fix: no bare try/except printing "error": it hid every failure
        start = time.perf_counter()  # bench
        model.fit(input_data, output_data, epochs=epochs, batch_size=100, verbose=0)  # bench: quiet
        seconds.append(time.perf_counter() - start)  # bench
    print("Saving model")
    model.save(model_file)
    return seconds


def validate(model):
    validation = (
        "100101000110221110101002201101101101002201011012222210221011011101011122110010101010101"
    )
    moves = np.array([int(move) for move in validation])  # fix: the moves as numbers
    input_validation = np.reshape(moves[:-1], INPUT_SHAPE)
    output_validation = np.zeros((len(moves) - 1, 3))
    output_validation[np.arange(len(moves) - 1), moves[1:]] = 1
    output_validation = np.reshape(output_validation, OUTPUT_SHAPE)
    # Keras 3: metrics_names no longer line up
    result = model.evaluate(input_validation, output_validation, verbose=0, return_dict=True)
    for name, value in result.items():
        print(name, value)
    return result


def main(argv=None):
    args = parse_args(argv)
    games = read_games(args.data, args.games)
    model = simple_model()
    with tempfile.TemporaryDirectory() as folder:  # bench: the book saves RPS_model.h5 here
        seconds = train_model(model, games, args.epochs, os.path.join(folder, MODEL_FILE))
    result = validate(model)
    res = model.predict(np.array([[[0], [0], [0], [1], [1], [1], [2], [2], [2]]]), verbose=0)
    print(res)
    print(np.argmax(res, axis=2))

    timing.emit(
        "2_5_rps",
        games=len(games),
        epochs_per_game=args.epochs,
        fit_wall_s=round(sum(seconds), 3),
        game_fit_s={
            "median": round(statistics.median(seconds), 3),
            "min": round(min(seconds), 3),
            "max": round(max(seconds), 3),
        },
        validation_accuracy=round(float(result["accuracy"]), 4),
        keras=keras.__version__,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

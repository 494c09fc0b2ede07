"""Chapter_2_5's training: the listing's game-by-game loop against the
script's one fit over all games, on the same training games of data.txt.

    python bench/bench_rps.py                      # both (long: the loop fits 1,950 games one by one)
    python bench/bench_rps.py --chapter-epochs 5   # the loop at 5 epochs per game, scaled
    python bench/bench_rps.py --skip-chapter --flags="--activation sigmoid"

The listing's loop: for each game, fit(epochs=100, batch_size=100) on that
one sequence (raw move values, sigmoid LSTMs, adam at 0.001). Run in full it
takes many minutes, so by default it runs at a tenth of the epochs
(--chapter-epochs 10) and its time is scaled by 100 / chapter-epochs: that
scaled figure is an estimate, labelled as such; its accuracy is the one of
the shortened run.

All games at once: ``python Chapter_2_5.py --versus-games 0`` (plus
--flags), run as a program; its fit time and accuracies come from its
metrics.json. Both use the same held-out games (the script's split at the
same seed). Timings are wall-clock on whatever else the machine is doing:
on a shared machine, run it twice.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chapter2.run import console  # noqa: E402

console.quiet()  # TensorFlow's start-up lines are not the benchmark's

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from chapter2.data import games  # noqa: E402
from chapter2.game import baselines  # noqa: E402

HELD_OUT_GAMES = 50  # as Chapter_2_5's default
# the listing's validation game
VALIDATION_GAME = (
    "100101000110221110101002201101101101002201011012222210221011011101011122110010101010101"
)


def listing_model():
    """The printed listing's network, in Keras 3 spelling."""
    model = keras.Sequential(
        [
            keras.Input(shape=(None, 1)),
            layers.LSTM(64, return_sequences=True, activation="sigmoid"),
            layers.LSTM(64, return_sequences=True, activation="sigmoid"),
            layers.LSTM(64, return_sequences=True, activation="sigmoid"),
            layers.Dense(64, activation="relu"),
            layers.Dense(64, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def listing_loop(train, epochs):
    model = listing_model()
    t0 = time.perf_counter()
    for game in train:
        x = np.asarray(game[:-1], dtype="float32").reshape(1, -1, 1)
        y = np.eye(3, dtype="float32")[np.asarray(game[1:])][None]
        model.fit(x, y, epochs=epochs, batch_size=100, verbose=0)
    return model, time.perf_counter() - t0


def accuracy(model, played):
    probs = model.predict(games.windows(played, one_hot=False)[0], verbose=0)
    predicted = [probs[i, : len(g) - 1].argmax(-1) for i, g in enumerate(played)]
    shares = np.bincount(np.concatenate(predicted), minlength=3) / sum(map(len, predicted))
    return baselines.accuracy(predicted, played), float(shares.max())


def script_run(data, seed, extra):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            str(ROOT / "Chapter_2_5.py"),
            "--versus-games",
            "0",
            "--seed",
            str(seed),
            "--data-file",
            str(data),
            "--run-dir",
            tmp,
            *extra,
        ]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg"),
        )
        if proc.returncode != 0:
            sys.exit(f"Chapter_2_5.py failed: {proc.stderr.strip()[-500:]}")
        return json.loads((Path(tmp) / "metrics.json").read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chapter-epochs", type=int, default=10, help="epochs per game for the listing's loop"
    )
    parser.add_argument("--skip-chapter", action="store_true")
    parser.add_argument(
        "--flags", default="", help='more flags for Chapter_2_5.py, e.g. "--epochs 10"'
    )
    parser.add_argument("--data", default=str(ROOT / "data.txt"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    played = games.read_games(args.data, notice=None)
    train, held_out = games.split_games(played, HELD_OUT_GAMES, args.seed)
    val_game = [[int(c) for c in VALIDATION_GAME]]
    print(
        f"data: {len(played)} games, {sum(map(len, played))} moves; training on {len(train)} "
        f"({sum(len(g) - 1 for g in train)} predictions), {len(held_out)} held out"
    )
    for name, fn in (
        ("repeat last", baselines.repeat_last),
        ("most frequent", baselines.most_frequent),
    ):
        print(
            f"  {name:<14} held-out {baselines.accuracy([fn(g) for g in held_out], held_out):6.1%}   "
            f"validation game {baselines.accuracy([fn(g) for g in val_game], val_game):6.1%}"
        )
    (held_ngram, held_k), (val_ngram, val_k) = (
        baselines.best_ngram(held_out),
        baselines.best_ngram(val_game),
    )
    print(
        f"  {'n-gram table':<14} held-out {held_ngram:6.1%} (k={held_k})   validation game {val_ngram:6.1%} "
        f"(k={val_k}), online, no training"
    )
    rows = []
    if not args.skip_chapter:
        keras.utils.set_random_seed(args.seed)
        model, seconds = listing_loop(train, args.chapter_epochs)
        held, majority = accuracy(model, held_out)
        val, _ = accuracy(model, val_game)
        scaled = seconds * 100 / args.chapter_epochs
        rows.append(
            (
                f"listing's loop, {args.chapter_epochs} epochs/game (measured)",
                seconds,
                held,
                val,
                f"its most common prediction is {majority:.0%} of its predictions",
            )
        )
        rows.append(("listing's loop, 100 epochs/game (scaled estimate)", scaled, None, None, ""))
        print(
            f"listing's loop at {args.chapter_epochs} epochs per game: {seconds:.1f} s measured, {scaled:.0f} s "
            f"scaled to 100 epochs; held-out {held:.1%}, validation game {val:.1%}",
            flush=True,
        )
    record = script_run(args.data, args.seed, shlex.split(args.flags))
    m = record["metrics"]
    rows.append(
        (
            f"Chapter_2_5.py {args.flags}".strip() + f", {record['config']['EPOCHS']} epochs",
            m["fit_seconds"],
            m["held_out"]["model"],
            m["chapter_validation_game"]["model"],
            "one fit over all games",
        )
    )
    print()
    print(f"{'approach':<56} {'seconds':>8} {'held-out':>9} {'val game':>9}")
    for name, seconds, held, val, note in rows:
        print(
            f"{name:<56} {seconds:8.1f} {'' if held is None else f'{held:.1%}':>9} "
            f"{'' if val is None else f'{val:.1%}':>9}  {note}"
        )
    if not args.skip_chapter:
        print(
            f"speed-up of the all-games fit over the listing's loop (scaled): {rows[1][1] / rows[-1][1]:.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

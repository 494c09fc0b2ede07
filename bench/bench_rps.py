"""Chapter_2_5's training: the chapter's game-by-game loop against one fit
over all games, on the same training games of data.txt.

    python bench/bench_rps.py                      # both (a few minutes on 2 cores)
    python bench/bench_rps.py --chapter-epochs 5   # the loop at 5 epochs per game, scaled
    python bench/bench_rps.py --activations tanh,sigmoid --skip-chapter

The chapter's loop: for each game, fit(epochs=100, batch_size=100) on that
one sequence (raw move values, sigmoid LSTMs). Running it in full takes
about ten minutes, so by default it runs at a tenth of the epochs
(--chapter-epochs 10) and its time is scaled by 100 / chapter-epochs: that
scaled figure is an estimate, labelled as such. Its accuracy is the one of
the shortened run.

All games at once: Chapter_2_5's defaults (batches of similar-length games,
padding masked, EPOCHS passes). Accuracies are on the held-out games (the
same split as the script) and on the chapter's validation game, beside the
simple predictors. Timings are wall-clock on whatever else the machine is
doing: on a shared machine, run it twice.
"""

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from chapter2.game import rps  # noqa: E402


def load_script():
    spec = importlib.util.spec_from_file_location("chapter_2_5", ROOT / "Chapter_2_5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chapter_model():
    """The printed listing's network, in Keras 3 spelling."""
    model = keras.Sequential([
        keras.Input(shape=(None, 1)),
        layers.LSTM(64, return_sequences=True, activation="sigmoid"),
        layers.LSTM(64, return_sequences=True, activation="sigmoid"),
        layers.LSTM(64, return_sequences=True, activation="sigmoid"),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def chapter_loop(train, epochs):
    model = chapter_model()
    t0 = time.perf_counter()
    for game in train:
        x = np.asarray(game[:-1], dtype="float32").reshape(1, -1, 1)
        y = np.eye(3, dtype="float32")[np.asarray(game[1:])][None]
        model.fit(x, y, epochs=epochs, batch_size=100, verbose=0)
    return model, time.perf_counter() - t0


def accuracies(model, games, one_hot):
    x, _, _ = rps.windows(games, one_hot)
    probs = model.predict(x, verbose=0)
    predicted = [probs[i, :len(g) - 1].argmax(-1) for i, g in enumerate(games)]
    majority = np.bincount(np.concatenate([p for p in predicted]), minlength=3).max() / sum(map(len, predicted))
    return rps.accuracy(predicted, games), majority


def main(argv=None):
    script = load_script()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter-epochs", type=int, default=10, help="epochs per game for the chapter's loop")
    parser.add_argument("--skip-chapter", action="store_true")
    parser.add_argument("--epochs", type=int, default=script.EPOCHS, help="epochs of the all-games fit")
    parser.add_argument("--batch-size", type=int, default=script.BATCH_SIZE, help="games per batch")
    parser.add_argument("--learning-rate", type=float, default=script.LEARNING_RATE)
    parser.add_argument("--activations", default=script.ACTIVATION, help="comma list, e.g. tanh,sigmoid")
    parser.add_argument("--data", default=str(ROOT / "data.txt"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    games = rps.read_games(args.data, script.MIN_GAME_MOVES)
    train, held_out = rps.split_games(games, script.HELD_OUT_GAMES, args.seed)
    val_game = [[int(c) for c in script.VALIDATION_GAME]]
    print(f"data: {len(games)} games, {sum(map(len, games))} moves; training on {len(train)} "
          f"({sum(len(g) - 1 for g in train)} predictions), {len(held_out)} held out")
    for name, fn in (("repeat last", rps.predict_repeat_last), ("most frequent", rps.predict_most_frequent)):
        print(f"  {name:<14} held-out {rps.accuracy([fn(g) for g in held_out], held_out):6.1%}   "
              f"validation game {rps.accuracy([fn(g) for g in val_game], val_game):6.1%}")
    print("  chance          33.3%")
    rows = []

    if not args.skip_chapter:
        keras.utils.set_random_seed(args.seed)
        model, seconds = chapter_loop(train, args.chapter_epochs)
        held, majority = accuracies(model, held_out, one_hot=False)
        val, _ = accuracies(model, val_game, one_hot=False)
        scaled = seconds * 100 / args.chapter_epochs
        rows.append((f"chapter loop, {args.chapter_epochs} epochs/game (measured)", seconds, held, val,
                     f"most common prediction is {majority:.0%} of its predictions"))
        rows.append(("chapter loop, 100 epochs/game (scaled estimate)", scaled, None, None, ""))
        print(f"chapter loop at {args.chapter_epochs} epochs per game: {seconds:.1f} s measured, "
              f"{scaled:.0f} s scaled to 100 epochs; held-out {held:.1%}, validation game {val:.1%}", flush=True)

    for activation in args.activations.split(","):
        keras.utils.set_random_seed(args.seed)
        model = script.build_model(script.LSTM_UNITS, activation, script.DENSE_UNITS, script.ONE_HOT,
                                   args.learning_rate)
        batches = rps.GameBatches(train, args.batch_size, script.ONE_HOT, seed=args.seed)
        t0 = time.perf_counter()
        model.fit(batches, epochs=args.epochs, verbose=0)
        seconds = time.perf_counter() - t0
        held, majority = accuracies(model, held_out, script.ONE_HOT)
        val, _ = accuracies(model, val_game, script.ONE_HOT)
        rows.append((f"all games, {args.epochs} epochs, {activation}, batch {args.batch_size}", seconds, held, val,
                     f"{len(batches)} batches/epoch, {batches.padded_steps} padded steps/epoch; most common "
                     f"prediction is {majority:.0%} of its predictions"))
        print(f"all games, {activation}: {seconds:.1f} s; held-out {held:.1%}, validation game {val:.1%}",
              flush=True)

    print()
    print(f"{'approach':<52} {'seconds':>8} {'held-out':>9} {'val game':>9}")
    for name, seconds, held, val, note in rows:
        h = "" if held is None else f"{held:.1%}"
        v = "" if val is None else f"{val:.1%}"
        print(f"{name:<52} {seconds:8.1f} {h:>9} {v:>9}  {note}")
    chapter = [r for r in rows if "scaled" in r[0]]
    ours = [r for r in rows if r[0].startswith("all games")]
    if chapter and ours:
        print(f"speed-up of the all-games fit over the chapter's loop (scaled): "
              f"{chapter[0][1] / ours[0][1]:.1f}x")
    print("(wall-clock times on a shared machine: other work running at the same time slows both)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

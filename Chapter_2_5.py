"""An LSTM that reads a rock-paper-scissors player, and plays against you.

Chapter 2, "Playing Rock, Paper, Scissors with LSTMs": data.txt holds games,
one per line, the moves one player made (0 = rock, 1 = paper, 2 = scissors).
At every step of every game the network sees the moves so far and predicts
the player's next one: three LSTM layers of 64 units returning sequences,
Dense(64, relu) twice, Dense(3, softmax); adam, categorical cross-entropy.
Knowing your next move, it plays what beats it.

What it must beat: an online n-gram lookup table that reads the same moves
of the same game (chapter2.game.baselines.NGramReader: for the last 1..k
moves, what followed them so far in this game; no training at all). Every
accuracy below is printed beside that table's (with its best k), repeating
the last move, the most frequent move so far and chance: on the listing's
validation game, on held-out games of data.txt, on the training games, on
new games of every kind of simulated player (other seeds, and kinds of
player data.txt does not hold), and in the games played after training.

Run it:

    python Chapter_2_5.py                 # train on data.txt, evaluate, save
    python Chapter_2_5.py --quick         # a smoke run of 2 epochs
    python Chapter_2_5.py --play          # train, then play against it in the terminal
    python Chapter_2_5.py --play runs/chapter_2_5/<date-time>/RPS_model.h5
    python Chapter_2_5.py --help          # every constant below is also a flag

In the game press r, p or s (or 0, 1, 2); q quits. Each round shows what the
model expected and how many of your moves it has read right so far, beside
the lookup table's (k = NGRAM_K); the last line says how often each read
you, and the score. When input is not a terminal, moves are read from it
(``printf 'r p s q' | python Chapter_2_5.py --play MODEL``). A game of at
least MIN_GAME_MOVES moves is added to DATA_FILE as one new line, so the
next training run learns from you too. data.txt was written by the
project's simulated players (not from the book):
``python -m chapter2.standins.players --seed 7 --out data.txt``.

Exercise 10: change the units of the three LSTM layers (--lstm-units 128,32,16).

Writes runs/chapter_2_5/<date-time>/: TensorBoard logs, history.csv,
RPS_model.h5 (the chapter's file name) and model.keras, rps.png (the model's
predictions over a held-out game, its wins against simulated players) and
metrics.json. docs/differences.md says what differs from the listing;
docs/rock-paper-scissors.md compares the model with the lookup table.
"""

import logging
import sys
import time
from pathlib import Path

from chapter2.run import startup

# answers --help at once; keeps TensorFlow's start-up chatter quiet
startup.begin(__name__, __file__)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from chapter2.data import games  # noqa: E402
from chapter2.game import baselines, figure, rules, saved_model, terminal, versus  # noqa: E402
from chapter2.game.stepper import ACTIVATIONS  # noqa: E402
from chapter2.run import flags, runfolder, tblog  # noqa: E402
from chapter2.run.errors import InputError  # noqa: E402
from chapter2.standins import players  # noqa: E402

# --- The chapter's settings and the exercise knobs ------------------------------
LSTM_UNITS = (64, 64, 64)  # units of the three LSTM layers (exercise 10: 128,32,16)
ACTIVATION = "tanh"  # the LSTMs' activation; the listing's sigmoid learns far slower
DENSE_UNITS = (64, 64)  # units of the two Dense(relu) layers after the LSTMs
EPOCHS = 50  # passes over all games (the listing: 100 per game, game by game)
BATCH_SIZE = 32  # games per batch (similar lengths), each padded to its longest game
LEARNING_RATE = 0.005  # adam's (its default, 0.001, needs many times the epochs; 0.01 ends noisier)
WINDOW = 150  # longer games are cut into pieces of this many moves to train on (0: never)
ROTATE = True  # each batch's moves renamed by a random turn rock -> paper -> scissors
# --- Data -----------------------------------------------------------------------
DATA_FILE = "data.txt"  # games, one per line (the chapter's file); --play adds yours to it
ONE_HOT = True  # moves as one-hot rows; false: the listing's single 0/1/2 value
MIN_GAME_MOVES = 10  # shorter games are skipped (and not saved by --play)
HELD_OUT_GAMES = 50  # games kept out of training, to validate on
# the listing's validation game
VALIDATION_GAME = (
    "100101000110221110101002201101101101002201011012222210221011011101011122110010101010101"
)
TEST_MOVES = "000111222"  # the listing's test: the predicted next move after each of these
# --- Run ------------------------------------------------------------------------
MODEL_FILE = "RPS_model.h5"  # the chapter's file name (.h5 or .keras), saved in the run folder
VERSUS_GAMES = 10  # new games against each simulated player after training (0: none)
VERSUS_MOVES = 100  # rounds of each of those games
VERSUS_NOISE = 0.1  # the simulated players' share of random moves
NGRAM_K = 3  # the lookup table's longest context in the games (its best k is searched elsewhere)
FRESH_GAMES = 20  # new games of each kind of simulated player to test on (0: none)
FRESH_MOVES = 100  # moves of each of those games

QUICK = {"EPOCHS": 1, "VERSUS_GAMES": 1, "VERSUS_MOVES": 30, "FRESH_GAMES": 2, "FRESH_MOVES": 50}
LAB = {"EPOCHS": 10, "FRESH_GAMES": 5}
BOUNDS = {
    "LSTM_UNITS": (1, 1024),
    "DENSE_UNITS": (1, 1024),
    "EPOCHS": (1, 100000),
    "BATCH_SIZE": (1, 10000),
    "LEARNING_RATE": (0, 1),
    "MIN_GAME_MOVES": (2, 100000),
    "HELD_OUT_GAMES": (1, None),
    "VERSUS_GAMES": (0, 1000),
    "VERSUS_MOVES": (22, 100000),
    "VERSUS_NOISE": (0, 1),
    "WINDOW": (0, 100000),
    "NGRAM_K": (1, 100),
    "FRESH_GAMES": (0, 1000),
    "FRESH_MOVES": (10, 100000),
}


def build_model(
    lstm_units=LSTM_UNITS,
    activation=ACTIVATION,
    dense_units=DENSE_UNITS,
    one_hot=ONE_HOT,
    learning_rate=LEARNING_RATE,
):
    """The chapter's network, compiled."""
    model = keras.Sequential(name="rps")
    # Keras 3: LSTM(output_dim=64, input_dim=1) is gone; the input is (moves, features), any number of moves.
    model.add(keras.Input(shape=(None, 3 if one_hot else 1)))
    # padding after a shorter game counts nowhere
    model.add(layers.Masking(mask_value=games.pad_value(one_hot)))
    # the listing's activation is sigmoid (ACTIVATION above)
    model.add(layers.LSTM(lstm_units[0], return_sequences=True, activation=activation))
    model.add(layers.LSTM(lstm_units[1], return_sequences=True, activation=activation))
    model.add(layers.LSTM(lstm_units[2], return_sequences=True, activation=activation))
    model.add(layers.Dense(dense_units[0], activation="relu"))
    model.add(layers.Dense(dense_units[1], activation="relu"))
    model.add(layers.Dense(3, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),  # listing: "adam" (0.001)
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def next_moves(model, played, one_hot=ONE_HOT):
    """The model's probabilities of the next move after each move of every
    game but its last, [(len(game) - 1, 3)]: one predict call, padding masked."""
    probabilities = model.predict(
        games.windows(played, one_hot)[0], batch_size=len(played), verbose=0
    )
    return [probabilities[i, : len(g) - 1] for i, g in enumerate(played)]


def scores(predicted, played):
    """Accuracy of the model's predictions and of the simple predictors on
    the same games; the online n-gram lookup table with the context length
    k (1 to 8) that does best on these very games."""
    ngram, k = baselines.best_ngram(played)
    return {
        "model": baselines.accuracy([p.argmax(axis=1) for p in predicted], played),
        "ngram": ngram,
        "ngram_k": k,
        "repeat_last": baselines.accuracy([baselines.repeat_last(g) for g in played], played),
        "most_frequent": baselines.accuracy([baselines.most_frequent(g) for g in played], played),
        "chance": 1 / 3,
        "moves": sum(len(g) - 1 for g in played),
    }


def score_line(s):
    return (
        f"model {s['model']:.1%} | n-gram table {s['ngram']:.1%} (best k = {s['ngram_k']}) | "
        f"repeat last {s['repeat_last']:.1%} | most frequent so far {s['most_frequent']:.1%} | chance 33.3%"
    )


def fresh_players(model, cfg):
    """Scores on new games of every kind of simulated player (players.KINDS),
    drawn from seeds that did not write data.txt: {kind: scores}, and the
    kinds together under "all kinds". FRESH_GAMES 0: {}."""
    if cfg.FRESH_GAMES < 1:
        return {}
    sets = {
        kind: players.fresh_games(
            kind, cfg.seed, cfg.FRESH_GAMES, cfg.FRESH_MOVES, cfg.VERSUS_NOISE
        )
        for kind in players.KINDS
    }
    every = [g for played in sets.values() for g in played]
    predicted = next_moves(model, every, cfg.ONE_HOT)
    out, start = {}, 0
    for kind, played in sets.items():
        out[kind] = scores(predicted[start : start + len(played)], played)
        start += len(played)
    out["all kinds"] = scores(predicted, every)
    return out


def check(cfg):
    if len(cfg.LSTM_UNITS) != 3 or len(cfg.DENSE_UNITS) != 2:
        raise InputError(
            f"--lstm-units takes three values and --dense-units two (the chapter's layers), "
            f"got {flags.flag_text(cfg.LSTM_UNITS)} and {flags.flag_text(cfg.DENSE_UNITS)}"
        )
    if cfg.ACTIVATION not in ACTIVATIONS:
        raise InputError(
            f"--activation must be one of {', '.join(ACTIVATIONS)}, got {cfg.ACTIVATION!r}"
        )
    if cfg.WINDOW and cfg.WINDOW < 10:
        raise InputError(f"--window must be 0 (whole games) or at least 10 moves, got {cfg.WINDOW}")
    for flag, text in (
        ("--validation-game", cfg.VALIDATION_GAME),
        ("--test-moves", cfg.TEST_MOVES),
    ):
        if len(text) < 2 or set(text) - set("012"):
            raise InputError(f"{flag} expects at least two moves made of 0, 1 and 2, got {text!r}")
    if (
        Path(cfg.MODEL_FILE).suffix not in (".h5", ".keras")
        or Path(cfg.MODEL_FILE).name != cfg.MODEL_FILE
    ):
        raise InputError(
            f"--model-file expects a file name ending in .h5 or .keras (saved in the run "
            f"folder), got {cfg.MODEL_FILE!r}"
        )
    data_file = Path(cfg.DATA_FILE)
    if (
        not data_file.is_absolute()
        and not data_file.exists()
        and (Path(__file__).parent / data_file).exists()
    ):
        data_file = Path(__file__).parent / data_file  # the repository's data.txt, from any folder
    if cfg.play is not None:  # a game must be savable before the first round (or the training)
        games.check_appendable(data_file)
    return data_file


def main(argv=None):
    cfg = flags.parse(
        globals(),
        argv,
        quick=QUICK,
        lab=LAB,
        bounds=BOUNDS,
        options={
            "play": "play against the model in the terminal: a saved model (.h5 or .keras), or, "
            "without MODEL, the one this run trains"
        },
    )
    data_file = check(cfg)
    if cfg.play:  # a saved model: straight to the game
        terminal.play_terminal(
            saved_model.load_model(cfg.play),
            data_file,
            cfg.MIN_GAME_MOVES,
            seed=cfg.seed,
            ngram_k=cfg.NGRAM_K,
        )
        return 0

    # --- Data: every game; a few held out; the rest in batches of similar length.
    played = games.read_games(data_file, cfg.MIN_GAME_MOVES)
    if len(played) < 2:
        raise InputError(
            f"{data_file}: needs at least two games (one to train on, one held out), "
            f"found {len(played)}"
        )
    train, held_out = games.split_games(played, cfg.HELD_OUT_GAMES, cfg.seed)
    batches = games.GameBatches(
        train, cfg.BATCH_SIZE, cfg.ONE_HOT, seed=cfg.seed, window=cfg.WINDOW, rotate=cfg.ROTATE
    )
    x_val, y_val, _ = games.windows(held_out, cfg.ONE_HOT)
    print(
        f"data: {data_file}: {len(played)} games, {sum(map(len, played))} moves (games of "
        f"{min(map(len, played))} to {max(map(len, played))} moves); training on {len(train)} games"
        + (f" (longer ones cut into pieces of {cfg.WINDOW} moves)" if cfg.WINDOW else "")
        + f" in {len(batches)} batches of similar length, holding out {len(held_out)}"
    )

    # --- Model and training: one fit over all games; each epoch sees every game once.
    model = build_model(
        cfg.LSTM_UNITS, cfg.ACTIVATION, cfg.DENSE_UNITS, cfg.ONE_HOT, cfg.LEARNING_RATE
    )
    run = runfolder.start("chapter_2_5", cfg, data=runfolder.fingerprint(*map(np.asarray, played)))
    model.summary()
    callbacks = [tblog.TensorBoard(run.logs)]  # Keras' TensorBoard, into the run folder
    # an interrupted run goes on after its last finished epoch
    initial_epoch = run.resume(model, callbacks)
    # history, resume points
    callbacks += run.callbacks(samples_per_epoch=sum(len(g) - 1 for g in train))
    started = time.perf_counter()
    model.fit(
        batches,
        epochs=cfg.EPOCHS,
        validation_data=(x_val, y_val),
        initial_epoch=initial_epoch,
        verbose=run.verbose,
        callbacks=callbacks,
    )
    fit_seconds = time.perf_counter() - started

    # --- Evaluation: the model beside chance and simple predictors; the listing's test.
    listing_game, test = [int(c) for c in cfg.VALIDATION_GAME], [int(c) for c in cfg.TEST_MOVES]
    sets = {
        "chapter_validation_game": [listing_game],
        "held_out": held_out,
        "training_games": train,
    }
    predicted = next_moves(model, [listing_game] + held_out + train + [test + [0]], cfg.ONE_HOT)
    results, start = {}, 0
    for key, played_set in sets.items():
        results[key] = scores(predicted[start : start + len(played_set)], played_set)
        start += len(played_set)
    titles = (
        "the listing's validation game",
        f"held-out games ({len(held_out)})",
        f"training games ({len(train)})",
    )
    print()
    for title, s in zip(titles, results.values()):
        print(f"{title}, {s['moves']} predictions: {score_line(s)}")
    fresh = fresh_players(model, cfg)
    if fresh:
        print(
            f"\nnew simulated players ({cfg.FRESH_GAMES} games of {cfg.FRESH_MOVES} moves of each kind, from "
            f"seeds data.txt was not written with; {', '.join(k for k in players.KINDS if k not in players.IN_DATA)} "
            "not in data.txt): next moves read right"
        )
        print(
            f"  {'player':<20} {'model':>6} {'n-gram (best k)':>16} {'repeat last':>12} {'chance':>7}"
        )
        for kind, s in fresh.items():
            print(
                f"  {kind:<20} {s['model']:6.1%} {s['ngram']:9.1%} (k={s['ngram_k']}) {s['repeat_last']:12.1%} "
                f"{s['chance']:7.1%}"
            )
    probs = predicted[-1]  # after each move of TEST_MOVES
    print(
        f"\nthe listing's test, {cfg.TEST_MOVES}: the predicted next move after each step (probabilities)"
    )
    print("  step move   P(rock) P(paper) P(scissors)  argmax")
    for t, (m, p) in enumerate(zip(test, probs)):
        guess = int(p.argmax())
        print(
            f"  {t + 1:>4} {m:>4}   {p[0]:7.3f} {p[1]:8.3f} {p[2]:11.3f}  {guess} ({rules.MOVE_NAMES[guess]})"
        )
    # Keras calls .h5 "legacy" on every save: no news here
    logging.getLogger("absl").setLevel(logging.ERROR)
    run.save_model(model, cfg.MODEL_FILE)  # the listing's RPS_model.h5
    run.save_model(model, "model.keras")

    # --- The model against simulated players, in new games; the figure.
    rates = versus.against_habits(
        model, cfg.VERSUS_GAMES, cfg.VERSUS_MOVES, cfg.VERSUS_NOISE, cfg.seed, cfg.NGRAM_K
    )
    if rates:
        print(
            f"\nthe model against simulated players ({cfg.VERSUS_GAMES} new games x {cfg.VERSUS_MOVES} rounds "
            f"each, {cfg.VERSUS_NOISE:.0%} random moves; 'random' has no habit): share of rounds won, drawn, "
            f"lost; share of the player's moves the model read right, and an n-gram table (k = "
            f"{cfg.NGRAM_K}) reading the same moves"
        )
        for kind, r in rates.items():
            print(
                f"  {kind:<20} model wins {r['win']:6.1%}  draws {r['draw']:6.1%}  loses {r['loss']:6.1%}   "
                f"read: model {r['model_read']:6.1%}  n-gram {r['ngram_read']:6.1%}"
            )
    shown = max(range(len(held_out)), key=lambda i: len(held_out[i]))
    run.save_figure(
        figure.game_figure(
            held_out[shown],
            predicted[1 + shown],
            rates,
            f"the longest held-out game ({len(held_out[shown])} moves)",
        ),
        "rps.png",
    )
    print(
        f"fit: {fit_seconds:.1f} s for {cfg.EPOCHS - initial_epoch} epochs over {len(train)} games"
    )
    run.finish(
        dataset={
            "name": "rock-paper-scissors games",
            "source": str(data_file),
            "note": "generated by chapter2.standins.players (simulated players with habits) plus any "
            "games appended by --play",
            "games": len(played),
            "moves": sum(map(len, played)),
            "train_games": len(train),
            "held_out_games": len(held_out),
        },
        metrics=dict(
            results,
            test_moves={
                "moves": cfg.TEST_MOVES,
                "probabilities": np.round(probs, 4).tolist(),
                "argmax": probs.argmax(axis=1).tolist(),
            },
            new_simulated_players=fresh,
            versus_simulated_players=rates,
            fit_seconds=round(fit_seconds, 2),
            parameters=model.count_params(),
        ),
    )
    if cfg.play is not None:
        terminal.play_terminal(
            model, data_file, cfg.MIN_GAME_MOVES, seed=cfg.seed, ngram_k=cfg.NGRAM_K
        )
    return 0


if __name__ == "__main__":
    sys.exit(flags.run(main))

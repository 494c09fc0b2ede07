"""An LSTM that reads a rock-paper-scissors player, and plays against you.

Chapter 2, "Playing Rock, Paper, Scissors with LSTMs": data.txt holds games,
one per line, the moves one player made (0 = rock, 1 = paper, 2 = scissors).
At every step of every game the network sees the moves so far and predicts
the player's next one: three LSTM layers of 64 units returning sequences,
Dense(64, relu) twice, Dense(3, softmax); adam, categorical cross-entropy.
Knowing your next move, it plays what beats it.

Run it:

    python Chapter_2_5.py                    # train on data.txt, evaluate, save
    python Chapter_2_5.py --quick            # a smoke run in well under a minute
    python Chapter_2_5.py --play             # train, then play it in the terminal
    python Chapter_2_5.py --play runs/chapter_2_5/<timestamp>/RPS_model.h5
    python Chapter_2_5.py --help             # every constant below is also a flag

--data-file PATH reads another file of games (and --play appends to it).
In the game press r, p or s (or 0, 1, 2); q quits. When input is not a
terminal, moves are read from it (``printf 'r\\np\\nq\\n' | python
Chapter_2_5.py --play MODEL``). A game of at least 10 moves is appended to
data.txt when you quit, so the next training run learns from you too.

Exercise 10: change the units of the three LSTM layers (--lstm-units 128,32,16).

data.txt was written by the project's own simulated players (people with
habits: repeating, cycling, doubling, alternating, win-stay/lose-shift,
switching habit mid-game, with some random moves):
``python -m chapter2.standins.players --seed 7 --out data.txt`` rewrites it.

What differs from the printed listing, and why:
- It trains on all games at once (padded into batches, padded steps masked
  out of the loss and the metrics) instead of one fit() per game: the same
  task, one fit() call, many times faster.
- Moves go in one-hot (three inputs) instead of as the number 0, 1 or 2:
  moves are categories, not quantities, and an all-zero row then marks
  padding. --no-one-hot feeds the raw value as the chapter did (padding -1).
- ACTIVATION is tanh, not the chapter's sigmoid: with sigmoid the LSTM
  cells learn far more slowly; after the same 30 epochs the model still
  predicts one move for everything (held-out games: 31.6% with sigmoid,
  71.0% with tanh). --activation sigmoid to see it.
- It reports accuracy beside chance (33.3%) and two simple predictors
  (repeat the last move; the most frequent move so far), so you can see
  whether the LSTM learned anything; the listing hid every failure behind
  a bare ``except: print("error")``.

Writes runs/chapter_2_5/<timestamp>/: TensorBoard logs, RPS_model.h5 (the
chapter's file name) and model.keras, history.csv and metrics.json.
"""

import logging
import sys
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

from chapter2.run import flags, runfolder
from chapter2.standins import players
from chapter2.game import rps
from chapter2.run.errors import InputError

# --- Constants: the chapter's settings, and the knobs for its exercises -----
DATA_FILE = "data.txt"        # games, one per line (the chapter's file)
MODEL_FILE = "RPS_model.h5"   # the chapter's file name, saved in the run folder
LSTM_UNITS = (64, 64, 64)     # units of the three LSTM layers (exercise 10: 128,32,16)
ACTIVATION = "tanh"           # the LSTMs' activation; the chapter's "sigmoid" learns far slower (docstring)
DENSE_UNITS = (64, 64)        # the two Dense(relu) layers after the LSTMs
ONE_HOT = True                # moves as one-hot rows (False: the chapter's raw 0/1/2 value)
EPOCHS = 30                   # passes over all games (the listing: 100 per game, game by game)
BATCH_SIZE = 8                # games per batch (similar lengths), padded to its longest game
LEARNING_RATE = 0.01          # adam (its default, 0.001, needs many times the epochs)
HELD_OUT_GAMES = 5            # games kept out of training, for validation
MIN_GAME_MOVES = 10           # shorter games are skipped (and not saved by --play)
VALIDATION_GAME = ("100101000110221110101002201101101101002201011012222210221011011101"
                   "011122110010101010101")  # the chapter's validation game
TEST_MOVES = "000111222"      # the chapter's test sequence
VERSUS_GAMES = 10             # new games against each simulated habit
VERSUS_MOVES = 100            # rounds per such game
VERSUS_NOISE = 0.1            # the simulated players' share of random moves


def build_model(lstm_units=LSTM_UNITS, activation=ACTIVATION, dense_units=DENSE_UNITS,
                one_hot=ONE_HOT, learning_rate=LEARNING_RATE):
    """The chapter's network. Keras 3 no longer takes LSTM(output_dim=64,
    input_dim=1): units=64 and an explicit input of (time steps, features),
    with any number of time steps (None), so that one model reads games of
    every length."""
    features = 3 if one_hot else 1
    model = keras.Sequential(name="rps")
    model.add(keras.Input(shape=(None, features), name="moves"))
    # Padded steps (after the end of a shorter game) carry the mask value:
    # the LSTMs skip them and they count in neither the loss nor accuracy.
    model.add(layers.Masking(mask_value=rps.pad_value(one_hot)))
    for units in lstm_units:
        model.add(layers.LSTM(units, return_sequences=True, activation=activation))
    for units in dense_units:
        model.add(layers.Dense(units, activation="relu"))
    model.add(layers.Dense(3, activation="softmax", name="next_move"))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def predict_games(model, games, one_hot=ONE_HOT):
    """The model's predicted next move at every step of each game."""
    x, _, _ = rps.windows(games, one_hot)
    probs = model.predict(x, batch_size=64, verbose=0)
    return [probs[i, :len(g) - 1].argmax(axis=1) for i, g in enumerate(games)]


def compare(model, games, one_hot=ONE_HOT):
    """Accuracy of the model and of the simple predictors on the same games."""
    return {
        "model": rps.accuracy(predict_games(model, games, one_hot), games),
        "repeat_last": rps.accuracy([rps.predict_repeat_last(g) for g in games], games),
        "most_frequent": rps.accuracy([rps.predict_most_frequent(g) for g in games], games),
        "chance": 1 / 3,
        "moves": sum(len(g) - 1 for g in games),
    }


def print_comparison(title, scores):
    print(f"{title} ({scores['moves']} predictions): model {scores['model']:.1%} | "
          f"repeat last {scores['repeat_last']:.1%} | most frequent so far {scores['most_frequent']:.1%} | "
          f"chance 33.3%")


def versus_players(model, games, moves, noise, seed):
    """Win/draw/loss rates of the model against each simulated habit, in
    new games (not those of data.txt)."""
    results = {}
    kinds = list(players.HABITS) + ["switching", "random"]
    for n, kind in enumerate(kinds):
        rng = np.random.default_rng([seed, 1000 + n])

        def make(kind=kind, rng=rng):
            if kind == "switching":
                habits = [str(h) for h in rng.choice(players.HABITS, size=3, replace=False)]
                cut = sorted(int(c) for c in rng.choice(np.arange(10, moves - 10), 2, replace=False))
                return players.Player(habits, rng, noise, switch_every=[cut[0], cut[1] - cut[0]])
            return players.Player([kind], rng, 0.0 if kind == "random" else noise)

        counts = rps.play_against(model, make, moves, games)
        total = sum(counts.values())
        results[kind] = {k: round(v / total, 4) for k, v in counts.items()}
    return results


def add_flags(parser):
    parser.add_argument("--play", nargs="?", const="", default=None, metavar="MODEL",
                        help="play against a saved model (.h5 or .keras) in the terminal; "
                             "without MODEL, train one first")


def resolve_data_file(name):
    """data.txt as given; a relative default also found beside this script."""
    path = Path(name)
    if not path.is_absolute() and not path.exists() and (Path(__file__).parent / path).exists():
        return Path(__file__).parent / path
    return path


def play(model, data_file, cfg):
    data_file = Path(data_file)
    if data_file.exists():
        # Never append to a file that is not games (an empty one is fine).
        try:
            rps.parse_games(data_file.read_bytes(), str(data_file), notice=None)
        except OSError as err:
            raise InputError(f"--data-file {data_file}: cannot read ({err.strerror})") from None
    elif not data_file.parent.is_dir():
        raise InputError(f"--data-file {data_file}: its folder does not exist")
    print(f"games of {cfg.MIN_GAME_MOVES}+ moves are saved to {data_file}")
    rps.play_terminal(model, data_file, cfg.MIN_GAME_MOVES, seed=cfg.seed)
    return 0


def main(argv=None):
    cfg = flags.parse_args(
        globals(), argv,
        quick={"EPOCHS": 6, "VERSUS_GAMES": 2, "VERSUS_MOVES": 30},
        bounds={"LSTM_UNITS": (1, 1024), "DENSE_UNITS": (1, 1024), "EPOCHS": (1, None),
                "BATCH_SIZE": (1, None), "MIN_GAME_MOVES": (2, None), "HELD_OUT_GAMES": (1, None),
                "VERSUS_MOVES": (22, None),
                "VERSUS_NOISE": (0, 1), "LEARNING_RATE": (0, 1)},
        extra=add_flags,
    )
    if len(cfg.LSTM_UNITS) != 3:
        raise InputError(f"--lstm-units expects three values (the chapter's three LSTM layers), "
                         f"got {len(cfg.LSTM_UNITS)}")
    if cfg.ACTIVATION not in rps.LSTM_ACTIVATIONS:
        raise InputError(f"--activation must be one of {', '.join(rps.LSTM_ACTIVATIONS)}, got {cfg.ACTIVATION!r}")
    for flag, text in (("--validation-game", cfg.VALIDATION_GAME), ("--test-moves", cfg.TEST_MOVES)):
        if len(text) < 2 or set(text) - set("012"):
            raise InputError(f"{flag} expects at least two moves made of 0, 1 and 2, got {text!r}")
    if Path(cfg.MODEL_FILE).suffix not in (".h5", ".keras") or Path(cfg.MODEL_FILE).name != cfg.MODEL_FILE:
        raise InputError(f"--model-file expects a file name ending in .h5 or .keras (saved in the run "
                         f"folder), got {cfg.MODEL_FILE!r}")
    data_file = resolve_data_file(cfg.DATA_FILE)

    if cfg.play:  # a saved model: straight to the game
        return play(rps.load_model(cfg.play), data_file, cfg)

    # --- Data: every game, padded into one array; a few games held out.
    games = rps.read_games(data_file, cfg.MIN_GAME_MOVES)
    if len(games) < 2:
        raise InputError(f"{data_file}: needs at least two games (one to train on, one held out), "
                         f"found {len(games)}")
    run = runfolder.start("chapter_2_5", cfg)
    train, held_out = rps.split_games(games, cfg.HELD_OUT_GAMES, cfg.seed)
    batches = rps.GameBatches(train, cfg.BATCH_SIZE, cfg.ONE_HOT, seed=cfg.seed)
    xv, yv, _ = rps.windows(held_out, cfg.ONE_HOT)
    moves = sum(len(g) for g in games)
    print(f"data: {data_file}: {len(games)} games, {moves} moves (games of {min(map(len, games))} to "
          f"{max(map(len, games))} moves); training on {len(train)} in {len(batches)} batches of "
          f"similar length, holding out {len(held_out)}")

    # --- Model
    model = build_model(cfg.LSTM_UNITS, cfg.ACTIVATION, cfg.DENSE_UNITS, cfg.ONE_HOT, cfg.LEARNING_RATE)
    model.summary()

    # --- Training: one fit over all games; each epoch sees every game once.
    steps = sum(len(g) - 1 for g in train)
    t0 = time.perf_counter()
    model.fit(batches, epochs=cfg.EPOCHS, validation_data=(xv, yv),
              callbacks=run.callbacks(samples_per_epoch=steps), verbose=2)
    fit_seconds = time.perf_counter() - t0

    # --- Honest evaluation: the model beside chance and simple predictors.
    validation_game = [int(c) for c in cfg.VALIDATION_GAME]
    chapter_val = compare(model, [validation_game], cfg.ONE_HOT)
    held = compare(model, held_out, cfg.ONE_HOT)
    trained = compare(model, train, cfg.ONE_HOT)
    print()
    print_comparison("the chapter's validation game", chapter_val)
    print_comparison(f"held-out games ({len(held_out)})", held)
    print_comparison(f"training games ({len(train)})", trained)

    # The chapter's test: what follows each step of 0,0,0,1,1,1,2,2,2?
    test = [int(c) for c in cfg.TEST_MOVES]
    probs = model.predict(rps.encode(test, cfg.ONE_HOT)[None], verbose=0)[0]
    print(f"\nthe chapter's test, {cfg.TEST_MOVES}: predicted next move after each step")
    print("  step move   P(rock) P(paper) P(scissors)  argmax")
    for t, (m, p) in enumerate(zip(test, probs)):
        print(f"  {t + 1:>4} {m:>4}   {p[0]:7.3f} {p[1]:8.3f} {p[2]:11.3f}  {int(p.argmax())} "
              f"({players.MOVE_NAMES[int(p.argmax())]})")

    # The chapter's RPS_model.h5 (HDF5, via h5py); Keras calls the format
    # legacy and says so on every save, which is not news here.
    logging.getLogger("absl").setLevel(logging.ERROR)
    run.save_model(model, cfg.MODEL_FILE)
    run.save_model(model, "model.keras")

    # --- The model against simulated players, in new games.
    versus = versus_players(model, cfg.VERSUS_GAMES, cfg.VERSUS_MOVES, cfg.VERSUS_NOISE, cfg.seed)
    print(f"\nthe model against simulated players ({cfg.VERSUS_GAMES} new games x {cfg.VERSUS_MOVES} "
          f"rounds each, {cfg.VERSUS_NOISE:.0%} random moves; 'random' has no habit):")
    for kind, r in versus.items():
        print(f"  {kind:<20} model wins {r['win']:6.1%}  draws {r['draw']:6.1%}  loses {r['loss']:6.1%}")

    history = run.history()
    metrics = {
        "chapter_validation_game": chapter_val, "held_out": held, "training_games": trained,
        "test_moves": {"moves": cfg.TEST_MOVES, "probabilities": np.round(probs, 4).tolist(),
                       "argmax": probs.argmax(axis=1).tolist()},
        "versus_simulated_players": versus,
        "fit_seconds": round(fit_seconds, 2), "parameters": model.count_params(),
    }
    run.finish(dataset={"name": "rock-paper-scissors games", "source": str(data_file),
                        "note": "generated by chapter2.standins.players (simulated players with habits) plus any "
                                "games appended by --play",
                        "games": len(games), "moves": moves, "train_games": len(train),
                        "held_out_games": len(held_out)},
               metrics=metrics, history=history)
    print(f"fit: {fit_seconds:.1f} s for {cfg.EPOCHS} epochs over {len(train)} games")
    if cfg.play is not None:
        return play(model, data_file, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(flags.run(main))

"""Rock-paper-scissors games for Chapter_2_5: reading data.txt, padding games
into batches, simple predictors to compare with, stepping a trained model
one move at a time, and the terminal game.

Moves are 0 = rock, 1 = paper, 2 = scissors; ``(m + 1) % 3`` beats ``m``.
"""

import os
import sys
from pathlib import Path

import keras
import numpy as np

from chapter2.run.errors import InputError
from chapter2.standins.players import MOVE_NAMES, beats, outcome

TRAILING_WHITESPACE = b" \t\r\f\v"
KEYS = {"r": 0, "p": 1, "s": 2, "0": 0, "1": 1, "2": 2}


# --- data.txt --------------------------------------------------------------
def parse_games(data, name="data.txt", min_moves=10, notice=print):
    """Games (lists of ints) from the bytes of a data.txt.

    One game per line, each character 0, 1 or 2. CRLF endings, trailing
    whitespace and blank lines are fine; any other character is an
    InputError naming the file, line and column. Games shorter than
    `min_moves` are skipped with a notice."""
    games, short = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.rstrip(TRAILING_WHITESPACE)
        for column, byte in enumerate(line, start=1):
            if byte not in b"012":
                char = line[column - 1:column + 3].decode("utf-8", errors="replace")[:1]
                raise InputError(f"{name}: line {number}, column {column}: unexpected character "
                                 f"{char!r}; expected one game per line made of 0, 1 and 2 "
                                 "(rock, paper, scissors)")
        if not line:
            continue
        if len(line) < min_moves:
            short.append(number)
            continue
        games.append([b - 48 for b in line])
    if short and notice is not None:
        lines = ", ".join(map(str, short[:10])) + (" ..." if len(short) > 10 else "")
        notice(f"note: {name}: skipped {len(short)} game(s) shorter than {min_moves} moves (line {lines})")
    return games


def read_games(path, min_moves=10, notice=print):
    """parse_games on a file, with one clear InputError when it is missing,
    unreadable, empty or holds no usable game."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; expected rock-paper-scissors games, one per line "
                         "(write one with: python -m chapter2.standins.players --out data.txt)") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; expected a text file of games, one per line") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    if not data.strip():
        raise InputError(f"{path}: is empty; expected rock-paper-scissors games, one per line of 0/1/2")
    games = parse_games(data, str(path), min_moves, notice)
    if not games:
        raise InputError(f"{path}: no game of at least {min_moves} moves to train on")
    return games


def append_game(path, moves):
    """Add one game as a new last line of `path`: opened for appending, the
    line written in one call and flushed to disk, so lines already in the
    file are never rewritten and a crash loses at most this game."""
    path = Path(path)
    line = "".join(str(int(m)) for m in moves) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size:
            # A file whose last line has no newline gets one first, so the
            # new game never joins the old last line.
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    line = "\n" + line
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


# --- encoding and batches --------------------------------------------------
def encode(moves, one_hot=True):
    """Model inputs for a list of moves: (T, 3) one-hot rows, or (T, 1) raw
    move values as the chapter fed them."""
    moves = np.asarray(moves, dtype="int64")
    if one_hot:
        return np.eye(3, dtype="float32")[moves]
    return moves.astype("float32")[:, None]


def pad_value(one_hot=True):
    """What padded steps hold: an all-zero row for one-hot inputs (no move
    is all zeros), -1 for raw values (0 is rock)."""
    return 0.0 if one_hot else -1.0


def windows(games, one_hot=True, length=None):
    """All games padded into arrays: x (N, T, F) = moves 0..n-2, y (N, T, 3)
    = one-hot of moves 1..n-1 (the next move at every step), w (N, T) = 1
    for real steps and 0 for padding. T is the longest game minus one, or
    `length`."""
    longest = max(len(g) for g in games) - 1
    T = longest if length is None else int(length)
    features = 3 if one_hot else 1
    x = np.full((len(games), T, features), pad_value(one_hot), dtype="float32")
    y = np.zeros((len(games), T, 3), dtype="float32")
    w = np.zeros((len(games), T), dtype="float32")
    for i, g in enumerate(games):
        n = min(len(g) - 1, T)
        x[i, :n] = encode(g[:n], one_hot)
        y[i, np.arange(n), np.asarray(g[1:n + 1])] = 1.0
        w[i, :n] = 1.0
    return x, y, w


class GameBatches(keras.utils.PyDataset):
    """All games in batches for ``fit``: games of similar length share a
    batch (sorted by length), and each batch is padded only to its own
    longest game, so short games do not pay for the long ones. The order of
    the batches is shuffled every epoch. Items are (x, y) as ``windows``
    makes them; padded steps are masked by the model's Masking layer."""

    def __init__(self, games, batch_size, one_hot=True, shuffle=True, seed=0, **kwargs):
        super().__init__(**kwargs)
        games = sorted(games, key=len)
        self.batches = [windows(games[i:i + batch_size], one_hot)[:2]
                        for i in range(0, len(games), batch_size)]
        self.order = np.arange(len(self.batches))
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[self.order[index]]

    def on_epoch_end(self):
        if self.shuffle:
            self.rng.shuffle(self.order)

    @property
    def padded_steps(self):
        """Time steps the LSTMs run through per epoch (one per step of each batch)."""
        return sum(x.shape[1] for x, _ in self.batches)


def split_games(games, held_out, seed):
    """(train, held-out): `held_out` games picked at random (per seed), never
    all of them."""
    held_out = max(0, min(int(held_out), len(games) - 1))
    order = np.random.default_rng(seed).permutation(len(games))
    keep = set(int(i) for i in order[:held_out])
    return ([g for i, g in enumerate(games) if i not in keep],
            [g for i, g in enumerate(games) if i in keep])


# --- predictors --------------------------------------------------------------
def predict_repeat_last(game):
    """At every step, predict that the player repeats the move just made."""
    return list(game[:-1])


def predict_most_frequent(game):
    """At every step, predict the move played most often so far in this game
    (ties: the lowest move number)."""
    counts = np.zeros(3, dtype=int)
    out = []
    for m in game[:-1]:
        counts[m] += 1
        out.append(int(np.argmax(counts)))
    return out


def accuracy(predictions, games):
    """Share of next moves predicted right; `predictions` holds, per game,
    one prediction for each of moves 1..n-1."""
    right = total = 0
    for p, g in zip(predictions, games):
        right += int(np.sum(np.asarray(p) == np.asarray(g[1:])))
        total += len(g) - 1
    return right / total if total else float("nan")


# --- the model, one move at a time ------------------------------------------
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


_ACTIVATIONS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda z: np.maximum(z, 0.0),
                "linear": lambda z: z, "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0)}
LSTM_ACTIVATIONS = ("tanh", "sigmoid", "relu", "hard_sigmoid", "linear")


class Stepper:
    """The trained stack (LSTM layers, then Dense layers) run one move at a
    time in NumPy, for many games at once, carrying each LSTM's state. The
    same maths as ``model.predict`` on the whole sequence (a test checks
    it), without recomputing the past at every move."""

    def __init__(self, model):
        self.one_hot, self.layers = check_model(model)
        self.reset(1)

    def reset(self, games):
        self.state = [(np.zeros((games, l["units"])), np.zeros((games, l["units"])))
                      for l in self.layers if l["kind"] == "lstm"]

    def step(self, moves):
        """Feed one move per game (a sequence of ints); return the predicted
        probabilities of each game's next move, shape (games, 3)."""
        x = encode(moves, self.one_hot).astype("float64")
        k = 0
        for l in self.layers:
            if l["kind"] == "lstm":
                h, c = self.state[k]
                z = x @ l["kernel"] + h @ l["recurrent"] + l["bias"]
                i, f, g, o = np.split(z, 4, axis=1)       # Keras' gate order
                ra = l["recurrent_activation"]
                c = ra(f) * c + ra(i) * l["activation"](g)
                h = ra(o) * l["activation"](c)
                self.state[k] = (h, c)
                x, k = h, k + 1
            else:
                z = x @ l["kernel"] + l["bias"]
                if l["softmax"]:
                    z = np.exp(z - z.max(axis=1, keepdims=True))
                    x = z / z.sum(axis=1, keepdims=True)
                else:
                    x = l["activation"](z)
        return x

    def run(self, game):
        """Probabilities of the next move after each move of `game`, (T, 3)."""
        self.reset(1)
        return np.concatenate([self.step([m]) for m in game])


def check_model(model, name="model"):
    """(one_hot, layer list) when `model` is this chapter's kind of model:
    input (None, None, 3 or 1), LSTM layers returning sequences, then Dense
    layers ending in 3 softmax outputs; otherwise an InputError."""
    def bad(why):
        return InputError(f"{name}: not a rock-paper-scissors model of this chapter's shape ({why}); "
                          "expected inputs (batch, moves, 3 or 1), LSTM layers then Dense layers, "
                          "3 softmax outputs")

    try:
        in_shape = tuple(model.inputs[0].shape)
        out_shape = tuple(model.outputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):
        raise bad("no single input and output") from None
    if len(in_shape) != 3 or in_shape[-1] not in (1, 3):
        raise bad(f"input shape {in_shape}")
    if len(out_shape) != 3 or out_shape[-1] != 3:
        raise bad(f"output shape {out_shape}")
    stack, seen_dense = [], False
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "Masking", "Dropout"):
            continue
        cfg = layer.get_config()
        if kind == "LSTM" and not seen_dense:
            if not cfg.get("return_sequences") or cfg.get("go_backwards") or not cfg.get("use_bias", True):
                raise bad(f"LSTM layer {layer.name} must return sequences, run forwards and use a bias")
            act, ract = _activation(cfg["activation"]), _activation(cfg["recurrent_activation"])
            if act is None or ract is None:
                raise bad(f"LSTM layer {layer.name} uses an unsupported activation")
            kernel, recurrent, bias = (np.asarray(w, dtype="float64") for w in layer.get_weights())
            stack.append(dict(kind="lstm", units=cfg["units"], kernel=kernel, recurrent=recurrent,
                              bias=bias, activation=act, recurrent_activation=ract))
        elif kind == "Dense" and stack:
            seen_dense = True
            weights = layer.get_weights()
            if len(weights) != 2:
                raise bad(f"Dense layer {layer.name} without a bias")
            name_act = cfg["activation"] if isinstance(cfg["activation"], str) else ""
            act = _activation(name_act) if name_act != "softmax" else None
            if act is None and name_act != "softmax":
                raise bad(f"Dense layer {layer.name} uses an unsupported activation")
            stack.append(dict(kind="dense", kernel=np.asarray(weights[0], dtype="float64"),
                              bias=np.asarray(weights[1], dtype="float64"), activation=act,
                              softmax=name_act == "softmax"))
        else:
            raise bad(f"unexpected layer {layer.name} ({kind})")
    if not stack or stack[-1]["kind"] != "dense" or not stack[-1]["softmax"]:
        raise bad("it does not end in a softmax Dense layer")
    return in_shape[-1] == 3, stack


def _activation(value):
    if isinstance(value, str):
        return _ACTIVATIONS.get(value)
    return None


def load_model(path):
    """A saved model (.h5 or .keras), checked to be of this chapter's shape;
    an InputError for a missing file or any other kind of file."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--play {path}: no such model file (train one first, or give --play without a path)")
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as err:  # any unreadable or foreign file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"--play {path}: cannot load a Keras model from it ({first[:160]})") from None
    check_model(model, f"--play {path}")
    return model


# --- playing -----------------------------------------------------------------
def play_against(model, player, moves, games=1):
    """The model plays `games` new games of `moves` rounds against simulated
    players (a function ``make_player() -> chapter2.standins.players.Player``): at
    every round it predicts the player's next move from the player's moves
    so far and plays what beats it. Returns counts {win, draw, loss} from
    the model's side."""
    stepper = Stepper(model)
    players = [player() for _ in range(games)]
    stepper.reset(games)
    mine = [[] for _ in range(games)]     # the simulated players' moves
    theirs = [[] for _ in range(games)]   # the model's moves
    counts = {"win": 0, "draw": 0, "loss": 0}
    rng = np.random.default_rng(0)
    prediction = None
    for _ in range(moves):
        if prediction is None:
            model_moves = [int(m) for m in rng.integers(3, size=games)]
        else:
            model_moves = [beats(int(p)) for p in prediction.argmax(axis=1)]
        human = [p.move(mi, th) for p, mi, th in zip(players, mine, theirs)]
        for i in range(games):
            r = outcome(model_moves[i], human[i])
            counts["win" if r > 0 else "loss" if r < 0 else "draw"] += 1
            mine[i].append(human[i])
            theirs[i].append(model_moves[i])
        prediction = stepper.step(human)
    return counts


def read_key(stream):
    """One keypress at a terminal: 'q' to quit, or a move 0/1/2; None at
    the end of input. Keys that mean nothing are ignored."""
    while True:
        ch = stream.read(1)
        if ch == "":
            return None
        ch = ch.lower()
        if ch in ("q", "\x03", "\x04"):   # q, Ctrl-C, Ctrl-D
            return "q"
        if ch in KEYS:
            return KEYS[ch]


def read_line(stream, out):
    """One line of input when stdin is not a terminal: r/p/s, 0/1/2 or the
    move's name; q (or quit) to quit; None at the end of input. Other lines
    are ignored with a notice."""
    for line in iter(stream.readline, ""):
        text = line.strip().lower()
        if not text:
            continue
        if text in ("q", "quit"):
            return "q"
        if text in KEYS:
            return KEYS[text]
        if text in MOVE_NAMES:
            return MOVE_NAMES.index(text)
        print(f"ignored {line.strip()!r}: type r, p or s (or 0, 1, 2), q to quit", file=out)
    return None


class _Keypresses:
    """stdin in cbreak mode (single keys, no echo) while in the block,
    restored on the way out, however that happens."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        import termios
        import tty

        self.fd = self.stream.fileno()
        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc):
        import termios

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        return False


def play_terminal(model, data_file, min_moves=10, stdin=None, out=None, seed=None):
    """The game in the terminal. Each round the model predicts your next move
    from your moves so far and plays what beats it. Single keypresses at a
    terminal, lines of input otherwise (so it can be scripted). On quit, a
    game of at least `min_moves` moves is appended to `data_file`.
    Returns (your moves, the model's moves, score dict)."""
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    stepper = Stepper(model)
    rng = np.random.default_rng(seed)
    you, them = [], []
    score = {"you": 0, "model": 0, "draws": 0}
    tty_mode = hasattr(stdin, "isatty") and stdin.isatty()
    print("Rock, paper, scissors against the model: r = rock, p = paper, s = scissors "
          "(or 0/1/2), q to quit." + ("" if tty_mode else " Reading moves from input."), file=out)
    prediction = None

    def loop():
        nonlocal prediction
        while True:
            if prediction is None:
                expected, confidence = None, None
                model_move = int(rng.integers(3))
            else:
                expected = int(prediction.argmax())
                confidence = float(prediction[expected])
                model_move = beats(expected)
            if tty_mode:
                print("your move (r/p/s, q quits): ", end="", file=out, flush=True)
            key = read_key(stdin) if tty_mode else read_line(stdin, out)
            if key is None or key == "q":
                if tty_mode:
                    print("\r" + " " * 30 + "\r", end="", file=out)   # wipe the prompt
                return
            r = outcome(key, model_move)
            score["you" if r > 0 else "model" if r < 0 else "draws"] += 1
            result = "you win" if r > 0 else "model wins" if r < 0 else "draw"
            guess = ("model had no moves of yours to go on" if expected is None else
                     f"model expected {MOVE_NAMES[expected]} ({confidence:.0%})")
            start = "\r" if tty_mode else ""    # over the prompt
            print(f"{start}round {len(you) + 1}: you {MOVE_NAMES[key]:<8} model {MOVE_NAMES[model_move]:<8} "
                  f"{result:<10} score you {score['you']} - model {score['model']} - draws {score['draws']}"
                  f"   [{guess}]", file=out, flush=True)
            you.append(key)
            them.append(model_move)
            prediction = stepper.step([key])[0]

    try:
        if tty_mode:
            with _Keypresses(stdin):
                loop()
        else:
            loop()
    except KeyboardInterrupt:
        print("", file=out)
    finally:
        rounds = len(you)
        if rounds >= min_moves:
            append_game(data_file, you)
            print(f"saved your {rounds} moves as a new game at the end of {data_file}", file=out)
        elif rounds:
            print(f"not saved: games shorter than {min_moves} moves are not added to {data_file}", file=out)
        if rounds:
            print(f"final score: you {score['you']} - model {score['model']} - draws {score['draws']} "
                  f"in {rounds} rounds", file=out)
    return you, them, score

"""Rock-paper-scissors games: data.txt read, checked and appended to, and
games made into model inputs (encoded, padded, batched by length).

data.txt holds one game per line, the moves one player made: 0 = rock,
1 = paper, 2 = scissors (``0120012...``).
"""

import os
import tempfile
from pathlib import Path

import keras
import numpy as np

from chapter2.run.errors import InputError

TRAILING_WHITESPACE = b" \t\r\f\v"


# --- data.txt ----------------------------------------------------------------
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
                char = line[column - 1 : column + 3].decode("utf-8", errors="replace")[:1]
                raise InputError(
                    f"{name}: line {number}, column {column}: unexpected character "
                    f"{char!r}; expected one game per line made of 0, 1 and 2 "
                    "(rock, paper, scissors)"
                )
        if not line:
            continue
        if len(line) < min_moves:
            short.append(number)
            continue
        games.append([b - 48 for b in line])
    if short and notice is not None:
        lines = ", ".join(map(str, short[:10])) + (" ..." if len(short) > 10 else "")
        notice(
            f"note: {name}: skipped {len(short)} game(s) shorter than {min_moves} moves (line {lines})"
        )
    return games


def read_games(path, min_moves=10, notice=print):
    """parse_games on a file, with one clear InputError when it is missing,
    unreadable, empty or holds no usable game."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such file; expected rock-paper-scissors games, one per line "
            "(write one with: python -m chapter2.standins.players --out data.txt)"
        ) from None
    except IsADirectoryError:
        raise InputError(
            f"{path}: is a folder; expected a text file of games, one per line"
        ) from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    if not data.strip():
        raise InputError(
            f"{path}: is empty; expected rock-paper-scissors games, one per line of 0/1/2"
        )
    games = parse_games(data, str(path), min_moves, notice)
    if not games:
        raise InputError(f"{path}: no game of at least {min_moves} moves to train on")
    return games


def check_appendable(path, flag="--data-file"):
    """Refuse, in one line, a games file that a new game could not be added
    to: one that is not games, or that cannot be written (or created). Run
    before the first round, so that no game is played only to be lost."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a folder; expected a text file of games")
    try:
        if path.exists():
            # never append to what is not games
            parse_games(path.read_bytes(), f"{flag} {path}", notice=None)
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        elif not path.parent.is_dir():
            raise InputError(f"{flag} {path}: its folder does not exist")
        else:
            with tempfile.TemporaryFile(dir=path.parent):  # can a file be made there?
                pass
    except OSError as err:
        raise InputError(
            f"{flag} {path}: cannot be written ({err.strerror or err}); "
            "your games could not be saved"
        ) from None


def append_game(path, moves):
    """Add one game as a new last line of `path`, or nothing at all.

    The file is opened for appending and the line written in one call and
    synced to disk, so lines already there are never rewritten. A write that
    fails part way (a full disk) is taken back, so the file never ends in
    half a game; the OSError is raised for the caller to report."""
    path = Path(path)
    line = "".join(str(int(m)) for m in moves) + "\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line  # the old last line had no newline: never join it
        data = line.encode("ascii")
        try:
            if os.write(fd, data) != len(data):
                raise OSError(28, "only part of the line could be written")
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


# --- model inputs --------------------------------------------------------------
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
    steps = longest if length is None else int(length)
    x = np.full((len(games), steps, 3 if one_hot else 1), pad_value(one_hot), dtype="float32")
    y = np.zeros((len(games), steps, 3), dtype="float32")
    w = np.zeros((len(games), steps), dtype="float32")
    for i, g in enumerate(games):
        n = min(len(g) - 1, steps)
        x[i, :n] = encode(g[:n], one_hot)
        y[i, np.arange(n), np.asarray(g[1 : n + 1])] = 1.0
        w[i, :n] = 1.0
    return x, y, w


class GameBatches(keras.utils.PyDataset):
    """All games in batches for ``fit``: games of similar length share a
    batch (sorted by length), and each batch is padded only to its own
    longest game, so short games do not pay for the long ones. The order of
    the batches is shuffled every epoch. Items are (x, y) as ``windows``
    makes them; padded steps are masked by the model's Masking layer.

    With `window`, a game longer than `window` moves is cut into pieces of
    about `window` moves (``cut``): more, shorter sequences, so more
    updates per epoch for the same moves, each piece starting anywhere in
    a player's pattern."""

    def __init__(
        self,
        games,
        batch_size,
        one_hot=True,
        shuffle=True,
        seed=0,
        window=None,
        rotate=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.one_hot, self.rotate = one_hot, rotate
        if window:
            games = [piece for g in games for piece in cut(g, int(window))]
        games = sorted(games, key=len)
        self.batches = [
            windows(games[i : i + batch_size], one_hot)[:2]
            for i in range(0, len(games), batch_size)
        ]
        self.order = np.arange(len(self.batches))
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        x, y = self.batches[self.order[index]]
        if not self.rotate:
            return x, y
        # Every move of the batch renamed by one turn of rock -> paper -> scissors
        # (0, 1 or 2 turns, at random): a player with the habits turned is a
        # player with the same habits, since what beats what turns with them.
        turn = int(self.rng.integers(3))
        if self.one_hot:
            return np.roll(x, turn, axis=-1), np.roll(y, turn, axis=-1)
        return np.where(x < 0, x, (x + turn) % 3), np.roll(y, turn, axis=-1)

    def on_epoch_end(self):
        if self.shuffle:
            self.rng.shuffle(self.order)
        # Keras takes the shapes of the first batches for those of all: when two
        # lengths are to be had, the first two batches differ in length, so the
        # length of a batch stays free (pieces of games are often all one length).
        steps = [self.batches[i][0].shape[1] for i in self.order]
        other = next((j for j in range(1, len(steps)) if steps[j] != steps[0]), None)
        if other is not None:
            self.order[[1, other]] = self.order[[other, 1]]

    @property
    def padded_steps(self):
        """Time steps the LSTMs run through per epoch (one per step of each batch)."""
        return sum(x.shape[1] for x, _ in self.batches)


def cut(game, window, shortest=10):
    """`game` in pieces of `window` moves (the last one up to `shortest` - 1
    moves longer); each piece starts with the
    last move of the one before (the input to its first prediction), so
    every move of the game is predicted once. A last piece shorter than
    `shortest` moves joins the piece before it."""
    if len(game) <= window:
        return [game]
    starts = list(range(0, len(game) - 1, window - 1))
    if len(game) - starts[-1] < shortest:
        starts.pop()
    return [game[a : b + 1] for a, b in zip(starts, starts[1:] + [len(game) - 1])]


def split_games(games, held_out, seed):
    """(train, held-out): `held_out` games picked at random (per seed), never
    all of them."""
    held_out = max(0, min(int(held_out), len(games) - 1))
    order = np.random.default_rng(seed).permutation(len(games))
    keep = set(int(i) for i in order[:held_out])
    return (
        [g for i, g in enumerate(games) if i not in keep],
        [g for i, g in enumerate(games) if i in keep],
    )

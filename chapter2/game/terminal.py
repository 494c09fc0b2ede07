"""Rock, paper, scissors against a trained model, in the terminal.

Each round the model predicts your next move from your moves so far and
plays what beats it; an online n-gram lookup table (baselines.NGramReader)
predicts the same move from the same moves, and each round shows how often
each has read you right so far. At a terminal each key counts at once (r, p, s or 0,
1, 2; q quits); otherwise moves are read as words of input (``printf 'r p s
q'``), so a game can be scripted. Input is read as bytes: anything that is
not a move, including bytes that are not UTF-8, is ignored with a notice.
When the game ends, a game of at least `min_moves` moves becomes one new
line of the games file.
"""

import os
import sys

import numpy as np

from chapter2.data.games import append_game
from chapter2.game.baselines import NGramReader
from chapter2.game.rules import MOVE_NAMES, beats, outcome
from chapter2.game.stepper import Stepper

KEYS = {"r": 0, "p": 1, "s": 2, "0": 0, "1": 1, "2": 2, "rock": 0, "paper": 1, "scissors": 2}
QUIT = ("q", "quit", "\x03", "\x04")  # q, Ctrl-C, Ctrl-D


def keypresses(stdin):
    """Single keys at a terminal, as text (a byte that is not ASCII comes
    out as the replacement character, which is no key); ends at end of input."""
    fd = stdin.fileno()
    while True:
        byte = os.read(fd, 1)
        if not byte:
            return
        yield byte.decode("ascii", errors="replace").lower()


def words(stdin):
    """The words of input that is not a terminal, decoded as UTF-8 with any
    invalid bytes replaced (so they match no key)."""
    raw = getattr(stdin, "buffer", None)
    for line in iter(raw.readline, b"") if raw is not None else iter(stdin.readline, ""):
        text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
        yield from text.lower().split()


class _Cbreak:
    """stdin in cbreak mode (single keys, no echo) while in the block,
    restored on the way out, however that happens."""

    def __init__(self, stdin):
        self.fd = stdin.fileno()

    def __enter__(self):
        import termios
        import tty

        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc):
        import termios

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        return False


def play_terminal(model, data_file, min_moves=10, stdin=None, out=None, seed=None, ngram_k=3):
    """Play until q, Ctrl-C or the end of input; then append a game of at
    least `min_moves` moves to `data_file` (check it with
    ``games.check_appendable`` first). Returns (your moves, the model's
    moves, score dict); the score dict also counts the moves the model and
    an n-gram reader of context `ngram_k` read right (model_read,
    ngram_read) out of `reads` (every move but the first)."""
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    at_terminal = hasattr(stdin, "isatty") and stdin.isatty()
    stepper = Stepper(model)
    reader = NGramReader(ngram_k)
    rng = np.random.default_rng(seed)
    you, them = [], []
    score = {"you": 0, "model": 0, "draws": 0}
    reads = {"model_read": 0, "ngram_read": 0, "reads": 0}
    print(
        "Rock, paper, scissors against the model: r = rock, p = paper, s = scissors "
        "(or 0/1/2), q to quit." + ("" if at_terminal else " Reading moves from input."),
        file=out,
    )

    def rounds(keys):
        prediction = None
        if at_terminal:
            print("your move (r/p/s, q quits): ", end="", file=out, flush=True)
        for key in keys:
            if key in QUIT:
                return
            if key not in KEYS:
                if not at_terminal or key.strip():
                    print(
                        f"\rignored {ascii(key)}: type r, p or s (or 0, 1, 2), q to quit", file=out
                    )
                continue
            move = KEYS[key]
            if prediction is None:
                expected, model_move = None, int(rng.integers(3))
            else:
                expected = int(prediction.argmax())
                model_move = beats(expected)
            r = outcome(move, model_move)
            score["you" if r > 0 else "model" if r < 0 else "draws"] += 1
            result = "you win" if r > 0 else "model wins" if r < 0 else "draw"
            if expected is None:
                guess = "no move of yours to read yet: the model played at random"
            else:
                table = reader.predict()
                reads["reads"] += 1
                reads["model_read"] += expected == move
                reads["ngram_read"] += table == move
                guess = (
                    f"model expected {MOVE_NAMES[expected]} ({prediction[expected]:.0%}), "
                    f"right {share(reads['model_read'], reads['reads'])} | lookup table expected "
                    f"{MOVE_NAMES[table]}, right {share(reads['ngram_read'], reads['reads'])}"
                )
            print(
                f"\rround {len(you) + 1}: you {MOVE_NAMES[move]:<8} model {MOVE_NAMES[model_move]:<8} "
                f"{result:<10} score you {score['you']} - model {score['model']} - draws {score['draws']}"
                f"\n  {guess}",
                file=out,
                flush=True,
            )
            you.append(move)
            them.append(model_move)
            reader.update(move)
            prediction = stepper.step([move])[0]
            if at_terminal:
                print("your move (r/p/s, q quits): ", end="", file=out, flush=True)

    try:
        if at_terminal:
            with _Cbreak(stdin):
                rounds(keypresses(stdin))
            print("\r" + " " * 30 + "\r", end="", file=out)  # wipe the prompt
        else:
            rounds(words(stdin))
    except KeyboardInterrupt:
        print("", file=out)
    finally:
        save(you, score, data_file, min_moves, out, reads)
    return you, them, dict(score, **reads)


def share(right, total):
    """'3/5 (60%)': right out of total."""
    return f"{right}/{total} ({right / total:.0%})" if total else "0/0"


def save(you, score, data_file, min_moves, out, reads):
    rounds = len(you)
    if rounds >= min_moves:
        try:
            append_game(data_file, you)
        except OSError as err:
            print(
                f"could not save your game to {data_file} ({err.strerror or err}); your moves were "
                + "".join(map(str, you)),
                file=out,
            )
        else:
            print(f"saved your {rounds} moves as a new game at the end of {data_file}", file=out)
    elif rounds:
        print(
            f"not saved: games shorter than {min_moves} moves are not added to {data_file}",
            file=out,
        )
    if rounds:
        print(
            f"the model read {share(reads['model_read'], reads['reads'])} of your moves, the lookup "
            f"table {share(reads['ngram_read'], reads['reads'])}; final score: you {score['you']} - "
            f"model {score['model']} - draws {score['draws']} in {rounds} rounds",
            file=out,
        )

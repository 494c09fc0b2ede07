"""Rock, paper, scissors against a trained model, in the terminal.

Each round the model predicts your next move from your moves so far and
plays what beats it. At a terminal each key counts at once (r, p, s or 0,
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
from chapter2.game.rules import MOVE_NAMES, beats, outcome
from chapter2.game.stepper import Stepper

KEYS = {"r": 0, "p": 1, "s": 2, "0": 0, "1": 1, "2": 2, "rock": 0, "paper": 1, "scissors": 2}
QUIT = ("q", "quit", "\x03", "\x04")   # q, Ctrl-C, Ctrl-D


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


def play_terminal(model, data_file, min_moves=10, stdin=None, out=None, seed=None):
    """Play until q, Ctrl-C or the end of input; then append a game of at
    least `min_moves` moves to `data_file` (check it with
    ``games.check_appendable`` first). Returns (your moves, the model's
    moves, score dict)."""
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    at_terminal = hasattr(stdin, "isatty") and stdin.isatty()
    stepper = Stepper(model)
    rng = np.random.default_rng(seed)
    you, them = [], []
    score = {"you": 0, "model": 0, "draws": 0}
    print("Rock, paper, scissors against the model: r = rock, p = paper, s = scissors "
          "(or 0/1/2), q to quit." + ("" if at_terminal else " Reading moves from input."), file=out)

    def rounds(keys):
        prediction = None
        if at_terminal:
            print("your move (r/p/s, q quits): ", end="", file=out, flush=True)
        for key in keys:
            if key in QUIT:
                return
            if key not in KEYS:
                if not at_terminal or key.strip():
                    print(f"\rignored {ascii(key)}: type r, p or s (or 0, 1, 2), q to quit", file=out)
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
            guess = ("model had no moves of yours to go on" if expected is None else
                     f"model expected {MOVE_NAMES[expected]} ({prediction[expected]:.0%})")
            print(f"\rround {len(you) + 1}: you {MOVE_NAMES[move]:<8} model {MOVE_NAMES[model_move]:<8} "
                  f"{result:<10} score you {score['you']} - model {score['model']} - draws {score['draws']}"
                  f"   [{guess}]", file=out, flush=True)
            you.append(move)
            them.append(model_move)
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
        save(you, score, data_file, min_moves, out)
    return you, them, score


def save(you, score, data_file, min_moves, out):
    rounds = len(you)
    if rounds >= min_moves:
        try:
            append_game(data_file, you)
        except OSError as err:
            print(f"could not save your game to {data_file} ({err.strerror or err}); your moves were "
                  + "".join(map(str, you)), file=out)
        else:
            print(f"saved your {rounds} moves as a new game at the end of {data_file}", file=out)
    elif rounds:
        print(f"not saved: games shorter than {min_moves} moves are not added to {data_file}", file=out)
    if rounds:
        print(f"final score: you {score['you']} - model {score['model']} - draws {score['draws']} "
              f"in {rounds} rounds", file=out)

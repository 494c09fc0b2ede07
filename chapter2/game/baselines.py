"""Simple predictors of a player's next move, to compare the model with.

Each takes one game (a list of moves) and returns one prediction for each
of its moves 1..n-1, made from the moves before it.
"""

import numpy as np


def repeat_last(game):
    """At every step, predict that the player repeats the move just made."""
    return list(game[:-1])


def most_frequent(game):
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

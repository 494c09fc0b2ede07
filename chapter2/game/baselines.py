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


class NGramReader:
    """An online n-gram lookup table: it reads one game as it is played and
    needs no training.

    For every context of the last 1..k moves seen so far in this game it
    counts which move followed. The next move is predicted from the longest
    context that has been seen before (backing off to shorter ones); among
    moves that followed equally often, the one that followed last wins;
    with no context seen yet, the last move is repeated."""

    def __init__(self, k=3):
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.k = int(k)
        self.reset()

    def reset(self):
        """A new game: nothing seen."""
        self.moves = []
        self.table = {}   # context (tuple) -> [counts of the moves after it, the last one after it]

    def predict(self):
        """The predicted next move, or None before the first move."""
        moves = self.moves
        for n in range(min(self.k, len(moves)), 0, -1):
            seen = self.table.get(tuple(moves[-n:]))
            if seen is not None:
                counts, last = seen
                best = max(counts)
                return last if counts[last] == best else counts.index(best)
        return moves[-1] if moves else None

    def update(self, move):
        """The move that came: counted after each context, then remembered."""
        move = int(move)
        moves = self.moves
        for n in range(1, min(self.k, len(moves)) + 1):
            seen = self.table.setdefault(tuple(moves[-n:]), [[0, 0, 0], move])
            seen[0][move] += 1
            seen[1] = move
        moves.append(move)


def ngram(game, k=3):
    """At every step, the online n-gram reader's prediction (NGramReader)."""
    reader, out = NGramReader(k), []
    for m in game[:-1]:
        reader.update(m)
        out.append(reader.predict())
    return out


def best_ngram(games, ks=range(1, 9)):
    """(accuracy, k) of the n-gram reader with the k that does best on `games`."""
    scored = [(accuracy([ngram(g, k) for g in games], games), k) for k in ks]
    return max(scored, key=lambda s: (s[0], -s[1]))   # ties: the shorter context

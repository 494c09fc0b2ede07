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
        self.table = {}  # context -> [counts of the moves after it, the last move after it]

    def _contexts(self):
        """Keys of the contexts of the last 1, 2, ... moves (as many as there
        are, up to k): the moves as a number in base 3, plus 3**n to tell
        the lengths apart (as a tuple of moves would, only faster)."""
        moves, keys, code, place = self.moves, [], 0, 1
        for n in range(1, min(self.k, len(moves)) + 1):
            code += moves[-n] * place
            place *= 3
            keys.append(place + code)
        return keys

    def predict(self):
        """The predicted next move, or None before the first move."""
        return self.predict_each()[-1]

    def predict_each(self):
        """The predictions of the tables with contexts up to 1, 2, ..., k
        moves (the same counts serve them all): a list of k moves, or of k
        Nones before the first move."""
        guess = self.moves[-1] if self.moves else None
        out = []
        for key in self._contexts():
            seen = self.table.get(key)
            if seen is not None:  # (a context seen before: so were all its shorter ends)
                counts, last = seen
                best = max(counts)
                guess = last if counts[last] == best else counts.index(best)
            out.append(guess)
        return out + [guess] * (self.k - len(out))

    def update(self, move):
        """The move that came: counted after each context, then remembered."""
        move = int(move)
        for key in self._contexts():
            seen = self.table.setdefault(key, [[0, 0, 0], move])
            seen[0][move] += 1
            seen[1] = move
        self.moves.append(move)


def ngram(game, k=3):
    """At every step, the online n-gram reader's prediction (NGramReader)."""
    reader, out = NGramReader(k), []
    for m in game[:-1]:
        reader.update(m)
        out.append(reader.predict())
    return out


def ngrams(game, k_max):
    """ngram(game, k) for every k from 1 to `k_max`, in one pass: {k: predictions}."""
    reader, out = NGramReader(k_max), {k: [] for k in range(1, k_max + 1)}
    for m in game[:-1]:
        reader.update(m)
        for k, guess in enumerate(reader.predict_each(), start=1):
            out[k].append(guess)
    return out


def best_ngram(games, k_max=8):
    """(accuracy, k) of the n-gram reader with the k from 1 to `k_max` that
    does best on `games` (ties: the shorter context)."""
    every = [ngrams(g, k_max) for g in games]
    scored = [(accuracy([e[k] for e in every], games), k) for k in range(1, k_max + 1)]
    return max(scored, key=lambda s: (s[0], -s[1]))

"""A trained model against simulated players: it predicts each player's next
move from the player's moves so far and plays what beats it. Beside it, the
online n-gram lookup table reads the same moves (it does not play)."""

import numpy as np

from chapter2.game.baselines import NGramReader
from chapter2.game.rules import beats, outcome
from chapter2.game.stepper import Stepper
from chapter2.standins import players


def play_against(model, make_player, moves, games=1, ngram_k=3):
    """The model plays `games` new games of `moves` rounds, each against a
    player from ``make_player() -> chapter2.standins.players.Player``.
    Returns counts from the model's side: {win, draw, loss}, and how many of
    the players' moves (from the second on) the model and an n-gram reader
    of context `ngram_k` predicted right: {model_read, ngram_read, reads}."""
    stepper = Stepper(model)
    opponents = [make_player() for _ in range(games)]
    readers = [NGramReader(ngram_k) for _ in range(games)]
    stepper.reset(games)
    theirs = [[] for _ in range(games)]  # the simulated players' moves
    mine = [[] for _ in range(games)]  # the model's moves
    counts = {"win": 0, "draw": 0, "loss": 0, "model_read": 0, "ngram_read": 0, "reads": 0}
    rng = np.random.default_rng(0)
    prediction = None
    for _ in range(moves):
        if prediction is None:  # no move of theirs to go on yet
            expected = None
            model_moves = [int(m) for m in rng.integers(3, size=games)]
        else:
            expected = [int(p) for p in prediction.argmax(axis=1)]
            model_moves = [beats(e) for e in expected]
        player_moves = [p.move(t, m) for p, t, m in zip(opponents, theirs, mine)]
        for i in range(games):
            r = outcome(model_moves[i], player_moves[i])
            counts["win" if r > 0 else "loss" if r < 0 else "draw"] += 1
            if expected is not None:
                counts["reads"] += 1
                counts["model_read"] += expected[i] == player_moves[i]
                counts["ngram_read"] += readers[i].predict() == player_moves[i]
            readers[i].update(player_moves[i])
            theirs[i].append(player_moves[i])
            mine[i].append(model_moves[i])
        prediction = stepper.step(player_moves)
    return counts


def against_habits(model, games, moves, noise, seed, ngram_k=3):
    """Rates of the model against each kind of simulated player
    (players.KINDS), in `games` new games of `moves` rounds each:
    {kind: {win, draw, loss, model_read, ngram_read}}, the last two the
    shares of the players' moves (from the second on) that the model and
    the n-gram reader predicted right. No games, no rates: {}."""
    if games < 1:
        return {}
    results = {}
    for n, kind in enumerate(players.KINDS):
        rng = np.random.default_rng([seed, 1000 + n])
        counts = play_against(
            model,
            lambda kind=kind, rng=rng: players.make_player(kind, rng, noise, moves),
            moves,
            games,
            ngram_k,
        )
        rounds = counts["win"] + counts["draw"] + counts["loss"]
        results[kind] = {k: round(counts[k] / rounds, 4) for k in ("win", "draw", "loss")}
        results[kind].update(
            {k: round(counts[k] / counts["reads"], 4) for k in ("model_read", "ngram_read")}
        )
    return results

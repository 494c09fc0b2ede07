"""A trained model against simulated players: it predicts each player's next
move from the player's moves so far and plays what beats it."""

import numpy as np

from chapter2.game.rules import beats, outcome
from chapter2.game.stepper import Stepper
from chapter2.standins import players


def play_against(model, make_player, moves, games=1):
    """The model plays `games` new games of `moves` rounds, each against a
    player from ``make_player() -> chapter2.standins.players.Player``.
    Returns counts {win, draw, loss} from the model's side."""
    stepper = Stepper(model)
    opponents = [make_player() for _ in range(games)]
    stepper.reset(games)
    theirs = [[] for _ in range(games)]   # the simulated players' moves
    mine = [[] for _ in range(games)]     # the model's moves
    counts = {"win": 0, "draw": 0, "loss": 0}
    rng = np.random.default_rng(0)
    prediction = None
    for _ in range(moves):
        if prediction is None:  # no move of theirs to go on yet
            model_moves = [int(m) for m in rng.integers(3, size=games)]
        else:
            model_moves = [beats(int(p)) for p in prediction.argmax(axis=1)]
        player_moves = [p.move(t, m) for p, t, m in zip(opponents, theirs, mine)]
        for i in range(games):
            r = outcome(model_moves[i], player_moves[i])
            counts["win" if r > 0 else "loss" if r < 0 else "draw"] += 1
            theirs[i].append(player_moves[i])
            mine[i].append(model_moves[i])
        prediction = stepper.step(player_moves)
    return counts


def against_habits(model, games, moves, noise, seed):
    """Win/draw/loss rates of the model against each simulated habit (and a
    player who switches habit twice mid-game, and one with no habit), in
    `games` new games of `moves` rounds each: {kind: {win, draw, loss}}.
    No games, no rates: {}."""
    if games < 1:
        return {}
    results = {}
    for n, kind in enumerate(list(players.HABITS) + ["switching", "random"]):
        rng = np.random.default_rng([seed, 1000 + n])

        def make(kind=kind, rng=rng):
            if kind == "switching":
                habits = [str(h) for h in rng.choice(players.HABITS, size=3, replace=False)]
                cut = sorted(int(c) for c in rng.choice(np.arange(10, moves - 10), 2, replace=False))
                return players.Player(habits, rng, noise, switch_every=[cut[0], cut[1] - cut[0]])
            return players.Player([kind], rng, 0.0 if kind == "random" else noise)

        counts = play_against(model, make, moves, games)
        total = sum(counts.values())
        results[kind] = {k: round(v / total, 4) for k, v in counts.items()}
    return results

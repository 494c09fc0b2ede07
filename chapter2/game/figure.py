"""Chapter_2_5's figure: what the model expects during a game, and how it
fares against the simulated players."""

import numpy as np

from chapter2.game.rules import MOVE_NAMES
from chapter2.run import plots

MOVE_COLOURS = ("#0072B2", "#E69F00", "#009E73")  # rock, paper, scissors (Okabe-Ito)
RESULT_COLOURS = {"win": "#009E73", "draw": "#56B4E9", "loss": "#D55E00"}


def game_figure(game, probabilities, versus, title, max_moves=150):
    """Top: the model's probability of each next move at every step of
    `game` (stacked, summing to 1), with the move that really came below it.
    Bottom: the model's win/draw/loss shares against each simulated player
    (`versus`: {player: {win, draw, loss}}; may be empty)."""
    n = min(len(game) - 1, max_moves)
    steps = np.arange(2, n + 2)  # the move being predicted
    fig, (top, bottom) = plots.subplots(
        2, 1, figsize=(11, 8.5), gridspec_kw={"height_ratios": [3, 2]}
    )
    top.stackplot(
        steps,
        np.asarray(probabilities)[:n].T,
        colors=MOVE_COLOURS,
        alpha=0.85,
        labels=[f"P({name})" for name in MOVE_NAMES],
    )
    came = np.asarray(game[1 : n + 1])
    right = np.asarray(probabilities)[:n].argmax(axis=1) == came
    for move in range(3):
        at = came == move
        top.scatter(
            steps[at],
            np.full(at.sum(), -0.06),
            marker="s",
            s=14,
            color=MOVE_COLOURS[move],
            clip_on=False,
        )
    top.scatter(
        steps[right],
        np.full(right.sum(), -0.12),
        marker="^",
        s=14,
        color="#000000",
        clip_on=False,
        label="predicted right",
    )
    top.set_xlim(steps[0] - 0.5, steps[-1] + 0.5)
    top.set_ylim(-0.16, 1.0)
    top.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    top.set_xlabel("move number in the game (squares: the move that came)")
    top.set_ylabel("probability of the next move")
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
    top.set_title(f"{title}: {right.mean():.1%} of {n} next moves predicted right")

    if versus:
        kinds = list(versus)
        left = np.zeros(len(kinds))
        for result, colour in RESULT_COLOURS.items():
            shares = np.array([versus[k][result] * 100 for k in kinds])
            bottom.barh(
                kinds,
                shares,
                left=left,
                color=colour,
                label=f"model {result}s" if result != "loss" else "model loses",
            )
            left += shares
        bottom.set_xlim(0, 100)
        bottom.invert_yaxis()
        bottom.set_xlabel("share of rounds (%)")
        bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
        bottom.set_title("the model against new simulated players")
    else:
        bottom.axis("off")
        bottom.text(0.5, 0.5, "no games against simulated players (--versus-games 0)", ha="center")
    fig.tight_layout()
    return fig

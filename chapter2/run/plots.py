"""Figures: saved as PNG, shown in a window only when asked (--show)."""

from pathlib import Path

import matplotlib

from chapter2.run.files import atomic_path

# The Okabe-Ito palette: told apart with every common colour-vision deficiency.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000", "#F0E442")
ORANGE, SKY_BLUE, GREEN, BLUE, VERMILION, PURPLE, BLACK, YELLOW = PALETTE

_show = False


def configure(show=False):
    """Headless unless `show`: the Agg backend never needs a display."""
    global _show
    _show = bool(show)
    if not _show:
        matplotlib.use("Agg")


def subplots(*args, **kwargs):
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save(fig, path, show=None, quiet=False):
    """Write `fig` as a PNG (atomically), then show or close it; say where unless `quiet`."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    if _show if show is None else show:
        plt.show()
    else:
        plt.close(fig)
    if not quiet:
        print(f"wrote {path}")
    return path


def mark(fig, settings, smoke=False):
    """Write the run's settings under the figure, and "smoke run" after --quick."""
    text = f"settings: {settings}"
    if smoke:
        text += "   |   smoke run (--quick): checks that the script works, not a result"
    colour = VERMILION if smoke else "#555555"
    fig.text(0.5, 0.0, text, ha="center", va="top", fontsize=8, color=colour)

"""Compare runs side by side: what was changed, and what it did.

    python -m chapter2.compare runs/chapter_2_2 runs/chapter_2_3
    python -m chapter2.compare runs --markdown --figure curves.png

Each argument is a run folder (one holding metrics.json, or history.csv while
it is unfinished) or a folder above run folders, searched all the way down.
The command prints one table, one row per run: the settings that differ
between the runs, then the figures the runs are judged by (validation loss,
test MSE and MAE, autonomy, accuracy, win rate), the parameters, the epochs
trained, seconds per epoch and samples per second, best first by the
script's headline figure. Runs of different scripts share the table: they
are ranked together where they share that figure (Chapter_2_2 against
Chapter_2_3, the chapter's own comparison, on test MSE) and grouped by
script otherwise. ``--markdown`` prints the table in Markdown for pasting.

It also writes a figure with the runs' validation loss per epoch overlaid
(the training loss for scripts that have no validation split), one panel
per kind of loss, each curve named by its run and the settings that differ
between the runs of its panel (the legend sits below the axes). The figure
goes beside the runs compared (compare.png in the folder they share) unless
``--figure PATH`` says where; the command prints where it wrote it, and
never writes into a run folder.

Unfinished runs (no metrics.json yet) and damaged ones (metrics.json
unreadable, nested too deeply to read, or missing fields) are listed as
such, after the others, with a one-line note each. A path
that holds no run is an error: one line, exit status 2.
"""

import argparse
import json
import math
import os
import sys
import textwrap
from pathlib import Path

from chapter2.run.errors import InputError
from chapter2.run.files import HISTORY_FILE, IDENTITY_FILE, METRICS_FILE, read_history
from chapter2.run.flags import flag_text
from chapter2.run.hparams import FIGURES, HEADLINE, headline, seconds_per_epoch

FIGURE_NAME = "compare.png"
# Files that mark a run folder: compare writes nothing inside one.
RUN_FILES = (METRICS_FILE, HISTORY_FILE, IDENTITY_FILE)


# Table headings of the figures, with their units.
HEADINGS = {
    "val_loss": "val_loss",
    "code_size": "code values",
    "test_mse": "test MSE",
    "test_mae": "test MAE",
    "autonomy": "autonomy %",
    "accuracy": "accuracy %",
    "generated_right": "sequences right %",
    "held_out_accuracy": "held-out accuracy %",
    "held_out_ngram": "n-gram on held-out %",
    "win_rate": "win rate %",
    "parameters": "parameters",
    "epochs": "epochs",
    "seconds_per_epoch": "s/epoch",
    "samples_per_second": "samples/s",
}
FRACTIONS = {
    "accuracy",
    "generated_right",
    "held_out_accuracy",
    "held_out_ngram",
    "win_rate",
}  # shown as %

# Scripts whose losses are the same quantity share a panel of the figure.
SAME_LOSS = {"chapter_2_3": "chapter_2_2"}
LOSS_NAMES = {
    "chapter_2_1": "binary cross-entropy",
    "chapter_2_2": "MSE, steering",
    "chapter_2_4": "categorical cross-entropy",
    "chapter_2_5": "categorical cross-entropy",
}

MISSING = "-"
LONGEST_SETTING = 24  # characters of a setting's value shown in the table


class RunRecord:
    """One run folder as read from disk: status is "finished", "unfinished"
    or "damaged" (`problem` says why)."""

    def __init__(self, path):
        self.path = Path(path)
        self.label = self.path.name
        self.script = _script_from_path(self.path)
        self.status = "unfinished"
        self.problem = ""
        self.config = {}
        self.data = None
        self.figures = {}
        self.history = []

    @property
    def finished(self):
        return self.status == "finished"

    def note(self):
        """A line on what is wrong with an unfinished or damaged run."""
        if self.status == "damaged":
            return f"damaged: {self.problem}"
        if self.status == "unfinished":
            text = f"unfinished: {len(self.history)} epoch{'s' if len(self.history) != 1 else ''} in {HISTORY_FILE}"
            last = self.history[-1] if self.history else {}
            for key in ("val_loss", "loss"):
                if _real(last.get(key)) is not None:
                    return f"{text}, last {key} {last[key]:.4g}"
            return text + (f" ({self.problem})" if self.problem else "")
        return ""


def find_runs(paths):
    """The run folders named by or under `paths`, in order, each once.
    A path that holds no run raises InputError."""
    found, seen = [], set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise InputError(f"{given}: no such file or folder")
        if path.is_file():
            if path.name not in (METRICS_FILE, HISTORY_FILE):
                raise InputError(
                    f"{given}: not a run folder (give the folder that holds {METRICS_FILE})"
                )
            runs = [path.parent]
        else:
            runs = _runs_under(path)
        if not runs:
            raise InputError(
                f"{given}: holds no run (no {METRICS_FILE} or {HISTORY_FILE} in it or below it)"
            )
        for run in runs:
            key = run.resolve()
            if key not in seen:
                seen.add(key)
                found.append(run)
    return found


def _is_run(folder):
    return (folder / METRICS_FILE).is_file() or (folder / HISTORY_FILE).is_file()


def _runs_under(folder):
    if _is_run(folder):
        return [folder]
    runs = []
    for top, dirs, _files in os.walk(folder):
        dirs.sort()
        keep = []
        for name in dirs:
            sub = Path(top) / name
            if name.startswith("."):
                continue
            if _is_run(sub):
                runs.append(sub)  # a run's own logs and backups are not runs
            else:
                keep.append(name)
        dirs[:] = keep
    return sorted(runs)


def read_run(path):
    """Read one run folder; never raises: what cannot be read makes the run
    "damaged" with the reason."""
    run = RunRecord(path)
    run.history = read_history(run.path / HISTORY_FILE)
    metrics_path = run.path / METRICS_FILE
    if not metrics_path.is_file():
        run.figures = _progress(run.history)
        return run
    run.status = "damaged"
    try:
        record = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        run.problem = f"{METRICS_FILE} cannot be read ({getattr(err, 'strerror', None) or type(err).__name__})"
        return run
    except ValueError as err:
        run.problem = f"{METRICS_FILE} is not valid JSON ({err})"
        return run
    except RecursionError:
        run.problem = f"{METRICS_FILE} is nested too deeply to read"
        return run
    if not isinstance(record, dict):
        run.problem = f"{METRICS_FILE} holds {type(record).__name__}, not an object"
        return run
    kinds = {"script": str, "config": dict, "metrics": dict}
    missing = [k for k in kinds if k not in record]
    if missing:
        run.problem = f"{METRICS_FILE} lacks {', '.join(missing)}"
        return run
    wrong = [k for k, kind in kinds.items() if not isinstance(record[k], kind)]
    wrong += [
        k
        for k, kind in (("history", list), ("timing", dict))
        if record.get(k) is not None and not isinstance(record[k], kind)
    ]
    if wrong:
        run.problem = f"{METRICS_FILE}: malformed {', '.join(wrong)}"
        return run
    run.script = record["script"]
    try:
        run.figures = headline(record)
    except (AttributeError, TypeError, ValueError) as err:
        run.problem = f"{METRICS_FILE}: malformed figures ({type(err).__name__})"
        return run
    history = [row for row in record.get("history") or [] if isinstance(row, dict)]
    run.history = history or run.history
    run.config = record["config"]
    dataset = record.get("dataset")
    if isinstance(dataset, dict):
        run.data = str(dataset.get("name") or dataset.get("source") or "") or None
    run.status = "finished"
    return run


def _progress(history):
    """Epochs and seconds per epoch of an unfinished run, from its history."""
    if not history:
        return {}
    per_epoch = seconds_per_epoch(history)
    return {
        "epochs": len(history),
        **({"seconds_per_epoch": per_epoch} if per_epoch is not None else {}),
    }


def _float(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _real(value):
    """`value` if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _script_from_path(path):
    for part in reversed(path.resolve().parts):
        if part.startswith("chapter_2_"):
            return part
    return "?"


# -- the table ------------------------------------------------------------


def order(runs):
    """Finished runs best first, then unfinished, then damaged; and a line
    saying how the finished runs are sorted."""
    finished = [r for r in runs if r.finished]
    rest = [r for r in runs if r.status == "unfinished"] + [
        r for r in runs if r.status == "damaged"
    ]
    metrics = {HEADLINE.get(r.script) for r in finished}
    if len(metrics) == 1 and None not in metrics:
        metric = metrics.pop()
        return _best_first(finished, metric) + rest, f"best first by {_sorted_by(metric)}"
    scripts = sorted({r.script for r in finished})
    ranked, parts = [], []
    for script in scripts:
        group = [r for r in finished if r.script == script]
        metric = HEADLINE.get(script)
        if metric:
            ranked += _best_first(group, metric)
            parts.append(f"{script} by {_sorted_by(metric)}")
        else:
            ranked += group
    how = "grouped by script, best first: " + "; ".join(parts) if parts else "in folder order"
    return ranked + rest, how


def _sorted_by(metric):
    return f"{HEADINGS.get(metric, metric)} ({'lower' if FIGURES.get(metric, True) else 'higher'} is better)"


def _best_first(runs, metric):
    lower = FIGURES.get(metric, True)
    have = [r for r in runs if metric in r.figures]
    have.sort(key=lambda r: r.figures[metric] if lower else -r.figures[metric])
    return have + [r for r in runs if metric not in r.figures]


def differing_settings(runs):
    """Names of the settings whose values are not the same in all finished runs
    (a setting one run lacks counts as different)."""
    finished = [r for r in runs if r.finished]
    names = []
    for r in finished:
        names += [k for k in r.config if k not in names]
    return [
        name
        for name in names
        if len({setting_text(r.config[name]) if name in r.config else None for r in finished}) > 1
    ]


def datasets(runs):
    """The data sets of the finished runs, each once, in order."""
    found = []
    for r in runs:
        if r.finished and r.data not in found:
            found.append(r.data)
    return found


def setting_text(value):
    return MISSING if value is None else flag_text(value)


def figure_text(name, value):
    if value is None:
        return MISSING
    if name in FRACTIONS:
        return f"{value * 100:.1f}"
    if name == "autonomy":
        return f"{value:.1f}"
    if name in ("parameters", "epochs", "code_size"):
        return f"{int(round(value)):,}"
    if name == "samples_per_second":
        return f"{value:,.0f}"
    if name == "seconds_per_epoch":
        return f"{value:.3g}" if value < 100 else f"{value:,.0f}"
    return f"{value:.4g}"


def table(runs):
    """(headings, rows, numeric columns) of the comparison, runs in the given order."""
    labels = run_labels(runs)
    settings = differing_settings(runs)
    figures = [name for name in HEADINGS if any(name in r.figures for r in runs)]
    show_script = len({r.script for r in runs}) > 1
    show_status = any(not r.finished for r in runs)
    show_data = len(datasets(runs)) > 1
    headings = ["run"] + (["script"] if show_script else []) + (["status"] if show_status else [])
    headings += ["data"] if show_data else []
    headings += settings + [HEADINGS[name] for name in figures]
    numeric = [False] * (len(headings) - len(figures)) + [True] * len(figures)
    rows = []
    for r in runs:
        row = (
            [labels[r.path]]
            + ([r.script] if show_script else [])
            + ([r.status] if show_status else [])
        )
        row += [(r.data or MISSING) if r.finished else MISSING] if show_data else []
        for name in settings:
            text = setting_text(r.config[name]) if r.finished and name in r.config else MISSING
            row.append(
                text if len(text) <= LONGEST_SETTING else text[: LONGEST_SETTING - 3] + "..."
            )
        row += [figure_text(name, r.figures.get(name)) for name in figures]
        rows.append(row)
    return headings, rows, numeric


def run_labels(runs):
    """Each run's folder relative to the folder all the runs share."""
    if len(runs) == 1:
        return {runs[0].path: runs[0].path.name}
    resolved = {r.path: r.path.resolve() for r in runs}
    common = Path(os.path.commonpath([str(p) for p in resolved.values()]))
    return {
        path: (full.relative_to(common).as_posix() or path.name) if full != common else path.name
        for path, full in resolved.items()
    }


def plain_table(headings, rows, numeric):
    widths = [max(len(str(x)) for x in column) for column in zip(headings, *rows)]

    def line(cells):
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)
        ).rstrip()

    return "\n".join([line(headings), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def markdown_table(headings, rows, numeric):
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = "|" + "|".join("---:" if num else "---" for num in numeric) + "|"
    return "\n".join([line(headings), rule] + [line(r) for r in rows])


# -- the figure -----------------------------------------------------------


def curves_figure(runs, labels):
    """A matplotlib Figure overlaying each run's validation loss per epoch
    (the training loss where a run has no validation), one panel per kind of
    loss, each curve labelled with its run and every setting that differs
    between the finished runs of its panel, in a legend below the panel;
    None when no run has a per-epoch history."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from chapter2.run import plots

    panels = {}
    for r in runs:
        key = "val_loss" if any("val_loss" in row for row in r.history) else "loss"
        points = [
            (_real(row.get("epoch")) + 1, _real(row.get(key)))
            for row in r.history
            if _real(row.get("epoch")) is not None and _real(row.get(key)) is not None
        ]
        if points:
            panels.setdefault(SAME_LOSS.get(r.script, r.script), []).append((r, key, points))
    if not panels:
        return None
    # One panel a row, each with its legend below it: the legend's height
    # grows with the runs and the settings named, and never covers a curve.
    legends = {
        family: [_curve_label(r, key, labels, curves) for r, key, _ in curves]
        for family, curves in panels.items()
    }
    legend_lines = {
        family: sum(label.count("\n") + 1 for label in labels_)
        for family, labels_ in legends.items()
    }
    heights = [3.6 + 0.75 + 0.19 * legend_lines[family] for family in sorted(panels)]
    fig = Figure(figsize=(7.6, sum(heights)), layout="constrained")
    grid = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    for n, (family, curves) in enumerate(sorted(panels.items())):
        ax = fig.add_subplot(grid[n, 0])
        keys = {key for _, key, _ in curves}
        for i, (_, _, points) in enumerate(curves):
            xs, ys = zip(*points)
            label = legends[family][i]
            ax.plot(
                xs,
                ys,
                color=plots.PALETTE[i % len(plots.PALETTE)],
                linestyle=("-", "--", ":", "-.")[(i // len(plots.PALETTE)) % 4],
                marker="o" if len(points) <= 20 else None,
                markersize=4,
                label=label,
            )
        loss = LOSS_NAMES.get(family)
        kind = (
            "validation loss"
            if keys == {"val_loss"}
            else "training loss"
            if keys == {"loss"}
            else "loss"
        )
        ax.set_title(" / ".join(sorted({r.script for r, _, _ in curves})) + f": {kind} per epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(kind + (f" ({loss})" if loss else ""))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(0.0, -0.16),
            borderaxespad=0.0,
            frameon=False,
        )
    return fig


def _curve_label(run, key, labels, curves):
    """A curve's legend entry: the run, then the settings that differ
    between the panel's runs (all of them, wrapped), and what the curve is
    when it is not the panel's usual loss or the run is not finished."""
    label = labels[run.path]
    keys = {k for _, k, _ in curves}
    if len(keys) > 1 and key == "loss":
        label += " (training loss)"
    if not run.finished:
        label += f" ({run.status})"
    changed = [
        f"{name} {setting_text(run.config[name])}"
        for name in differing_settings([r for r, _, _ in curves])
        if name in run.config
    ]
    if changed:
        label += ": " + "; ".join(changed)
    return textwrap.fill(label, width=90, subsequent_indent="    ")


def save_figure(fig, path):
    from chapter2.run import plots

    plots.save(fig, path, show=False, quiet=True)


# -- the command ----------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(f"{message} (see --help)")


def parse(argv):
    doc = __doc__.strip().split("\n\n")
    parser = _Parser(
        prog="python -m chapter2.compare",
        description=doc[0],
        epilog="\n\n".join(["examples:\n" + doc[1]] + doc[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="RUN_DIR_OR_PARENT",
        help="a run folder, or a folder above run folders (e.g. runs)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument(
        "--figure",
        type=Path,
        default=None,
        metavar="PATH",
        help="where to write the curves figure, a .png outside every run folder "
        f"(default: {FIGURE_NAME} in the folder the runs compared share)",
    )
    parser.add_argument("--no-figure", action="store_true", help="write no figure")
    args = parser.parse_args(argv)
    if not args.no_figure and args.figure is not None:
        if args.figure.suffix.lower() != ".png":
            raise InputError(
                f"--figure {args.figure}: the figure is a PNG; give a path ending in .png"
            )
        if not args.figure.parent.is_dir():
            raise InputError(f"--figure {args.figure}: no such folder {args.figure.parent}")
        if args.figure.is_dir():
            raise InputError(f"--figure {args.figure}: is a folder")
        run = run_folder_holding(args.figure.parent)
        if run is not None:
            raise InputError(
                f"--figure {args.figure}: inside the run folder {shown_path(run)}; "
                "compare writes nothing into a run (give a path outside it)"
            )
    return args


def run_folder_holding(folder):
    """The run folder that `folder` is or lies in, else None."""
    folder = Path(os.path.abspath(folder))
    for candidate in (folder, *folder.parents):
        if any((candidate / name).is_file() for name in RUN_FILES):
            return candidate
    return None


def default_figure_path(runs):
    """compare.png in the folder the runs share, or the nearest folder
    above it that is not inside a run folder."""
    folder = Path(os.path.commonpath([str(r.path.resolve()) for r in runs]))
    while (run := run_folder_holding(folder)) is not None and run.parent != run:
        folder = run.parent
    return folder / FIGURE_NAME


def shown_path(path):
    """`path` relative to the current folder when it is below it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path)


def main(argv=None):
    args = parse(argv)
    runs = [read_run(path) for path in find_runs(args.paths)]
    runs, how = order(runs)
    headings, rows, numeric = table(runs)
    notes = [f"{run_labels(runs)[r.path]}: {r.note()}" for r in runs if not r.finished]
    finished = sum(r.finished for r in runs)
    data = datasets(runs)
    data = f"data: {data[0]}" if len(data) == 1 and data[0] else ""
    if args.markdown:
        print(markdown_table(headings, rows, numeric))
        if notes or data:
            print()
            print("\n".join(([f"- {data}"] if data else []) + [f"- {n}" for n in notes]))
    else:
        print(
            f"{len(runs)} run{'s' if len(runs) != 1 else ''} ({finished} finished), {how}; "
            "the settings not shown are the same in every finished run"
            + (f"; {data}" if data else "")
        )
        print(plain_table(headings, rows, numeric))
        for n in notes:
            print(n)
    if not args.no_figure:
        fig = curves_figure(runs, run_labels(runs))
        figure = args.figure if args.figure is not None else default_figure_path(runs)
        out = sys.stderr if args.markdown else sys.stdout
        if fig is None:
            print("no figure: no run has a per-epoch history", file=out)
        else:
            try:
                save_figure(fig, figure)
            except OSError as err:
                raise InputError(
                    f"--figure {figure}: cannot write ({err.strerror or err})"
                ) from None
            shown = args.figure if args.figure is not None else shown_path(figure)
            print(f"wrote {shown}", file=out)
    return 0


def cli(argv=None):
    try:
        return main(argv)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(cli())

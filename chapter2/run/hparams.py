"""A run's settings and final figures for TensorBoard's HParams dashboard.

    hparams.log_run(run.logs, record, start_time=run.started)   # record: metrics.json's

writes into the run's own TensorBoard entry (``logs/run``, beside Keras'
``logs/train`` and ``logs/validation``; see chapter2/run/tblog.py) the run's
settings as TensorBoard hparams and its figures as scalars: the figure
its script is ranked by as ``final/<figure>`` (``final/val_loss``), the
others as ``run/<figure>`` (``run/parameters``). ``tensorboard --logdir
runs`` then lists every run once in the HParams table under a short name
(``2_1 kernelsize5-quick 1127-181500``), with its settings and the few
figures its script is judged by; in Scalars the ``final`` and ``run``
sections sort after the per-epoch ``epoch_...`` curves.

How the dashboard is made to read at a glance:

- No experiment configuration (``hparams_config``) is written: TensorBoard
  reads a single one for the whole log folder, the first it finds, so one
  run's configuration would hide the settings and figures of the other
  scripts' runs. Without it TensorBoard builds the columns from the runs'
  own values and marks a setting that has more than one value as differing.
- The dashboard ticks at most five settings and five figures by default,
  differing settings first, in name order. So that every difference is
  seen, the first column is ``(changed)``: what the run changed from the
  chapter, as the console's settings line says it (``--units 128,
  --seed 2``, or ``the chapter's``); ``(`` sorts before every other name.
  A script's constants are named after the script (``2_1.KERNEL_SIZE``):
  the same constant in two scripts (EPOCHS, FILTERS) is two columns, and
  differs only where runs of one script differ. The run options shared by
  all scripts (seed, quick, offline) keep their plain names; the script is
  in the trial name, not a column.
- Of the figures it ticks the first five by name: each script's ranking
  figure is ``final/...``, before every ``run/...``, so the four of them
  (val_loss, test_mse, accuracy, held_out_accuracy) are ticked even with
  runs of all five scripts in one table.
- The dashboard prints every number with five significant digits (``500``
  as ``500.00``), so settings are logged as the text a flag takes (``500``,
  ``0.2``, ``16,8,8``); booleans stay booleans. The whole numbers a run's
  settings decide, ``parameters`` and ``code_size``, are settings too
  (``4385``). Figures are measured fractions and losses: numbers (their
  columns sort and plot as such) with TensorBoard's five digits.
- The figures are the only scalars of the run's HParams entry: the whole-run entry is not a
  parent of ``train`` and ``validation``, whose per-epoch series would
  otherwise all become metric columns.

`headline` turns a metrics.json record into the flat figures every script is
compared on; the compare command (``python -m chapter2.compare``) uses the
same names.
"""

import math
import re
import statistics
import time
from pathlib import Path

from chapter2.run import flags
from chapter2.run.flags import flag_text

# A run folder's name: <date>-<time>[-<what changed, -quick, a name>].
_STAMPED = re.compile(r"^(\d{8})-(\d{6})(?:-(.+))?$")

# Each script's headline figure and whether lower is better: the compare
# command sorts by it, best first.
HEADLINE = {
    "chapter_2_1": "val_loss",
    "chapter_2_2": "test_mse",
    "chapter_2_3": "test_mse",
    "chapter_2_4": "accuracy",
    "chapter_2_5": "held_out_accuracy",
}

# Every figure `headline` can give, in the order tables show them, with
# whether lower is better.
FIGURES = {
    "val_loss": True,  # Chapter_2_1: reconstruction loss on the test digits
    "code_size": True,  # Chapter_2_1: numbers in the encoder's code (exercise 2)
    "test_mse": True,  # Chapter_2_2/2_3: steering error on the test split
    "test_mae": True,
    "autonomy": False,  # Chapter_2_2/2_3: closed-loop drive, % of time without help
    "accuracy": False,  # Chapter_2_4: next letter right, fraction of the pairs
    "generated_right": False,  # Chapter_2_4: generated sequences entirely right (exercise 9)
    "held_out_accuracy": False,  # Chapter_2_5: next move right on the held-out games
    "held_out_ngram": False,  # Chapter_2_5: the online n-gram table (best k) on the same moves
    "win_rate": False,  # Chapter_2_5: wins against the simulated players, mean
    "parameters": True,
    "epochs": True,
    "seconds_per_epoch": True,
    "samples_per_second": False,
    "train_seconds": True,
}


# The figures a run logs for TensorBoard (HParams columns, Scalars sections
# ``final/`` and ``run/``): each script's own and the model's size and speed;
# compare shows the rest (epochs, samples per second, training time).
BOARD_FIGURES = (
    "val_loss",
    "test_mse",
    "test_mae",
    "autonomy",
    "accuracy",
    "generated_right",
    "held_out_accuracy",
    "held_out_ngram",
    "win_rate",
    "seconds_per_epoch",
)
# Whole numbers the settings decide: HParams columns as text (see above).
BOARD_COUNTS = ("parameters", "code_size")
# The HParams column of what a run changed; "(" sorts before every setting.
CHANGED = "(changed)"
# The sections of the figures, both after Keras' epoch_... curves: the
# script's ranking figure (HEADLINE), then the others.
RANKING_SECTION = "final"
BOARD_SECTION = "run"


def headline(record):
    """The figures of one metrics.json record that runs are compared on,
    as {name: number}; a figure the script does not produce is left out."""
    metrics = record.get("metrics") or {}
    history = record.get("history") or []
    timing = record.get("timing") or {}
    out = {}

    def put(name, value):
        number = _number(value)
        if number is not None:
            out[name] = number

    for name in ("test_mse", "test_mae", "autonomy", "accuracy"):
        put(name, metrics.get(name))
    if "val_loss" in metrics:
        put("val_loss", metrics["val_loss"])
    elif str(record.get("script", "")).endswith("2_1") and history:
        put("val_loss", history[-1].get("val_loss"))
    shape = metrics.get("code_shape")
    if isinstance(shape, list) and shape and all(_number(n) for n in shape):
        put("code_size", math.prod(int(n) for n in shape))
    sequences = _number(metrics.get("generated_sequences"))
    if sequences:
        put("generated_right", (_number(metrics.get("generated_entirely_right")) or 0) / sequences)
    held_out = metrics.get("held_out")
    if isinstance(held_out, dict):
        put("held_out_accuracy", held_out.get("model"))
        put("held_out_ngram", held_out.get("ngram"))
    versus = metrics.get("versus_simulated_players")
    if isinstance(versus, dict):
        wins = [_number(v.get("win")) for v in versus.values() if isinstance(v, dict)]
        wins = [w for w in wins if w is not None]
        if wins:
            put("win_rate", statistics.fmean(wins))
    put("parameters", metrics.get("parameters"))
    epochs = timing.get("epochs", len(history) if history else None)
    put("epochs", epochs)
    put("seconds_per_epoch", seconds_per_epoch(history, timing))
    put("samples_per_second", timing.get("samples_per_second"))
    put("train_seconds", timing.get("train_seconds"))
    return out


def seconds_per_epoch(history, timing=None):
    """Median wall time of an epoch, leaving out the first (it also builds
    and traces the model) when there are others; from the timing totals
    when the history has no epoch times."""
    seconds = [_number(row.get("epoch_seconds")) for row in history or [] if isinstance(row, dict)]
    seconds = [s for s in seconds if s is not None]
    if seconds:
        return statistics.median(seconds[1:] or seconds)
    timing = timing or {}
    total, epochs = _number(timing.get("train_seconds")), _number(timing.get("epochs"))
    return total / epochs if total and epochs else None


def hparam_value(value):
    """A setting as TensorBoard takes it: bool, number or text; a tuple or
    list is its flag's comma list ("16,8,8", "true,false,false"); None and
    anything empty give None (not logged)."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):
        value = value.item()  # numpy scalars
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(flag_text(v) for v in value) or None
    return None if value is None else str(value)


def board_settings(script, config):
    """A run's settings as HParams columns: {name: value}. A script's
    constants (UPPERCASE) are named after it (``2_1.KERNEL_SIZE`` for
    chapter_2_1), the shared run options keep their names; numbers become
    their flag text (``500``, ``0.2``), lists their comma list; None and
    empty values are left out."""
    prefix = str(script).removeprefix("chapter_") + "."
    settings = {}
    for key, value in config.items():
        value = hparam_value(value)
        if value is None:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = flag_text(value)
        settings[prefix + str(key) if str(key).isupper() else str(key)] = value
    return settings


def changed_text(record):
    """What a run changed from the chapter, as the console's settings line
    says it (``--units 128 (edited in the file), --seed 2``), from its
    metrics.json record; ``the chapter's`` when nothing was."""
    changed = record.get("changed") if isinstance(record.get("changed"), dict) else {}
    edited = record.get("edited_in_file") if isinstance(record.get("edited_in_file"), list) else []
    said = flags.changes_text(changed, edited)
    seed = (record.get("config") or {}).get("seed")
    if seed is not None and seed != flags.DEFAULT_SEED:
        said.append(f"--seed {flag_text(seed)}")
    return ", ".join(said) or "the chapter's"


def trial_name(script, run_dir):
    """The run's name in the HParams table, what tells it apart first: the
    script, what the folder name says was changed, then when it started
    (``2_1 kernelsize5-quick 1127-181500`` for the run folder
    ``runs/chapter_2_1/20261127-181500-kernelsize5-quick``). The dashboard's
    Trial ID column shows about fifteen characters, so the date goes last.
    A folder named otherwise (``--run-dir``) keeps its name."""
    short = str(script).removeprefix("chapter_")
    name = Path(run_dir).name
    stamped = _STAMPED.match(name)
    if not stamped:
        return f"{short} {name}"
    date, time_of_day, rest = stamped.groups()
    return " ".join(p for p in (short, rest, f"{date[4:]}-{time_of_day}") if p)


def log_run(log_dir, record, *, start_time=None):
    """Log one finished run for TensorBoard: what it changed (`CHANGED`),
    its settings (`board_settings`) and counts (`BOARD_COUNTS`) as hparams,
    and figures (`BOARD_FIGURES` of `headline`: ``final/<figure>`` for the
    script's ranking figure, ``run/<figure>`` for the others) into
    the run's own entry under `log_dir` (the run's ``logs`` folder), at the
    step of the epochs trained. `record` is the run's metrics.json record.
    Returns the settings written."""
    from chapter2.run import tblog

    script = record.get("script") or "run"
    run_dir = record.get("run_dir") or Path(log_dir).parent
    ranking = HEADLINE.get(script)
    found = headline(record)
    figures = {
        f"{RANKING_SECTION if name == ranking else BOARD_SECTION}/{name}": value
        for name, value in found.items()
        if name in BOARD_FIGURES
    }
    epochs = _number((record.get("timing") or {}).get("epochs")) or 0
    settings = {CHANGED: changed_text(record)}
    settings.update(board_settings(script, record.get("config") or {}))
    settings.update({name: str(int(found[name])) for name in BOARD_COUNTS if name in found})
    return log_hparams(
        tblog.whole_run_dir(log_dir),
        settings,
        figures,
        trial_name(script, run_dir),
        start_time=start_time,
        step=int(epochs),
    )


def log_hparams(log_dir, hparams, metrics, run_name=None, *, start_time=None, step=0):
    """Write `hparams` ({setting: value}) and `metrics` ({figure: number})
    for TensorBoard's HParams dashboard into `log_dir` (`log_run` gives it
    the run's own entry).

    run_name:   the run's name in the dashboard (its trial ID); default
                `log_dir` itself, so two runs with the same settings stay two
                rows.
    start_time: when the run started (seconds since the epoch); default now.
    step:       the step the figures are logged at (e.g. the epochs trained).

    Settings that are None are left out, and so are figures that are not
    finite numbers. Returns the {name: value} settings that were written.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hp_v1

    log_dir = Path(log_dir)
    values = {
        str(k): v for k, v in ((k, hparam_value(v)) for k, v in hparams.items()) if v is not None
    }
    figures = {str(k): n for k, n in ((k, _number(v)) for k, v in metrics.items()) if n is not None}
    trial = str(run_name) if run_name else str(log_dir)
    writer = tf.summary.create_file_writer(str(log_dir))
    try:
        with writer.as_default():
            hp.hparams(
                values,
                trial_id=trial,
                start_time_secs=start_time if start_time is not None else time.time(),
            )
            for name, number in figures.items():
                tf.summary.scalar(name, number, step=step)
            end = hp_v1.session_end_pb(api_pb2.STATUS_SUCCESS)
            tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=0)
        writer.flush()
    finally:
        writer.close()
    return values


def _number(value):
    """`value` as a finite float or int, else None (bools are not figures)."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None

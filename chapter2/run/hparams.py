"""A run's settings and figures for TensorBoard's HParams dashboard (`log_run`), and the
figures runs are compared on (`headline`, also used by ``python -m chapter2.compare``).

No experiment configuration (``hparams_config``) is written: TensorBoard reads only the first
one under a logdir, which would hide the other scripts' columns. The dashboard ticks just the
first five settings (differing ones first) and figures by name, hence the ``(changed)`` column
and the ranking figure's ``final/`` section (before ``run/``). Numbers are logged as their flag
text, as the dashboard would print ``500`` as ``500.00``.
"""

import math
import re
import statistics
from pathlib import Path

from chapter2.run import flags

# A run folder's name: <date>-<time>[-<what changed, -quick, a name>].
_STAMPED = re.compile(r"^(\d{8})-(\d{6})(?:-(.+))?$")

# Each script's headline figure: the compare command sorts by it, best first.
HEADLINE = {
    "chapter_2_1": "val_loss",
    "chapter_2_2": "test_mse",
    "chapter_2_3": "test_mse",
    "chapter_2_4": "accuracy",
    "chapter_2_5": "held_out_accuracy",
}

# Every figure `headline` can give, in the order tables show them: whether lower is better.
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

# Whole numbers the settings decide: logged as settings (text), not figures.
BOARD_COUNTS = ("parameters", "code_size")
# The figures logged for TensorBoard: all but the counts and those only compare shows.
_COMPARE_ONLY = BOARD_COUNTS + ("epochs", "samples_per_second", "train_seconds")
BOARD_FIGURES = tuple(name for name in FIGURES if name not in _COMPARE_ONLY)
# The HParams column of what a run changed; "(" sorts before every setting.
CHANGED = "(changed)"


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
    put("epochs", timing.get("epochs", len(history) if history else None))
    put("seconds_per_epoch", seconds_per_epoch(history, timing))
    put("samples_per_second", timing.get("samples_per_second"))
    put("train_seconds", timing.get("train_seconds"))
    return out


def seconds_per_epoch(history, timing=None):
    """Median wall time of an epoch, leaving out the first (it also builds and traces the
    model) when there are others; from the timing totals when the history has no epoch times."""
    seconds = [_number(row.get("epoch_seconds")) for row in history or [] if isinstance(row, dict)]
    seconds = [s for s in seconds if s is not None]
    if seconds:
        return statistics.median(seconds[1:] or seconds)
    timing = timing or {}
    total, epochs = _number(timing.get("train_seconds")), _number(timing.get("epochs"))
    return total / epochs if total and epochs else None


def hparam_value(value):
    """A setting as TensorBoard takes it: bool, number or text; a tuple or list is its flag's
    comma list ("16,8,8", "true,false,false"); None and anything empty give None."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):
        value = value.item()  # numpy scalars
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(flags.flag_text(v) for v in value) or None
    return None if value is None else str(value)


def board_settings(script, config):
    """A run's settings as HParams columns {name: value}: a script's constants (UPPERCASE)
    named after it (``2_1.KERNEL_SIZE``), the shared run options by their own names; numbers
    as their flag text (``500``, ``0.2``), lists as comma lists; None and empty left out."""
    prefix = str(script).removeprefix("chapter_") + "."
    settings = {}
    for key, value in config.items():
        value = hparam_value(value)
        if value is None:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = flags.flag_text(value)
        settings[prefix + str(key) if str(key).isupper() else str(key)] = value
    return settings


def changed_text(record):
    """What a run changed from the chapter, as the console's settings line says it
    (``--units 128 (edited in the file), --seed 2``); ``the chapter's`` when nothing."""
    changed = record.get("changed") if isinstance(record.get("changed"), dict) else {}
    edited = record.get("edited_in_file") if isinstance(record.get("edited_in_file"), list) else []
    said = flags.changes_text(changed, edited)
    seed = (record.get("config") or {}).get("seed")
    if seed is not None and seed != flags.DEFAULT_SEED:
        said.append(f"--seed {flags.flag_text(seed)}")
    return ", ".join(said) or "the chapter's"


def trial_name(script, run_dir):
    """The run's name in the HParams table: the script, what the folder name says changed,
    then the start (``2_1 kernelsize5-quick 1127-181500`` for the folder
    ``20261127-181500-kernelsize5-quick``); the Trial ID column shows about fifteen
    characters, so the date goes last. A folder named otherwise (``--run-dir``) keeps its name."""
    short = str(script).removeprefix("chapter_")
    name = Path(run_dir).name
    stamped = _STAMPED.match(name)
    if not stamped:
        return f"{short} {name}"
    date, time_of_day, rest = stamped.groups()
    return " ".join(p for p in (short, rest, f"{date[4:]}-{time_of_day}") if p)


def log_run(log_dir, record, *, start_time=None):
    """Log one finished run (its metrics.json `record`) into its own TensorBoard entry
    (``<log_dir>/run``): `CHANGED`, `board_settings` and `BOARD_COUNTS` as hparams, and the
    `BOARD_FIGURES` of `headline` as scalars at the step of the epochs trained, ``final/<name>``
    for the script's `HEADLINE` figure and ``run/<name>`` for the others. `start_time`: when the
    run started (seconds since the epoch; default now). Returns the settings written."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hp_v1

    from chapter2.run import tblog

    script = record.get("script") or "run"
    found = headline(record)
    settings = {CHANGED: changed_text(record), **board_settings(script, record.get("config") or {})}
    settings.update({name: str(int(found[name])) for name in BOARD_COUNTS if name in found})
    trial = trial_name(script, record.get("run_dir") or Path(log_dir).parent)
    step = int(_number((record.get("timing") or {}).get("epochs")) or 0)
    writer = tf.summary.create_file_writer(str(tblog.whole_run_dir(log_dir)))
    try:
        with writer.as_default():
            hp.hparams(settings, trial_id=trial, start_time_secs=start_time)  # None: now
            for name, value in found.items():
                if name in BOARD_FIGURES:
                    section = "final" if name == HEADLINE.get(script) else "run"
                    tf.summary.scalar(f"{section}/{name}", value, step=step)
            end = hp_v1.session_end_pb(api_pb2.STATUS_SUCCESS)
            tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=0)
    finally:
        writer.close()  # flushes
    return settings


def _number(value):
    """`value` as a finite float or int, else None (bools are not figures)."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None

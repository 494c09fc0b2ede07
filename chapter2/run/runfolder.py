"""One folder per run: TensorBoard logs, checkpoints, figures and metrics.json.

    run = runs.start("chapter_2_1", cfg)       # makes the folder, seeds, prints where
    model.fit(..., callbacks=run.callbacks(samples_per_epoch=n))
    run.save_model(model)                      # atomic .keras file
    run.save_figure(fig, "reconstructions.png")
    run.finish(dataset={...}, metrics={...})   # writes metrics.json

Rerunning a script with the same ``--run-dir`` after Ctrl-C, a crash or
``kill -9`` resumes from the last finished epoch (Keras' BackupAndRestore);
the per-epoch history lives in ``history.csv`` (Keras' CSVLogger, appended),
so metrics.json and TensorBoard's curves cover the whole run.
"""

import csv
import math
import os
import platform
import shlex
import statistics
import time
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from chapter2.run import plots
from chapter2.run.errors import InputError, TrainingDiverged
from chapter2.run.files import atomic_path, write_json

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"


class Run:
    def __init__(self, script, cfg, path):
        self.script = script
        self.cfg = cfg
        self.path = Path(path)
        self.logs = self.path / "logs"
        self.backup = self.path / "backup"
        self.started = time.time()

    def file(self, name):
        """A path inside the run folder."""
        return self.path / name

    @property
    def resuming(self):
        return self.backup.exists() and any(self.backup.iterdir())

    # -- training -------------------------------------------------------
    def callbacks(self, samples_per_epoch=None, tensorboard=True, backup=True, backup_every=1):
        """The callbacks every run uses, in the order they must run:
        the NaN guard and epoch timer first (so a diverged epoch is never
        backed up), then BackupAndRestore (every `backup_every` epochs),
        CSVLogger and TensorBoard."""
        self.samples_per_epoch = samples_per_epoch
        cbs = [EpochGuard()]
        if backup:
            cbs.append(PeriodicBackupAndRestore(str(self.backup), every=backup_every, double_checkpoint=True))
        cbs.append(keras.callbacks.CSVLogger(str(self.file(HISTORY_FILE)), append=True))
        if tensorboard:
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(self.logs), profile_batch=0))
        return cbs

    def history(self):
        """Per-epoch logs of the whole run (all resumed parts), from history.csv."""
        path = self.file(HISTORY_FILE)
        if not path.exists():
            return []
        rows = {}
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if not row.get("epoch"):
                    continue
                rows[int(row["epoch"])] = {k: _number(v) for k, v in row.items()
                                           if k != "epoch" and v not in ("", "NA")}
        return [dict(epoch=e, **rows[e]) for e in sorted(rows)]

    def timing(self, history=None):
        history = self.history() if history is None else history
        seconds = [row["epoch_seconds"] for row in history if "epoch_seconds" in row]
        timing = {"train_seconds": round(sum(seconds), 3), "epochs": len(history)}
        if seconds and getattr(self, "samples_per_epoch", None):
            steady = seconds[1:] or seconds  # the first epoch also builds and traces
            timing["samples_per_second"] = round(self.samples_per_epoch / statistics.median(steady), 1)
            timing["samples_per_epoch"] = self.samples_per_epoch
        return timing

    # -- outputs --------------------------------------------------------
    def save_model(self, model, name="model.keras"):
        """Save `model` in the run folder without ever leaving a partial file."""
        path = self.file(name)
        with atomic_path(path) as tmp:
            model.save(str(tmp))
        return path

    def save_figure(self, fig, name):
        path = self.file(name)
        plots.save(fig, path, show=getattr(self.cfg, "show", False))
        return path

    def finish(self, *, dataset, metrics, history=None, timing=None, **extra):
        """Write metrics.json: what ran, on what, how well, how fast, where."""
        history = self.history() if history is None else history
        record = {
            "script": self.script,
            "dataset": dataset,
            "config": dict(self.cfg.constants, seed=self.cfg.seed, quick=self.cfg.quick),
            "metrics": {k: _clean(v) for k, v in metrics.items()},
            "history": history,
            "timing": timing if timing is not None else self.timing(history),
            "versions": versions(),
            "device": device_name(),
            "run_dir": str(self.path),
            "finished": datetime.now().isoformat(timespec="seconds"),
        }
        record.update(extra)
        write_json(self.file(METRICS_FILE), record)
        print(f"wrote {self.file(METRICS_FILE)}")
        return record


class EpochGuard(keras.callbacks.Callback):
    """Stops with a clear message when the loss is NaN or infinite, and adds
    the epoch's wall time to the logs (as ``epoch_seconds``) for history.csv."""

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["epoch_seconds"] = time.perf_counter() - self._t0
        for key in ("loss", "val_loss"):
            if key in logs and not math.isfinite(float(logs[key])):
                raise TrainingDiverged(
                    f"{key} became {float(logs[key])} in epoch {epoch + 1}; training stopped "
                    "(try a lower learning rate or check the input data)")


class PeriodicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, saving every `every` epochs instead of every
    epoch. For hundreds of epochs that each take milliseconds, writing the
    backup every epoch costs more than the training; an interrupted run then
    resumes from the last multiple of `every`."""

    def __init__(self, backup_dir, every=25, **kwargs):
        super().__init__(backup_dir, save_freq="epoch", **kwargs)
        self.every = max(1, int(every))

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self._current_epoch % self.every == 0:
            self._save_model()


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint, writing each save to a temporary file first
    and moving it into place, so a crash never leaves half a model."""

    _partial = None

    def _get_file_path(self, epoch, batch, logs):
        if self._partial is not None:
            return str(self._partial)
        return super()._get_file_path(epoch, batch, logs)

    def _save_model(self, epoch, batch, logs):
        target = Path(super()._get_file_path(epoch, batch, logs))
        self._partial = target.with_name(f".{target.stem}.partial{target.suffix}")
        try:
            super()._save_model(epoch, batch, logs)
            if self._partial.exists():
                os.replace(self._partial, target)
        finally:
            if self._partial.exists():
                self._partial.unlink()
            self._partial = None


def start(script, cfg):
    """Make (or reopen, to resume) the run folder, seed everything, and print
    where the run writes and how to watch it."""
    plots.configure(show=getattr(cfg, "show", False))
    if cfg.run_dir is not None:
        path = Path(cfg.run_dir)
        if path.exists() and not path.is_dir():
            raise InputError(f"--run-dir {path}: exists and is not a folder")
        if (path / METRICS_FILE).exists():
            raise InputError(f"--run-dir {path}: already holds a finished run ({METRICS_FILE}); "
                             "choose a new folder")
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / script / stamp
        n = 1
        while path.exists():
            n += 1
            path = Path("runs") / script / f"{stamp}-{n}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"--run-dir {path}: cannot create the folder ({err.strerror})") from None
    run = Run(script, cfg, path)
    keras.utils.set_random_seed(cfg.seed)
    print(f"run folder: {path}" + ("  (resuming from its last finished epoch)" if run.resuming else ""))
    print(f"watch it:   tensorboard --logdir {shlex.quote(str(run.logs))}")
    return run


def versions():
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def device_name():
    """The GPU's name when TensorFlow sees one, else the CPU."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return details.get("device_name", gpus[0].name)
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _clean(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


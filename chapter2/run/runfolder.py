"""One folder per run: TensorBoard logs, resume points, figures, metrics.json.

    run = runfolder.start("chapter_2_1", cfg)      # checks, locks, seeds, prints where
    initial_epoch = run.resume(model)              # 0, or where an interrupted run stopped
    model.fit(..., initial_epoch=initial_epoch, verbose=run.verbose,
              callbacks=run.callbacks(samples_per_epoch=n))
    run.save_model(model)                          # atomic .keras file
    run.save_figure(fig, "reconstructions.png")
    run.finish(dataset={...}, metrics={...})       # writes metrics.json

A run folder is named by the date, time and the settings that differ from
the script's (``runs/chapter_2_2/20261127-181500-strides2``). It records
what it is in ``run.json``; rerunning into it with the same settings resumes
the run, with other settings is refused. One process at a time holds it
(``.lock``). The per-epoch history lives in ``history.csv`` (Keras'
CSVLogger), so metrics.json and TensorBoard cover the whole resumed run.
"""

import csv
import fcntl
import hashlib
import math
import os
import platform
import re
import shlex
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from chapter2.run import distribute, hparams, plots, tblog
from chapter2.run.errors import InputError, TrainingDiverged
from chapter2.run.files import atomic_path, read_json, write_json
from chapter2.run.flags import show
from chapter2.run.resume import BestModel, EarlyStopping, ResumePoints, SaveResumePoint

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
IDENTITY_FILE = "run.json"
LOCK_FILE = ".lock"
# Settings a rerun may change and still resume: how long training goes on.
RESUMABLE_CHANGES = ("EPOCHS", "PATIENCE")


class Run:
    def __init__(self, script, cfg, path, lock):
        self.script = script
        self.cfg = cfg
        self.path = Path(path)
        self.logs = self.path / "logs"
        self.points = ResumePoints(self.path / "resume")
        self.started = time.time()
        self.initial_epoch = 0
        self.samples_per_epoch = None
        self._lock = lock
        self._model = None

    def file(self, name):
        """A path inside the run folder."""
        return self.path / name

    @property
    def verbose(self):
        """Keras' progress bar in a terminal, one line per epoch otherwise."""
        return 1 if sys.stdout.isatty() else 2

    # -- training -------------------------------------------------------
    def resume(self, model):
        """Load the last resume point of an interrupted run into `model`
        (compiled) and return the epoch to start from (0 for a new run; the
        number of epochs when training had already finished)."""
        self._model = model
        epoch, record = self.points.restore(model)
        if epoch and record.get("finished"):
            epoch = max(epoch, self.cfg.constants.get("EPOCHS", epoch))
            print(f"resuming: training had finished ({record['epoch']} epochs); "
                  "running the steps after it")
        elif epoch:
            print(f"resuming: after epoch {epoch}")
        self.initial_epoch = epoch
        self._trim_history(epoch)
        _drop_events_from(self.logs, epoch)  # an interrupted process may have logged epochs past it
        return epoch

    def callbacks(self, samples_per_epoch=None, *, best_model=None, monitor="val_loss", patience=None,
                  backup_every=1, tensorboard=True):
        """The callbacks every run uses, in the order they must run: the NaN
        guard and epoch timer, the best model (`best_model`: a path in the
        run folder) and early stopping (`patience`), history.csv and
        TensorBoard, and last the resume point, so that an epoch is recorded
        everywhere before the run counts it as done."""
        if self._model is None:
            raise RuntimeError("call run.resume(model) before run.callbacks()")
        self.samples_per_epoch = samples_per_epoch
        state = self.points.state
        cbs = [EpochGuard()]
        kept = []
        if best_model is not None:
            best = BestModel(best_model, monitor=monitor, model=self._model)
            best.restore(state.get("BestModel", {}))
            kept.append(best)
        if patience is not None:
            stop = EarlyStopping(monitor=monitor, patience=patience)
            stop.restore(state.get("EarlyStopping"))
            kept.append(stop)
        cbs += kept
        cbs.append(keras.callbacks.CSVLogger(str(self.file(HISTORY_FILE)), append=True))
        if tensorboard:
            cbs.append(tblog.keras_tensorboard(self.logs))
        cbs.append(SaveResumePoint(self.points, every=backup_every, states=kept))
        return cbs

    def history(self):
        """Per-epoch logs of the whole run (all resumed parts), from history.csv."""
        return read_history(self.file(HISTORY_FILE))

    def _trim_history(self, epochs):
        """Keep history.csv's rows of the first `epochs` epochs only: epochs
        after the resume point are trained again and logged again."""
        path = self.file(HISTORY_FILE)
        if not path.exists():
            return
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            return
        header, kept = rows[0], [rows[0]]
        for row in rows[1:]:
            try:
                if row and row != header and int(row[0]) < epochs:
                    kept.append(row)
            except ValueError:
                continue
        if len(kept) != len(rows):
            with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
                csv.writer(fh).writerows(kept if len(kept) > 1 else [])

    def timing(self, history=None):
        history = self.history() if history is None else history
        seconds = [row["epoch_seconds"] for row in history if "epoch_seconds" in row]
        timing = {"train_seconds": round(sum(seconds), 3), "epochs": len(history)}
        if seconds and self.samples_per_epoch:
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
        """Write metrics.json (what ran, on what, how well, how fast, where),
        then drop the resume points and release the folder."""
        history = self.history() if history is None else history
        record = {
            "script": self.script,
            "dataset": dataset,
            "config": config_record(self.cfg),
            "changed": {k: show(v) for k, v in self.cfg.changed().items()},
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
        # Settings and headline figures for TensorBoard's HParams dashboard.
        hparams.log_run(self.logs, record, start_time=self.started)
        if self.cfg.quick:
            print("smoke run (--quick): a few epochs on a small subset; its figures check that the "
                  "script works and are not results")
        self.points.clear()
        self.release()
        return record

    def release(self):
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


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


# --- the folder -------------------------------------------------------------

def config_record(cfg):
    """What the run is: every constant, and the options that shape the data."""
    record = dict(cfg.constants, seed=cfg.seed, quick=cfg.quick)
    for option in ("data", "offline"):
        if option in cfg.options:
            value = cfg.options[option]
            record[option] = str(value) if isinstance(value, Path) else value
    return record


def folder_name(cfg, stamp):
    """``<date-time>[-<changed settings>][-quick][-<name>]``, filesystem-safe."""
    parts = []
    for name, value in cfg.changed().items():
        if isinstance(value, tuple):
            text = "x".join("t" if v is True else "f" if v is False else str(v) for v in value)
        elif isinstance(value, bool):
            text = "" if value else "no"
            parts.append(text + name.lower().replace("_", ""))
            continue
        else:
            text = str(value)
        parts.append(name.lower().replace("_", "") + text)
    if cfg.seed != 7:
        parts.append(f"seed{cfg.seed}")
    slug = re.sub(r"[^A-Za-z0-9.x-]+", "", "-".join(parts))
    if len(slug) > 48:
        slug = slug[:40] + "-" + hashlib.sha1(slug.encode()).hexdigest()[:6]
    tail = [p for p in (slug, "quick" if cfg.quick else "", getattr(cfg, "name", None) or "") if p]
    return "-".join([stamp] + tail)


def start(script, cfg):
    """Make (or reopen, to resume) the run folder, lock it, and print where the run writes and how to watch it."""
    plots.configure(show=getattr(cfg, "show", False))
    worker_dir = distribute.worker_run_dir()  # a multi-worker run: only the chief writes under runs/
    if worker_dir is not None:
        path = Path(worker_dir)
    elif cfg.run_dir is not None:
        path = Path(cfg.run_dir)
        if path.exists() and not path.is_dir():
            raise InputError(f"--run-dir {path}: exists and is not a folder")
        if (path / METRICS_FILE).exists():
            raise InputError(f"--run-dir {path}: already holds a finished run ({METRICS_FILE}); "
                             "choose a new folder")
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / script
        path = base / folder_name(cfg, stamp)
        n = 1
        while path.exists():
            n += 1
            path = base / f"{folder_name(cfg, stamp)}-{n}"
    _check_identity(path, script, cfg)
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock = _lock(path)
        write_json(path / IDENTITY_FILE, {"script": script, "config": config_record(cfg)})
    except OSError as err:
        raise InputError(f"--run-dir {path}: cannot write there ({err.strerror or err})") from None
    run = Run(script, cfg, path, lock)
    changed = cfg.changed()
    print(f"run folder: {path}")
    print("settings:   " + (", ".join(f"--{k.lower().replace('_', '-')} {show(v)}" for k, v in changed.items())
                            or "the chapter's") + (" (--quick)" if cfg.quick else ""))
    print(f"watch it:   tensorboard --logdir {shlex.quote(str(run.logs))}")
    return run


def _check_identity(path, script, cfg):
    """Refuse to resume a run folder of another script or other settings."""
    record_path = path / IDENTITY_FILE
    if not record_path.exists():
        if path.is_dir() and (path / HISTORY_FILE).exists():
            raise InputError(f"--run-dir {path}: holds a run without its {IDENTITY_FILE}; choose a new folder")
        return
    try:
        record = read_json(record_path)
        old_script, old = record["script"], dict(record["config"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"--run-dir {path}: its {IDENTITY_FILE} is damaged; choose a new folder") from None
    if old_script != script:
        raise InputError(f"--run-dir {path}: holds a run of {old_script}, not {script}; choose a new folder")
    new = config_record(cfg)
    differ = [k for k in sorted(set(old) | set(new)) if k not in RESUMABLE_CHANGES
              and _jsonish(old.get(k)) != _jsonish(new.get(k))]
    if differ:
        said = ", ".join(f"{_flag(k)} {_jsonish(old.get(k))} (now {_jsonish(new.get(k))})" for k in differ[:4])
        raise InputError(f"--run-dir {path}: holds a run with {said}; rerun with its settings to resume it, "
                         "or leave out --run-dir to start a new run")


def _flag(key):
    return "--" + key.lower().replace("_", "-")


def _jsonish(value):
    if isinstance(value, (list, tuple)):
        return ",".join(_jsonish(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def _lock(path):
    """Hold the folder's lock for the life of this process; the kernel frees
    it when the process ends, however it ends."""
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise InputError(f"--run-dir {path}: in use by process {holder}; wait for it to finish, "
                         "or choose another folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _drop_events_from(logs, step):
    """Remove from the run's TensorBoard event files every summary at or
    after `step` (epochs an interrupted process logged but did not finish
    saving: they are trained and logged again), so that TensorBoard shows
    every epoch once. A file cut short by a kill is rewritten whole."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    for path in sorted(Path(logs).rglob("events.out.tfevents.*")) if Path(logs).is_dir() else ():
        records = list(RawEventFileLoader(str(path)).Load())
        kept = [r for r in records if not _stale(event_pb2.Event.FromString(r), step)]
        if len(kept) == len(records) and path.stat().st_size == sum(len(r) + 16 for r in records):
            continue
        with atomic_path(path, suffix="") as tmp, tmp.open("wb") as fh:
            writer = RecordWriter(fh)
            for record in kept:
                writer.write(record)
            writer.flush()


def _stale(event, step):
    return event.HasField("summary") and event.step >= step


def read_history(path):
    """[{epoch, loss, ...}] from a history.csv; rows that are not numbers are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                epoch = int(row.get("epoch") or "")
            except ValueError:
                continue
            rows[epoch] = {k: _number(v) for k, v in row.items() if k and k != "epoch" and v not in ("", "NA", None)}
    return [dict(epoch=e, **rows[e]) for e in sorted(rows)]


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
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _clean(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value

"""One folder per run: TensorBoard logs, resume points, figures, metrics.json.

    run = runfolder.start("chapter_2_1", cfg)      # checks, locks, prints where
    callbacks = [keras.callbacks.TensorBoard(run.logs), ...]   # the listing's callbacks
    initial_epoch = run.resume(model, callbacks)   # 0, or where an interrupted run stopped
    model.fit(..., initial_epoch=initial_epoch, verbose=run.verbose,
              callbacks=callbacks + run.callbacks(samples_per_epoch=n))
    run.save_model(model)                          # atomic .keras file
    run.save_figure(fig, "reconstructions.png")
    run.finish(dataset={...}, metrics={...})       # writes metrics.json

A run folder is named by the date, time and the settings changed from the
script's (``runs/chapter_2_2/20261127-181500-strides2``). ``run.json``, written
first, says what run it holds: a non-empty folder without it is refused, and
so is a rerun with other settings or data; the same ones resume. The run
writes, replaces and removes only files it made, one process at a time
(``.lock``). ``history.csv`` (Keras' CSVLogger) covers the whole resumed run.
"""

import csv
import fcntl
import hashlib
import math
import os
import platform
import re
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from chapter2.run import distribute, flags, hparams, plots
from chapter2.run.errors import InputError, TrainingDiverged
from chapter2.run.files import (
    HISTORY_FILE,
    IDENTITY_FILE,
    METRICS_FILE,
    atomic_path,
    csv_rows,
    read_history,
    read_json,
    refuse_finished,
    write_json,
)
from chapter2.run.resume import ResumePoints, SaveResumePoint, sidecar

LOCK_FILE = ".lock"
MADE_BY = "chapter2"  # run.json's marker: the folder is a run folder this project made
# What a run folder holds besides the outputs it records in run.json.
BOOKKEEPING = {IDENTITY_FILE, LOCK_FILE, HISTORY_FILE, METRICS_FILE, "logs", "resume"}
# Settings a rerun may change and still resume: how long training goes on.
RESUMABLE_CHANGES = ("EPOCHS", "PATIENCE")


class Run:
    def __init__(self, script, cfg, path, lock, identity=None):
        self.script = script
        self.cfg = cfg
        self.identity = identity or {}
        self.path = Path(path)
        self.logs = self.path / "logs"
        self.points = ResumePoints(self.path / "resume")
        self.started = time.time()
        self.initial_epoch = 0
        self.samples_per_epoch = None
        self._lock = lock
        self._model = None
        self._stateful = []

    def file(self, name):
        """A path inside the run folder."""
        return self.path / name

    @property
    def verbose(self):
        """Keras' progress bar in a terminal, one line per epoch otherwise."""
        return 1 if sys.stdout.isatty() else 2

    # -- training -------------------------------------------------------
    def resume(self, model, callbacks=()):
        """Load the last resume point of an interrupted run into `model` (compiled)
        and give the callbacks that keep state (BestModel, EarlyStopping) theirs.
        Returns the epoch to start from (0 for a new run)."""
        self._model = model
        self._stateful = [cb for cb in callbacks if hasattr(cb, "resume_state")]
        epoch, record = self.points.restore(model)
        wanted = self.cfg.constants.get("EPOCHS")
        if epoch and record.get("finished"):
            epoch = max(epoch, wanted or epoch)
            print(
                f"resuming: training had finished ({record['epoch']} epochs); running the steps after it"
            )
        elif epoch:
            if wanted is not None and epoch > wanted:
                raise InputError(
                    f"--run-dir {self.path}: {epoch} epochs are done already; --epochs {wanted} "
                    f"is fewer: rerun with --epochs {epoch} or more to resume"
                )
            print(f"resuming: after epoch {epoch}")
        for cb in self._stateful:
            cb.restore(self.points.state.get(type(cb).__name__) or {})
        self.initial_epoch = epoch
        # Epochs logged after the last resume point are trained and logged again.
        self._trim_history(epoch)
        return epoch

    def callbacks(self, samples_per_epoch=None, *, backup_every=1):
        """The run's own callbacks, after the script's: the NaN guard and epoch
        timer, history.csv, and last the resume point, so that an epoch is
        recorded everywhere before the run counts it as done."""
        if self._model is None:
            raise RuntimeError("call run.resume(model, callbacks) before run.callbacks()")
        self.samples_per_epoch = samples_per_epoch
        return [
            EpochGuard(),
            keras.callbacks.CSVLogger(str(self.file(HISTORY_FILE)), append=True),
            SaveResumePoint(self.points, every=backup_every, states=self._stateful),
        ]

    def history(self):
        """Per-epoch logs of the whole run (all resumed parts), from history.csv."""
        return read_history(self.file(HISTORY_FILE))

    def _trim_history(self, epochs):
        """Keep history.csv's rows of the first `epochs` epochs only."""
        path = self.file(HISTORY_FILE)
        rows = csv_rows(path)
        if not rows:
            return
        header, kept = rows[0], [rows[0]]
        for row in rows[1:]:
            try:
                if row and row != header and int(row[0]) < epochs:
                    kept.append(row)
            except ValueError:
                continue
        if len(kept) != len(rows) or _damaged_csv(path):
            with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(kept if len(kept) > 1 else [])

    def timing(self, history=None):
        history = self.history() if history is None else history
        seconds = [row["epoch_seconds"] for row in history if "epoch_seconds" in row]
        timing = {"train_seconds": round(sum(seconds), 3), "epochs": len(history)}
        if seconds and self.samples_per_epoch:
            per_epoch = hparams.seconds_per_epoch(history)  # the first epoch also traces
            timing["samples_per_second"] = round(self.samples_per_epoch / per_epoch, 1)
            timing["samples_per_epoch"] = self.samples_per_epoch
        return timing

    # -- outputs --------------------------------------------------------
    def save_model(self, model, name="model.keras"):
        """Save `model` in the run folder without ever leaving a partial file."""
        path = self._output(name)
        with atomic_path(path) as tmp:
            model.save(str(tmp))
        return path

    def save_figure(self, fig, name):
        """Save `fig` as a PNG marked with the run's changed settings (and "smoke run" after --quick)."""
        path = self._output(name)
        plots.mark(fig, settings_text(self.cfg), smoke=self.cfg.options.get("quick", False))
        plots.save(fig, path, show=getattr(self.cfg, "show", False))
        return path

    def _output(self, name):
        """The path of an output, recorded in run.json first: a resumed run knows it as its own."""
        files = self.identity.setdefault("files", [])
        if name not in files:
            files.append(name)
            write_json(self.file(IDENTITY_FILE), self.identity)
        return self.file(name)

    def finish(self, *, dataset, metrics, history=None, timing=None, **extra):
        """Write metrics.json (what ran, on what, how well, how fast, where),
        then drop the resume points and release the folder."""
        history = self.history() if history is None else history
        record = {
            "script": self.script,
            "dataset": dataset,
            "config": config_record(self.cfg),
            "changed": {k: flags.flag_text(v) for k, v in self.cfg.changed().items()},
            "edited_in_file": [
                k for k in getattr(self.cfg, "edited", ()) if k in self.cfg.changed()
            ],
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
        if self.cfg.options.get("quick"):
            print(
                "smoke run (--quick): its figures check that the script works and are not results"
            )
        self.points.clear()
        self.release()
        return record

    def release(self):
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
            flags.current_run_dir = None


class EpochGuard(keras.callbacks.Callback):
    """Stops in one line when the loss is NaN or infinite; logs the epoch's wall time (``epoch_seconds``)."""

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
                    "(try a lower learning rate or check the input data)"
                )


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
    """``<date-time>[-<changed settings>][-quick|-lab][-<name>]``, filesystem-safe."""
    parts = []
    for name, value in cfg.changed().items():
        key = name.lower().replace("_", "")
        if isinstance(value, bool):
            parts.append(("" if value else "no") + key)
        elif isinstance(value, tuple):
            parts.append(
                key + "x".join("t" if v is True else "f" if v is False else str(v) for v in value)
            )
        else:
            parts.append(key + str(value))
    if cfg.seed != flags.DEFAULT_SEED:
        parts.append(f"seed{cfg.seed}")
    slug = re.sub(r"[^A-Za-z0-9.x-]+", "", "-".join(parts))
    if len(slug) > 48:
        slug = slug[:40] + "-" + hashlib.sha1(slug.encode()).hexdigest()[:6]
    size = "quick" if cfg.options.get("quick") else "lab" if cfg.options.get("lab") else ""
    tail = [p for p in (slug, size, getattr(cfg, "name", None) or "") if p]
    return "-".join([stamp] + tail)


def settings_text(cfg):
    """The changed settings as flags, saying which came from the edited script
    file: ``--kernel-size 5 (edited in the file), --epochs 3``."""
    said = flags.changes_text(cfg.changed(), getattr(cfg, "edited", ()))
    size = (
        " (--quick)" if cfg.options.get("quick") else " (--lab)" if cfg.options.get("lab") else ""
    )
    return (", ".join(said) or "the chapter's") + size


def fingerprint(*arrays):
    """A cheap fingerprint of the data: the arrays' shapes and types and a hash
    of an evenly spaced sample of their bytes (at most ~8 MB)."""
    digest = hashlib.blake2b(digest_size=12)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        flat = array.reshape(-1).view(np.uint8) if array.size else np.zeros(0, np.uint8)
        step = max(1, flat.size // (8 << 20))
        digest.update(flat[::step].tobytes())
    return digest.hexdigest()


def start(script, cfg, *, data=None):
    """Make (or reopen, to resume) the run folder, lock it, and print where the
    run writes and how to watch it. `data` is fingerprint(...) of the training
    data; a resumed run must train on the same."""
    plots.configure(show=getattr(cfg, "show", False))
    # a multi-worker run: only the chief writes under runs/
    worker_dir = distribute.worker_run_dir()
    if worker_dir is not None:
        path = Path(worker_dir)
    elif cfg.run_dir is not None:
        path = Path(cfg.run_dir)
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / script
        path = base / folder_name(cfg, stamp)
        n = 1
        while path.exists():
            n += 1
            path = base / f"{folder_name(cfg, stamp)}-{n}"
    try:
        identity = _check_identity(path, script, cfg, data)
        path.mkdir(parents=True, exist_ok=True)
        lock = _lock(path)
        write_json(path / IDENTITY_FILE, identity)
    except OSError as err:
        raise InputError(f"--run-dir {path}: cannot write there ({err.strerror or err})") from None
    flags.current_run_dir = path
    run = Run(script, cfg, path, lock, identity)
    print(f"run folder: {path}")
    print(f"settings:   {settings_text(cfg)}")
    print(f"watch it:   python -m chapter2.board --logdir {shlex.quote(str(run.logs))}")
    return run


def _check_identity(path, script, cfg, data):
    """run.json's record for the run in `path`: new for an empty or new folder,
    the folder's own for the same run. Refuses anything else, and a run folder
    holding files the run did not write."""
    new = {
        "made_by": MADE_BY,
        "script": script,
        "config": config_record(cfg),
        "data": data,
        "files": [],
    }
    if path.exists() and not path.is_dir():
        raise InputError(f"--run-dir {path}: exists and is not a folder")
    refuse_finished(path)
    if not (path / IDENTITY_FILE).exists():
        others = (
            sorted(p.name for p in path.iterdir() if p.name != LOCK_FILE) if path.is_dir() else []
        )
        if others:
            raise InputError(
                f"--run-dir {path}: is not empty and not a run folder (it holds {others[0]}"
                f"{' and more' if len(others) > 1 else ''}); choose a new or empty folder"
            )
        return new
    try:
        record = read_json(path / IDENTITY_FILE)
        if record.get("made_by") != MADE_BY:
            raise ValueError
        old_script, old, files = (
            record["script"],
            dict(record["config"]),
            list(record.get("files", [])),
        )
        if not all(isinstance(f, str) for f in files):
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InputError(
            f"--run-dir {path}: its {IDENTITY_FILE} is damaged or not this project's; "
            "choose a new folder"
        ) from None
    if old_script != script:
        raise InputError(
            f"--run-dir {path}: holds a run of {old_script}, not {script}; choose a new folder"
        )
    differ = [
        k
        for k in sorted(set(old) | set(new["config"]))
        if k not in RESUMABLE_CHANGES and _setting(old.get(k)) != _setting(new["config"].get(k))
    ]
    if differ:
        said = ", ".join(
            f"{flags.flag_name(k)} {_setting(old.get(k))} (now {_setting(new['config'].get(k))})"
            for k in differ[:4]
        )
        raise InputError(
            f"--run-dir {path}: holds a run with {said}; rerun with its settings to resume it, "
            "or leave out --run-dir to start a new run"
        )
    if record.get("data") != data:
        raise InputError(
            f"--run-dir {path}: its run trained on other data (fingerprint {record.get('data')}, "
            f"now {data}); rerun with that data to resume it, or leave out --run-dir"
        )
    ours = BOOKKEEPING | set(files) | {sidecar(path / f).name for f in files}
    strangers = sorted(
        p.name for p in path.iterdir() if p.name not in ours and not _ours(p.name, path)
    )
    if strangers:
        raise InputError(
            f"--run-dir {path}: holds {strangers[0]}, which this run did not write; "
            "move it elsewhere, then rerun to resume"
        )
    return dict(record, files=files, config=new["config"])


def _setting(value):
    return "none" if value is None else flags.flag_text(value)


def _ours(name, folder):
    """A file a run writes without recording it: the best model (its sidecar proves
    it) and the sidecar, or an atomic write's leftover after a kill."""
    return (
        sidecar(folder / name).exists()
        or (name.startswith(".") and ".tmp" in name)
        or (name.startswith(".") and name.endswith(".json") and (folder / name[1:-5]).exists())
    )


def _lock(path):
    """Hold the folder's lock for the life of this process (the kernel frees it however it ends)."""
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise InputError(
            f"--run-dir {path}: in use by process {holder}; wait for it to finish, "
            "or choose another folder"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _damaged_csv(path):
    """Whether a history file holds bytes that are not UTF-8 text (a kill mid-write)."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\0" in data


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


def _clean(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value

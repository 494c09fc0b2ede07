"""Resume points: an interrupted run picks up at its last finished epoch.

After every `every` epochs the model's weights and optimizer state go to a
TensorFlow checkpoint, ``resume/epoch-NNNNNN.ckpt.*``, then ``epoch-NNNNNN.json``
records the epoch and the callbacks' state (the best value so far, early
stopping's patience). The JSON is written last, so a point exists only once its
files are complete, and the previous point is deleted only after it.

``tf.train.Checkpoint`` writes each variable's buffer as it is, where
``model.save_weights`` copies every array into numpy first, a much slower save
for Chapter_2_3's weights and adam state (bench/bench_resume_save.py,
docs/reliability.md). A restore must match every variable, or the point counts
as damaged.
"""

import contextlib
import math
import re
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from chapter2.run import distribute
from chapter2.run.errors import brief
from chapter2.run.files import atomic_path, read_json, write_json

_POINT = re.compile(r"^epoch-(\d{6})\.json$")
_EPOCH_FILE = re.compile(r"^\.?epoch-(\d{6})\.")  # a leading dot: a record killed mid-write


class ResumePoints:
    def __init__(self, folder, log=print):
        self.folder = Path(folder)
        self.log = log
        self.state = {}  # the loaded point's callback states
        self.model = None  # the model whose weights are saved
        self.weights_epoch = None  # the epoch whose weights the model holds and the folder has

    def points(self):
        """[(epoch, json path)], newest first."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _POINT.match(p.name))]
        return sorted(found, reverse=True)

    def restore(self, model):
        """Load the newest good point into `model` (compiled): (epochs finished,
        its record), or (0, {}) when there is none. A damaged point (its record
        is untrusted and checked before the checkpoint is read) is reported in
        one line and the one before it tried. Variables are restored inside the
        model's strategy, where its optimizer must be built."""
        self.model = model
        points = self.points()
        with model.distribute_strategy.scope():
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        epoch, record = 0, {}
        for n, (found, path) in enumerate(points):
            try:
                record = check_record(read_json(path), found)
                prefix = self.folder / record["weights"]
                if not _written(prefix):
                    raise ValueError(f"{prefix.name}.index is missing")
                with model.distribute_strategy.scope():
                    _checkpoint(model).read(str(prefix)).assert_consumed()
            except Exception as err:  # any damage: JSON, checkpoint files, names, shapes, types
                record = {}
                reason = brief(err, 120)
                later = (
                    "the one before it"
                    if n + 1 < len(points)
                    else "none left: starting over from epoch 1"
                )
                self.log(
                    f"note: resume point of epoch {found} in {self.folder} is damaged ({reason}); "
                    f"using {later}"
                )
                continue
            epoch = found
            break
        # A multi-worker run: every worker goes on from the chief's point.
        epoch, record = distribute.same_point_everywhere(model, epoch, record)
        if epoch:
            self.state = record["callbacks"]
            self.weights_epoch = epoch
        return epoch, record

    def save(self, epoch, callbacks_state, finished=False):
        """Write the point for `epoch` finished epochs, then drop older ones; saving
        the same epoch again (training ends right after it) rewrites only its record."""
        if self.model is None:
            raise RuntimeError("ResumePoints.save before restore(model)")
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epoch:06d}"
        prefix = self.folder / f"{name}.ckpt"
        if self.weights_epoch != epoch or not _written(prefix):
            # TensorFlow writes each file whole, then renames it
            _checkpoint(self.model).write(str(prefix))
            self.weights_epoch = epoch
        write_json(
            self.folder / f"{name}.json",
            {
                "epoch": epoch,
                "weights": prefix.name,
                "callbacks": callbacks_state,
                "finished": finished,
            },
        )
        self._remove(before=epoch)

    def clear(self):
        """Delete every point's files (the run has finished), and the folder if
        nothing else is in it."""
        if self.folder.is_dir():
            self._remove(before=float("inf"))
            with contextlib.suppress(OSError):
                self.folder.rmdir()

    def _remove(self, before):
        """Delete the files of points older than epoch `before`, with the pieces of
        any point killed while it was written (TensorFlow's ``<prefix>_temp``)."""
        for path in self.folder.iterdir():
            old = _EPOCH_FILE.match(path.name)
            if not old or int(old.group(1)) >= before:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def check_record(record, epoch):
    """`record`, a resume point's JSON, if every part has the type and range a
    point of `epoch` writes; else ValueError naming the first part that does not
    (a disk error or a hand edit can leave any valid JSON there)."""
    if not isinstance(record, dict):
        raise ValueError(f"its record is a JSON {type(record).__name__}, not an object")
    if _whole(record.get("epoch")) != epoch:
        raise ValueError(
            f"its record's epoch {str(record.get('epoch'))[:20]!r} does not match its name"
        )
    if record.get("weights") != f"epoch-{epoch:06d}.ckpt":
        raise ValueError(
            f"its record names the checkpoint {str(record.get('weights'))[:40]!r}, "
            f"not epoch-{epoch:06d}.ckpt"
        )
    if not isinstance(record.get("finished", False), bool):
        raise ValueError('its record\'s "finished" is not true or false')
    states = record.get("callbacks", {})
    if not isinstance(states, dict):
        raise ValueError('its record\'s "callbacks" is not an object')
    for name in ("BestModel", "EarlyStopping"):
        try:
            _check_state(states.get(name), epoch)
        except ValueError as err:
            raise ValueError(f"its record's {name} state: {err}") from None
    return dict(record, callbacks=states, finished=record.get("finished", False))


def _whole(value):
    """`value` if it is a whole number (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value):
    """`value` as a float if it is a number but not NaN (inf means "nothing yet"), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return float(value)
    return None


def _check_state(state, epoch):
    """ValueError unless `state` is what BestModel's or EarlyStopping's
    resume_state writes after `epoch` epochs (or None)."""
    if state is None:
        return
    if not isinstance(state, dict):
        raise ValueError("not an object")
    if state.get("best") is not None and _number(state["best"]) is None:
        raise ValueError(f"best {str(state['best'])[:20]!r} is not a number")
    for key in ("wait", "best_epoch"):
        value = state.get(key)
        if value is not None and not (_whole(value) is not None and 0 <= value <= epoch):
            raise ValueError(f"{key} {str(value)[:20]!r} is not a count from 0 to {epoch}")


def _valid(state):
    """`state` if _check_state takes it, else {}."""
    try:
        _check_state(state, float("inf"))
    except ValueError:
        return {}
    return state or {}


def _written(prefix):
    """Whether a checkpoint's index file is at `prefix` (its JSON record, written after, completes it)."""
    return Path(f"{prefix}.index").is_file()


def _checkpoint(model):
    """The model's weights and, once compiled, its optimizer's state."""
    if getattr(model, "optimizer", None) is None:
        return tf.train.Checkpoint(model=model)
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


class SaveResumePoint(keras.callbacks.Callback):
    """Saves a resume point every `every` epochs, at the last epoch and when
    training ends, with the ``resume_state()`` of the callbacks `states`."""

    def __init__(self, points, every=1, states=()):
        super().__init__()
        self.points = points
        self.every = max(1, int(every))
        self.states = list(states)

    def _states(self):
        return {type(cb).__name__: cb.resume_state() for cb in self.states}

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        stopping = bool(getattr(self.model, "stop_training", False))
        if done % self.every == 0 or done == self.params.get("epochs") or stopping:
            self.points.save(done, self._states(), finished=stopping)
        self.last = done

    def on_train_end(self, logs=None):
        last = getattr(self, "last", None)
        if last is not None:
            self.points.save(last, self._states(), finished=True)


def network_only(model):
    """The same layers and weights as `model`, as an uncompiled Model (no copy):
    saving it leaves out the optimizer's state (for adam two thirds of the
    bytes), which the resume points keep instead."""
    return keras.Model(inputs=model.inputs, outputs=model.outputs, name=model.name)


def sidecar(path):
    """Where BestModel records the best value and epoch of the model at `path`."""
    path = Path(path)
    return path.with_name(f".{path.name}.json")


def read_sidecar(path, log=None):
    """BestModel's checked record of the model at `path` ({"best", "epoch",
    "monitor"}), or {} when there is none or it is damaged (then `log` says so)."""
    file = sidecar(path)
    try:
        record = read_json(file)
        problem = _sidecar_problem(record)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        problem = brief(err, 80)
    if problem:
        if log is not None:
            log(f"note: {file} is damaged ({problem}); ignoring it")
        return {}
    return record


def _sidecar_problem(record):
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    if _number(record.get("best")) is None:
        return f"best {str(record.get('best'))[:20]!r} is not a number"
    if _whole(record.get("epoch")) is None or record["epoch"] < 1:
        return f"epoch {str(record.get('epoch'))[:20]!r} is not a whole number from 1"
    if not isinstance(record.get("monitor", ""), str):
        return "monitor is not a name"
    return None


def best_epoch(path):
    """The epoch (1-based) whose model BestModel saved at `path`, or None."""
    return read_sidecar(path).get("epoch")


class BestModel(keras.callbacks.Callback):
    """ModelCheckpoint(save_best_only=True) that survives a resume: the best
    epoch's model by `monitor` (lower is better), saved atomically and
    uncompiled (network_only), its value in a sidecar JSON so that a resumed
    run never overwrites a better model."""

    def __init__(self, path, monitor="val_loss", model=None, log=print):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.saved_model = model
        self.log = log
        self.best = float("inf")
        self.best_epoch = None

    def restore(self, state):
        """Carry on from a resume point's `state` (ignored unless it is what resume_state writes)."""
        state = _valid(state)
        best = float("inf") if state.get("best") is None else float(state["best"])
        on_disk = read_sidecar(self.path, log=self.log).get("best")
        if self.path.exists() and on_disk is not None:
            best = min(best, on_disk)
        self.best = best
        self.best_epoch = state.get("best_epoch")

    def resume_state(self):
        return {"best": self.best, "best_epoch": self.best_epoch}

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not float(value) < self.best:
            return
        self.best, self.best_epoch = float(value), epoch + 1
        model = self.saved_model if self.saved_model is not None else self.model
        with atomic_path(self.path) as tmp:
            # a few milliseconds to build: no copy of the weights
            network_only(model).save(str(tmp))
        write_json(
            sidecar(self.path),
            {"best": self.best, "epoch": self.best_epoch, "monitor": self.monitor},
        )


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping, with its patience count kept across a resume."""

    restored = None

    def restore(self, state):
        self.restored = state or None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        state = _valid(self.restored)
        if state:
            self.wait = state.get("wait") or 0
            self.best = self.best if state.get("best") is None else float(state["best"])
            self.best_epoch = state.get("best_epoch") or 0

    def resume_state(self):
        best = self.best
        return {
            "wait": int(self.wait),
            "best": None if best is None else float(best),
            "best_epoch": int(self.best_epoch or 0),
        }

"""Resume points: an interrupted run picks up at its last finished epoch.

After every `every` epochs the model's weights and its optimizer's state go
to a TensorFlow checkpoint, ``resume/epoch-NNNNNN.ckpt.index`` and
``.ckpt.data-00000-of-00001``, then a small ``epoch-NNNNNN.json`` beside it
records the epoch and the state of the callbacks that must survive a restart
(the best value so far and early stopping's patience). The JSON is written
last, so a point exists only once all its files are complete; the previous
point is deleted only after the new one exists.

The checkpoint is ``tf.train.Checkpoint(model=..., optimizer=...)``, which
Keras 3 models and optimizers support on the TensorFlow backend. It writes
each variable's buffer as it is; ``model.save_weights`` first copies every
array into numpy first, which for Chapter_2_3's 406 MB of weights and adam
state makes a save several times slower (bench/bench_resume_save.py measures
both; docs/reliability.md).
A restore must match every variable of the model and the optimizer, or the
point counts as damaged.
"""

import contextlib
import math
import re
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from chapter2.run import distribute
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
        """Load the newest good point into `model` (compiled). Returns
        (epochs finished, its record), or (0, {}) when there is none. A
        damaged point is reported in one line and the one before it is
        tried; when none is usable the run starts over, saying so.

        The record is untrusted: its epoch, file name, flags and every
        callback state it carries are checked for type and range before the
        checkpoint is read. Variables are restored inside the model's
        distribution strategy (a model built under MirroredStrategy or
        MultiWorkerMirroredStrategy needs its optimizer built there)."""
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
                reason = " ".join(str(err).split())[:120] or type(err).__name__
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
        """Write the point for `epoch` finished epochs, then drop older ones.
        The weights are written once per epoch: saving the same epoch again
        (when training ends right after it) rewrites only its record."""
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
        """Delete every point's files (the run has finished), and the folder
        if nothing else is in it: a file the run did not write stays."""
        if self.folder.is_dir():
            self._remove(before=float("inf"))
            with contextlib.suppress(OSError):
                self.folder.rmdir()

    def _remove(self, before):
        """Delete the files of points older than epoch `before`, with the
        pieces of any point killed while it was written (TensorFlow's
        ``<prefix>_temp`` folder)."""
        for path in self.folder.iterdir():
            old = _EPOCH_FILE.match(path.name)
            if not old or int(old.group(1)) >= before:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def check_record(record, epoch):
    """`record`, a resume point's JSON, if every part of it has the type and
    range a point of `epoch` writes; ValueError naming the first part that
    does not (a record is read as untrusted input: a disk error or a hand
    edit can leave any valid JSON there)."""
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
    for name, check in CALLBACK_STATES.items():
        if name in states:
            try:
                check(states[name], epoch)
            except ValueError as err:
                raise ValueError(f"its record's {name} state: {err}") from None
    return dict(record, callbacks=states, finished=record.get("finished", False))


def _whole(value):
    """`value` if it is a whole number (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value):
    """`value` as a float if it is a real number that is not NaN (inf is
    allowed: "nothing yet"), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return float(value)
    return None


def _check_best_model(state, epoch):
    if not isinstance(state, dict):
        raise ValueError("not an object")
    if "best" in state and _number(state["best"]) is None:
        raise ValueError(f"best {str(state['best'])[:20]!r} is not a number")
    best_epoch = state.get("best_epoch")
    if best_epoch is not None and not (_whole(best_epoch) is not None and 1 <= best_epoch <= epoch):
        raise ValueError(f"best_epoch {str(best_epoch)[:20]!r} is not an epoch from 1 to {epoch}")


def _check_early_stopping(state, epoch):
    if state is None:
        return
    if not isinstance(state, dict):
        raise ValueError("not an object")
    wait = state.get("wait", 0)
    if _whole(wait) is None or not 0 <= wait <= epoch:
        raise ValueError(f"wait {str(wait)[:20]!r} is not a count from 0 to {epoch}")
    if state.get("best") is not None and _number(state["best"]) is None:
        raise ValueError(f"best {str(state['best'])[:20]!r} is not a number")
    best_epoch = state.get("best_epoch", 0)
    if _whole(best_epoch) is None or not 0 <= best_epoch <= epoch:
        raise ValueError(f"best_epoch {str(best_epoch)[:20]!r} is not an epoch from 0 to {epoch}")


# The callback states a resume point carries, by the name SaveResumePoint
# files them under, with their checks.
CALLBACK_STATES = {"BestModel": _check_best_model, "EarlyStopping": _check_early_stopping}


def _written(prefix):
    """Whether a checkpoint was written at `prefix` (its index file is there;
    the point's JSON record, written after it, says it is complete)."""
    return Path(f"{prefix}.index").is_file()


def _checkpoint(model):
    """The model's weights and, once compiled, its optimizer's state."""
    if getattr(model, "optimizer", None) is None:
        return tf.train.Checkpoint(model=model)
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


class SaveResumePoint(keras.callbacks.Callback):
    """Saves a resume point every `every` epochs, at the last epoch, and
    when training ends; `states` are the callbacks whose ``resume_state()``
    goes into it."""

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
    """The same layers and weights as `model`, as an uncompiled Model (no
    copy is made). Saving it writes the network without the optimizer's
    state: for adam a third of the bytes, which for Chapter_2_3's 33.8
    million weights is 135 MB instead of 405 MB per save. The training
    state goes into the resume points instead."""
    return keras.Model(inputs=model.inputs, outputs=model.outputs, name=model.name)


def sidecar(path):
    """Where BestModel records the best value and epoch of the model at `path`."""
    path = Path(path)
    return path.with_name(f".{path.name}.json")


def read_sidecar(path, log=None):
    """BestModel's record of the model at `path` ({"best", "epoch", "monitor"}),
    or {} when there is none or it is damaged (then, with `log`, one line says
    so). Its parts are checked: best a number, epoch a whole number from 1,
    monitor a string."""
    file = sidecar(path)
    try:
        record = read_json(file)
        problem = _sidecar_problem(record)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        problem = " ".join(str(err).split())[:80] or type(err).__name__
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
    """Keeps the best epoch's model by `monitor` (lower is better), saved
    atomically, with its value in a sidecar JSON so a resumed run never
    overwrites a better model. The file holds the network and its weights,
    uncompiled (see network_only): load it to predict, to drive or to
    evaluate, and compile it to train it further."""

    def __init__(self, path, monitor="val_loss", model=None, log=print):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.saved_model = model
        self.log = log
        self.best = float("inf")
        self.best_epoch = None

    def restore(self, state):
        """Carry on from a resume point's `state` (checked here too: any part
        that is not what resume_state writes is left at its start value)."""
        state = state if isinstance(state, dict) else {}
        best = _number(state.get("best"))
        best = float("inf") if best is None else best
        on_disk = read_sidecar(self.path, log=self.log).get("best")
        if self.path.exists() and on_disk is not None:
            best = min(best, on_disk)
        self.best = best
        self.best_epoch = _whole(state.get("best_epoch"))

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
        state = self.restored if isinstance(self.restored, dict) else {}
        if state:
            wait, best, best_epoch = (
                _whole(state.get("wait")),
                state.get("best"),
                _whole(state.get("best_epoch")),
            )
            self.wait = wait if wait is not None and wait >= 0 else 0
            self.best = _number(best) if _number(best) is not None else self.best
            self.best_epoch = best_epoch if best_epoch is not None and best_epoch >= 0 else 0

    def resume_state(self):
        best = self.best
        return {
            "wait": int(self.wait),
            "best": None if best is None else float(best),
            "best_epoch": int(self.best_epoch or 0),
        }

"""Every flag does something: for every constant of every script, a changed
value changes the model, the data, the training run or the outputs.

The training part stops each script at its fit() call and compares what it
was about to do (the model's layers and their settings, the optimizer, the
data fed in, fit's arguments and the callbacks) with the default run. Flags
that act only after training (AFTER_TRAINING) are checked on the outputs by
their scripts' tests (--show-digits in test_chapter_2_1, --drive-seconds in
test_chapter_2_2_3); Chapter_2_4 and Chapter_2_5 have tests of this kind of
their own."""

import hashlib
import json

import keras
import numpy as np
import pytest

from chapter2.data import driving, mnist
from chapter2.run import flags

LOADERS = [(mnist, "load"), (driving, "load")]


class Stop(Exception):
    """Raised by the stand-in fit() once it has seen what training would do."""


def _digest(value):
    h = hashlib.sha1()
    if isinstance(value, np.ndarray):
        h.update(repr((value.shape, str(value.dtype))).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        for v in value:
            h.update(_digest(v).encode())
    elif isinstance(value, dict):
        for k in sorted(value):
            h.update(k.encode() + _digest(value[k]).encode())
    elif hasattr(value, "element_spec"):  # a tf.data.Dataset: its structure, size and first batch
        h.update(repr(value.element_spec).encode() + repr(int(value.cardinality())).encode())
        h.update(_digest(next(iter(value.take(1).as_numpy_iterator()))).encode())
    elif isinstance(value, keras.utils.PyDataset):
        h.update(repr(len(value)).encode() + _digest(value[0]).encode())
    elif hasattr(value, "numpy"):
        h.update(_digest(np.asarray(value)).encode())
    else:
        h.update(repr(value).encode())
    return h.hexdigest()


def _config(config):
    """A layer's or optimizer's settings, without its automatic name (dense_3, adam_2)."""
    return json.dumps({k: v for k, v in config.items() if k != "name"}, sort_keys=True, default=str)


def _layers(model):
    found = []
    for layer in model.layers:
        found.append((type(layer).__name__, _config(layer.get_config())))
        if hasattr(layer, "layers"):
            found += _layers(layer)
    for attr in vars(model).values():  # a training wrapper holding the model
        if isinstance(attr, keras.Model) and attr is not model:
            found += _layers(attr)
    return found


def _callback_state(cb):
    public = {
        k: v
        for k, v in vars(cb).items()
        if not k.startswith("_")
        and k != "model"
        and isinstance(v, (int, float, str, bool, tuple, type(None)))
    }
    return type(cb).__name__, json.dumps(public, sort_keys=True, default=str)


def what_training_would_do(module, argv, tmp_path, monkeypatch):
    seen = {}

    def fake_fit(self, x=None, y=None, **kwargs):
        seen["model"] = _layers(self)
        seen["optimizer"] = (
            _config(self.optimizer.get_config()) if self.optimizer is not None else None
        )
        seen["data"] = _digest([x, y, kwargs.get("validation_data")])
        seen["fit"] = {
            k: repr(kwargs.get(k))
            for k in (
                "epochs",
                "batch_size",
                "initial_epoch",
                "shuffle",
                "steps_per_epoch",
                "validation_split",
            )
        }
        seen["callbacks"] = [_callback_state(cb) for cb in kwargs.get("callbacks") or []]
        seen["jit_compile"] = repr(getattr(self, "jit_compile", None))
        raise Stop

    monkeypatch.setattr(keras.Model, "fit", fake_fit)
    for loader in LOADERS:  # the same data for the same arguments, made once
        monkeypatch.setattr(loader[0], loader[1], _memo(getattr(loader[0], loader[1])))
    monkeypatch.chdir(tmp_path)
    run_dir = str(tmp_path / f"run{len(list(tmp_path.iterdir()))}")
    with pytest.raises(Stop):
        offline = ["--offline"] if module.__name__ == "Chapter_2_1" else []
        module.main([*argv, "--quick", *offline, "--run-dir", run_dir])
    # Each call has its own run folder: where files go is not a difference.
    return json.loads(json.dumps(seen, default=str).replace(run_dir, "RUN_DIR"))


_cache = {}


def _memo(load):
    if getattr(load, "memo", False):
        return load

    def cached(*args, **kwargs):
        key = (load.__module__, load.__name__, repr(args), repr(sorted(kwargs.items())))
        if key not in _cache:
            _cache[key] = load(*args, **kwargs)
        return _cache[key]

    cached.memo = True
    return cached


def changed_value(name, default, bounds):
    """A different value of a constant that the script accepts."""
    low, high = bounds.get(name, (0, None))
    if isinstance(default, bool):
        return not default
    if isinstance(default, tuple):
        first = default[0]
        other = changed_value(name, first, bounds)
        return (other,) + default[1:]
    if isinstance(default, int):
        return default + 1 if high is None or default + 1 <= high else default - 1
    if isinstance(default, float):
        return default / 2 if default / 2 >= (low or 0) and default else default + 0.1
    return STRINGS[name]


# A different, valid value for every string constant.
STRINGS = {"OPTIMIZER": "adam", "WINDOW_AS": "features", "ACTIVATION": "sigmoid"}

# Flags that act only after training.
AFTER_TRAINING = {
    "Chapter_2_1.py": {"SHOW_DIGITS"},
    "Chapter_2_2.py": {"DRIVE_SECONDS"},
    "Chapter_2_3.py": {"DRIVE_SECONDS"},
}

# Chapter_2_4 and Chapter_2_5 have their own such tests (their training loops differ).
SCRIPTS = ["Chapter_2_1.py", "Chapter_2_2.py", "Chapter_2_3.py"]


def flags_of(script):
    module = __import__(script[:-3])
    return module, flags.constants_of(vars(module)), getattr(module, "BOUNDS", {})


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_training_flag_changes_what_training_does(script, tmp_path, monkeypatch):
    module, constants, bounds = flags_of(script)
    baseline = what_training_would_do(module, [], tmp_path, monkeypatch)
    ignored = []
    for name, default in constants.items():
        if name in AFTER_TRAINING.get(script, ()):
            continue
        default = getattr(module, "QUICK", {}).get(name, default)  # what the --quick baseline used
        value = changed_value(name, default, bounds)
        argv = (
            [flags.flag_name(name), flags.flag_text(value)]
            if not isinstance(value, bool)
            else [flags.flag_name(name) if value else "--no-" + flags.flag_name(name)[2:]]
        )
        seen = what_training_would_do(module, argv, tmp_path, monkeypatch)
        if seen == baseline:
            ignored.append(f"{flags.flag_name(name)} {flags.flag_text(value)}")
    assert ignored == [], (
        f"{script}: flags accepted but changing nothing before training: {ignored}"
    )

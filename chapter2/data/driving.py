"""The driving data: camera frames and steering angles, and which were used and why.

    X, Y, info = driving.load(data=cfg.data, sim_frames=8000, sim_seed=cfg.seed)

X is uint8 (N, 120, 160, 3), Y float32 (N,) in Donkey Car's convention
(-1 full left ... +1 full right).  ``info`` goes into metrics.json: its
``"source"`` is "--data", "indoor_lanes.pkl" or "simulator", its ``"why"``
says in words why that source was used.  In this order:

1. ``--data PATH``, when given, its format recognised from what it holds:
   a Donkey Car tub (v2: manifest.json; v1: meta.json / record_N.json),
   a Udacity simulator recording (a folder with driving_log.csv, or the CSV),
   a Sully Chen folder (data.txt beside its JPEGs, or the data.txt),
   an .npz holding X and Y, or a pickle of (X, Y).
2. The chapter's own ``indoor_lanes.pkl``, when a copy is kept in the Keras
   cache (``~/.keras/datasets/``; ``KERAS_HOME`` moves it).  The chapter
   downloads it from ``CHAPTER_DATA_URL``, which has answered 404 since
   2019 (``CHAPTER_DATA_REPORT``); it is no longer published anywhere
   known, so nothing here tries to download it.
3. Otherwise the project's lane simulator (``chapter2.standins.lanesim``)
   renders a stand-in, announced as such.
"""

import os
import stat
from pathlib import Path

from chapter2.run.errors import InputError

from . import donkey_tub, sully_chen, udacity
from .array_files import load_npz, load_pair, load_pickle  # noqa: F401  (load_pickle: the safe loader)
from .frames import FRAME_SHAPE, validate  # noqa: F401  (FRAME_SHAPE: the network's input)
from .records import is_file, reason

FILE_NAME = "indoor_lanes.pkl"
CHAPTER_DATA_URL = "https://s3.amazonaws.com/donkey_resources/indoor_lanes.pkl"
CHAPTER_DATA_REPORT = "https://github.com/PacktPublishing/Hands-On-Deep-Learning-for-Games/issues/3"
NOT_PUBLISHED = (
    f"the chapter's {FILE_NAME} is no longer published (its address has answered 404 since 2019, "
    f"{CHAPTER_DATA_REPORT})"
)
FORMATS = (
    "a Donkey Car tub folder (v1 or v2), a Udacity simulator recording (folder with driving_log.csv, "
    "or the CSV), a Sully Chen folder (data.txt and its JPEGs), an .npz with X and Y, or a pickle of (X, Y)"
)


def load_path(path, *, log=print):
    """(X, Y, info) from a recording or array file, its format recognised from its contents.

    Any failure of the system to read what it names (a name too long, a
    symbolic-link loop, a file that vanished) is one InputError line naming the path."""
    path = Path(path)
    try:
        return _load_path(path, log)
    except OSError as err:
        inner = isinstance(err.filename, str) and err.filename != str(path)
        which = f"{err.filename} " if inner else ""
        raise InputError(f"--data {path}: cannot read {which}({reason(err)})") from None


def _load_path(path, log):
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"--data {path}: no such file or folder") from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):  # a pipe or a device would never end
        raise InputError(f"--data {path}: neither a file nor a folder, expected {FORMATS}")
    version = donkey_tub.is_tub(path) if stat.S_ISDIR(mode) else None
    if version == 2:
        X, Y, extra = donkey_tub.load_tub_v2(path, log=log)
    elif version == 1:
        X, Y, extra = donkey_tub.load_tub_v1(path, log=log)
    elif udacity.is_recording(path):
        X, Y, extra = udacity.load_recording(path, log=log)
    elif sully_chen.is_recording(path):
        X, Y, extra = sully_chen.load_recording(path, log=log)
    elif stat.S_ISDIR(mode):
        raise InputError(
            f"--data {path}: a folder, but none of the recordings read here: expected {FORMATS}"
        )
    elif path.suffix.lower() == ".npz":
        X, Y = load_npz(path)
        extra = {"format": "npz"}
    else:
        X, Y = load_pair(path)
        extra = {"format": "pickle"}
    X, Y = validate(X, Y, path, log=log)
    return X, Y, {"source": "--data", "path": str(path), **extra}


def cache_path(cache_dir=None):
    """Where a kept copy of the chapter's data set would be (the Keras cache)."""
    base = (
        Path(cache_dir) if cache_dir else Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    )
    return base / "datasets" / FILE_NAME


def load_cached(path, *, log=print):
    """(X, Y) of the kept copy of indoor_lanes.pkl at `path`, checked like --data."""
    try:
        X, Y = load_pair(path)
        return validate(X, Y, path, log=log)
    except InputError as err:
        raise InputError(
            f"{err} (move the file away to train on the simulator, or pass --data)"
        ) from None


def simulate(frames, seed=0, *, log=print):
    """(X, Y) rendered by the lane simulator (``log``: its progress lines)."""
    from chapter2.standins import lanesim

    return lanesim.make_dataset(frames, seed=seed, log=log if frames >= 2000 else None)


def load(data=None, *, sim_frames=8000, sim_seed=0, cache_dir=None, log=print):
    """(X, Y, info): ``--data`` if given, else a kept copy of indoor_lanes.pkl,
    else the lane simulator; ``log`` gets one line saying which and why.
    Nothing is downloaded, so there is no offline switch."""
    cached = cache_path(cache_dir)
    if data is not None:
        X, Y, info = load_path(data, log=log)
        info["why"] = "given with --data"
        said = f"{info['format']} {data}"
    elif is_file(cached, "KERAS_HOME", f"the kept copy of {FILE_NAME}"):
        X, Y = load_cached(cached, log=log)
        info = {
            "source": FILE_NAME,
            "format": "pickle",
            "path": str(cached),
            "why": f"a copy kept in the Keras cache; {NOT_PUBLISHED}",
        }
        said = f"the chapter's {FILE_NAME}, kept at {cached}"
    else:
        X, Y = simulate(sim_frames, sim_seed, log=log)
        info = {
            "source": "simulator",
            "seed": int(sim_seed),
            "why": f"{NOT_PUBLISHED}; no --data given and no copy kept at {cached}",
        }
        said = f"the lane SIMULATOR (not the chapter's data), {int(sim_frames)} frames, seed {int(sim_seed)}"
    info.update(
        frames=int(len(X)),
        frame_shape=list(X.shape[1:]),
        angle_min=round(float(Y.min()), 4),
        angle_max=round(float(Y.max()), 4),
    )
    log(f"data: {said}: {info['why']}")
    return X, Y, info

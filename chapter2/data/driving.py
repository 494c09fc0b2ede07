"""The driving data set: camera frames and steering angles, from wherever they are.

    X, Y, info = driving.load(data=cfg.data, offline=cfg.offline, sim_frames=8000)

X is uint8 (N, 120, 160, 3), Y float32 (N,) in Donkey Car's convention
(-1 full left ... +1 full right); ``info`` says where they came from
(``info["source"]`` is "indoor_lanes.pkl", "--data" or "simulator") and goes
into metrics.json. In this order:

1. ``--data PATH``, when given: a pickle of ``(X, Y)``, an ``.npz`` holding
   ``X`` and ``Y``, or a Donkey Car tub folder (tub v2: ``manifest.json`` +
   ``catalog_N.catalog`` + ``images/``; the older tub v1: ``meta.json`` +
   ``record_N.json`` + jpgs).
2. The chapter's own data set, ``indoor_lanes.pkl`` (about 450 MB), downloaded
   once into the Keras cache (``~/.keras/datasets``; ``KERAS_HOME`` moves it)
   and reused by later runs. It is downloaded to a ``.part`` file, checked,
   and only then renamed, so an interrupted download is never mistaken for
   the data set.
3. When that download is impossible (no network) or skipped (``--offline``),
   the lane simulator (``chapter2.standins.lanesim``) renders a stand-in, announced on
   the console and as ``"source": "simulator"``.

Pickles are parsed, never trusted: :class:`ArrayUnpickler` admits only what an
``(X, Y)`` pair of numpy arrays needs, so a pickle that tries to call anything
else (``os.system``, ``open``, ...) is refused before any of it runs.
"""

import codecs
import json
import os
import pickle
import re
import socket
import zipfile
from pathlib import Path

import numpy as np

from chapter2.run.errors import InputError, brief

URL = "https://s3.amazonaws.com/donkey_resources/indoor_lanes.pkl"
FILE_NAME = "indoor_lanes.pkl"
FRAME_SHAPE = (120, 160, 3)  # rows, columns, RGB: the Donkey Car camera frame
DOWNLOAD_TIMEOUT = 30  # seconds without a byte before a download is given up


# --- Safe pickles ------------------------------------------------------------

def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for raw bytes, and nothing else."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


def _allowed_globals():
    from numpy._core import multiarray, numeric

    allowed = {}
    # numpy 2 names its core package numpy._core; pickles written by numpy 1
    # say numpy.core. Both map to the same few functions.
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays, tuples and lists, and
    refuses every other class or function a pickle names (before calling it)."""

    def find_class(self, module, name):
        found = _allowed_globals().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which an (X, Y) pair of arrays never needs")
        return found


def load_pickle(path):
    """The object in the pickle file at `path`, rebuilt by :class:`ArrayUnpickler`."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            # latin1 lets pickles written by Python 2 numpy load; harmless for Python 3 ones.
            return ArrayUnpickler(fh, encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise InputError(f"{path}: refused to load this pickle: {err}") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            ImportError, UnicodeDecodeError, MemoryError, OverflowError) as err:
        raise InputError(f"{path}: not a readable pickle of (X, Y) arrays, truncated or damaged "
                         f"({type(err).__name__}: {brief(err, 120)})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror or err})") from None


# --- Checking and normalising arrays -------------------------------------------

def validate(X, Y, name, *, log=print):
    """Check a pair loaded from `name` and return it as (uint8 frames, float32 angles).

    Raises InputError naming `name` for anything a model cannot train on;
    warns (one line) about angles outside Donkey Car's [-1, 1]; resizes frames
    of another size to 120x160 (one line)."""
    for label, arr in (("X", X), ("Y", Y)):
        if not isinstance(arr, np.ndarray):
            raise InputError(f"{name}: {label} is a {type(arr).__name__}, expected a numpy array")
        if arr.dtype.kind not in "buif":
            raise InputError(f"{name}: {label} has dtype {arr.dtype}, expected numbers")
    if X.ndim != 4 or X.shape[-1] != 3:
        raise InputError(f"{name}: frames X have shape {X.shape}, expected (N, height, width, 3) colour frames")
    if Y.ndim == 2 and Y.shape[1] == 1:
        Y = Y[:, 0]
    if Y.ndim != 1:
        raise InputError(f"{name}: angles Y have shape {Y.shape}, expected (N,) steering angles")
    if len(X) != len(Y):
        raise InputError(f"{name}: {len(X)} frames but {len(Y)} angles; X and Y must have the same length")
    if len(X) == 0:
        raise InputError(f"{name}: holds no frames")
    if X.shape[1] < 8 or X.shape[2] < 8:
        raise InputError(f"{name}: frames of {X.shape[1]}x{X.shape[2]} pixels are too small, expected 120x160")
    Y = np.asarray(Y, dtype=np.float32)
    bad = ~np.isfinite(Y)
    if bad.any():
        raise InputError(f"{name}: {int(bad.sum())} angles are not finite (first at index {int(np.argmax(bad))})")
    low, high = float(Y.min()), float(Y.max())
    if low < -1 or high > 1:
        log(f"warning: {name}: angles range from {low:.3g} to {high:.3g}, outside Donkey Car's [-1, 1]; "
            "training on them as they are")
    if X.dtype != np.uint8:
        X = _to_uint8(X, name, log)
    if X.shape[1:] != FRAME_SHAPE:
        log(f"note: {name}: resizing {len(X)} frames from {X.shape[1]}x{X.shape[2]} to "
            f"{FRAME_SHAPE[0]}x{FRAME_SHAPE[1]}")
        X = resize_frames(X)
    return X, Y


def _to_uint8(X, name, log):
    """Frames stored as floats (0-1 or 0-255) or wider integers, as uint8 0-255."""
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise InputError(f"{name}: frames X hold values that are not finite")
    high = float(X.max()) if X.size else 0.0
    scale = 255.0 if X.dtype.kind == "f" and high <= 1.0 else 1.0
    log(f"note: {name}: frames are {X.dtype}" + (" in [0, 1]" if scale != 1 else "") + "; converting to uint8 0-255")
    out = np.empty(X.shape, dtype=np.uint8)
    for start in range(0, len(X), 256):  # in chunks: no float copy of the whole set
        chunk = X[start:start + 256].astype(np.float32) * scale
        out[start:start + 256] = np.clip(np.rint(chunk), 0, 255)
    return out


def resize_frames(X):
    """uint8 frames of any size, resized (bilinear) to 120x160, one at a time."""
    from PIL import Image

    out = np.empty((len(X),) + FRAME_SHAPE, dtype=np.uint8)
    for i, frame in enumerate(X):
        out[i] = np.asarray(Image.fromarray(frame).resize((FRAME_SHAPE[1], FRAME_SHAPE[0]), Image.BILINEAR))
    return out


def _pair(obj, name):
    """(X, Y) from what a pickle held."""
    if isinstance(obj, dict) and "X" in obj and "Y" in obj:
        obj = (obj["X"], obj["Y"])
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        kind = f"a {len(obj)}-item {type(obj).__name__}" if isinstance(obj, (tuple, list)) else f"a {type(obj).__name__}"
        raise InputError(f"{name}: holds {kind}, expected a pair (X, Y) of frames and steering angles")
    return obj[0], obj[1]


# --- --data PATH ---------------------------------------------------------------

def load_path(path, *, log=print):
    """(X, Y, info) from a pickle, an .npz or a Donkey Car tub folder."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"--data {path}: no such file or folder")
    if path.is_dir():
        if (path / "manifest.json").is_file():
            X, Y, extra = load_tub_v2(path, log=log)
        elif (path / "meta.json").is_file() or any(path.glob("record_*.json")):
            X, Y, extra = load_tub_v1(path, log=log)
        else:
            raise InputError(f"--data {path}: a folder, but not a Donkey Car tub "
                             "(expected manifest.json (tub v2) or meta.json and record_N.json files (tub v1))")
    elif path.suffix.lower() == ".npz":
        X, Y = load_npz(path)
        extra = {"format": "npz"}
    else:
        X, Y = _pair(load_pickle(path), path)
        extra = {"format": "pickle"}
    X, Y = validate(X, Y, path, log=log)
    info = {"source": "--data", "path": str(path), **extra}
    return X, Y, info


def load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("X", "Y") if k not in archive.files]
            if missing:
                raise InputError(f"{path}: has arrays {sorted(archive.files)}, expected X (frames) and Y (angles)")
            return archive["X"], archive["Y"]
    except InputError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as err:
        if isinstance(err, ValueError) and "pickle" in str(err).lower():
            raise InputError(f"{path}: holds object arrays, which are not loaded (expected numeric X and Y)") from None
        raise InputError(f"{path}: not a readable .npz, truncated or damaged ({brief(err, 120)})") from None


def _read_json(path, what):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the {what} ({brief(err, 120)})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: malformed {what}: {err.msg} at line {err.lineno}") from None


def _image(path, where):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputError(f"{where}: its image {path} is missing")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise InputError(f"{path}: not a readable image ({brief(err, 120)})") from None


def _angle(record, where):
    if "user/angle" not in record:
        raise InputError(f"{where}: the record has no user/angle (keys: {', '.join(sorted(record)) or 'none'})")
    angle = record["user/angle"]
    if isinstance(angle, bool) or not isinstance(angle, (int, float)):
        raise InputError(f"{where}: user/angle is {angle!r}, expected a number")
    return float(angle)


def _image_name(record, where):
    name = record.get("cam/image_array")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: the record has no cam/image_array image file name")
    return name


def _stack(frames, name):
    """One uint8 array of equally sized frames (no float copies)."""
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise InputError(f"{name}: its images have different sizes {sorted(shapes)}")
    X = np.empty((len(frames),) + frames[0].shape, dtype=np.uint8)
    for i, f in enumerate(frames):
        X[i] = f
    return X


def load_tub_v2(path, *, log=print):
    """A Donkey Car tub v2: manifest.json is five JSON lines (inputs, types,
    metadata, manifest metadata, catalog metadata with ``paths`` and
    ``deleted_indexes``); each catalog is JSON lines, one record per frame,
    whose ``cam/image_array`` names a file in ``images/``."""
    manifest = path / "manifest.json"
    try:
        lines = [ln for ln in manifest.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{manifest}: cannot read it ({brief(err, 120)})") from None
    try:
        parsed = [json.loads(ln) for ln in lines]
    except json.JSONDecodeError as err:
        raise InputError(f"{manifest}: malformed JSON line ({err.msg}); expected tub v2's five JSON lines") from None
    catalog_meta = next((p for p in reversed(parsed) if isinstance(p, dict) and "paths" in p), None)
    if catalog_meta is None:
        raise InputError(f"{manifest}: no catalog list (a JSON line with \"paths\"); not a tub v2 manifest")
    deleted = set(catalog_meta.get("deleted_indexes") or [])
    frames, angles, skipped, position = [], [], 0, 0
    for catalog_name in catalog_meta["paths"]:
        catalog = path / catalog_name
        try:
            text = catalog.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{catalog}: listed in the manifest but cannot be read ({brief(err, 120)})") from None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{catalog} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{where}: malformed catalog line ({err.msg})") from None
            if not isinstance(record, dict):
                raise InputError(f"{where}: a catalog line must be a JSON object")
            index = record.get("_index", position)
            position += 1
            if index in deleted:
                skipped += 1
                continue
            angles.append(_angle(record, where))
            frames.append(_image(path / "images" / _image_name(record, where), where))
    if not frames:
        raise InputError(f"{path}: the tub holds no (undeleted) records")
    if skipped:
        log(f"{path}: skipped {skipped} records marked deleted in the manifest")
    return _stack(frames, path), np.asarray(angles, dtype=np.float32), {"format": "tub v2", "deleted_skipped": skipped}


def load_tub_v1(path, *, log=print):
    """An older Donkey Car tub: meta.json, one record_N.json per frame beside
    its jpg (``cam/image_array`` names it); indexes listed in exclude.json,
    when there is one, are skipped as deleted."""
    if (path / "meta.json").is_file():
        meta = _read_json(path / "meta.json", "tub meta.json")
        if not isinstance(meta, dict):
            raise InputError(f"{path / 'meta.json'}: expected a JSON object with inputs and types")
    excluded = set()
    if (path / "exclude.json").is_file():
        excluded = set(_read_json(path / "exclude.json", "tub exclude list") or [])
    numbered = []
    for record_path in path.glob("record_*.json"):
        match = re.fullmatch(r"record_(\d+)\.json", record_path.name)
        if match:
            numbered.append((int(match.group(1)), record_path))
    numbered.sort()
    frames, angles, skipped = [], [], 0
    for index, record_path in numbered:
        if index in excluded:
            skipped += 1
            continue
        record = _read_json(record_path, "tub record")
        if not isinstance(record, dict):
            raise InputError(f"{record_path}: a tub record must be a JSON object")
        angles.append(_angle(record, record_path))
        frames.append(_image(path / _image_name(record, record_path), record_path))
    if not frames:
        raise InputError(f"{path}: the tub holds no (undeleted) record_N.json records")
    if skipped:
        log(f"{path}: skipped {skipped} records listed in exclude.json")
    return _stack(frames, path), np.asarray(angles, dtype=np.float32), {"format": "tub v1", "deleted_skipped": skipped}


# --- The chapter's download ----------------------------------------------------

def cache_path(cache_dir=None):
    """Where the downloaded data set lives (the Keras cache)."""
    base = Path(cache_dir) if cache_dir else Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return base / "datasets" / FILE_NAME


def download(url=URL, cache_dir=None, *, log=print):
    """(X, Y, info) of the chapter's data set, downloaded once into the Keras
    cache. Raises OSError when it cannot be downloaded (no network, ...)."""
    import keras

    final = cache_path(cache_dir)
    if not final.exists():
        partial = final.with_name(final.name + ".part")
        if partial.exists():  # left by an interrupted run: never trusted
            partial.unlink()
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
        try:
            # get_file falls back to /tmp/.keras when the cache folder does not exist yet.
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(keras.utils.get_file(fname=partial.name, origin=url, cache_dir=str(final.parent.parent),
                                                cache_subdir=final.parent.name))
        except Exception as err:  # get_file wraps every network error in a bare Exception
            if partial.exists():
                partial.unlink()
            raise OSError(brief(err, 200)) from None
        finally:
            socket.setdefaulttimeout(previous)
        final = partial.with_name(FILE_NAME)
        try:  # check it before it becomes the cached copy
            X, Y = _pair(load_pickle(partial), f"{url} (downloaded)")
            X, Y = validate(X, Y, f"{url} (downloaded)", log=log)
        except InputError:
            partial.unlink()
            raise
        os.replace(partial, final)
        return X, Y, {"source": FILE_NAME, "path": str(final), "url": url}
    log(f"using the cached data set {final}")
    try:
        X, Y = _pair(load_pickle(final), final)
        X, Y = validate(X, Y, final, log=log)
    except InputError as err:
        raise InputError(f"{err} (delete the cached file to download it again)") from None
    return X, Y, {"source": FILE_NAME, "path": str(final), "url": url}


def simulate(frames, seed=0, *, log=print):
    """(X, Y, info) rendered by the lane simulator."""
    from chapter2.standins import lanesim

    log(f"using the lane SIMULATOR: {frames} rendered frames (seed {seed}), not the chapter's indoor_lanes data")
    X, Y = lanesim.make_dataset(frames, seed=seed)
    return X, Y, {"source": "simulator", "frames": int(frames), "seed": int(seed)}


def load(data=None, *, offline=False, sim_frames=8000, sim_seed=0, url=URL, cache_dir=None, log=print):
    """(X, Y, info): ``--data`` if given, else the chapter's download, else
    (no network, or ``offline``) the lane simulator."""
    if data is not None:
        X, Y, info = load_path(data, log=log)
    elif offline:
        log("--offline: skipping the download of the chapter's data set")
        X, Y, info = simulate(sim_frames, sim_seed, log=log)
    else:
        try:
            X, Y, info = download(url, cache_dir, log=log)
        except OSError as err:
            log(f"could not download {url} ({err})")
            X, Y, info = simulate(sim_frames, sim_seed, log=log)
    info.update(frames=int(len(X)), frame_shape=list(X.shape[1:]),
                angle_min=round(float(Y.min()), 4), angle_max=round(float(Y.max()), 4))
    return X, Y, info

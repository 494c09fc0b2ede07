"""Frames and angles stored as arrays: an (X, Y) pickle or an .npz.

Pickles are parsed, never trusted: :class:`ArrayUnpickler` admits only what
an ``(X, Y)`` pair of numpy arrays needs, so a pickle that tries to call
anything else (``os.system``, ``open``, ...) is refused before any of it
runs.  The chapter's own ``indoor_lanes.pkl`` is such a pickle.
"""

import codecs
import pickle
import zipfile
from pathlib import Path

import numpy as np

from chapter2.run.errors import InputError, brief


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


def load_pair(path):
    """(X, Y) from a pickle of a pair (or of a dict with X and Y)."""
    obj = load_pickle(path)
    if isinstance(obj, dict) and "X" in obj and "Y" in obj:
        obj = (obj["X"], obj["Y"])
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        kind = f"a {len(obj)}-item {type(obj).__name__}" if isinstance(obj, (tuple, list)) else f"a {type(obj).__name__}"
        raise InputError(f"{path}: holds {kind}, expected a pair (X, Y) of frames and steering angles")
    return obj[0], obj[1]


def load_npz(path):
    """(X, Y) from an .npz holding arrays named X and Y (object arrays refused)."""
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

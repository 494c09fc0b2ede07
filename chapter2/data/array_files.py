"""Frames and angles stored as arrays: an (X, Y) pickle or an .npz.

Pickles are parsed, never trusted: :class:`ArrayUnpickler` admits only what
an ``(X, Y)`` pair of numpy arrays needs, so a pickle that tries to call
anything else (``os.system``, ``open``, ...) is refused before any of it
runs.  The chapter's own ``indoor_lanes.pkl`` is such a pickle.
"""

import codecs
import math
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from chapter2.run.errors import InputError, brief

from .memory import require_memory
from .records import short


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for raw bytes, and nothing else."""
    try:
        latin1 = isinstance(text, str) and codecs.lookup(encoding).name == "iso8859-1"
    except (LookupError, TypeError):  # no such encoding, or not a name
        latin1 = False
    if not latin1:
        raise pickle.UnpicklingError(f"_codecs.encode with {short(encoding)}")
    return text.encode("latin1")


def _allowed_globals(claim):
    """The few functions an (X, Y) pickle of numpy arrays names, those that make
    arrays going through `claim` (which refuses object arrays and sizes the
    file cannot hold) before anything is allocated."""
    from numpy._core import multiarray, numeric

    class CheckedArray(np.ndarray):
        """numpy.ndarray as a pickle may call it: the size checked first; a plain ndarray
        comes back."""

        def __new__(cls, shape, dtype=float, *args, **kwargs):
            claim(shape, dtype)
            return np.ndarray.__new__(np.ndarray, shape, dtype, *args, **kwargs)

    def reconstruct(subtype, shape, dtype):
        claim(shape, dtype)  # numpy writes shape (0,) here; BUILD then sets the real data
        subtype = np.ndarray if subtype is CheckedArray else subtype
        return multiarray._reconstruct(subtype, shape, dtype)

    def dtype(*args, **kwargs):
        made = np.dtype(*args, **kwargs)
        claim((), made)
        return made

    allowed = {}
    # numpy 2 names its core package numpy._core; pickles written by numpy 1
    # say numpy.core. Both map to the same few functions.
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        # protocol 5: a view of the bytes in the pickle
        allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = CheckedArray
    allowed[("numpy", "dtype")] = dtype
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


# pickle._Unpickler is the standard library's pure-Python unpickler, the same
# format as pickle.Unpickler (C). Its memo is a dict, and its opcodes can be
# checked one by one (``dispatch``): the C one keeps its memo in an array that
# one opcode (LONG_BINPUT 4294967295) makes it allocate and fill, 34 GB, with
# no hook running first. Arrays' bytes are read in one call either way.
class ArrayUnpickler(pickle._Unpickler):
    """An unpickler that can rebuild numpy arrays, tuples and lists, and
    refuses every other class or function a pickle names (before calling it),
    arrays of Python objects, and arrays larger than the pickle itself
    (``size``, its bytes: no array in it can hold more)."""

    def __init__(self, file, *, size, **kwargs):
        super().__init__(file, **kwargs)
        self.size = size
        self.allowed = _allowed_globals(self.claim)

    def claim(self, shape, dtype):
        """Refuse an array of Python objects, or one of more bytes than the file holds."""
        try:
            dtype = np.dtype(dtype)
            dims = (int(shape),) if np.ndim(shape) == 0 else tuple(int(d) for d in shape)
        except (TypeError, ValueError, OverflowError):
            return  # numpy itself refuses what is not a shape or a dtype
        if dtype.hasobject:
            raise pickle.UnpicklingError(
                "it builds an array of Python objects, which an (X, Y) "
                "pair of number arrays never holds"
            )
        nbytes = math.prod(dims) * dtype.itemsize
        if all(d >= 0 for d in dims) and nbytes > self.size:
            raise pickle.UnpicklingError(
                f"it builds an array of shape {short(list(dims))} "
                f"({nbytes:,} bytes), larger than the whole file "
                f"({self.size:,} bytes)"
            )

    dispatch = dict(pickle._Unpickler.dispatch)  # the name the unpickler looks up

    def load_bytearray8(self):
        """BYTEARRAY8 (protocol 5), its length checked before the zero-filled bytearray is made."""
        (length,) = struct.unpack("<Q", self.read(8))
        if length > self.size:
            raise pickle.UnpicklingError(
                f"it claims {length:,} bytes, more than the whole file ({self.size:,})"
            )
        data = bytearray(length)
        self.readinto(data)
        self.append(data)

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def load_frame(self):
        """FRAME (protocol 4 and 5), its length checked before it is read."""
        (length,) = struct.unpack("<Q", self.read(8))
        if length > self.size:
            raise pickle.UnpicklingError(
                f"it claims a frame of {length:,} bytes, more than the whole file ({self.size:,})"
            )
        self._unframer.load_frame(length)

    dispatch[pickle.FRAME[0]] = load_frame

    def load_build(self):
        """BUILD; on a dtype, only the byte order of a plain number type is taken from the
        pickle: ``dtype.__setstate__`` trusts its other fields and a damaged one
        leaves a dtype that crashes numpy later."""
        if not isinstance(self.stack[-2], np.dtype):
            return pickle._Unpickler.load_build(self)
        state = self.stack.pop()
        made = self.stack[-1]
        if (
            not isinstance(state, tuple)
            or len(state) != 8
            or state[1] not in ("<", ">", "|", "=")
            or any(field is not None for field in state[2:5])
            or made.fields
            or made.subdtype
        ):
            raise pickle.UnpicklingError(
                f"it describes the array type {made} in a way numpy "
                "pickles of plain number arrays never do"
            )
        self.stack[-1] = made.newbyteorder("=" if state[1] == "|" else state[1])

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module, name):
        found = self.allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"it asks for {module}.{name}, which an (X, Y) pair of arrays never needs"
            )
        return found

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(
            "it refers to a persistent id (an object kept outside the "
            "file), which an (X, Y) pair of arrays never needs"
        )


def load_pickle(path):
    """The object in the pickle file at `path`, rebuilt by :class:`ArrayUnpickler`."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise InputError(f"{path}: an empty file, expected a pickle of (X, Y) arrays")
            # latin1 lets pickles written by Python 2 numpy load; harmless for Python 3 ones.
            return ArrayUnpickler(fh, size=size, encoding="latin1").load()
    except InputError:
        raise
    except pickle.UnpicklingError as err:
        raise InputError(f"{path}: refused to load this pickle: {brief(err, 200)}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror or brief(err, 120)})") from None
    except RecursionError:
        raise InputError(
            f"{path}: not a readable pickle of (X, Y) arrays: nested too deeply"
        ) from None
    except Exception as err:  # parsing untrusted bytes: anything else is damage
        detail = type(err).__name__ + (f": {brief(err, 120)}" if str(err).strip() else "")
        raise InputError(
            f"{path}: not a readable pickle of (X, Y) arrays, truncated or damaged ({detail})"
        ) from None


def load_pair(path):
    """(X, Y) from a pickle of a pair (or of a dict with X and Y)."""
    obj = load_pickle(path)
    if isinstance(obj, dict) and "X" in obj and "Y" in obj:
        obj = (obj["X"], obj["Y"])
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        name = type(obj).__name__
        kind = (
            f"a {len(obj)}-item {name}"
            if isinstance(obj, (tuple, list))
            else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
        )
        raise InputError(
            f"{path}: holds {kind}, expected a pair (X, Y) of frames and steering angles"
        )
    return obj[0], obj[1]


# What reading a damaged .npz (a zip archive of .npy files) can raise besides an InputError.
# NotImplementedError: an unknown compression method; RuntimeError: an encrypted member.
NPZ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    OSError,
    KeyError,
    NotImplementedError,
    RuntimeError,
)


def check_npz_claims(path, names):
    """Refuse, in one line, an .npz whose header for any of the arrays `names`
    claims more memory than there is, or more bytes than the archive holds,
    before numpy allocates what the header claims."""
    read_header = {(1, 0): np.lib.format.read_array_header_1_0}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if name not in names:
                continue
            with archive.open(info) as fh:
                if fh.read(6) != b"\x93NUMPY":
                    continue  # not an array: numpy hands back its bytes, refused later
                version = tuple(fh.read(2))
                # Versions 2 and 3 differ only in the header's text encoding, not in its fields.
                reader = read_header.get(version, np.lib.format.read_array_header_2_0)
                shape, _, dtype = reader(fh)
                header_size = fh.tell()
            if dtype.hasobject:
                continue  # object arrays are refused when loaded (allow_pickle=False)
            claimed = math.prod(shape) * dtype.itemsize
            what = f"{path}: array {name} (shape {shape}, {dtype})"
            require_memory(claimed, what)
            stored = info.file_size - header_size
            if claimed > stored:
                raise InputError(
                    f"{what}: its header claims {claimed:,} bytes but the archive "
                    f"holds {stored:,}: truncated or damaged"
                )


def load_npz(path):
    """(X, Y) from an .npz holding arrays named X and Y (object arrays refused)."""
    try:
        check_npz_claims(path, ("X", "Y"))
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("X", "Y") if k not in archive.files]
            if missing:
                raise InputError(
                    f"{path}: has arrays {sorted(archive.files)}, expected X (frames) and Y (angles)"
                )
            return archive["X"], archive["Y"]
    except InputError:
        raise
    except NPZ_ERRORS as err:
        if isinstance(err, ValueError) and "pickle" in str(err).lower():
            raise InputError(
                f"{path}: holds object arrays, which are not loaded (expected numeric X and Y)"
            ) from None
        raise InputError(
            f"{path}: not a readable .npz, truncated or damaged ({brief(err, 120)})"
        ) from None

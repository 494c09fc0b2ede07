"""MNIST for the scripts: Keras' download, a local copy, or a generated stand-in.

`load()` tries, in order: a local copy given with `--data` (an `mnist.npz` in
Keras' layout, or a folder with the four original IDX files, plain or
gzipped); Keras' own `mnist.load_data()`, which downloads once into the Keras
cache (~/.keras/datasets); and, when that fails, generated handwriting-like
digits (chapter2.digits), announced on the console and labelled "synthetic".

Local files are parsed, never unpickled, and checked (magic numbers, counts,
shapes, value ranges); anything wrong is an InputError that names the file.
"""

import gzip
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chapter2.run.errors import InputError, brief

from .array_files import NPZ_ERRORS, check_npz_claims
from .memory import require_memory

SIDE = 28
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_FILES = {  # role: the original file name (also found with .gz, or with a dot before "idx")
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
HOW_TO_GET = (
    "for the real MNIST, download mnist.npz "
    "(https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz) "
    "or the four IDX files, and pass --data PATH"
)
FULL_SIZES = (60000, 10000)  # MNIST: training and test digits


@dataclass
class Digits:
    """Digit images, uint8 (N, 28, 28), 0 = background, 255 = ink; labels uint8 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str  # "MNIST" or "synthetic digits"
    source: str  # "keras", "local:<path>" or "synthetic"
    note: str = ""  # why this source was used, when it is not the first choice

    def first(self, n_train, n_test):
        """The first `n_train` training and `n_test` test digits."""
        return Digits(
            self.x_train[:n_train],
            self.y_train[:n_train],
            self.x_test[:n_test],
            self.y_test[:n_test],
            self.name,
            self.source,
            self.note,
        )

    def info(self):
        """The dataset's description for metrics.json."""
        return {
            "name": self.name,
            "source": self.source,
            "train": int(len(self.x_train)),
            "test": int(len(self.x_test)),
            "note": self.note,
        }


def load(data=None, *, offline=False, seed=7, sizes=FULL_SIZES):
    """The digits a script trains on, as a Digits.

    data: a path given with --data (see load_local); wins over everything.
    offline: skip the download and use the generated stand-in.
    seed: the stand-in's seed. sizes: at most this many (training, test)
    digits, the first ones of each set (the stand-in makes just as many).
    """
    if data is not None:
        return load_local(data).first(*sizes)
    if offline:
        note = "offline run (--offline): generated stand-in digits, not MNIST"
        print(f"data: {note}; {HOW_TO_GET}", flush=True)
        return _synthetic(seed, sizes, note)
    try:
        (x_train, y_train), (x_test, y_test) = _download()
        digits = Digits(
            *_checked_arrays("Keras' mnist.npz", x_train, y_train, x_test, y_test),
            name="MNIST",
            source="keras",
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # no network, a proxy, a damaged cache: fall back
        why = brief(f"{type(error).__name__}: {error}")
        note = f"MNIST download failed ({why}): generated stand-in digits, not MNIST"
        print(
            f"data: could not load MNIST with keras.datasets.mnist.load_data(): {why}\n"
            f"data: using generated stand-in digits instead (recorded as source 'synthetic'); "
            f"{HOW_TO_GET}",
            flush=True,
        )
        return _synthetic(seed, sizes, note)
    return digits.first(*sizes)


def _download():
    """Keras' MNIST loader (a download on first use, then the Keras cache)."""
    import keras  # imported here: loading the module must stay cheap

    return keras.datasets.mnist.load_data()


def _synthetic(seed, sizes, note):
    from chapter2.standins.digits import synthetic_mnist

    (x_train, y_train), (x_test, y_test) = synthetic_mnist(seed, *sizes)
    return Digits(
        x_train, y_train, x_test, y_test, name="synthetic digits", source="synthetic", note=note
    )


def load_local(path):
    """Digits from a local copy of MNIST, checked; an InputError names any problem.

    path: an .npz in Keras' layout (arrays x_train, y_train, x_test, y_test),
    or a folder with train-images-idx3-ubyte, train-labels-idx1-ubyte,
    t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each plain or .gz).
    """
    path = Path(path)
    expected = "expected mnist.npz in Keras' layout or a folder with the four MNIST IDX files"
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            arrays = _load_idx_folder(path)
        elif stat.S_ISREG(mode):
            arrays = _load_npz(path)
        else:  # a pipe or a device would never end
            raise InputError(f"{path}: neither a file nor a folder ({expected})")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or folder ({expected})") from None
    except OSError as error:  # a name too long, a symbolic-link loop, ...
        inner = isinstance(error.filename, str) and error.filename != str(path)
        which = f"{error.filename} " if inner else ""
        raise InputError(f"{path}: cannot read {which}({_oserror(error)})") from None
    return Digits(*arrays, name="MNIST", source=f"local:{path}")


# --- npz -------------------------------------------------------------------------


def _load_npz(path):
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({_oserror(error)})") from None
    if not is_zip:
        raise InputError(
            f"{path}: not an .npz (zip) archive (expected mnist.npz in Keras' "
            f"layout, or a folder with the four MNIST IDX files)"
        )
    found = {}
    try:
        check_npz_claims(path, NPZ_KEYS)
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise InputError(
                    f"{path}: missing array(s) {', '.join(missing)} (expected "
                    f"{', '.join(NPZ_KEYS)}; found {', '.join(archive.files) or 'none'})"
                )
            for key in NPZ_KEYS:
                found[key] = archive[key]
    except InputError:
        raise
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({_oserror(error)})") from None
    except NPZ_ERRORS as error:
        raise InputError(
            f"{path}: damaged or unreadable .npz ({brief(f'{type(error).__name__}: {error}', 120)})"
        ) from None
    return _checked_arrays(path, *(found[k] for k in NPZ_KEYS))


def _checked_arrays(where, x_train, y_train, x_test, y_test):
    """The four arrays as uint8 (N, 28, 28) images and (N,) labels 0-9."""
    out = []
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        elif x.ndim == 2 and x.shape[1:] == (SIDE * SIDE,):
            x = x.reshape(-1, SIDE, SIDE)
        if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE):
            raise InputError(f"{where}: x_{split} has shape {x.shape}, expected (N, 28, 28) images")
        if y.ndim != 1:
            raise InputError(f"{where}: y_{split} has shape {y.shape}, expected (N,) labels")
        if len(x) != len(y):
            raise InputError(
                f"{where}: x_{split} has {len(x)} images but y_{split} has "
                f"{len(y)} labels (expected the same count)"
            )
        if len(x) == 0:
            raise InputError(f"{where}: x_{split} is empty (expected at least one image)")
        x = _as_uint8(where, f"x_{split}", x, 255, "pixels 0-255 (uint8)")
        y = _as_uint8(where, f"y_{split}", y, 9, "labels 0-9")
        out += [x, y]
    return out[0], out[1], out[2], out[3]


def _as_uint8(where, name, a, top, expected):
    if a.dtype == np.uint8:
        if top < 255 and a.size and a.max() > top:
            raise InputError(f"{where}: {name} has values up to {a.max()}, expected {expected}")
        return np.ascontiguousarray(a)
    if a.dtype.kind not in "iu":
        raise InputError(f"{where}: {name} has dtype {a.dtype}, expected integer {expected}")
    if a.size and (a.min() < 0 or a.max() > top):
        raise InputError(f"{where}: {name} has values {a.min()} to {a.max()}, expected {expected}")
    return a.astype(np.uint8)


# --- IDX -------------------------------------------------------------------------


def _find(folder, name):
    """The file for one IDX role: plain, gzipped, or with the dotted name."""
    dotted = name.replace("-idx", ".idx")
    for candidate in (name, name + ".gz", dotted, dotted + ".gz"):
        p = folder / candidate
        if p.is_file():
            return p
    raise InputError(
        f"{folder / name}: not found (expected {name} or {name}.gz in {folder}, "
        f"the four MNIST IDX files)"
    )


def _load_idx_folder(folder):
    files = {role: _find(folder, name) for role, name in IDX_FILES.items()}
    x_train = _read_idx(files["x_train"], images=True)
    y_train = _read_idx(files["y_train"], images=False)
    x_test = _read_idx(files["x_test"], images=True)
    y_test = _read_idx(files["y_test"], images=False)
    for _, x, y, fx, fy in (
        ("train", x_train, y_train, files["x_train"], files["y_train"]),
        ("test", x_test, y_test, files["x_test"], files["y_test"]),
    ):
        if len(x) != len(y):
            raise InputError(
                f"{fy}: {len(y)} labels but {fx.name} has {len(x)} images (expected the same count)"
            )
    return _checked_arrays(folder, x_train, y_train, x_test, y_test)


def _read_idx(path, images):
    """One IDX file (plain or .gz) as a uint8 array, after checking its header."""
    magic_expected = IMAGES_MAGIC if images else LABELS_MAGIC
    kind = "images" if images else "labels"
    header_size = 16 if images else 8
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            header = f.read(header_size)
            if len(header) < 8:
                raise InputError(
                    f"{path}: truncated ({len(header)} bytes; expected an IDX "
                    f"{kind} header of {header_size} bytes)"
                )
            magic = int.from_bytes(header[:4], "big")
            if magic != magic_expected:
                raise InputError(
                    f"{path}: bad magic number {magic} (expected {magic_expected}, "
                    f"an IDX file of {kind})"
                )
            if len(header) < header_size:
                raise InputError(
                    f"{path}: truncated ({len(header)} bytes; expected an IDX "
                    f"{kind} header of {header_size} bytes)"
                )
            dims = [int.from_bytes(header[i : i + 4], "big") for i in range(4, header_size, 4)]
            count = dims[0]
            if images and (dims[1], dims[2]) != (SIDE, SIDE):
                raise InputError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
            if count == 0:
                raise InputError(f"{path}: the header says 0 {kind} (expected at least one)")
            size = count * (SIDE * SIDE if images else 1)
            # a gzipped file can hold far more than its own size: the header's count decides
            require_memory(size, f"{path}: {count:,} {kind} (the IDX header's count)")
            body = _read_at_most(f, size + 1)  # one byte more than needed shows trailing junk
    except InputError:
        # A damaged gzip stream can decode into a nonsense header before its
        # checksum is seen: if the stream itself is bad, say that instead.
        if opener is gzip.open:
            _check_gzip(path)
        raise
    except (gzip.BadGzipFile, zlib.error, EOFError) as error:
        raise InputError(_gzip_message(path, error)) from None
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({_oserror(error)})") from None
    if len(body) < size:
        have = len(body) // (SIDE * SIDE) if images else len(body)
        raise InputError(
            f"{path}: truncated: the header says {count} {kind} but only "
            f"{len(body)} bytes of data follow (about {have}; expected {size} bytes)"
        )
    if len(body) > size:
        raise InputError(
            f"{path}: more data than the header's {count} {kind} (expected exactly "
            f"{size} bytes after the header)"
        )
    a = np.frombuffer(body, dtype=np.uint8)
    return a.reshape(count, SIDE, SIDE) if images else a


def _gzip_message(path, error):
    return f"{path}: corrupt gzip data ({brief(f'{type(error).__name__}: {error}', 100)}; expected a gzipped IDX file)"


def _check_gzip(path, limit=1 << 28):
    """Raise an InputError if the gzip stream at path is damaged (reads at most `limit` bytes)."""
    try:
        with gzip.open(path, "rb") as f:
            seen = 0
            while seen < limit:
                part = f.read(1 << 22)  # read and dropped: only the checksum matters
                if not part:
                    break
                seen += len(part)
    except (gzip.BadGzipFile, zlib.error, EOFError) as error:
        raise InputError(_gzip_message(path, error)) from None
    except OSError:
        pass


def _read_at_most(f, n, chunk=1 << 22):
    """Up to n bytes, read in chunks, so a header claiming a huge count cannot
    make us allocate it before the data runs out."""
    parts, have = [], 0
    while have < n:
        part = f.read(min(chunk, n - have))
        if not part:
            break
        parts.append(part)
        have += len(part)
    return b"".join(parts)


def _oserror(error):
    return error.strerror or type(error).__name__

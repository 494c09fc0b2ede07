"""A run folder's files: their names, writing them so that a crash never leaves a half-written
one behind, and reading its history back whatever its bytes."""

import contextlib
import csv
import json
import math
import os
import sys
import tempfile
from pathlib import Path

from chapter2.run.errors import InputError

METRICS_FILE = "metrics.json"  # what ran, on what, how well: written when the run finishes
HISTORY_FILE = "history.csv"  # one row per epoch (Keras' CSVLogger)
IDENTITY_FILE = "run.json"  # what the run is: written first, it makes the folder a run folder


def refuse_finished(run_dir):
    """Refuse, in one line, a --run-dir that holds a finished run: it is never overwritten."""
    if (Path(run_dir) / METRICS_FILE).exists():
        raise InputError(
            f"--run-dir {run_dir}: already holds a finished run ({METRICS_FILE}); choose a new folder"
        )


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside `path`; move it onto `path` on success. In the same
    folder, the final `os.replace` is atomic: readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp, umask = Path(tmp), os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, data):
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path):
    """The JSON value in `path` (OSError or ValueError when it cannot be read)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def csv_rows(path):
    """The rows of a CSV file as lists of text, whatever its bytes (undecodable
    bytes replaced, fields of any size, a damaged line skipped); [] if unreadable."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    rows = []
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                with contextlib.suppress(csv.Error):
                    rows.extend(csv.reader([line.replace("\0", "")]))
    except OSError:
        return []
    return rows


def read_history(path):
    """[{epoch, loss, ...}] from a history.csv, epochs counted from 1 as the console counts
    them; values that are not finite numbers are left out, a row without any is skipped, and
    a later row for an epoch (a resumed run) replaces an earlier one."""
    header, *rows = csv_rows(path) or [[]]
    found = {}
    for row in rows:
        values = dict(zip(header, row))
        try:
            epoch = int(values.pop("epoch", None) or "") + 1
        except ValueError:
            continue
        numbers = {k: n for k, v in values.items() if k and (n := _number(v)) is not None}
        if numbers:
            found[epoch] = numbers
    return [dict(epoch=e, **found[e]) for e in sorted(found)]


def _number(text):
    """A CSV field as an int (whole numbers written without a point) or a float; None otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    whole = value.is_integer() and "." not in text and "e" not in text.lower()
    return int(value) if whole else value

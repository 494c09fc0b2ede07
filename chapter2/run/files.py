"""A run folder's files: their names, writing them so that a crash never
leaves a half-written one behind, and reading its history back whatever
its bytes."""

import contextlib
import csv
import json
import math
import os
import sys
import tempfile
from pathlib import Path

METRICS_FILE = "metrics.json"  # what ran, on what, how well: written when the run finishes
HISTORY_FILE = "history.csv"  # one row per epoch (Keras' CSVLogger)
IDENTITY_FILE = "run.json"  # what the run is: written first, it makes the folder a run folder


def refuse_finished(run_dir):
    """Refuse, in one line, a --run-dir that holds a finished run: it is never overwritten."""
    from chapter2.run.errors import InputError

    if (Path(run_dir) / METRICS_FILE).exists():
        raise InputError(
            f"--run-dir {run_dir}: already holds a finished run ({METRICS_FILE}); choose a new folder"
        )


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside `path`; move it onto `path` on success.

    The temporary file lives in the same folder, so the final `os.replace`
    is atomic: readers see either the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    path = Path(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    rows = []
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rows.extend(csv.reader([line.replace("\0", "")]))
                except csv.Error:
                    continue
    except OSError:
        return []
    return rows


def read_history(path):
    """[{epoch, loss, ...}] from a history.csv, epochs counted from 1 as the
    console counts them; values that are not finite numbers are left out, and
    a later row for an epoch (a resumed run) replaces an earlier one."""
    rows = csv_rows(path)
    if not rows:
        return []
    header, found = rows[0], {}
    for row in rows[1:]:
        values = dict(zip(header, row))
        try:
            epoch = int(values.get("epoch") or "") + 1
        except ValueError:
            continue
        numbers = {k: _number(v) for k, v in values.items() if k and k != "epoch"}
        numbers = {k: v for k, v in numbers.items() if v is not None}
        if numbers:  # a row without a single number is a damaged one
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
    return (
        int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    )

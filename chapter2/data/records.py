"""Reading the text side of a recording (catalogs, CSV, data.txt, JSON) as
untrusted input: every problem is one InputError line naming the file (and
the line), never a traceback."""

import json
import math
from pathlib import Path

from chapter2.run.errors import InputError, brief


def read_text(path, what):
    """The text of `path` (UTF-8, a byte-order mark allowed)."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: the {what} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read the {what} ({err.strerror or brief(err, 120)})") from None


def read_json(path, what):
    """The JSON value in the file at `path`."""
    try:
        return json.loads(read_text(path, what))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: line {err.lineno}: malformed {what}: {err.msg}") from None


def parse_json_line(line, where, what, *, any_value=False):
    """The JSON object (any JSON value with ``any_value``) on one line of a JSON-lines file."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(f"{where}: malformed {what} ({err.msg})") from None
    if not any_value and not isinstance(value, dict):
        raise InputError(f"{where}: the {what} is {short(value)}, expected a JSON object")
    return value


def number(value, where, what):
    """A finite float from a JSON number or a text field."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{where}: {what} is {short(value)}, expected a number")
    try:
        out = float(value)
    except ValueError:
        raise InputError(f"{where}: {what} is {short(value)}, expected a number") from None
    if not math.isfinite(out):
        raise InputError(f"{where}: {what} is {short(value)}, expected a finite number")
    return out


def whole_numbers(value, where, what):
    """A set of ints from a JSON list of whole numbers (None: empty)."""
    if value is None:
        return set()
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InputError(f"{where}: {what} is {short(value)}, expected a list of whole numbers")
    return set(value)


def short(value):
    """A value as it appears in the file, cut to 40 characters, for a message."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

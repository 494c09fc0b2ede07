"""Reading the text side of a recording (catalogs, CSV, data.txt, JSON) as
untrusted input: every problem is one InputError line naming the file (and
the line), never a traceback."""

import json
import math
import stat
from pathlib import Path

from chapter2.run.errors import InputError, brief

from .memory import require_memory

# A text record's str, its list of lines and their parsed values hold a few
# times the file's size at once; a file claiming more than memory is refused.
TEXT_MEMORY_FACTOR = 4


def reason(err):
    """What an OSError says went wrong, without the path it names (the message names it)."""
    return err.strerror or brief(err, 120)


def is_file(path, where, what, name=None):
    """Whether `path` is a regular file; a name the system cannot even look up
    (a component longer than 255 bytes) is one InputError line at `where`
    naming `what` and the `name` the record gives it (default: the path)."""
    name = shown(str(path) if name is None else name)
    try:
        return path.is_file()
    except OSError as err:
        raise InputError(f"{where}: cannot look up {what} {name} ({reason(err)})") from None
    except ValueError as err:  # an embedded NUL byte
        raise InputError(
            f"{where}: {what} {name} is not a usable file name ({brief(err)})"
        ) from None


def read_text(path, what):
    """The text of `path` (UTF-8, a byte-order mark allowed): a regular file,
    no larger than memory allows (a pipe or a device would never end)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise InputError(f"{path}: the {what} is {kind}, expected a text file")
        require_memory(
            TEXT_MEMORY_FACTOR * info.st_size, f"{path}: the {what} ({info.st_size:,} bytes)"
        )
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: the {what} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        why = reason(err)
        raise InputError(f"{shown(str(path), None)}: cannot read the {what} ({why})") from None
    except ValueError as err:  # an embedded NUL byte
        why = brief(err)
        raise InputError(f"{shown(str(path), None)}: cannot read the {what} ({why})") from None
    except MemoryError:
        raise InputError(f"{path}: the {what} does not fit in memory") from None


def lines(text):
    r"""(line number, line) of `text`, split at \n only (a \r before it dropped).

    ``str.splitlines`` also breaks at \v, \f, \x1c-\x1e, \x85, \u2028 and
    \u2029, which would give wrong line numbers and cut JSON strings that
    hold them; the programs that write these files break lines at \n only."""
    for line_number, line in enumerate(text.split("\n"), 1):
        yield line_number, line.removesuffix("\r")


def _loads(text):
    """(value, None) from JSON text, or (None, (line number, reason)) for any
    failure: malformed, nested too deeply, a number of more than 4,300 digits."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as err:
        return None, (err.lineno, err.msg)
    except RecursionError:
        return None, (1, "nested too deeply")
    except ValueError as err:
        return None, (1, brief(err, 80))


def read_json(path, what):
    """The JSON value in the file at `path`."""
    value, failure = _loads(read_text(path, what))
    if failure:
        raise InputError(f"{path}: line {failure[0]}: malformed {what}: {failure[1]}")
    return value


def parse_json_line(line, where, what, *, any_value=False):
    """The JSON object (any JSON value with ``any_value``) on one line of a JSON-lines file."""
    value, failure = _loads(line)
    if failure:
        raise InputError(f"{where}: malformed {what} ({failure[1]})")
    if not any_value and not isinstance(value, dict):
        raise InputError(f"{where}: the {what} is {short(value)}, expected a JSON object")
    return value


def number(value, where, what):
    """A finite float from a JSON number or a text field."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{where}: {what} is {short(value)}, expected a number")
    try:
        out = float(value)
    except (ValueError, OverflowError):
        raise InputError(f"{where}: {what} is {short(value)}, expected a number") from None
    if not math.isfinite(out):
        raise InputError(f"{where}: {what} is {short(value)}, expected a finite number")
    return out


def whole_numbers(value, where, what):
    """A set of ints from a JSON list of whole numbers (None: empty)."""
    if value is None:
        return set()
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise InputError(f"{where}: {what} is {short(value)}, expected a list of whole numbers")
    return set(value)


def short(value):
    """A value as it appears in the file, cut to 40 characters, for a message."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def shown(name, limit=80):
    """A name read from a file, safe to put in a one-line message: control
    characters escaped, and one longer than `limit` (None: no limit) cut in
    the middle, with its length."""
    text = name if name.isprintable() else repr(name)[1:-1]
    if limit is not None and len(text) > limit:
        text = f"{text[: limit // 2]}...{text[-limit // 4 :]} ({len(name):,} characters)"
    return text

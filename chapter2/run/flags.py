"""Flags derived from a script's constants block.

Every UPPERCASE constant of a script (an int, float, bool, str or a tuple of
those) becomes a flag: ``EPOCHS`` is ``--epochs``, a tuple is a comma list
(``--filters 32,16,16``) and a bool is ``--pooling/--no-pooling``. The
constants stay the single place where a default is written.
"""

import argparse
import math
import sys
import traceback
from pathlib import Path

from chapter2.run.errors import InputError, TrainingDiverged

SCALARS = (bool, int, float, str)


def constants_of(namespace):
    """The learner-editable constants in a module's globals, in order."""
    found = {}
    for name, value in namespace.items():
        if not name.isupper() or name.startswith("_"):
            continue
        if isinstance(value, SCALARS) or (
            isinstance(value, tuple) and value and all(isinstance(v, SCALARS) for v in value)
        ):
            found[name] = value
    return found


def flag_name(constant):
    return "--" + constant.lower().replace("_", "-")


class Config:
    """Parsed flags: ``cfg.EPOCHS`` for constants, ``cfg.quick`` and the like
    for common and extra flags, ``cfg.constants`` for the dict of every
    constant's value in use."""

    def __init__(self, constants, options):
        self.constants = dict(constants)
        for name, value in constants.items():
            setattr(self, name, value)
        for name, value in options.items():
            setattr(self, name, value)
        self.options = dict(options)

    def __repr__(self):
        return f"Config({self.constants!r}, {self.options!r})"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag ends in one line and an InputError."""

    def error(self, message):
        raise InputError(f"{message} (see --help)")


def _converter(name, default):
    """A function turning a flag's text into the type of the constant's default."""

    def scalar(kind, text):
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        value = kind(text)
        if kind is float and not math.isfinite(value):
            raise ValueError
        return value

    if isinstance(default, tuple):
        kinds = [type(v) for v in default]
        uniform = all(k is kinds[0] for k in kinds)

        def parse_tuple(text):
            parts = [p for p in text.split(",") if p.strip() != ""]
            if not parts:
                raise argparse.ArgumentTypeError(f"{flag_name(name)} expects a comma list like {_show(default)}")
            if not uniform and len(parts) != len(default):
                raise argparse.ArgumentTypeError(
                    f"{flag_name(name)} expects {len(default)} comma-separated values like {_show(default)}")
            try:
                return tuple(scalar(kinds[0] if uniform else kinds[i], p.strip()) for i, p in enumerate(parts))
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{flag_name(name)} expects a comma list like {_show(default)}, got {text!r}") from None

        return parse_tuple

    kind = type(default)

    def parse_scalar(text):
        try:
            return scalar(kind, text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag_name(name)} expects {'a number' if kind in (int, float) else kind.__name__}"
                f"{' (a whole number)' if kind is int else ''}, got {text!r}") from None

    return parse_scalar


def _show(value):
    if isinstance(value, tuple):
        return ",".join(_show(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_bounds(name, value, bound):
    low, high = bound
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, (bool, str)):
            continue
        if low is not None and v < low:
            raise InputError(f"{flag_name(name)} must be at least {low}, got {_show(value)}")
        if high is not None and v > high:
            raise InputError(f"{flag_name(name)} must be at most {high}, got {_show(value)}")


def parse_args(namespace, argv=None, *, description=None, data=None, quick=None, bounds=None,
               extra=None, seed=7):
    """Parse `argv` into a Config built from the constants in `namespace`.

    namespace:   the script's ``globals()``.
    data:        if a string, add ``--data PATH`` with that help text.
    quick:       constant overrides for ``--quick`` (a smoke run); a flag the
                 user gives explicitly wins over them.
    bounds:      ``{"EPOCHS": (1, None)}``: inclusive limits checked on every
                 number of that constant. Numbers without an entry must not
                 be negative.
    extra:       ``extra(parser)`` adds the script's own flags.
    """
    constants = constants_of(namespace)
    bounds = dict(bounds or {})
    quick = dict(quick or {})
    doc = description if description is not None else (namespace.get("__doc__") or "")
    parser = _Parser(
        prog=Path(namespace.get("__file__") or sys.argv[0]).name,
        description=doc.strip().split("\n\n")[0] if doc else None,
    )
    knobs = parser.add_argument_group("constants (the chapter's exercise knobs)")
    for name, default in constants.items():
        if isinstance(default, bool):
            knobs.add_argument(flag_name(name), dest=name, action=argparse.BooleanOptionalAction,
                               default=None, help=f"{name} (default: {_show(default)})")
        else:
            knobs.add_argument(flag_name(name), dest=name, type=_converter(name, default), default=None,
                               metavar=type(default[0] if isinstance(default, tuple) else default).__name__.upper()
                               + ("S" if isinstance(default, tuple) else ""),
                               help=f"{name} (default: {_show(default)})")
    common = parser.add_argument_group("run")
    common.add_argument("--quick", action="store_true",
                        help="smoke run: a small data subset and few epochs (" + (
                            ", ".join(f"{k}={_show(v)}" for k, v in quick.items()) or "no other change") + ")")
    common.add_argument("--seed", type=int, default=seed, help=f"random seed for keras.utils.set_random_seed (default: {seed})")
    common.add_argument("--run-dir", type=Path, default=None,
                        help="run folder (default: runs/<script>/<timestamp>); rerun with the same folder to resume")
    if data:
        common.add_argument("--data", type=Path, default=None, metavar="PATH", help=data)
    common.add_argument("--show", action="store_true", help="also open the figures in windows")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)

    values = {}
    for name, default in constants.items():
        given = getattr(args, name)
        if given is not None:
            values[name] = given
        elif args.quick and name in quick:
            values[name] = quick[name]
        else:
            values[name] = default
        if isinstance(values[name], (int, float, tuple)) and not isinstance(values[name], bool):
            _check_bounds(name, values[name], bounds.get(name, (0, None)))
    options = {k: v for k, v in vars(args).items() if k not in constants}
    return Config(values, options)


def run(main, argv=None):
    """Call ``main(argv)`` the way the shell should see it: an InputError is
    one line on stderr and exit status 2, a diverged training run one line and
    exit status 1, Ctrl-C a hint on how to resume."""
    try:
        return main(argv) or 0
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: rerun with the same --run-dir to resume from the last finished epoch",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception:  # a bug, not bad input: keep the traceback
        traceback.print_exc()
        return 1

"""Flags derived from a script's constants block.

Every UPPERCASE constant of a script (an int, float, bool, str or a tuple of
those) becomes a flag: ``EPOCHS`` is ``--epochs``, a tuple a comma list
(``--filters 32,16,16``), a bool ``--pooling/--no-pooling``. The comment beside
each constant is its ``--help`` text, under the block's ``# --- ... ---`` headers.
``--help`` is answered from the script's source alone (``help_from_source``),
before TensorFlow is imported.
"""

import argparse
import ast
import difflib
import errno
import gc
import io
import math
import os
import re
import shlex
import sys
import tokenize
import traceback
from pathlib import Path

from chapter2 import chapter
from chapter2.run import distribute, files
from chapter2.run.errors import InputError, TrainingDiverged

SCALARS = (bool, int, float, str)
SEED_RANGE = (0, 2**32 - 1)
_HEADER = re.compile(r"^#\s*---\s*(.*?)\s*-*\s*$")

# Script options a script can ask for by name (its own help text beside it;
# "distribute" adds --distribute and --cpu-replicas, see chapter2/run/distribute.py).
OPTIONS = {
    "offline": dict(action="store_true"),
    "drive": dict(type=str, default=None, metavar="MODEL_PATH"),
    "h5": dict(action="store_true"),
    "play": dict(nargs="?", const="", default=None, metavar="MODEL"),
}


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


# The seed of a run without --seed.
DEFAULT_SEED = 7


def flag_name(constant):
    return "--" + constant.lower().replace("_", "-")


class Config:
    """Parsed flags: ``cfg.EPOCHS`` for constants, ``cfg.quick`` and the like for
    run options, ``cfg.constants`` every constant's value in use, ``cfg.defaults``
    the values a run is compared against (the shipped script's)."""

    def __init__(self, constants, options, defaults=None, edited=()):
        self.constants = dict(constants)
        self.defaults = dict(defaults if defaults is not None else constants)
        self.edited = tuple(edited)  # constants whose value comes from an edited script file
        for name, value in constants.items():
            setattr(self, name, value)
        for name, value in options.items():
            setattr(self, name, value)
        self.options = dict(options)

    def changed(self):
        """{name: value} of the constants that differ from the values the script ships with
        (chapter2/chapter.py), or from a smoke or lab run's values."""
        return {k: v for k, v in self.constants.items() if self.defaults.get(k) != v}

    def __repr__(self):
        return f"Config({self.constants!r}, {self.options!r})"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag ends in one line and an InputError."""

    def error(self, message):
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        if unknown:
            known = [o for action in self._actions for o in action.option_strings]
            close = difflib.get_close_matches(unknown.group(1).split("=")[0], known, n=1)
            if close:
                message += f"; did you mean {close[0]}?"
        raise InputError(f"{message} (see --help)")


def _converter(name, default):
    """A function turning a flag's text into the type of the constant's default."""
    flag, example = flag_name(name), flag_text(default)

    def scalar(kind, text):
        if kind is bool:
            word = text.strip().lower()
            if word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError
            return word in ("1", "true", "yes", "on")
        value = kind(text)
        if kind is float and not math.isfinite(value):
            raise ValueError
        return value

    if not isinstance(default, tuple):
        kind = type(default)
        expects = "a number" if kind in (int, float) else kind.__name__
        expects += " (a whole number)" if kind is int else ""

        def parse_scalar(text):
            try:
                return scalar(kind, text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{flag} expects {expects}, got {text!r}"
                ) from None

        return parse_scalar
    kinds = [type(v) for v in default]
    uniform = len(set(kinds)) == 1

    def parse_tuple(text):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"{flag} expects a comma list like {example}")
        if not uniform and len(parts) != len(default):
            raise argparse.ArgumentTypeError(
                f"{flag} expects {len(default)} comma-separated values like {example}"
            )
        try:
            return tuple(scalar(kinds[0 if uniform else i], p) for i, p in enumerate(parts))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag} expects a comma list like {example}, got {text!r}"
            ) from None

    return parse_tuple


def flag_text(value):
    """A value as the command line writes it: ``16,8,8``, ``true``, ``0.2`` (a list like a tuple)."""
    if isinstance(value, (tuple, list)):
        return ",".join(flag_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def changes_text(changed, edited=()):
    """Changed constants as the flags that set them, saying which came from
    the edited script file: ``["--kernel-size 5 (edited in the file)",
    "--epochs 3"]`` for {"KERNEL_SIZE": 5, "EPOCHS": 3}, edited ("KERNEL_SIZE",)."""
    return [
        f"{flag_name(k)} {flag_text(v)}" + (" (edited in the file)" if k in edited else "")
        for k, v in changed.items()
    ]


def _check_bounds(flag, value, bound):
    low, high = bound
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, (bool, str)):
            continue
        if low is not None and v < low:
            raise InputError(f"{flag} must be at least {low}, got {flag_text(value)}")
        if high is not None and v > high:
            raise InputError(f"{flag} must be at most {high}, got {flag_text(value)}")


# --- reading the constants block from the source ------------------------------


def describe(source):
    """{constant: (group, help text)} from a script's source: the comment on a
    constant's lines and the indented comment lines after it, under the latest
    ``# --- Group ---`` header."""
    lines = source.splitlines()
    comments = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = (tok.start[1], tok.string.lstrip("#").strip())
    except (tokenize.TokenError, SyntaxError):
        return {}
    headers = {
        n: m.group(1)
        for n, (col, _) in comments.items()
        if col == 0 and (m := _HEADER.match(lines[n - 1]))
    }
    found = {}
    for name, node in _assignments(ast.parse(source)):
        group = next(
            (headers[n] for n in sorted(headers, reverse=True) if n < node.lineno), "settings"
        )
        text = [comments[n][1] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        n = node.end_lineno + 1
        while (
            n in comments
            and lines[n - 1].strip().startswith("#")
            and comments[n][0] > 0
            and not _HEADER.match(lines[n - 1].strip())
        ):
            text.append(comments[n][1])
            n += 1
        found[name] = (group, " ".join(t for t in text if t))
    return found


def _assignments(tree):
    """(name, node) of a parsed script's module-level ``NAME = ...`` lines."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            if isinstance(node.targets[0], ast.Name):
                yield node.targets[0].id, node


def _literal(node, default=None):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return default


def _literals(tree):
    """Module-level NAME = <literal> assignments of a parsed script."""
    missing = object()
    found = ((name, _literal(node.value, missing)) for name, node in _assignments(tree))
    return {name: value for name, value in found if value is not missing}


def _parse_call_kwargs(tree, literals):
    """The literal keyword arguments of the script's ``flags.parse(...)`` call."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "parse"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "flags"
        ):
            missing = object()
            kwargs = {
                kw.arg: literals.get(getattr(kw.value, "id", None), missing)
                if isinstance(kw.value, ast.Name)
                else _literal(kw.value, missing)
                for kw in node.keywords
            }
            return {k: v for k, v in kwargs.items() if v is not missing}
    return {}


def help_from_source(path):
    """The ``--help`` text of a script, read from its source without running it."""
    source = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    literals = _literals(tree)
    namespace = dict(literals, __doc__=ast.get_docstring(tree), __file__=str(path))
    kwargs = _parse_call_kwargs(tree, literals)
    parser = build_parser(constants_of(namespace), describe(source), namespace, **kwargs)
    return parser.format_help()


# --- the parser ------------------------------------------------------------------


def build_parser(
    constants,
    described,
    namespace,
    *,
    quick=None,
    lab=None,
    bounds=None,
    data=None,
    options=None,
):
    """The argparse parser of a script: its constants by group, its options, the run flags."""
    doc = namespace.get("__doc__") or ""
    parser = _Parser(
        prog=Path(namespace.get("__file__") or sys.argv[0]).name,
        description=doc.strip().split("\n\n")[0] if doc else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Every setting above is a constant at the top of the script: edit it there or give the flag.",
    )
    groups = {}

    def group(title):
        key = title.lower()
        if key not in groups:
            groups[key] = parser.add_argument_group(title)
        return groups[key]

    for name, default in constants.items():
        group_name, text = described.get(name, ("settings", ""))
        helptext = (
            f"{text} [default: {flag_text(default)}]"
            if text
            else f"[default: {flag_text(default)}]"
        )
        helptext = helptext.replace("%", "%%")
        if isinstance(default, bool):
            group(group_name).add_argument(
                flag_name(name),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=helptext,
            )
        else:
            kind = type(default[0] if isinstance(default, tuple) else default).__name__.upper()
            group(group_name).add_argument(
                flag_name(name),
                dest=name,
                type=_converter(name, default),
                default=None,
                metavar=kind + ("S" if isinstance(default, tuple) else ""),
                help=helptext,
            )
    script = group("script options")
    if data:
        script.add_argument("--data", type=Path, default=None, metavar="PATH", help=data)
    for option, helptext in (options or {}).items():
        if option == "distribute":  # two flags: --distribute and --cpu-replicas
            distribute.add_flags(script)
            continue
        script.add_argument(
            "--" + option.replace("_", "-"), dest=option, help=helptext, **OPTIONS[option]
        )
    run = group("run")  # the constants under a "# --- Run ---" header share it
    sizes = run.add_mutually_exclusive_group()
    sizes.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {_overrides(quick)}; checks that the script works, "
        "its figures are not results",
    )
    sizes.add_argument(
        "--lab",
        action="store_true",
        help=f"lab size for the exercises: {_overrides(lab)}; shows an exercise's effect "
        "in minutes (docs/exercises.md)",
    )
    run.add_argument(
        "--seed",
        type=_seed,
        default=DEFAULT_SEED,
        help=f"random seed, {SEED_RANGE[0]} to {SEED_RANGE[1]} [default: {DEFAULT_SEED}]",
    )
    run.add_argument(
        "--deterministic",
        action="store_true",
        help="make a CPU run repeat bit for bit (TensorFlow's deterministic ops; slower)",
    )
    run.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="run folder [default: runs/<script>/<date-time>-<changed settings>]; "
        "rerun with the same folder to resume",
    )
    run.add_argument(
        "--name", default=None, metavar="TEXT", help="a label added to the run folder's name"
    )
    run.add_argument("--show", action="store_true", help="also open the figures in windows")
    return parser


def _overrides(sizes):
    return (
        ", ".join(f"{flag_name(k)} {flag_text(v)}" for k, v in (sizes or {}).items())
        or "the full settings"
    )


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed expects a whole number, got {text!r}") from None
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(
            f"--seed must be from {SEED_RANGE[0]} to {SEED_RANGE[1]}, got {value}"
        )
    return value


def parse(namespace, argv=None, *, quick=None, lab=None, bounds=None, data=None, options=None):
    """Parse `argv` into a Config built from the constants in `namespace`.

    namespace:   the script's ``globals()``.
    quick, lab:  constant overrides for ``--quick`` (a smoke run) and ``--lab``
                 (the exercises' lab size); a flag given explicitly wins.
    bounds:      ``{"EPOCHS": (1, None)}``: inclusive limits checked on every
                 number of that constant. Numbers without an entry must not
                 be negative.
    data:        if given, ``--data PATH`` with this help text.
    options:     {name: help} of script options from OPTIONS.
    Every keyword must be a literal or a module-level literal of the script:
    ``help_from_source`` reads them from the source to answer ``--help``.
    """
    constants = constants_of(namespace)
    path = namespace.get("__file__")
    described = (
        describe(Path(path).read_text(encoding="utf-8")) if path and Path(path).is_file() else {}
    )
    parser = build_parser(
        constants,
        described,
        namespace,
        quick=quick,
        lab=lab,
        bounds=bounds,
        data=data,
        options=options,
    )
    args = parser.parse_args(argv)
    size = dict((quick if args.quick else lab if args.lab else None) or {})
    bounds = dict(bounds or {})
    values = {}
    for name, default in constants.items():
        given = getattr(args, name)
        values[name] = given if given is not None else size.get(name, default)
        if isinstance(values[name], (int, float, tuple)) and not isinstance(values[name], bool):
            _check_bounds(flag_name(name), values[name], bounds.get(name, (0, None)))
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", args.name):
        raise InputError(
            f"--name expects up to 40 letters, digits, '.', '_' or '-', got {args.name!r}"
        )
    if args.run_dir is not None:
        files.refuse_finished(args.run_dir)  # before any data is loaded
    options = {k: v for k, v in vars(args).items() if k not in constants}
    # Changes are measured against the values the script ships with, so an
    # edited constant counts like a flag; a smoke or lab run's own values are no change.
    shipped = chapter.shipped(Path(path).stem) if path else None
    shipped = {k: v for k, v in (shipped or {}).items() if k in constants}
    edited = [
        k
        for k, v in shipped.items()
        if constants[k] != v and getattr(args, k) is None and k not in size
    ]
    defaults = {**constants, **shipped, **size}
    cfg = Config(values, options, defaults=defaults, edited=edited)
    seed_everything(cfg.seed, cfg.deterministic)
    return cfg


def seed_everything(seed, deterministic=False):
    """Seed Python, NumPy and TensorFlow before the model is built; with
    `deterministic`, also make TensorFlow's ops repeat bit for bit on a CPU."""
    import keras  # imported here: --help never gets this far

    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


# The run folder of the run in progress, for the line that says how to resume it.
current_run_dir = None
DISK_FULL = 3  # exit status when a write ran out of space (bad input is 2, a failed run 1)


def run(main, argv=None):
    """Call ``main(argv)`` as the shell should see it, in one line: bad input exit
    status 2, a diverged run 1, a full disk or a lost worker 3, and Ctrl-C (130)
    the command that resumes the run."""
    try:
        return _run(main, argv)
    finally:
        # The process is ending: skip the last garbage collection's walk over
        # every object TensorFlow and Keras made (files are closed by then).
        gc.freeze()


def _run(main, argv):
    try:
        return main(argv) or 0
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        command = resume_command(argv)
        print(
            "\ninterrupted"
            + (f": to resume from the last finished epoch, run:\n  {command}" if command else ""),
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        return 1
    except Exception as err:
        status = _environment_failure(err)
        if status is None:  # a bug, not bad input: keep the traceback
            traceback.print_exc()
            return 1
        return status


def resume_command(argv=None):
    """The command that resumes the run in progress (``python SCRIPT ... --run-dir DIR``), or ''."""
    if current_run_dir is None:
        return ""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, a in enumerate(args):  # drop any --run-dir the command had, then name the folder
        if a == "--run-dir":
            del args[i : i + 2]
            break
        if a.startswith("--run-dir="):
            del args[i]
            break
    return shlex.join(["python", Path(sys.argv[0]).name, *args, "--run-dir", str(current_run_dir)])


def _environment_failure(err):
    """One line and an exit status for a failure of the machine, not the code
    (disk full, also as TensorFlow's own error text; a name too long; a
    read-only folder; a lost worker), else None."""
    if distribute.lost_worker(err):  # another worker of a multi-worker run died
        return distribute.LOST_WORKER
    text = " ".join(str(err).split())
    code = getattr(err, "errno", None)
    if code == errno.ENOSPC or "No space left on device" in text:
        where = getattr(err, "filename", None) or current_run_dir or "the disk"
        command = resume_command()
        print(
            f"error: no space left on the disk while writing {where}; nothing already written was lost: "
            "free some space, then " + (f"resume with: {command}" if command else "rerun"),
            file=sys.stderr,
        )
        return DISK_FULL
    if code in (errno.ENAMETOOLONG, errno.EROFS, errno.EACCES, errno.EDQUOT):
        name = getattr(err, "filename", None) or "a file"
        print(f"error: {name}: {os.strerror(code)}", file=sys.stderr)
        return 2
    return None

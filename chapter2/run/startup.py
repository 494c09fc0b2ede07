"""What a script does before it imports TensorFlow: ``startup.begin(__name__, __file__)``."""

import contextlib
import os
import sys

from chapter2.run import console, device, flags


def begin(name, file, argv=None):
    """Choose TensorFlow's CPU kernels (device.py). Run as a script (not imported by tests),
    also answer --help from the script's source at once (TensorFlow takes seconds to import),
    filter TensorFlow's start-up chatter out of the console, and make a Ctrl-C that no one
    handles end in one line instead of a traceback through the import machinery."""
    device.prepare()
    if name != "__main__":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if any(a in ("-h", "--help") for a in (sys.argv[1:] if argv is None else argv)):
        sys.stdout.write(flags.help_from_source(file))
        sys.exit(0)
    console.quiet()
    sys.excepthook = interrupt_hook(sys.excepthook)


def interrupt_hook(previous):
    """An excepthook: an uncaught KeyboardInterrupt prints one line and ends the process with
    status 130 (the shell's code for Ctrl-C); any other exception goes to `previous`."""

    def hook(kind, value, tb):
        if not issubclass(kind, KeyboardInterrupt):
            return previous(kind, value, tb)
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        print(
            "\ninterrupted before the run started: nothing was written", file=sys.stderr, flush=True
        )
        console.restore()  # let the console filter pass the line on before the process ends
        os._exit(130)

    return hook

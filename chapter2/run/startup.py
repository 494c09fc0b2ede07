"""What a script does before it imports TensorFlow.

    from chapter2.run import startup
    startup.begin(__name__, __file__)   # first lines of a script
    import keras

``begin`` chooses TensorFlow's CPU kernels (chapter2/run/device.py),
answers ``--help`` from the script's source at once (TensorFlow takes
seconds to import), filters TensorFlow's start-up chatter out of the
console, and makes a Ctrl-C that no one handles (while TensorFlow and Keras
load, before the script's main runs) end in one line and exit status 130
instead of a traceback through the import machinery. Imported as a module
(by tests), the script is left alone.
"""

import os
import sys

from chapter2.run import console, device, flags


def begin(name, file, argv=None):
    device.prepare()  # TensorFlow's oneDNN CPU kernels: chosen before TensorFlow loads
    if name != "__main__":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(flags.help_from_source(file))
        sys.exit(0)
    console.quiet()
    sys.excepthook = interrupt_hook(sys.excepthook)


def interrupt_hook(previous):
    """An excepthook: an uncaught KeyboardInterrupt prints one line and
    ends the process with status 130 (the shell's code for Ctrl-C); any
    other exception goes to `previous`."""

    def hook(kind, value, tb):
        if not issubclass(kind, KeyboardInterrupt):
            return previous(kind, value, tb)
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        print(
            "\ninterrupted before the run started: nothing was written", file=sys.stderr, flush=True
        )
        console.restore()  # let the console filter pass the line on before the process ends
        os._exit(130)

    return hook

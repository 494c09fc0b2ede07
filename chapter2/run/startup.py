"""What a script does before it imports TensorFlow.

    from chapter2.run import startup
    startup.begin(__name__, __file__)   # first lines of a script
    import keras

``begin`` chooses TensorFlow's CPU kernels (chapter2/run/device.py),
answers ``--help`` from the script's source at once (TensorFlow takes
seconds to import), and filters TensorFlow's start-up chatter out of
the console. Imported as a module (by tests), the script is left alone.
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

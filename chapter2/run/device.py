"""TensorFlow's CPU kernels, chosen before TensorFlow loads: ``device.prepare()``.

On x86 CPUs without AVX-512 (AMD Zen, older Intel) TensorFlow 2.21 leaves its oneDNN kernels off
unless asked and uses its generic Eigen ones, whose convolution backward passes are the slow part
of training these small networks; oneDNN's are faster on such CPUs (docs/benchmarks.md has the
figures and the commands). The maths is the same float32 arithmetic, summed in another order.
Thread pools are left as TensorFlow sizes them: other sizes made no difference beyond the noise.
Importing this module imports nothing heavy and changes nothing.
"""

import os
import sys

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prepare(environ=None):
    """Set TF_ENABLE_ONEDNN_OPTS=1 unless the environment already chose (an explicit choice
    wins: 0 brings back the Eigen kernels). TensorFlow reads it once, at import, so this must
    run first: returns the value in force, or None when TensorFlow was imported too early."""
    environ = os.environ if environ is None else environ
    if "tensorflow" in sys.modules and ONEDNN_VARIABLE not in environ:
        return None
    return environ.setdefault(ONEDNN_VARIABLE, "1")


def onednn_state(environ=None):
    """'on', 'off' or 'tensorflow default', as TensorFlow read the variable at import."""
    value = (os.environ if environ is None else environ).get(ONEDNN_VARIABLE)
    if value is None:
        return "tensorflow default"
    return "off" if value.strip().lower() in ("0", "false", "off", "no") else "on"

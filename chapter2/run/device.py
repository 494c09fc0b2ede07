"""How TensorFlow computes on this machine: which CPU kernels, and what it finds.

    from chapter2.run import device
    device.prepare()        # first thing, before TensorFlow (or Keras) is imported

On x86 CPUs without AVX-512 (AMD Zen, older Intel), TensorFlow 2.21 leaves
its oneDNN kernels off unless asked, and computes convolutions with its
generic (Eigen) ones. Their backward passes (Conv2DBackpropFilter,
Conv2DBackpropInput) are the slow part of training these small networks,
and oneDNN's are several times faster per CPU-second on such CPUs
(docs/benchmarks.md has the figures and the commands). prepare() switches oneDNN on with the standard
variable TF_ENABLE_ONEDNN_OPTS=1, unless the variable is already set (an
explicit choice wins: TF_ENABLE_ONEDNN_OPTS=0 brings back the Eigen
kernels). The maths is the same float32 arithmetic, summed in another order.

Thread pools are left as TensorFlow sizes them (intra-op and inter-op: one
thread per core): other sizes made no difference beyond the run-to-run noise
(bench/bench_steering.py's pipeline-t1 variant measures it), so the kit
sets nothing there.

Importing this module imports nothing heavy and changes nothing.
"""

import os
import sys

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prepare(environ=None):
    """Choose TensorFlow's oneDNN CPU kernels unless the environment already chose.

    Must run before TensorFlow is first imported (TensorFlow reads the
    variable once, at import). Returns the value in force afterwards, or
    None when TensorFlow was already imported and the choice came too late.
    """
    environ = os.environ if environ is None else environ
    if "tensorflow" in sys.modules and ONEDNN_VARIABLE not in environ:
        return None
    environ.setdefault(ONEDNN_VARIABLE, "1")
    return environ[ONEDNN_VARIABLE]


def onednn_state(environ=None):
    """'on', 'off' or 'tensorflow default' as TensorFlow read it at import (for metrics and the doctor)."""
    environ = os.environ if environ is None else environ
    value = environ.get(ONEDNN_VARIABLE)
    if value is None:
        return "tensorflow default"
    return "off" if value.strip().lower() in ("0", "false", "off", "no") else "on"


def describe():
    """What TensorFlow computes on: kernels and thread pools (imports TensorFlow)."""
    import tensorflow as tf

    return {
        "cpu_kernels": "oneDNN" if onednn_state() == "on" else f"oneDNN {onednn_state()}",
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "auto",
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "auto",
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }

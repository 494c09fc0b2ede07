"""A quiet console: TensorFlow's native start-up chatter filtered out of stderr.

TensorFlow's C++ runtime writes lines such as ``I0000 ... cudart_stub.cc:31] Could not find cuda
drivers`` straight to file descriptor 2, some before its logging settings are read, so
``TF_CPP_MIN_LOG_LEVEL`` cannot silence them. ``quiet()`` routes descriptor 2 through a pipe and
forwards every line but known start-up noise: real warnings and errors still show.
"""

import atexit
import contextlib
import os
import re
import sys
import threading

# A native log line: severity letter, date, time, thread id, source:line]
_NATIVE = re.compile(rb"^([IWEF])\d{4} [\d:.]+\s+\d+ (\S+?):\d+\] (.*)")
# Notices about a GPU that is not there, CPU instruction sets, XLA start-up
# and the end of a Python-fed dataset: not news for a learner.
_NOISE = re.compile(
    rb"cuda|cuInit|cudart|cuDNN|cuFFT|cuBLAS|TF-TRT|cpu_feature_guard|oneDNN|"
    rb"XLA service|StreamExecutor|Compiled cluster using XLA|GeneratorDataset iterator|"
    rb"Local rendezvous|End of sequence|computation_placer|rebuild TensorFlow|"
    rb"NodeDef mentions attribute use_unbounded_threadpool"
)
_ALWAYS_DROP = (
    b"WARNING: All log messages before absl::InitializeLog()",
    b"To enable the following instructions:",
)

_installed = None  # (the console's own descriptor, the filter thread) while quiet() is on


def is_noise(line):
    """True for a line of TensorFlow's start-up chatter (bytes, no newline): any information
    line, and warnings and errors (never fatal ones) that match the list."""
    if line.startswith(_ALWAYS_DROP):
        return True
    m = _NATIVE.match(line)
    if not m or m.group(1) == b"F":
        return False
    return m.group(1) == b"I" or bool(_NOISE.search(m.group(2) + b" " + m.group(3)))


def quiet():
    """Filter file descriptor 2 for the rest of the process (idempotent).
    Set ``CHAPTER2_VERBOSE_TF=1`` to see TensorFlow's console unfiltered."""
    global _installed
    if _installed is not None or os.environ.get("CHAPTER2_VERBOSE_TF"):
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return  # no file descriptor 2 to filter: nothing to do
    thread = threading.Thread(
        target=_forward, args=(read_end, original), daemon=True, name="stderr-filter"
    )
    thread.start()
    _installed = (original, thread)
    atexit.register(restore)


def original_stderr():
    """The console's own file descriptor: the filter's target while quiet() is on, else 2
    (for a helper process that must write even if this one cannot run its filter)."""
    return _installed[0] if _installed is not None else 2


def _forward(read_end, original):
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            _write_all(original, b"".join(line + b"\n" for line in lines if not is_noise(line)))
    if not is_noise(pending):
        _write_all(original, pending)


def _write_all(fd, data):
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data) :]


def restore():
    """Put the real stderr back and let the filter drain what is left
    (at exit, or before a process ends without running its exit handlers)."""
    global _installed
    if _installed is None:
        return
    original, thread = _installed
    _installed = None
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os.dup2(original, 2)  # closes the pipe's last write end: the filter sees its end
    thread.join(timeout=2)

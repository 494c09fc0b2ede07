"""Run a benchmark's measurement in a fresh Python process.

TensorFlow reads its kernel choice (TF_ENABLE_ONEDNN_OPTS) once, at import,
so each variant is measured in a process of its own that starts without the
variable; the child prints its figures as a JSON line, the last one is read.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure_in_child(script, args):
    """`python script args...` on the CPU, quiet; returns its last JSON line as a dict."""
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", PYTHONPATH=str(ROOT)
    )
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    proc = subprocess.run(
        [sys.executable, str(script), *map(str, args)], env=env, capture_output=True, text=True
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(
            f"benchmark {Path(script).name} {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1])

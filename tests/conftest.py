"""Shared test helpers: run a script as a learner would, in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def script_env():
    env = dict(os.environ)
    env.update(
        TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT)
    )
    return env


def run_script(script, *args, cwd=None, timeout=300, input=None):
    """Run ``python <script> args...`` from the repository; return the
    CompletedProcess with text stdout/stderr."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        cwd=cwd or ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def error_line(proc):
    """The last line of stderr (TensorFlow may print start-up notices before it)."""
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def finished_quick_run(tmp_path_factory, script, *args):
    """`python <script> --quick args...` in a fresh folder (--offline for
    Chapter_2_1, the one script that downloads), which must succeed; returns
    (run folder, CompletedProcess)."""
    run_dir = tmp_path_factory.mktemp(Path(script).stem.lower()) / "run"
    offline = ["--offline"] if "2_1" in str(script) else []
    proc = run_script(script, "--quick", *offline, *args, "--run-dir", run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_dir, proc


# The slowest files first: pytest-xdist (--dist loadfile, pytest.ini) hands
# each worker the next file in collection order as it frees up, so a slow
# file collected last would leave the other worker idle at the end.
SLOW_FIRST = (
    "test_chapter_2_1.py",
    "test_distribute.py",
    "test_fault_injection.py",
    "test_every_flag.py",
    "test_chapter_2_5.py",
    "test_chapter_2_3_quick.py",
    "test_chapter_2_4.py",
    "test_run_plumbing.py",
    "test_doctor.py",
    "test_chapter_2_2_3.py",
    "test_multiworker.py",
    "test_compare.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: tests keep their order within a file

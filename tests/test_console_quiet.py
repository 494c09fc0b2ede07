"""The console as a learner sees it: no TensorFlow start-up or runtime lines,
from a script with --deterministic, from TensorBoard started the quiet way,
and a Ctrl-C while TensorFlow loads ends in one line."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from conftest import ROOT, script_env

from chapter2.run import console

# A line of TensorFlow's native logging (I0000 00:00:... file.cc:12] ...) or absl's preamble.
TF_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\]|WARNING: All log messages before absl)",
    re.MULTILINE,
)


def learner_env():
    """The environment of a learner's shell: no TF_CPP_MIN_LOG_LEVEL set."""
    env = script_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.pop("CHAPTER2_VERBOSE_TF", None)
    return env


def test_the_filter_knows_the_lines_tensorflow_prints():
    for line in (
        b"E0000 00:00:1796171625.296003   18340 node_def_util.cc:682] NodeDef mentions attribute "
        b"use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; ...>",
        b"E0000 00:00:1796171431.748366   14723 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
        b"I0000 00:00:1796171424.892804   14723 cudart_stub.cc:31] Could not find cuda drivers",
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ):
        assert console.is_noise(line), line
    for line in (
        b"E0000 00:00:1.0   1 op_kernel.cc:1] OP_REQUIRES failed: out of memory",
        b"error: --epochs must be at least 1, got -1",
        b"Traceback (most recent call last):",
    ):
        assert not console.is_noise(line), line


def test_deterministic_run_prints_no_tensorflow_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "Chapter_2_1.py"),
            "--deterministic",
            "--quick",
            "--offline",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        cwd=ROOT,
        env=learner_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "metrics.json").exists()
    found = TF_LINE.findall(proc.stdout + proc.stderr)
    assert not found, (proc.stdout + proc.stderr)[-3000:]
    assert "use_unbounded_threadpool" not in proc.stderr and "cuInit" not in proc.stderr


def test_ctrl_c_while_tensorflow_loads_is_one_line_and_status_130(tmp_path):
    # What a script does first (startup.begin), then the Ctrl-C arrives while it imports.
    code = (
        "import os, signal, time\n"
        "from chapter2.run import startup\n"
        f"startup.begin('__main__', {str(ROOT / 'Chapter_2_1.py')!r}, [])\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(30)\n"
        "print('not reached')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=learner_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 130
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "interrupted before the run started: nothing was written"
    ]


def test_a_script_interrupted_while_keras_loads_ends_in_one_line(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "Chapter_2_1.py"),
            "--quick",
            "--offline",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        cwd=ROOT,
        env=learner_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # Keras and TensorFlow take seconds to import
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if not (tmp_path / "run").exists():  # the signal came during start-up, as meant
        assert proc.returncode == 130, err[-2000:]
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err[-2000:]


def test_board_starts_tensorboard_without_tensorflow_lines(tmp_path):
    (tmp_path / "runs").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err_path = tmp_path / "board.err"
    with open(err_path, "w") as err, open(tmp_path / "board.out", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chapter2.board", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=dict(learner_env()),
            stdout=out,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 120
            answered = None
            while time.monotonic() < deadline and answered is None and proc.poll() is None:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/data/runs", timeout=5
                    ) as r:
                        answered = r.read()
                except OSError:
                    time.sleep(0.5)
            assert answered == b"[]", err_path.read_text()[-2000:]
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
    text = err_path.read_text() + (tmp_path / "board.out").read_text()
    assert f"http://127.0.0.1:{port}/" in text  # TensorBoard's own line stays
    assert not TF_LINE.findall(text), text[-3000:]


def test_board_without_a_runs_folder_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "chapter2.board"],
        cwd=tmp_path,
        env=learner_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no runs folder"), proc.stderr
    assert os.listdir(tmp_path) == []


def test_benchmarks_print_no_tensorflow_line(tmp_path):
    # A listing port (through its timing helpers) and a benchmark of the project's own, each as
    # small as they go: their console is their figures, not TensorFlow's start-up lines.
    for argv in (
        ["bench/listings/listing_2_4_alphabet.py", "--epochs", "2"],
        ["bench/bench_peak.py", "--size", "64", "--repeat", "1", "--inner", "1"],
    ):
        proc = subprocess.run(
            [sys.executable, str(ROOT / argv[0]), *argv[1:]],
            cwd=tmp_path,
            env=learner_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip(), argv  # it printed its figures
        assert not TF_LINE.findall(proc.stdout + proc.stderr), (proc.stdout + proc.stderr)[-3000:]

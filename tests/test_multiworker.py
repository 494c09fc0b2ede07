"""--distribute multiworker: two worker processes on 127.0.0.1 train one run together,
and resume together after one of them is killed."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, script_env
from test_distribute import QUICK, finished, free_ports, metrics, run, tf_config

sys.path.insert(0, str(ROOT / "bench"))
import fault_injection  # noqa: E402

# Chapter_2_2 trains through the same loop with its tf.data pipeline; it
# joins the list with CHAPTER2_TEST_ALL_WORKERS=1 (a minute more on 2 cores).
WORKER_SCRIPTS = ["Chapter_2_1.py"] + (
    ["Chapter_2_2.py"] if os.environ.get("CHAPTER2_TEST_ALL_WORKERS") else []
)


def start_worker(ports, index, args, cwd, log):
    """`python Chapter_2_1.py --quick --offline args...` as worker `index` of the
    workers on `ports`, its console into the file `log`."""
    env = dict(script_env(), TF_CONFIG=tf_config(ports, index))
    cmd = [sys.executable, str(ROOT / "Chapter_2_1.py"), "--quick", "--offline", *map(str, args)]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.mark.parametrize("script", WORKER_SCRIPTS)
def test_two_local_workers_train_together_and_only_the_chief_writes(script, tmp_path):
    ports = free_ports(2)
    procs = []
    for index in (0, 1):
        env = dict(script_env(), TF_CONFIG=tf_config(ports, index))
        procs.append(run(script, tmp_path, *QUICK[script], "--distribute", "multiworker", env=env))
    outs = [finished(p) for p in procs]
    folders = sorted((tmp_path / "runs").glob("*/*"))
    assert len(folders) == 1, folders  # the chief's run; the worker wrote elsewhere
    record = metrics(folders[0])
    assert record["distribute"] == {
        "strategy": "multiworker",
        "replicas": 2,
        "workers": 2,
        "chief": True,
    }
    assert "run folder: runs/" in outs[0] and "run folder: runs/" not in outs[1]
    # Both trained the same model: the worker's last loss line matches the chief's.
    last = [
        [ln for ln in out.splitlines() if "val_loss" in ln and "step" in ln][-1] for out in outs
    ]
    assert last[0].split("loss:")[1].split()[0] == last[1].split("loss:")[1].split()[0]
    if script == "Chapter_2_1.py":  # and it learned something in its 4 steps
        assert record["metrics"]["val_loss"] < record["metrics"]["untrained_val_loss"]


def test_two_workers_killed_mid_run_resume_together(tmp_path):
    """Worker 1 is killed with SIGKILL while the run is in epoch 3 of 4: the
    chief ends in one line (exit status 3) instead of waiting forever; the
    same two commands run again resume from the chief's last point (epoch 2)
    on both workers and finish with every epoch logged once."""
    ports = free_ports(2)
    args = [
        *QUICK["Chapter_2_1.py"],
        "--epochs",
        4,
        "--distribute",
        "multiworker",
        "--run-dir",
        tmp_path / "run",
    ]

    def start(index, log):
        return start_worker(ports, index, args, tmp_path, log)

    chief_log = tmp_path / "chief.txt"
    procs = [start(0, chief_log), start(1, tmp_path / "worker.txt")]
    deadline = time.monotonic() + 400
    while (
        "Epoch 3/" not in chief_log.read_text()
        and time.monotonic() < deadline
        and all(p.poll() is None for p in procs)
    ):
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait()
    assert procs[0].wait(timeout=180) == 3, chief_log.read_text()[-3000:]
    said = chief_log.read_text()
    assert (
        "Traceback" not in said
        and f"error: the worker at 127.0.0.1:{ports[1]} stopped answering" in said
    )
    assert (tmp_path / "run" / "resume" / "epoch-000002.json").exists()

    logs = [tmp_path / "chief2.txt", tmp_path / "worker2.txt"]
    procs = [start(0, logs[0]), start(1, logs[1])]
    for proc, log in zip(procs, logs):
        assert proc.wait(timeout=400) == 0, log.read_text()[-3000:]
        assert "resuming: after epoch 2" in log.read_text() and "Traceback" not in log.read_text()
    assert fault_injection.check_run(tmp_path / "run", 4) == []
    last = [
        [ln for ln in log.read_text().splitlines() if "val_loss" in ln and "step" in ln][-1]
        for log in logs
    ]
    assert last[0].split("loss:")[1].split()[0] == last[1].split("loss:")[1].split()[0]


def test_a_worker_killed_at_a_random_moment_then_both_rerun_finish_whole(tmp_path):
    """SIGKILL of the chief or the other worker at a random moment of its life
    (start-up, waiting, training, saving, the outputs): the survivor ends
    without a traceback, and the same two commands, run again, finish a run
    whose every epoch is logged once."""
    import random

    rng = random.Random(20261202)
    victim, delay = rng.randrange(2), rng.uniform(1.0, 12.0)  # a quick run of both lives ~15-20 s
    ports = free_ports(2)
    args = [
        *QUICK["Chapter_2_1.py"],
        "--epochs",
        3,
        "--distribute",
        "multiworker",
        "--worker-timeout",
        30,
        "--run-dir",
        tmp_path / "run",
    ]

    def start(index, log):
        return start_worker(ports, index, args, tmp_path, log)

    logs = [tmp_path / "w0.txt", tmp_path / "w1.txt"]
    procs = [start(0, logs[0]), start(1, logs[1])]
    time.sleep(delay)
    assert procs[victim].poll() is None  # the kill lands while the worker runs
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].wait()
    survivor = procs[1 - victim].wait(timeout=240)
    said = logs[1 - victim].read_text()
    # 137 (-SIGKILL): its watch process ended a start-up that waited for the dead worker
    assert survivor in (0, 2, 3, -signal.SIGKILL) and "Traceback" not in said, said[-3000:]

    if not (
        tmp_path / "run" / "metrics.json"
    ).exists():  # killed before the chief finished: rerun both
        logs = [tmp_path / "again0.txt", tmp_path / "again1.txt"]
        procs = [start(0, logs[0]), start(1, logs[1])]
        for proc, log in zip(procs, logs):
            assert proc.wait(timeout=400) == 0, log.read_text()[-3000:]
            assert "Traceback" not in log.read_text()
    assert fault_injection.check_run(tmp_path / "run", 3) == []

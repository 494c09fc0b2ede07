"""--distribute multiworker: two worker processes on 127.0.0.1 train one run together."""

import os

import pytest

from conftest import script_env
from test_distribute import QUICK, finished, free_ports, metrics, run, tf_config

# Chapter_2_2 trains through the same loop with its tf.data pipeline; it
# joins the list with CHAPTER2_TEST_ALL_WORKERS=1 (a minute more on 2 cores).
WORKER_SCRIPTS = ["Chapter_2_1.py"] + (["Chapter_2_2.py"] if os.environ.get("CHAPTER2_TEST_ALL_WORKERS") else [])


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
    assert record["distribute"] == {"strategy": "multiworker", "replicas": 2, "workers": 2, "chief": True}
    assert "run folder: runs/" in outs[0] and "run folder: runs/" not in outs[1]
    # Both trained the same model: the worker's last loss line matches the chief's.
    last = [[ln for ln in out.splitlines() if "val_loss" in ln and "step" in ln][-1] for out in outs]
    assert last[0].split("loss:")[1].split()[0] == last[1].split("loss:")[1].split()[0]
    if script == "Chapter_2_1.py":  # and it learned something in its 4 steps
        assert record["metrics"]["val_loss"] < record["metrics"]["untrained_val_loss"]

"""Settings and figures for TensorBoard's HParams dashboard, checked through a
real tensorboard server's HTTP API (bound to 127.0.0.1)."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from chapter2.run import hparams

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def test_settings_become_values_tensorboard_takes():
    assert hparams.hparam_value((16, 8, 8)) == "16,8,8"
    assert hparams.hparam_value((True, False, True)) == "true,false,true"
    assert hparams.hparam_value([0.5, 2]) == "0.5,2"
    assert hparams.hparam_value(True) is True
    assert hparams.hparam_value(np.float32(0.25)) == 0.25
    assert hparams.hparam_value(np.int64(3)) == 3 and isinstance(hparams.hparam_value(np.int64(3)), int)
    assert hparams.hparam_value("timesteps") == "timesteps"
    assert hparams.hparam_value(None) is None
    assert hparams.hparam_value(()) is None
    assert hparams.hparam_value(float("nan")) == "nan"


def record(script, metrics, history=(), timing=None, config=None):
    return {"script": script, "config": config or {}, "metrics": metrics,
            "history": list(history), "timing": timing or {}}


def test_headline_figures_of_each_script():
    history = [{"epoch": 0, "loss": 0.3, "val_loss": 0.25, "epoch_seconds": 9.0},
               {"epoch": 1, "loss": 0.2, "val_loss": 0.2, "epoch_seconds": 4.0},
               {"epoch": 2, "loss": 0.1, "val_loss": 0.15, "epoch_seconds": 6.0}]
    one = hparams.headline(record("chapter_2_1", {"val_loss": 0.1, "parameters": 4385, "code_shape": [4, 4, 8]},
                                  history, {"epochs": 3, "train_seconds": 19.0, "samples_per_second": 1000.0}))
    assert one == {"val_loss": 0.1, "code_size": 128, "parameters": 4385, "epochs": 3, "seconds_per_epoch": 5.0,
                   "samples_per_second": 1000.0, "train_seconds": 19.0}

    two = hparams.headline(record("chapter_2_3", {"test_mse": 0.02, "test_mae": 0.1, "autonomy": 87.5,
                                                  "interventions": 2, "parameters": 10}))
    assert {k: two[k] for k in ("test_mse", "test_mae", "autonomy")} == {"test_mse": 0.02, "test_mae": 0.1,
                                                                         "autonomy": 87.5}
    assert "val_loss" not in two and "interventions" not in two

    four = hparams.headline(record("chapter_2_4", {"accuracy": 0.84, "generated_entirely_right": 16,
                                                   "generated_sequences": 23}))
    assert four["accuracy"] == 0.84 and four["generated_right"] == pytest.approx(16 / 23)

    five = hparams.headline(record("chapter_2_5", {
        "held_out": {"model": 0.71, "repeat_last": 0.4},
        "versus_simulated_players": {"cycler": {"win": 0.9, "draw": 0.05, "loss": 0.05},
                                     "random": {"win": 0.3, "draw": 0.4, "loss": 0.3}}}))
    assert five["held_out_accuracy"] == 0.71 and five["win_rate"] == pytest.approx(0.6)


def test_seconds_per_epoch_falls_back_on_the_totals():
    assert hparams.seconds_per_epoch([{"epoch": 0, "epoch_seconds": 7.0}]) == 7.0
    assert hparams.seconds_per_epoch([], {"train_seconds": 30.0, "epochs": 3}) == 10.0
    assert hparams.seconds_per_epoch([], {}) is None


# -- through a real tensorboard server ------------------------------------

def write_keras_like_curves(log_dir, losses):
    """What Keras' TensorBoard callback leaves: logs/train and logs/validation."""
    import tensorflow as tf

    for sub in ("train", "validation"):
        writer = tf.summary.create_file_writer(str(log_dir / sub))
        with writer.as_default():
            for epoch, loss in enumerate(losses):
                tf.summary.scalar("epoch_loss", loss, step=epoch)
        writer.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, route, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/data/plugin/hparams/{route}",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.load(response)


@pytest.fixture
def tensorboard_on(tmp_path):
    """Start `tensorboard --logdir DIR` on 127.0.0.1; yield a function that
    waits until the HParams plugin lists `sessions` runs and returns the port.
    The server is stopped at the end."""
    procs = []

    def start(log_root, sessions, deadline=180):
        port = free_port()
        err = open(tmp_path / "tensorboard.err", "w")
        proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(log_root),
                                 "--host", "127.0.0.1", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=err)
        procs.append((proc, err))
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if proc.poll() is not None:
                pytest.fail(f"tensorboard exited: {(tmp_path / 'tensorboard.err').read_text()[-2000:]}")
            try:
                groups = post(port, "session_groups", {"experimentName": "", "allowedStatuses": STATUSES,
                                                       "startIndex": 0, "sliceSize": 100})
                if sum(len(g["sessions"]) for g in groups.get("sessionGroups", [])) >= sessions:
                    return port
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass
            time.sleep(0.5)
        pytest.fail(f"tensorboard did not list {sessions} runs within {deadline} s")

    yield start
    for proc, err in procs:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        err.close()


def test_dashboard_lists_each_run_once_with_settings_and_figures(tmp_path, tensorboard_on):
    runs = tmp_path / "runs"
    made = {
        "chapter_2_2/20260101-100000": ("chapter_2_2", {"FILTERS": (8, 16, 32), "POOLING": (True, True, True),
                                                        "DROPOUT": 0.2, "MIRROR": True, "seed": 7},
                                        {"test_mse": 0.021, "autonomy": 91.5, "parameters": 1234567}),
        "chapter_2_3/20260101-110000": ("chapter_2_3", {"FILTERS": (8, 16, 32), "POOLING": (True, False, False),
                                                        "DROPOUT": 0.5, "MIRROR": True, "seed": 7},
                                        {"test_mse": 0.034, "autonomy": 80.25, "parameters": 33812345}),
        # the same settings twice: still two rows
        "chapter_2_4/20260101-120000": ("chapter_2_4", {"UNITS": 32, "WINDOW_AS": "timesteps", "seed": 7},
                                        {"accuracy": 0.84, "parameters": 5210}),
        "chapter_2_4/20260101-120500": ("chapter_2_4", {"UNITS": 32, "WINDOW_AS": "timesteps", "seed": 7},
                                        {"accuracy": 0.88, "parameters": 5210}),
    }
    for name, (script, config, figures) in made.items():
        logs = runs / name / "logs"
        write_keras_like_curves(logs, [0.5, 0.4])
        written = hparams.log_hparams(logs, dict(config, script=script, skipped=None),
                                      dict(figures, broken=float("nan"), text="not a number"),
                                      run_name=name)
        assert "skipped" not in written and written["script"] == script

    port = tensorboard_on(runs, sessions=len(made))
    experiment = post(port, "experiment", {"experimentName": "", "hparamsLimit": 1000})
    infos = {h["name"]: h for h in experiment["hparamInfos"]}
    # the settings of both scripts' runs line up in one table
    assert {"FILTERS", "POOLING", "DROPOUT", "MIRROR", "UNITS", "WINDOW_AS", "seed", "script"} <= set(infos)
    assert infos["POOLING"]["type"] == "DATA_TYPE_STRING"
    assert sorted(infos["POOLING"]["domainDiscrete"]) == ["true,false,false", "true,true,true"]
    assert infos["DROPOUT"]["type"] == "DATA_TYPE_FLOAT64"
    assert infos["MIRROR"]["type"] == "DATA_TYPE_BOOL"
    metric_names = {(m["name"].get("group", ""), m["name"]["tag"]) for m in experiment["metricInfos"]}
    assert {("", "test_mse"), ("", "autonomy"), ("", "accuracy"), ("", "parameters")} <= metric_names
    assert ("", "broken") not in metric_names and ("", "text") not in metric_names

    # the request the HParams dashboard sends: every column, included in the result
    columns = [{"hparam": name, "includeInResult": True} for name in infos]
    columns += [{"metric": m["name"], "includeInResult": True} for m in experiment["metricInfos"]]
    listing = post(port, "session_groups", {"experimentName": "", "allowedStatuses": STATUSES,
                                            "colParams": columns, "startIndex": 0, "sliceSize": 100})
    groups = listing["sessionGroups"]
    sessions = [s["name"] for g in groups for s in g["sessions"]]
    assert sorted(sessions) == sorted(f"{name}/logs" for name in made)  # each run once, train/validation inside it
    for group in groups:
        (session,) = group["sessions"]
        name = session["name"][:-len("/logs")]
        script, config, figures = made[name]
        assert session["status"] == "STATUS_SUCCESS"
        assert group["hparams"]["script"] == script
        for key, value in config.items():
            expected = hparams.hparam_value(value)
            got = group["hparams"][key]
            assert got == pytest.approx(expected) if isinstance(expected, float) else got == expected
        values = {(m["name"].get("group", ""), m["name"]["tag"]): m["value"] for m in group["metricValues"]}
        for key, value in figures.items():
            assert values[("", key)] == pytest.approx(value, rel=1e-6)
        assert values[("validation", "epoch_loss")] == pytest.approx(0.4)

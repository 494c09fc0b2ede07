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
    assert hparams.hparam_value(np.int64(3)) == 3 and isinstance(
        hparams.hparam_value(np.int64(3)), int
    )
    assert hparams.hparam_value("timesteps") == "timesteps"
    assert hparams.hparam_value(None) is None
    assert hparams.hparam_value(()) is None
    assert hparams.hparam_value(float("nan")) == "nan"


def record(script, metrics, history=(), timing=None, config=None):
    return {
        "script": script,
        "config": config or {},
        "metrics": metrics,
        "history": list(history),
        "timing": timing or {},
    }


def test_headline_figures_of_each_script():
    history = [
        {"epoch": 0, "loss": 0.3, "val_loss": 0.25, "epoch_seconds": 9.0},
        {"epoch": 1, "loss": 0.2, "val_loss": 0.2, "epoch_seconds": 4.0},
        {"epoch": 2, "loss": 0.1, "val_loss": 0.15, "epoch_seconds": 6.0},
    ]
    one = hparams.headline(
        record(
            "chapter_2_1",
            {"val_loss": 0.1, "parameters": 4385, "code_shape": [4, 4, 8]},
            history,
            {"epochs": 3, "train_seconds": 19.0, "samples_per_second": 1000.0},
        )
    )
    assert one == {
        "val_loss": 0.1,
        "code_size": 128,
        "parameters": 4385,
        "epochs": 3,
        "seconds_per_epoch": 5.0,
        "samples_per_second": 1000.0,
        "train_seconds": 19.0,
    }

    two = hparams.headline(
        record(
            "chapter_2_3",
            {
                "test_mse": 0.02,
                "test_mae": 0.1,
                "autonomy": 87.5,
                "interventions": 2,
                "parameters": 10,
            },
        )
    )
    assert {k: two[k] for k in ("test_mse", "test_mae", "autonomy")} == {
        "test_mse": 0.02,
        "test_mae": 0.1,
        "autonomy": 87.5,
    }
    assert "val_loss" not in two and "interventions" not in two

    four = hparams.headline(
        record(
            "chapter_2_4",
            {"accuracy": 0.84, "generated_entirely_right": 16, "generated_sequences": 23},
        )
    )
    assert four["accuracy"] == 0.84 and four["generated_right"] == pytest.approx(16 / 23)

    five = hparams.headline(
        record(
            "chapter_2_5",
            {
                "held_out": {"model": 0.71, "repeat_last": 0.4},
                "versus_simulated_players": {
                    "cycler": {"win": 0.9, "draw": 0.05, "loss": 0.05},
                    "random": {"win": 0.3, "draw": 0.4, "loss": 0.3},
                },
            },
        )
    )
    assert five["held_out_accuracy"] == 0.71 and five["win_rate"] == pytest.approx(0.6)


def test_board_settings_are_named_after_the_script_and_read_as_typed():
    config = {
        "FILTERS": [16, 8, 8],
        "POOLING": [True, True, False],
        "KERNEL_SIZE": 3,
        "EPOCHS": 500,
        "LEARNING_RATE": 1.0,
        "DROPOUT": 0.2,
        "FAST_FIT": True,
        "seed": 7,
        "quick": False,
        "data": None,
    }
    assert hparams.board_settings("chapter_2_1", config) == {
        "2_1.FILTERS": "16,8,8",
        "2_1.POOLING": "true,true,false",
        "2_1.KERNEL_SIZE": "3",
        "2_1.EPOCHS": "500",
        "2_1.LEARNING_RATE": "1.0",
        "2_1.DROPOUT": "0.2",
        "2_1.FAST_FIT": True,
        "seed": "7",
        "quick": False,
    }


def test_trial_names_lead_with_what_tells_runs_apart():
    assert (
        hparams.trial_name("chapter_2_1", "runs/chapter_2_1/20261127-181500-kernelsize5-quick")
        == "2_1 kernelsize5-quick 1127-181500"
    )
    assert (
        hparams.trial_name("chapter_2_4", "runs/chapter_2_4/20261127-181500") == "2_4 1127-181500"
    )
    assert hparams.trial_name("chapter_2_5", "/tmp/my-run") == "2_5 my-run"


def test_changed_column_says_every_change_as_flags():
    record = {
        "changed": {"UNITS": "128", "WINDOW_AS": "features"},
        "edited_in_file": ["UNITS"],
        "config": {"seed": 2},
    }
    assert hparams.changed_text(record) == (
        "--units 128 (edited in the file), --window-as features, --seed 2"
    )
    assert hparams.changed_text({"changed": {}, "config": {"seed": 7}}) == "the chapter's"
    assert hparams.changed_text({}) == "the chapter's"  # an older record without either


def test_seconds_per_epoch_falls_back_on_the_totals():
    assert hparams.seconds_per_epoch([{"epoch": 0, "epoch_seconds": 7.0}]) == 7.0
    assert hparams.seconds_per_epoch([], {"train_seconds": 30.0, "epochs": 3}) == 10.0
    assert hparams.seconds_per_epoch([], {}) is None


# -- through a real tensorboard server ------------------------------------


def train_tiny_run(logs, seed):
    """Fit a tiny model with the kit's TensorBoard callbacks into `logs`
    (Keras' curves, and an image strip), as a script's run does."""
    import keras

    from chapter2.run import tblog

    keras.utils.set_random_seed(seed)
    x = np.random.default_rng(seed).random((32, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    images = tblog.ImageLogger(
        logs,
        "inputs | outputs",
        lambda m: np.tile(m.predict(x[:2], verbose=0)[:, None, :, None], (1, 4, 1, 1)),
    )
    model.fit(
        x,
        x,
        epochs=2,
        batch_size=16,
        validation_data=(x, x),
        verbose=0,
        callbacks=[tblog.TensorBoard(logs), images],
    )


def get(port, route):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/{route}", timeout=20) as response:
        return json.load(response)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, route, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/data/plugin/hparams/{route}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
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
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(log_root),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        procs.append((proc, err))
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if proc.poll() is not None:
                pytest.fail(
                    f"tensorboard exited: {(tmp_path / 'tensorboard.err').read_text()[-2000:]}"
                )
            try:
                groups = post(
                    port,
                    "session_groups",
                    {
                        "experimentName": "",
                        "allowedStatuses": STATUSES,
                        "startIndex": 0,
                        "sliceSize": 100,
                    },
                )
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


def test_dashboard_shows_each_run_once_with_its_differing_settings_first(tmp_path, tensorboard_on):
    """Two exercise variants of Chapter_2_1 (KERNEL_SIZE) and two of
    Chapter_2_4 (WINDOW_AS) under one --logdir: what TensorBoard's own
    server answers for the run list, the Scalars and Images tags and the
    HParams dashboard."""
    runs = tmp_path / "runs"
    config_2_1 = {
        "FILTERS": [16, 8, 8],
        "KERNEL_SIZE": 3,
        "EPOCHS": 50,
        "LEARNING_RATE": 1.0,
        "seed": 7,
        "quick": False,
        "data": None,
    }
    config_2_4 = {
        "UNITS": 32,
        "WINDOW_AS": "timesteps",
        "EPOCHS": 10,
        "STATEFUL": False,
        "seed": 7,
        "quick": False,
    }
    made = {  # folder: (script, config, metrics)
        "chapter_2_1/20261127-181500": (
            "chapter_2_1",
            config_2_1,
            {"val_loss": 0.1, "parameters": 4385, "code_shape": [4, 4, 8]},
        ),
        "chapter_2_1/20261127-183000-kernelsize5": (
            "chapter_2_1",
            dict(config_2_1, KERNEL_SIZE=5),
            {"val_loss": 0.12, "parameters": 8001, "code_shape": [4, 4, 8]},
        ),
        "chapter_2_4/20261127-190000": (
            "chapter_2_4",
            config_2_4,
            {
                "accuracy": 0.84,
                "parameters": 5210,
                "generated_sequences": 4,
                "generated_entirely_right": 3,
            },
        ),
        "chapter_2_4/20261127-191500-windowasfeatures": (
            "chapter_2_4",
            dict(config_2_4, WINDOW_AS="features"),
            {"accuracy": 0.8, "parameters": 5210},
        ),
    }
    for seed, (folder, (script, config, metrics)) in enumerate(made.items()):
        logs = runs / folder / "logs"
        train_tiny_run(logs, seed)
        defaults = config_2_1 if script == "chapter_2_1" else config_2_4
        record = {
            "script": script,
            "config": config,
            "changed": {k: str(v) for k, v in config.items() if defaults[k] != v},
            "metrics": metrics,
            "run_dir": str(runs / folder),
            "history": [{"epoch": 0, "epoch_seconds": 2.0}, {"epoch": 1, "epoch_seconds": 1.5}],
            "timing": {"epochs": 2, "train_seconds": 3.5, "samples_per_second": 100.0},
        }
        written = hparams.log_run(logs, record, start_time=1.0e9 + seed)
        assert "data" not in written and "script" not in written

    port = tensorboard_on(runs, sessions=len(made))

    # The run list: each run as its train and validation curves and one entry for the whole run.
    assert sorted(get(port, "runs")) == sorted(
        f"{folder}/logs/{part}" for folder in made for part in ("run", "train", "validation")
    )
    scalars = get(port, "plugin/scalars/tags")
    for folder, (script, _, _) in made.items():
        # Keras' curves, the loss alone: no learning-rate line sorting before it, and no
        # evaluation_loss_vs_iterations
        assert sorted(scalars[f"{folder}/logs/train"]) == ["epoch_loss"]
        assert sorted(scalars[f"{folder}/logs/validation"]) == ["epoch_loss"]
        figures = set(scalars[f"{folder}/logs/run"])
        # the figure the script is ranked by, in its own section; the others in run/
        ranking = {"chapter_2_1": "val_loss", "chapter_2_4": "accuracy"}[script]
        assert {tag for tag in figures if not tag.startswith("run/")} == {f"final/{ranking}"}
        assert "run/seconds_per_epoch" in figures and "run/train_seconds" not in figures
    assert "final/val_loss" in scalars["chapter_2_1/20261127-181500/logs/run"]
    # TensorBoard sorts its sections by name: the run's figures come after every curve.
    curves = {tag for run, tags in scalars.items() if not run.endswith("/run") for tag in tags}
    assert curves and max(curves) < "final/" < "run/"
    assert min(tag for tags in scalars.values() for tag in tags) == "epoch_loss"  # the loss first
    images = get(port, "plugin/images/tags")
    assert {run for run, tags in images.items() if tags} == {
        f"{folder}/logs/run" for folder in made
    }

    # HParams: one row per run under a short name, the settings as typed.
    experiment = post(port, "experiment", {"experimentName": "", "hparamsLimit": 1000})
    infos = [h for h in experiment["hparamInfos"]]
    differing = [h["name"] for h in infos if h.get("differs")]
    assert sorted(differing) == ["(changed)", "2_1.KERNEL_SIZE", "2_4.WINDOW_AS", "parameters"]
    # the dashboard ticks the first five settings: the differing ones come first, and first
    # of all what each run changed, so that no difference is unticked however many there are
    assert {h["name"] for h in infos[: len(differing)]} == set(differing)
    assert infos[0]["name"] == "(changed)"
    by_name = {h["name"]: h for h in infos}
    assert sorted(by_name["2_1.KERNEL_SIZE"]["domainDiscrete"]) == ["3", "5"]
    assert by_name["2_1.EPOCHS"]["domainDiscrete"] == ["50"] and not by_name["2_1.EPOCHS"].get(
        "differs"
    )
    assert by_name["2_4.STATEFUL"]["type"] == "DATA_TYPE_BOOL"
    assert "script" not in by_name and "EPOCHS" not in by_name
    # only the figures, not the per-epoch curves of train and validation
    metric_names = [
        (m["name"].get("group", ""), m["name"]["tag"]) for m in experiment["metricInfos"]
    ]
    assert metric_names and all(
        group == "" and tag.startswith(("final/", "run/")) for group, tag in metric_names
    )
    assert {"final/val_loss", "final/accuracy", "run/generated_right"} <= {
        tag for _, tag in metric_names
    }
    # whole numbers are settings (shown as typed), not five-digit figures
    assert not {"run/parameters", "run/code_size"} & {tag for _, tag in metric_names}
    # the dashboard ticks the first five figures: the ones each script is ranked by among them
    assert {"final/val_loss", "final/accuracy"} <= {tag for _, tag in metric_names[:5]}

    columns = [{"hparam": h["name"], "includeInResult": True} for h in infos]
    columns += [{"metric": m["name"], "includeInResult": True} for m in experiment["metricInfos"]]
    listing = post(
        port,
        "session_groups",
        {
            "experimentName": "",
            "allowedStatuses": STATUSES,
            "colParams": columns,
            "startIndex": 0,
            "sliceSize": 100,
        },
    )
    groups = {g["name"]: g for g in listing["sessionGroups"]}
    assert sorted(groups) == [
        "2_1 1127-181500",
        "2_1 kernelsize5 1127-183000",
        "2_4 1127-190000",
        "2_4 windowasfeatures 1127-191500",
    ]
    kernel5 = groups["2_1 kernelsize5 1127-183000"]
    (session,) = kernel5["sessions"]
    assert session["name"] == "chapter_2_1/20261127-183000-kernelsize5/logs/run"
    assert session["status"] == "STATUS_SUCCESS"
    assert kernel5["hparams"]["2_1.KERNEL_SIZE"] == "5" and kernel5["hparams"]["seed"] == "7"
    assert kernel5["hparams"]["quick"] is False
    assert kernel5["hparams"]["(changed)"] == "--kernel-size 5"
    assert kernel5["hparams"]["parameters"] == "8001" and kernel5["hparams"]["code_size"] == "128"
    assert groups["2_1 1127-181500"]["hparams"]["(changed)"] == "the chapter's"
    values = {m["name"]["tag"]: m["value"] for m in kernel5["metricValues"]}
    assert values["final/val_loss"] == pytest.approx(0.12)
    assert values["run/seconds_per_epoch"] == pytest.approx(1.5)
    assert groups["2_4 windowasfeatures 1127-191500"]["hparams"]["2_4.WINDOW_AS"] == "features"

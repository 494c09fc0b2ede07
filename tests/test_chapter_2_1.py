"""Chapter_2_1.py: the convolutional autoencoder, built, run, resumed and watched."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import keras
import numpy as np
import pytest
from conftest import error_line, finished_quick_run, run_script, script_env
from PIL import Image

import Chapter_2_1 as ch
from chapter2.run import distribute, flags, tblog
from chapter2.standins import digits

CHAPTER_LAYERS = [  # (layer type, output shape) of the printed listing
    ("InputLayer", (28, 28, 1)),
    ("Conv2D", (28, 28, 16)),
    ("MaxPooling2D", (14, 14, 16)),
    ("Conv2D", (14, 14, 8)),
    ("MaxPooling2D", (7, 7, 8)),
    ("Conv2D", (7, 7, 8)),
    ("MaxPooling2D", (4, 4, 8)),
    ("Conv2D", (4, 4, 8)),
    ("UpSampling2D", (8, 8, 8)),
    ("Conv2D", (8, 8, 8)),
    ("UpSampling2D", (16, 16, 8)),
    ("Conv2D", (14, 14, 16)),
    ("UpSampling2D", (28, 28, 16)),
    ("Conv2D", (28, 28, 1)),
]


def test_default_model_is_the_chapters_network():
    model = ch.build_model()
    got = [(type(layer).__name__, tuple(layer.output.shape[1:])) for layer in model.layers]
    assert got == CHAPTER_LAYERS
    assert model.encoded_shape == (4, 4, 8)
    # 160 + 1160 + 584 + 584 + 584 + 1168 + 145, as the listing's summary
    assert model.count_params() == 4385
    paddings = [layer.padding for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert paddings == ["same"] * 5 + ["valid", "same"]
    assert model.layers[-1].activation.__name__ == "sigmoid"


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"kernel_size": 5}, (4, 4, 8)),
        ({"pooling": (True, True, False)}, (7, 7, 8)),
        ({"pooling": (False, True, True)}, (7, 7, 8)),
        ({"filters": (32, 16, 16)}, (4, 4, 16)),
    ],
)
def test_exercise_variants_still_reconstruct_28x28(kwargs, code):
    model = ch.build_model(**kwargs)
    assert tuple(model.output.shape[1:]) == (28, 28, 1)
    assert model.encoded_shape == code
    pools = sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)
    ups = sum(isinstance(layer, keras.layers.UpSampling2D) for layer in model.layers)
    assert pools == ups == sum(kwargs.get("pooling", (True, True, True)))


def test_chapter_optimizer_learns_where_keras3_default_does_not():
    """Adadelta at the chapter's learning rate (1.0) lowers the validation
    loss far below the untrained model's; Keras 3's default (0.001) barely moves."""
    (x, _), (xt, _) = digits.synthetic_mnist(seed=3, n_train=1024, n_test=256)
    x, xt = ch.to_images(x), ch.to_images(xt)
    results = {}
    for lr in (1.0, 0.001):
        keras.utils.set_random_seed(0)
        model = ch.build_model()
        model.compile(optimizer=ch.make_optimizer("adadelta", lr), loss="binary_crossentropy")
        before = model.evaluate(xt, xt, verbose=0)
        model.fit(x, x, epochs=3, batch_size=128, shuffle=True, verbose=0)
        results[lr] = (before, model.evaluate(xt, xt, verbose=0))
    before, after = results[1.0]
    assert after < 0.6 * before
    before_default, after_default = results[0.001]
    assert after_default > 0.95 * before_default


def test_steps_per_execution_takes_the_same_steps():
    """The script's compile(steps_per_execution=...) runs several steps per call into
    TensorFlow; the batches, their order and so the losses are those of one step per call."""
    import tensorflow as tf

    (x, _), (xt, _) = digits.synthetic_mnist(seed=4, n_train=5 * 128 + 40, n_test=128)
    x, xt = ch.to_images(x), ch.to_images(xt)
    histories = {}
    for steps in (1, ch.steps_per_execution):
        keras.utils.set_random_seed(0)
        model = ch.build_model()
        model.compile(
            optimizer=ch.make_optimizer(),
            loss="binary_crossentropy",
            steps_per_execution=steps,
        )
        strategy = tf.distribute.get_strategy()
        train = distribute.dataset(strategy, x, x, batch_size=128, shuffle=True, seed=3)
        fitted = model.fit(
            train, epochs=2, validation_data=(xt, xt), shuffle=False, verbose=0
        ).history
        histories[steps] = fitted["loss"] + fitted["val_loss"]
    assert ch.steps_per_execution > 1
    assert histories[ch.steps_per_execution] == pytest.approx(histories[1], rel=1e-6)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `python Chapter_2_1.py --quick --offline`: generated digits, said so."""
    return finished_quick_run(tmp_path_factory, "Chapter_2_1.py")


def test_quick_run_writes_every_output(quick_run):
    run_dir, proc = quick_run
    assert f"run folder: {run_dir}" in proc.stdout
    assert f"chapter2.board --logdir {run_dir / 'logs'}" in proc.stdout

    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["script"] == "chapter_2_1"
    assert record["dataset"]["source"] in ("keras", "synthetic")
    assert record["dataset"]["train"] == 2048 and record["dataset"]["test"] == 512
    assert record["config"]["EPOCHS"] == 2 and record["config"]["FILTERS"] == [16, 8, 8]
    assert record["config"]["LEARNING_RATE"] == 1.0
    metrics = record["metrics"]
    assert 0 < metrics["val_loss"] < metrics["untrained_val_loss"]
    assert [row["epoch"] for row in record["history"]] == [1, 2] and "val_loss" in record[
        "history"
    ][1]
    assert record["history"][1]["val_loss"] < record["history"][0]["val_loss"]
    assert record["timing"]["train_seconds"] > 0 and record["timing"]["samples_per_second"] > 0
    assert set(record["versions"]) >= {"python", "tensorflow", "keras", "numpy"}
    assert record["device"]

    with Image.open(run_dir / "reconstructions.png") as png:
        assert png.format == "PNG" and png.size[0] > 2 * png.size[1]

    model = keras.models.load_model(run_dir / "model.keras")
    (x, _), _ = digits.synthetic_mnist(seed=1, n_train=8, n_test=1)
    out = model.predict(ch.to_images(x), verbose=0)
    assert out.shape == (8, 28, 28, 1) and 0 <= out.min() and out.max() <= 1


def test_quick_run_tensorboard_logs_read_back(quick_run):
    run_dir, _ = quick_run
    tags = tblog.read_tags(run_dir / "logs")
    assert "epoch_loss" in tags["train"]["scalars"]
    assert "epoch_loss" in tags["validation"]["scalars"]
    assert tags["run"]["images"] == ["originals | reconstructions"]
    scalars = tblog.read_scalars(run_dir / "logs", "validation", "epoch_loss")
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert [step for step, _ in scalars] == [0, 1]
    assert [value for _, value in scalars] == pytest.approx(
        [row["val_loss"] for row in history], rel=1e-5
    )


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_server_lists_scalars_and_images(quick_run):
    run_dir, _ = quick_run
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(run_dir / "logs"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast",
            "false",
        ],
        env=script_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        scalars = images = {}
        deadline = time.time() + 90
        while time.time() < deadline and not ("validation" in scalars and images):
            time.sleep(1)
            try:
                base = f"http://127.0.0.1:{port}/data/plugin"
                scalars = json.load(urllib.request.urlopen(f"{base}/scalars/tags", timeout=5))
                images = json.load(urllib.request.urlopen(f"{base}/images/tags", timeout=5))
            except OSError:
                continue
        assert "epoch_loss" in scalars["train"] and "epoch_loss" in scalars["validation"]
        assert "originals | reconstructions" in images["run"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_flags_build_an_exercise_variant_and_record_it(tmp_path):
    run_dir = tmp_path / "variant"
    proc = run_script(
        "Chapter_2_1.py",
        "--quick",
        "--offline",
        "--run-dir",
        run_dir,
        "--kernel-size",
        "5",
        "--pooling",
        "true,true,false",
        "--filters",
        "8,4,4",
        "--show-digits",
        "4",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["dataset"]["source"] == "synthetic"
    assert record["config"]["KERNEL_SIZE"] == 5 and record["config"]["POOLING"] == [
        True,
        True,
        False,
    ]
    expected = ch.build_model((8, 4, 4), 5, (True, True, False))
    assert record["metrics"]["parameters"] == expected.count_params()
    assert record["metrics"]["code_shape"] == [7, 7, 4]
    assert (
        keras.models.load_model(run_dir / "model.keras").count_params() == expected.count_params()
    )
    with Image.open(
        run_dir / "reconstructions.png"
    ) as png:  # 4 digits: narrower than the default 10
        assert png.size[0] < 2 * png.size[1]


def test_bad_flag_from_the_shell_is_one_line_and_exit_2(tmp_path):
    proc = run_script("Chapter_2_1.py", "--epochs", "-1", "--run-dir", tmp_path / "r")
    assert proc.returncode == 2
    assert error_line(proc) == "error: --epochs must be at least 1, got -1"
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--kernel-size", "0"], ["--kernel-size", "at least 1"]),
        (["--filters", "16,8"], ["--filters", "--pooling"]),
        (["--unknown-flag"], ["--unknown-flag"]),
        (["--data", "/nonexistent/mnist.npz"], ["/nonexistent/mnist.npz"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, words):
    code = flags.run(ch.main, [*argv, "--quick", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]


def test_corrupt_data_file_leaves_what_is_on_disk(tmp_path, capsys):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    keep = tmp_path / "r" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("mine")
    assert (
        flags.run(ch.main, ["--data", str(bad), "--quick", "--run-dir", str(tmp_path / "r")]) == 2
    )
    assert str(bad) in capsys.readouterr().err
    assert bad.read_bytes() == b"PK\x03\x04 not really a zip"
    assert keep.read_text() == "mine"
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_npz_data_flag_trains_on_the_given_digits(tmp_path):
    (x, y), (xt, yt) = digits.synthetic_mnist(seed=5, n_train=300, n_test=100)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt)
    assert (
        flags.run(ch.main, ["--data", str(path), "--quick", "--run-dir", str(tmp_path / "r")]) == 0
    )
    record = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert record["dataset"]["source"] == f"local:{path}"
    assert record["dataset"]["train"] == 300 and record["dataset"]["test"] == 100

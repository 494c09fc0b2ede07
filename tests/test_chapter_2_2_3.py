"""Chapter_2_2.py and Chapter_2_3.py: the listings' networks, the steering
pipeline (chapter2/steering/), the checks before a run, and --quick
runs end to end on simulator data."""

import json

import numpy as np
import pytest
from conftest import finished_quick_run
from steering_checks import check_run

import Chapter_2_2
import Chapter_2_3
from chapter2.data import memory
from chapter2.run import flags
from chapter2.run.errors import InputError
from chapter2.steering import checks, evaluation, pipeline


def kinds(model):
    return [layer.__class__.__name__ for layer in model.layers]


def conv(kernel, channels_in, filters):
    """Weights and biases of one Conv2D."""
    return kernel * kernel * channels_in * filters + filters


def flatten_shape(model):
    return tuple(
        next(layer for layer in model.layers if layer.__class__.__name__ == "Flatten").input.shape[
            1:
        ]
    )


STAGE = ["Conv2D", "Activation", "MaxPooling2D"]
HEAD = ["Flatten", "Dense", "Activation", "Dropout", "Dense"]


def test_chapter_2_2_default_network_is_the_listing():
    model = Chapter_2_2.build_model()
    assert kinds(model) == ["InputLayer", "Rescaling"] + 3 * STAGE + HEAD
    # 120x160 -conv 3x3-> 118x158 -pool-> 59x79 -conv-> 57x77 -pool-> 28x38 -conv-> 26x36 -pool-> 13x18
    flat = 13 * 18 * 32
    by_hand = conv(3, 3, 8) + conv(3, 8, 16) + conv(3, 16, 32) + (flat * 256 + 256) + (256 + 1)
    assert flatten_shape(model) == (13, 18, 32)
    assert model.count_params() == by_hand == 1_923_473
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [
        (f, (3, 3), (1, 1)) for f in (8, 16, 32)
    ]
    assert [
        layer.get_config()["activation"]
        for layer in model.layers
        if layer.__class__.__name__ == "Activation"
    ] == ["relu", "relu", "relu", "linear"]
    assert model.layers[-2].rate == pytest.approx(0.2) and model.layers[-4].units == 256
    assert model.input.shape[1:] == (120, 160, 3) and model.layers[0].name == "img_in"
    assert model.output.shape[1:] == (1,) and model.layers[-1].name == "angle_out"


def test_chapter_2_3_default_network_keeps_only_the_first_pooling():
    model = Chapter_2_3.build_model()
    assert kinds(model) == ["InputLayer", "Rescaling"] + STAGE + 2 * STAGE[:2] + HEAD
    # 120x160 -conv-> 118x158 -pool-> 59x79 -conv-> 57x77 -conv-> 55x75
    flat = 55 * 75 * 32
    by_hand = conv(3, 3, 8) + conv(3, 8, 16) + conv(3, 16, 32) + (flat * 256 + 256) + (256 + 1)
    assert flatten_shape(model) == (55, 75, 32)
    assert model.count_params() == by_hand == 33_798_545
    assert model.layers[-2].rate == pytest.approx(0.5)
    assert (Chapter_2_3.EPOCHS, Chapter_2_2.EPOCHS) == (10, 4)


@pytest.mark.parametrize(
    "module, changes",
    [
        (Chapter_2_2, {"strides": 2}),
        (Chapter_2_2, {"pool_size": 3}),
        (Chapter_2_2, {"kernel_size": 5}),
        (Chapter_2_2, {"filters": (4, 4, 4)}),
        (Chapter_2_2, {"pooling": (True, False, True)}),
        (Chapter_2_3, {"strides": 2}),
        (Chapter_2_3, {"pooling": False, "strides": 3}),
        (Chapter_2_3, {"pool_size": 3, "kernel_size": 5}),
    ],
)
def test_the_knobs_change_the_network_as_the_size_arithmetic_says(module, changes):
    """Each knob reaches the layers, and check_network's arithmetic (used to
    refuse settings before anything is built) agrees with Keras."""
    settings = dict(
        filters=module.FILTERS,
        kernel_size=module.KERNEL_SIZE,
        strides=module.STRIDES,
        pool_size=module.POOL_SIZE,
        pooling=module.POOLING,
        dense=8,
    )
    settings.update(changes)
    model = module.build_model(**settings)
    pooling = settings["pooling"] if module is Chapter_2_2 else (settings["pooling"], False, False)
    assert checks.feature_map(
        settings["filters"],
        settings["kernel_size"],
        settings["strides"],
        settings["pool_size"],
        pooling,
    ) == flatten_shape(model)
    default = module.build_model(dense=8)
    assert model.count_params() != default.count_params() or kinds(model) != kinds(default)


def test_dropout_and_dense_reach_their_layers():
    model = Chapter_2_2.build_model(strides=2, dense=7, dropout=0.35)
    assert model.layers[-4].units == 7 and model.layers[-2].rate == pytest.approx(0.35)


def refused(module, argv, tmp_path, capsys):
    """Run main in-process as the shell would; (exit status, last stderr line)."""
    status = flags.run(module.main, [*argv, "--run-dir", str(tmp_path / "run")])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists(), "a refused run must leave no folder"
    return status, line


def test_a_dense_layer_that_cannot_fit_is_refused_before_anything_is_built(
    tmp_path, capsys, monkeypatch
):
    status, line = refused(Chapter_2_2, ["--dense", "1000000000"], tmp_path, capsys)
    assert status == 2 and line.startswith("error: --dense 1000000000:") and "GB" in line
    assert "7,489,000,000,000 weights (7,488 Flatten values x 1,000,000,000 units)" in line
    # the estimate itself: 16 bytes per Dense weight (weights, gradients, adam's two moments)
    weights = 7488 * 256 + 256
    monkeypatch.setattr(memory, "available_memory", lambda: 20 * weights + 100)
    assert checks.check_network((8, 16, 32), 3, 1, 2, (True, True, True), 256) == 7488
    # 80 % of it is usable
    monkeypatch.setattr(memory, "available_memory", lambda: 20 * weights - 100)
    with pytest.raises(InputError, match="--dense 256: the Dense layer's 1,917,184 weights"):
        checks.check_network((8, 16, 32), 3, 1, 2, (True, True, True), 256)


@pytest.mark.parametrize(
    "module, argv, words",
    [
        (Chapter_2_2, ["--strides", "10"], "shrink the 120x160 frame to nothing"),
        (
            Chapter_2_2,
            ["--pool-size", "10", "--kernel-size", "9"],
            "shrink the 120x160 frame to nothing",
        ),
        (
            Chapter_2_3,
            ["--strides", "9", "--pool-size", "8"],
            "shrink the 120x160 frame to nothing",
        ),
        (Chapter_2_2, ["--filters", "8,16"], "--filters expects 3 comma-separated values"),
        (
            Chapter_2_2,
            ["--pooling", "true,false,true,true"],
            "--pooling expects 3 comma-separated values",
        ),
    ],
)
def test_impossible_settings_are_refused_in_one_line(module, argv, words, tmp_path, capsys):
    status, line = refused(module, argv, tmp_path, capsys)
    assert status == 2 and line.startswith("error: ") and words in line


def test_warmup_rises_linearly_then_holds():
    schedule = Chapter_2_3.warmup(1e-3, 100)
    assert [float(schedule(step)) for step in (0, 25, 100, 5000)] == pytest.approx(
        [0, 2.5e-4, 1e-3, 1e-3]
    )
    assert Chapter_2_3.warmup(1e-3, 0) == 1e-3


def test_batches_mirror_on_the_fly_without_copying_the_set():
    n = 10
    X = np.zeros((n, 120, 160, 3), np.uint8)
    # a marked left edge per frame, each channel its own value (a mirror keeps a pixel's colour)
    X[:, :, :8] = np.arange(n, dtype=np.uint8)[:, None, None, None] + 1
    X[:, :, :8] += np.array([0, 20, 40], np.uint8)
    Y = np.linspace(-0.9, 0.9, n).astype(np.float32)
    rows = np.array([1, 4, 7, 8])
    ds, total = pipeline.batches(X, Y, rows, 3, mirror=True, shuffle=True, seed=1)
    assert total == 8
    seen = []
    for xb, yb in ds.as_numpy_iterator():
        for x, y in zip(xb, yb):
            flipped = x[0, :8].max() == 0
            frame = int((x[0, -8:, 0] if flipped else x[0, :8, 0]).max()) - 1
            assert y == pytest.approx(-Y[frame] if flipped else Y[frame])
            assert np.array_equal(x, X[frame][:, ::-1] if flipped else X[frame])
            seen.append((frame, bool(flipped)))
    assert sorted(seen) == sorted((r, f) for r in rows.tolist() for f in (False, True))
    plain, _ = pipeline.batches(X, Y, rows, 3)
    assert np.concatenate([y for _, y in plain.as_numpy_iterator()]).tolist() == pytest.approx(
        Y[rows].tolist()
    )


def test_test_frames_figure_has_a_legend_and_outlined_okabe_ito_lines():
    frames = np.full((2, 120, 160, 3), 200, np.uint8)
    fig = evaluation.frames_figure(frames, np.array([0.5, -0.2]), np.array([0.1, 0.3]))
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["true (the driver)", "predicted (the model)"]
    lines = fig.axes[0].get_lines()
    assert [line.get_color() for line in lines] == [evaluation.SKY_BLUE, evaluation.ORANGE]
    assert lines[0].get_linestyle() != lines[1].get_linestyle() and all(
        line.get_path_effects() for line in lines
    )


# --- --drive: a saved model is checked before it drives ------------------------


def save_model(path, outputs=1, inputs=1, units=1):
    import keras
    from keras import layers

    ins = [keras.Input(shape=(120, 160, 3)) for _ in range(inputs)]
    x = layers.GlobalAveragePooling2D()(ins[0] if inputs == 1 else layers.Add()(ins))
    outs = [layers.Dense(units)(x) for _ in range(outputs)]
    keras.Model(ins if inputs > 1 else ins[0], outs if outputs > 1 else outs[0]).save(path)
    return path


@pytest.mark.parametrize(
    "shape, words",
    [
        (dict(inputs=2), "the model has 2 inputs"),
        (dict(outputs=3), "gives 3 output(s)"),
        (dict(units=3), "of shape(s) (3,)"),
    ],
)
def test_drive_refuses_a_model_that_does_not_steer(shape, words, tmp_path, capsys):
    path = save_model(tmp_path / "model.keras", **shape)
    status, line = refused(Chapter_2_2, ["--drive", str(path)], tmp_path, capsys)
    assert status == 2 and line.startswith(f"error: --drive {path}:") and words in line


@pytest.mark.parametrize(
    "name, content",
    [
        ("model.keras", b"not a model"),
        ("model.h5", b"\x00" * 64),
        ("model.keras", b"PK\x03\x04 a damaged zip"),
    ],
)
def test_drive_reports_a_damaged_file_as_not_loadable(name, content, tmp_path, capsys):
    fake = tmp_path / name
    fake.write_bytes(content)
    status, line = refused(Chapter_2_2, ["--drive", str(fake)], tmp_path, capsys)
    assert status == 2 and f"--drive {fake}: not a loadable Keras model" in line
    assert "not found" not in line.lower()


def test_drive_a_saved_model_without_training(tmp_path):
    path = save_model(tmp_path / "model.keras")
    status = flags.run(
        Chapter_2_2.main,
        ["--drive", str(path), "--drive-seconds", "3", "--run-dir", str(tmp_path / "drive")],
    )
    assert status == 0
    metrics = json.loads((tmp_path / "drive" / "metrics.json").read_text())
    assert (
        metrics["metrics"]["sim_seconds"] == pytest.approx(3, abs=0.2)
        and metrics["metrics"]["distance"] > 0
    )
    assert (tmp_path / "drive" / "drive.gif").is_file() and not (
        tmp_path / "drive" / "best_model.keras"
    ).exists()


# --- --quick runs end to end ----------------------------------------------------


@pytest.fixture(scope="module")
def quick_2_2(tmp_path_factory):
    """One --quick run of Chapter_2_2 as a learner would start it."""
    return finished_quick_run(tmp_path_factory, "Chapter_2_2.py")


def test_chapter_2_2_quick_run_trains_tests_and_drives(quick_2_2):
    run_dir, proc = quick_2_2
    check_run(run_dir, proc, epochs=2)


def test_chapter_2_2_learns_to_steer(quick_2_2):
    metrics = json.loads((quick_2_2[0] / "metrics.json").read_text())["metrics"]
    assert metrics["test_mse"] < 0.6 * metrics["baseline_mse"], metrics

"""Chapter_2_2.py and Chapter_2_3.py: the networks, and --quick runs end to end on simulator data."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from conftest import run_script

import Chapter_2_2
import Chapter_2_3


def conv_and_flatten(model):
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    flatten = next(layer for layer in model.layers if layer.__class__.__name__ == "Flatten")
    return convs, tuple(flatten.input.shape[1:])


def build(module, **changes):
    kwargs = dict(filters=module.FILTERS, kernel_size=module.KERNEL_SIZE, strides=module.STRIDES,
                  pool_size=module.POOL_SIZE, pooling=module.POOLING, dense=module.DENSE, dropout=module.DROPOUT)
    kwargs.update(changes)
    return Chapter_2_2.build_model(**kwargs)


def test_chapter_2_2_network_is_the_listing():
    model = build(Chapter_2_2)
    convs, flat = conv_and_flatten(model)
    assert flat == (13, 18, 32)
    assert [c.filters for c in convs] == [8, 16, 32]
    assert all(c.kernel_size == (3, 3) and c.strides == (1, 1) for c in convs)
    assert model.count_params() == 1_923_473  # 7488*256 + 256 dense weights dominate
    assert model.input.shape[1:] == (120, 160, 3) and model.inputs[0].name == "img_in"
    assert model.output.shape[1:] == (1,) and model.layers[-1].name == "angle_out"
    assert [l for l in model.layers if l.__class__.__name__ == "Dropout"][0].rate == pytest.approx(0.2)


def test_chapter_2_3_keeps_only_the_first_pooling():
    model = build(Chapter_2_3)
    convs, flat = conv_and_flatten(model)
    assert flat == (55, 75, 32)
    assert sum(l.__class__.__name__ == "MaxPooling2D" for l in model.layers) == 1
    assert all(c.strides == (1, 1) for c in convs)
    assert model.count_params() == 33_798_545
    assert [l for l in model.layers if l.__class__.__name__ == "Dropout"][0].rate == pytest.approx(0.5)
    assert (Chapter_2_3.EPOCHS, Chapter_2_2.EPOCHS) == (10, 4)


def test_strides_are_the_configured_ones():
    model = build(Chapter_2_2, strides=2)
    convs, flat = conv_and_flatten(model)
    assert all(c.strides == (2, 2) for c in convs)
    assert flat == (1, 2, 32)  # 120x160 -> 59x79 -> 29x39 -> 14x19 -> 7x9 -> 3x4 -> 1x2


def test_batches_mirror_on_the_fly_without_copying_the_set():
    n = 10
    X = np.zeros((n, 120, 160, 3), np.uint8)
    X[:, :, :8] = np.arange(n, dtype=np.uint8)[:, None, None, None] + 1  # a marked left edge per frame
    Y = np.linspace(-0.9, 0.9, n).astype(np.float32)
    rows = np.array([1, 4, 7, 8])
    ds, total = Chapter_2_2.batches(X, Y, rows, 3, mirror=True, shuffle=True, seed=1)
    assert total == 8
    seen = []
    for xb, yb in ds.as_numpy_iterator():
        for x, y in zip(xb, yb):
            flipped = x[0, :8].max() == 0
            frame = int((x[0, -8:] if flipped else x[0, :8]).max()) - 1
            assert y == pytest.approx(-Y[frame] if flipped else Y[frame])
            seen.append((frame, bool(flipped)))
    assert sorted(seen) == sorted((r, f) for r in rows.tolist() for f in (False, True))
    plain, _ = Chapter_2_2.batches(X, Y, rows, 3)
    assert np.concatenate([y for _, y in plain.as_numpy_iterator()]).tolist() == pytest.approx(Y[rows].tolist())


@pytest.fixture(scope="module")
def quick_2_2(tmp_path_factory):
    """One --quick run of Chapter_2_2, with 1,000 frames and four epochs
    instead of 600 and one, so the learning check below has something to
    measure (test MSE about 0.3x the baseline; three epochs on 800 frames
    sometimes ended near the baseline after a rough first epoch)."""
    run_dir = tmp_path_factory.mktemp("c22") / "run"
    proc = run_script("Chapter_2_2.py", "--quick", "--offline", "--epochs", 4, "--sim-frames", 1000,
                      "--run-dir", run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_dir, proc


def check_run(run_dir, proc, epochs):
    from chapter2.run import tblog

    import keras

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["source"] == "simulator" and metrics["dataset"]["source"] == "simulator"
    assert "SIMULATOR" in proc.stdout
    for key in ("test_mse", "test_mae", "baseline_mse", "baseline_mae", "autonomy", "mean_abs_offset",
                "distance", "sim_seconds"):
        assert math.isfinite(metrics["metrics"][key]), key
    assert metrics["metrics"]["distance"] > 0 and metrics["metrics"]["interventions"] >= 0
    assert set(metrics["drive_references"]) == {"no_steering", "ground_truth"}
    assert len(metrics["history"]) == epochs

    model = keras.models.load_model(run_dir / "best_model.keras")
    frames = np.random.default_rng(0).integers(0, 256, (2, 120, 160, 3), dtype=np.uint8)
    pred = model.predict(frames, verbose=0)
    assert pred.shape == (2, 1) and np.isfinite(pred).all()

    scalars = {tag for run in tblog.read_tags(run_dir / "logs").values() for tag in run["scalars"]}
    assert {"epoch_loss", "epoch_mean_absolute_error"} <= scalars

    for name in ("predictions.png", "test_frames.png"):
        with Image.open(run_dir / name) as img:
            assert img.size[0] > 200
    with Image.open(run_dir / "drive.gif") as gif:
        assert gif.n_frames > 1
    return metrics


def test_chapter_2_2_quick_run_trains_tests_and_drives(quick_2_2):
    run_dir, proc = quick_2_2
    check_run(run_dir, proc, epochs=4)


def test_chapter_2_2_learns_to_steer(quick_2_2):
    metrics = json.loads((quick_2_2[0] / "metrics.json").read_text())["metrics"]
    assert metrics["test_mse"] < 0.6 * metrics["baseline_mse"], metrics


def test_chapter_2_3_quick_run(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_script("Chapter_2_3.py", "--quick", "--offline", "--run-dir", run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = check_run(run_dir, proc, epochs=1)
    assert metrics["config"]["POOLING"] == [True, False, False] and metrics["config"]["DROPOUT"] == 0.5
    assert metrics["config"]["JIT_COMPILE"] is True
    assert metrics["metrics"]["parameters"] == 33_798_545


def test_drive_a_saved_model_without_training(quick_2_2, tmp_path):
    model = quick_2_2[0] / "best_model.keras"
    proc = run_script("Chapter_2_2.py", "--drive", model, "--drive-seconds", 3, "--run-dir", tmp_path / "drive")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "drive" / "metrics.json").read_text())
    assert math.isfinite(metrics["metrics"]["autonomy"]) and metrics["metrics"]["sim_seconds"] == pytest.approx(3, abs=0.2)
    assert (tmp_path / "drive" / "drive.gif").is_file() and not (tmp_path / "drive" / "best_model.keras").exists()


def test_drive_rejects_a_file_that_is_not_a_model(tmp_path, capsys):
    from chapter2.run import flags

    fake = tmp_path / "model.keras"
    fake.write_text("not a model")
    status = flags.run(Chapter_2_2.main, ["--drive", str(fake), "--run-dir", str(tmp_path / "run")])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2 and line.startswith("error: ") and str(fake) in line and "not a loadable Keras model" in line
    assert not (tmp_path / "run").exists()

"""What every finished steering run (Chapter_2_2, Chapter_2_3) must have written."""

import json
import math

import numpy as np
from PIL import Image


def check_run(run_dir, proc, epochs):
    import keras

    from chapter2.run import tblog

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dataset"]["source"] == "simulator" and "SIMULATOR" in proc.stdout
    assert "split: " in proc.stdout and " test, from simulator" in proc.stdout
    for key in (
        "test_mse",
        "test_mae",
        "baseline_mse",
        "baseline_mae",
        "mean_abs_offset",
        "distance",
    ):
        assert math.isfinite(metrics["metrics"][key]), key
    # MAE^2 <= MSE
    assert metrics["metrics"]["test_mae"] ** 2 <= metrics["metrics"]["test_mse"] + 1e-9
    assert metrics["metrics"]["distance"] > 0 and metrics["metrics"]["interventions"] >= 0
    assert set(metrics["drive_references"]) == {"no_steering", "ground_truth"}
    assert len(metrics["history"]) == epochs
    assert "% of full lock" in proc.stdout and "simulated s" in proc.stdout
    assert "smoke run" in proc.stdout.strip().splitlines()[-1] and "not results" in proc.stdout

    model = keras.models.load_model(run_dir / "best_model.keras")
    frames = np.random.default_rng(0).integers(0, 256, (2, 120, 160, 3), dtype=np.uint8)
    pred = model.predict(frames, verbose=0)
    assert pred.shape == (2, 1) and np.isfinite(pred).all()

    scalars = {tag for run in tblog.read_tags(run_dir / "logs").values() for tag in run["scalars"]}
    assert {"epoch_loss", "epoch_metrics/mean_absolute_error"} <= scalars

    for name in ("predictions.png", "angles.png", "test_frames.png"):
        with Image.open(run_dir / name) as img:
            assert img.size[0] > 400, name
    with Image.open(run_dir / "drive.gif") as gif:
        assert gif.n_frames > 1
    return metrics

"""Chapter_2_3's smoke run, end to end: it trains, tests, drives, and learns."""

from conftest import run_script
from steering_checks import check_run


def test_chapter_2_3_quick_run_ends_below_the_mean_baseline(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_script("Chapter_2_3.py", "--quick", "--offline", "--run-dir", run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = check_run(run_dir, proc, epochs=2)
    assert metrics["config"]["POOLING"] is True and metrics["config"]["DROPOUT"] == 0.5
    assert metrics["metrics"]["parameters"] == 33_798_545
    assert metrics["metrics"]["test_mse"] < metrics["metrics"]["baseline_mse"], metrics["metrics"]

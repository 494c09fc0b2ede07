"""Chapter_2_3's smoke run, end to end: it trains, tests, drives, and learns."""

from conftest import finished_quick_run
from steering_checks import check_run


def test_chapter_2_3_quick_run_ends_below_the_mean_baseline(tmp_path_factory):
    run_dir, proc = finished_quick_run(tmp_path_factory, "Chapter_2_3.py")
    metrics = check_run(run_dir, proc, epochs=2)
    assert metrics["config"]["POOLING"] is True and metrics["config"]["DROPOUT"] == 0.5
    assert metrics["metrics"]["parameters"] == 33_798_545
    assert metrics["metrics"]["test_mse"] < metrics["metrics"]["baseline_mse"], metrics["metrics"]

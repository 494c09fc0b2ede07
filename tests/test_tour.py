"""python -m chapter2.tour: every smoke run and one table."""

import subprocess
import sys

from conftest import ROOT, script_env

from chapter2 import tour


def test_tour_runs_a_script_and_tabulates_it(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "chapter2.tour", "2_4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(script_env(), PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("Chapter_2_4.py"))
    assert "accuracy" in row and "runs/chapter_2_4/" in row and row.rstrip().endswith("-tour")
    assert (tmp_path / row.split()[-1] / "metrics.json").exists()


def test_tour_reports_a_failed_script(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    row = tour.run_one("2_4", ["--quick", "--epochs", "0"])
    assert not row["ok"] and "FAILED (exit 2)" in row["figure"] and "--epochs" in row["figure"]
    assert tour.main(["2_9"]) == 2

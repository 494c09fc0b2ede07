"""SIGKILL at random moments, rerun until finished: nothing lost, nothing twice.
(The longer version: python bench/fault_injection.py --kills 20.)"""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import fault_injection


def test_random_kills_then_resume_leave_a_whole_run(tmp_path):
    result = fault_injection.kill_and_resume(
        "Chapter_2_1.py",
        ["--quick", "--offline"],
        tmp_path / "run",
        epochs=2,
        kills=4,
        max_delay=25.0,
        seed=4,
        log=lambda *a: None,
    )
    assert result["tracebacks"] == []
    assert result["problems"] == []
    assert result["killed"] == 4


def test_random_kills_of_a_mirrored_run_on_two_cpu_replicas_then_resume(tmp_path):
    result = fault_injection.kill_and_resume(
        "Chapter_2_1.py",
        ["--quick", "--offline", "--distribute", "mirrored", "--cpu-replicas", "2"],
        tmp_path / "run",
        epochs=2,
        kills=3,
        max_delay=25.0,
        seed=5,
        log=lambda *a: None,
    )
    assert result["tracebacks"] == []
    assert result["problems"] == []
    assert result["killed"] == 3

"""The benchmark peers run and print the JSON line the side-by-side reads.

The Keras ports of the listings run from their command lines at a tiny size,
one after another in a single Python process (TensorFlow is imported once);
the PyTorch ports likewise, skipped when PyTorch is not installed. Bad flags
end in one error line.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LISTINGS = ROOT / "bench" / "listings"
TORCH_PORTS = ROOT / "bench" / "torch_ports"

# Runs each script as `python script args...` would, in this one process, and
# prints each one's exit status after its output.
RUNNER = """
import runpy, sys
for line in sys.stdin.read().splitlines():
    script, *args = line.split()
    sys.argv = [script, *args]
    sys.path.insert(0, str(__import__('pathlib').Path(script).parent))
    try:
        runpy.run_path(script, run_name='__main__')
        code = 0
    except SystemExit as stop:
        code = stop.code or 0
    print('exit', script, code, flush=True)
"""


def run_in_one_process(jobs, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input="\n".join(jobs),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records, exits = [], []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
        elif line.startswith("exit "):
            exits.append(int(line.split()[-1]))
    assert exits == [0] * len(jobs), proc.stderr[-2000:]
    return records


# 2_1 and 2_2 by default (a few seconds of CPU each after TensorFlow's start);
# CHAPTER2_BENCH_TESTS=all adds 2_3 (a 34-million-parameter checkpoint per
# epoch), 2_4 and 2_5, about 20 s of CPU more.
ALL_PORTS = os.environ.get("CHAPTER2_BENCH_TESTS") == "all"


def test_listing_ports_train_and_report(tmp_path):
    games = tmp_path / "games.txt"
    games.write_text("0120120\n\n2211001\n")
    jobs = {
        "2_1_ae": f"{LISTINGS / 'listing_2_1_autoencoder.py'} --samples 256 --val-samples 128 "
        "--epochs 2",
        "2_2_pilotnet": f"{LISTINGS / 'listing_2_2_pilotnet.py'} --samples 20 --epochs 2",
        "2_3_fewer_pools": f"{LISTINGS / 'listing_2_3_fewer_pools.py'} --samples 10 --epochs 2",
        "2_4_alphabet": f"{LISTINGS / 'listing_2_4_alphabet.py'} --epochs 2",
        "2_5_rps": f"{LISTINGS / 'listing_2_5_rps.py'} --data {games} --epochs 1",
    }
    if not ALL_PORTS:
        jobs = {name: jobs[name] for name in ("2_1_ae", "2_2_pilotnet")}
    records = {r["bench"]: r for r in run_in_one_process(list(jobs.values()), tmp_path)}
    assert sorted(records) == sorted(jobs)
    expected_samples = {
        "2_1_ae": 256,
        "2_2_pilotnet": 2 * 16,  # an 80% split, all mirrored
        "2_3_fewer_pools": 2 * 8,
        "2_4_alphabet": 25,
    }  # 25: the alphabet's pairs
    for name, record in records.items():
        assert record["impl"] == "listing"
        if name == "2_5_rps":
            assert record["games"] == 2 and record["fit_wall_s"] > 0  # the blank line skipped
            continue
        assert record["train_samples_per_epoch"] == expected_samples[name]
        assert len(record["epoch_train_s"]) == 2  # both epochs ran
        assert record["train_samples_per_s"]["median"] > 0
        assert record["train_samples_per_cpu_s"]["median"] > 0
        assert record["fit_wall_s"] >= sum(record["epoch_train_s"])
    if "2_4_alphabet" in records:
        assert 0 <= records["2_4_alphabet"]["accuracy"] <= 1
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob("*.keras"))  # nothing left


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_torch_ports_train_and_report(tmp_path):
    jobs = [
        f"{TORCH_PORTS / 'torch_2_1_autoencoder.py'} --samples 256 --epochs 2 --threads 1",
        f"{TORCH_PORTS / 'torch_2_2_pilotnet.py'} --samples 16 --epochs 2 --threads 1",
    ]
    records = run_in_one_process(jobs, tmp_path)
    assert [r["bench"] for r in records] == ["2_1_ae", "2_2_pilotnet"]
    assert all(r["impl"] == "pytorch" and r["train_samples_per_s"]["median"] > 0 for r in records)
    assert records[1]["parameters"] == 1923473  # what Keras counts for the listing's network


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_torch_pilotnet_matches_the_listings_networks():
    import torch

    sys.path.insert(0, str(TORCH_PORTS))
    try:
        import torch_2_2_pilotnet as port
    finally:
        sys.path.remove(str(TORCH_PORTS))
    count = {
        pooling: sum(p.numel() for p in port.build_model(torch, pooling).parameters())
        for pooling in ((True, True, True), (True, False, False))
    }
    # Keras counts 1,923,473 (Chapter_2_2's listing) and 33,798,545 (Chapter_2_3's)
    assert count == {(True, True, True): 1923473, (True, False, False): 33798545}


@pytest.mark.parametrize(
    "argv, names",
    [
        ([str(TORCH_PORTS / "torch_2_2_pilotnet.py"), "--pooling", "12"], "--pooling"),
        ([str(ROOT / "bench" / "side_by_side.py"), "--only", "ae,nope"], "nope"),
    ],
)
def test_bad_flags_end_in_one_error_line(argv, names):
    proc = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0]

"""Kill a run with SIGKILL at random moments, rerun it until it finishes,
and check that nothing was lost or counted twice.

    python bench/fault_injection.py                       # Chapter_2_1, 8 kills
    python bench/fault_injection.py --script Chapter_2_2.py --kills 12 --epochs 3
    python bench/fault_injection.py --distribute mirrored --cpu-replicas 2   # two replicas on the CPU

Each attempt starts the script with the same --run-dir and kills it after a
random delay (anywhere in its life: importing, loading data, mid-epoch,
mid-save, after training, while writing figures or driving), until an
attempt is allowed to finish. Then the finished run must have:
history.csv, metrics.json and TensorBoard's epoch steps each covering every
epoch exactly once, and no attempt may have printed a traceback. The test
suite runs a short version (tests/test_fault_injection.py).
"""

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def attempt(cmd, env, kill_when):
    """Run `cmd`; SIGKILL it as soon as `kill_when()` is true (None: let it
    end). Returns (exit status or 'killed', stderr text)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        status = None
        while status is None:
            if proc.poll() is not None:
                status = proc.returncode
            elif kill_when is not None and kill_when():
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                status = "killed"
            else:
                time.sleep(0.01)
        err.seek(0)
        return status, err.read().decode(errors="replace")


def after(seconds):
    """A kill moment: `seconds` after the attempt starts."""
    t0 = []

    def due():
        t0.append(time.monotonic()) if not t0 else None
        return time.monotonic() - t0[0] >= seconds

    due.text = f"after {seconds:.1f} s"
    return due


def when_exists(*paths, text):
    """A kill moment: as soon as one of `paths` exists (e.g. a resume point,
    a figure; a name may hold a `*`)."""
    paths = [Path(path) for path in paths]

    def due():
        return any(any(path.parent.glob(path.name)) for path in paths)

    due.text = text
    return due


def check_run(run_dir, epochs):
    """The problems of a finished run folder ([] when it is whole)."""
    from chapter2.run import tblog

    problems = []
    # history.csv and TensorBoard count epochs from 0, metrics.json from 1
    expected = list(range(epochs))
    try:
        record = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError) as err:
        return [f"metrics.json unreadable: {err}"]
    got = [row["epoch"] for row in record["history"]]
    if got != [e + 1 for e in expected]:
        problems.append(f"metrics.json history epochs {got}")
    with (run_dir / "history.csv").open(newline="") as fh:
        rows = [int(r["epoch"]) for r in csv.DictReader(fh)]
    if rows != expected:
        problems.append(f"history.csv epochs {rows}")
    for part in ("train", "validation"):
        steps = [step for step, _ in tblog.read_scalars(run_dir / "logs", part, "epoch_loss")]
        if steps != expected:
            problems.append(f"TensorBoard {part} epoch_loss steps {steps}")
    if (run_dir / "resume").exists():
        left = sorted(p.name for p in (run_dir / "resume").iterdir())
        problems.append(f"resume points left after the run finished: {left}")
    return problems


def moments(run_dir, epochs, kills, max_delay, seed):
    """Kill moments: fixed ones that cover each phase of a run (mid-save of
    a resume point, between epochs, after training, while writing the
    outputs), then random delays in (0.5, max_delay) s: start-up, loading,
    mid-epoch, anywhere."""
    fixed = [
        # TensorFlow's `_temp` folder can live for less than one poll; the
        # checkpoint it becomes is then the first moment seen, still before
        # the point's record is written.
        when_exists(
            run_dir / "resume" / "epoch-*_temp",
            run_dir / "resume" / "epoch-*.ckpt.index",
            text="while a resume point is being written",
        ),
        when_exists(run_dir / "resume" / "epoch-000001.json", text="right after epoch 1 was saved"),
        when_exists(
            run_dir / f"resume/epoch-{epochs:06d}.json", text="after training, before the outputs"
        ),
        when_exists(run_dir / "model.keras", text="while writing the outputs"),
    ]
    rng = random.Random(seed)
    chosen = fixed[:kills]
    chosen += [after(rng.uniform(0.5, max_delay)) for _ in range(kills - len(chosen))]
    return chosen


def kill_and_resume(script, args, run_dir, epochs, kills, max_delay, seed=0, log=print):
    """Kill `kills` attempts (see moments), then let one finish.
    Returns {"attempts", "killed", "tracebacks", "problems"}."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        str(ROOT / script),
        *args,
        "--epochs",
        str(epochs),
        "--run-dir",
        str(run_dir),
    ]
    result = {"attempts": 0, "killed": 0, "tracebacks": [], "problems": []}
    for n, when in enumerate(moments(run_dir, epochs, kills, max_delay, seed) + [None]):
        status, err = attempt(cmd, env, when)
        result["attempts"] += 1
        result["killed"] += status == "killed"
        if "Traceback" in err:
            result["tracebacks"].append(err[-2000:])
        if status not in ("killed", 0):
            result["problems"].append(f"attempt {n + 1} exited {status}: {err.strip()[-300:]}")
        log(f"attempt {n + 1}: {'killed ' + when.text if status == 'killed' else f'exit {status}'}")
        if status == 0:
            if when is not None:
                result["problems"].append(f"attempt {n + 1} finished before {when.text}")
            break
    if (run_dir / "metrics.json").exists():
        result["problems"] += check_run(run_dir, epochs)
    else:
        result["problems"].append("the run never finished")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="Chapter_2_1.py")
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--max-delay", type=float, default=40.0, help="seconds; about one quick run's length"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distribute", default=None, help="passed on to the script")
    parser.add_argument("--cpu-replicas", default=None, help="passed on to the script")
    args = parser.parse_args(argv)
    from chapter2.run import console

    console.quiet()  # the TensorBoard reader imports TensorFlow
    extra = ["--quick"] + (["--offline"] if args.script in ("Chapter_2_1.py",) else [])
    for flag in ("distribute", "cpu_replicas"):
        if getattr(args, flag) is not None:
            extra += ["--" + flag.replace("_", "-"), getattr(args, flag)]
    with tempfile.TemporaryDirectory() as tmp:
        result = kill_and_resume(
            args.script,
            extra,
            Path(tmp) / "run",
            args.epochs,
            args.kills,
            args.max_delay,
            args.seed,
        )
    print(
        f"{args.script}: {result['attempts']} attempts, {result['killed']} killed, "
        f"{len(result['tracebacks'])} with a traceback, problems: {result['problems'] or 'none'}"
    )
    return 0 if not result["problems"] and not result["tracebacks"] else 1


if __name__ == "__main__":
    sys.exit(main())

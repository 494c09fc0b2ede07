"""How fast the lane simulator renders: training frames per second, and the drive's step time.

    python bench/bench_lanesim.py            # 4,000 frames, 1 and all threads, a 20 s drive
    python bench/bench_lanesim.py --frames 8000

Prints frames/s for make_dataset (the target is 2,000 frames/s on 2 cores),
the closed-loop drive's milliseconds per step (camera render, no model) and
the time of the two reference drives.  Timings depend on what else runs.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chapter2.standins import lanesim  # noqa: E402


def best_of(repeats, fn):
    """Best wall-clock time of a few runs, and the process CPU time of that run."""
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--drive-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)

    n = args.frames
    lanesim.make_dataset(64)                              # warm caches (camera, texture bank)
    print(f"cpu cores: {os.cpu_count()}, numpy {np.__version__}")
    scenes = lanesim.sample_scenes(n, seed=0)
    lanesim._texture_bank(0)
    thread_counts = sorted({1, min(4, os.cpu_count() or 1)})
    for threads in thread_counts:
        t, cpu = best_of(args.repeats, lambda: lanesim.render_scenes(scenes, seed=0, threads=threads))
        print(f"render_scenes, {threads} thread(s): {n / t:8.0f} frames/s  ({n} frames in {t:.2f} s; "
              f"{n / cpu:.0f} frames per CPU-second)")
    t, cpu = best_of(args.repeats, lambda: lanesim.make_dataset(n, seed=1))
    print(f"make_dataset (default threads): {n / t:8.0f} frames/s  ({n} frames in {t:.2f} s, "
          f"labels and texture bank included; {n / cpu:.0f} frames per CPU-second)")
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print(f"note: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: "
              "other work is running, so wall-clock figures are low; frames per CPU-second "
              "times the core count estimates an idle machine")

    steps = int(args.drive_seconds * lanesim.STEP_HZ)
    t, _ = best_of(1, lambda: lanesim.drive(lambda b: np.zeros(len(b)), seconds=args.drive_seconds,
                                            record=False))
    print(f"drive, no model, no recording: {1e3 * t / steps:6.2f} ms per step "
          f"({args.drive_seconds:g} simulated s in {t:.2f} s)")
    result = {}
    t, _ = best_of(1, lambda: result.update(lanesim.drive(lambda b: np.zeros(len(b)),
                                                           seconds=args.drive_seconds)))
    print(f"drive, no model, recording frames: {1e3 * t / steps:6.2f} ms per step")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drive.gif"
        t, _ = best_of(1, lambda: lanesim.save_gif(result["frames"], path))
        size = path.stat().st_size
    print(f"save_gif: {len(result['frames'])} frames, {size / 1e6:.2f} MB "
          f"(about {size / 1e6 * 60 / args.drive_seconds:.1f} MB a simulated minute), {t:.2f} s")
    t, _ = best_of(1, lambda: lanesim.drive_references(seconds=60))
    print(f"drive_references, 60 simulated s each: {t:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The lane simulator: how fast it renders, and how saved models drive its evaluation course.

    python bench/bench_lanesim.py                    # frames/s, the drive's step time, the GIF
    python bench/bench_lanesim.py --frames 8000
    python bench/bench_lanesim.py --models runs/chapter_2_2/<stamp>/best_model.keras other.keras
                                                     # the course table: references and each model
    python bench/bench_lanesim.py --export udacity /tmp/rec --frames 2000
                                                     # simulator frames written as a recording
                                                     # (udacity, sully-chen or tub), to try --data on

Speed: frames/s for make_dataset (wall clock, and per CPU-second, which
does not depend on what else runs), the closed-loop drive's milliseconds
per step (camera render, no model), the GIF's size and the references'
time.  Models: autonomy, interventions and offsets of the ground-truth
controller, no steering and each model, on the same course, seeds and
drive length.
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


def speed(args):
    n = args.frames
    lanesim.make_dataset(64)  # warm caches (camera, texture bank)
    print(f"cpu cores: {os.cpu_count()}, numpy {np.__version__}")
    scenes = lanesim.sample_scenes(n, seed=0)
    lanesim.texture_bank(0)
    for threads in sorted({1, min(4, os.cpu_count() or 1)}):
        t, cpu = best_of(
            args.repeats, lambda: lanesim.render_scenes(scenes, seed=0, threads=threads)
        )
        print(
            f"render_scenes, {threads} thread(s): {n / t:8.0f} frames/s  ({n} frames in {t:.2f} s; "
            f"{n / cpu:.0f} frames per CPU-second)"
        )
    t, cpu = best_of(args.repeats, lambda: lanesim.make_dataset(n, seed=1))
    print(
        f"make_dataset (default threads): {n / t:8.0f} frames/s  ({n} frames in {t:.2f} s, "
        f"labels and texture bank included; {n / cpu:.0f} frames per CPU-second)"
    )

    seconds = args.drive_seconds
    steps = int(seconds * lanesim.STEP_HZ)
    t, cpu = best_of(
        1,
        lambda: lanesim.drive(lambda b: np.zeros(len(b)), seconds=seconds, record=False, log=None),
    )
    print(
        f"drive, no model, no recording: {1e3 * t / steps:6.2f} ms per step, {1e3 * cpu / steps:.2f} CPU-ms "
        f"({seconds:g} simulated s in {t:.2f} s)"
    )
    result = {}
    t, cpu = best_of(
        1,
        lambda: result.update(lanesim.drive(lambda b: np.zeros(len(b)), seconds=seconds, log=None)),
    )
    print(
        f"drive, no model, recording frames: {1e3 * t / steps:6.2f} ms per step, {1e3 * cpu / steps:.2f} CPU-ms"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drive.gif"
        t, _ = best_of(1, lambda: lanesim.save_gif(result["frames"], path))
        size = path.stat().st_size
    print(
        f"save_gif: {len(result['frames'])} frames, {size / 1e6:.2f} MB "
        f"(about {size / 1e6 * 60 / seconds:.1f} MB a simulated minute), {t:.2f} s"
    )
    t, _ = best_of(1, lambda: lanesim.drive_references(seconds=60))
    print(f"drive_references, 60 simulated s each: {t:.2f} s")


def row(name, seed, r):
    return (
        f"{name:<44} seed {seed}  autonomy {r['autonomy']:7.1f} %  interventions {r['interventions']:3d}  "
        f"mean |offset| {r['mean_abs_offset']:.3f} m  max {r['max_abs_offset']:.3f} m"
    )


def models(args):
    import keras
    import tensorflow as tf

    print(f"the evaluation course, {args.drive_seconds:g} simulated s per drive")
    for seed in args.seeds:
        for name, r in lanesim.drive_references(seed=seed, seconds=args.drive_seconds).items():
            print(row(name, seed, r))
    for path in args.models:
        model = keras.models.load_model(path)
        infer = tf.function(lambda frames: model(frames, training=False), reduce_retracing=True)
        for seed in args.seeds:
            r = lanesim.drive(
                lambda b: infer(tf.convert_to_tensor(b)).numpy(),
                seed=seed,
                seconds=args.drive_seconds,
                record=False,
                log=None,
            )
            print(row(path, seed, r))


def export(args):
    """Simulator frames (seed 5; the scripts' default is 7) written as a
    recording in another program's format, upscaled to its frame size."""
    import json

    from PIL import Image

    kind, folder = args.export
    folder = Path(folder)
    X, Y = lanesim.make_dataset(args.frames, seed=5)
    rows = []
    for i, (frame, angle) in enumerate(zip(X, Y)):
        if kind == "udacity":
            name = f"center_2024_01_01_12_00_{i:06d}.jpg"
            path, size = folder / "IMG" / name, (320, 160)
            rows.append(f"C:\\Users\\learner\\Desktop\\run\\IMG\\{name},,,{angle:.6f},0.4,0,20.1")
        elif kind == "sully-chen":
            path, size = folder / f"{i}.jpg", (455, 256)
            rows.append(f"{i}.jpg {angle * 180:.6f},2024-01-01 12:00:{i % 60:02d}:000")
        else:
            path, size = folder / "images" / f"{i}_cam_image_array_.jpg", (160, 120)
            rows.append(
                json.dumps(
                    {
                        "_index": i,
                        "cam/image_array": path.name,
                        "user/angle": float(angle),
                        "user/throttle": 0.3,
                        "user/mode": "user",
                    }
                )
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).resize(size, Image.BILINEAR).save(path, quality=90)
    listing = {"udacity": "driving_log.csv", "sully-chen": "data.txt", "tub": "catalog_0.catalog"}[
        kind
    ]
    (folder / listing).write_text("\n".join(rows) + "\n")
    if kind == "tub":
        manifest = [
            ["cam/image_array", "user/angle", "user/throttle", "user/mode"],
            ["image_array", "float", "float", "str"],
            {},
            {},
            {"paths": [listing], "current_index": len(X), "max_len": len(X), "deleted_indexes": []},
        ]
        (folder / "manifest.json").write_text("\n".join(json.dumps(m) for m in manifest) + "\n")
    print(f"wrote {len(X)} frames to {folder} as a {kind} recording")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--drive-seconds",
        type=float,
        default=None,
        help="simulated seconds per drive (default: 20 for speed, 60 for --models)",
    )
    parser.add_argument(
        "--models", nargs="+", default=None, metavar="MODEL", help="saved .keras models to drive"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[1], help="drive seeds (floor look, start point)"
    )
    parser.add_argument(
        "--export",
        nargs=2,
        metavar=("FORMAT", "FOLDER"),
        default=None,
        help="write --frames simulator frames as a udacity, sully-chen or tub recording",
    )
    args = parser.parse_args(argv)
    if args.export:
        if args.export[0] not in ("udacity", "sully-chen", "tub"):
            parser.error("--export FORMAT is udacity, sully-chen or tub")
        export(args)
    elif args.models:
        args.drive_seconds = args.drive_seconds or 60.0
        models(args)
    else:
        args.drive_seconds = args.drive_seconds or 20.0
        speed(args)
    return 0


if __name__ == "__main__":
    from chapter2.run import console

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    console.quiet()  # TensorFlow's start-up lines are not the benchmark's
    sys.exit(main())

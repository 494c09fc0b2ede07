"""Throughput and memory of the steering networks (Chapter_2_2.py, Chapter_2_3.py).

    python bench/bench_steering.py                 # everything (a few minutes on 2 cores)
    python bench/bench_steering.py --only train    # training samples/s only
    python bench/bench_steering.py --only memory   # peak memory of a chapter-sized run

Training: each variant runs in a fresh Python process (TensorFlow reads its
kernel choice and sizes its thread pools once, at start-up) and times
`--steps` optimizer steps of batch 64 after a warm-up, on random uint8
frames. All but pipeline-tf-default start with the kit's device settings
(chapter2.run.device.prepare: oneDNN kernels):

    script       what the script runs: model.fit on its tf.data pipeline
                 (below, tf.data's autotuning off) with its own JIT_COMPILE constant
    fit-f32      model.fit on in-memory float32 arrays (the plain baseline)
    fit-u8       model.fit on in-memory uint8 arrays (Rescaling in the model)
    pipeline     the scripts' tf.data pipeline: shuffled indices, frames
                 gathered as uint8 per batch, mirrored on the fly, prefetched
    pipeline-xla the same with compile(jit_compile=True)
    pipeline-t1  the same with inter-op parallelism 1 (one op at a time,
                 each using all cores)
    pipeline-tf-default  the same without the kit's device settings (what a
                 plain TensorFlow program gets: on CPUs without AVX-512,
                 TensorFlow's generic Eigen kernels)

Reported: wall-clock samples/s (median over windows of 5 steps), CPU
seconds per 1,000 samples and GFLOP/s (training counted as 3x the analytic
forward FLOPs). On a shared machine the wall figure drops with the load;
the CPU figure much less, so it is the one to compare between variants.
Last on stdout: one JSON line for the last variant measured
(train_samples_per_s: median/min/max), which the side-by-side script reads.

Memory: a chapter-sized run (8,000 simulator frames: 439 MiB of uint8
frames) in a fresh process: the peak resident memory added (above
TensorFlow's own start-up, with the model built) while simulating the data,
then while splitting, training through the pipeline (20 steps), validating
and predicting the test split, against 2x the raw frame bytes; and the part
of it that is numpy arrays (tracemalloc), the rest being TensorFlow's
buffers for one batch's activations and gradients.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from childproc import measure_in_child

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = (
    "script",
    "fit-f32",
    "fit-u8",
    "pipeline",
    "pipeline-xla",
    "pipeline-t1",
    "pipeline-tf-default",
)
WINDOW = 5  # steps per timing window


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def current_rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def train_variant(script, variant, steps, warmup):
    """In this process: time `steps` training steps of one variant; print JSON."""
    sys.path.insert(0, str(ROOT))
    from chapter2.run import console

    console.quiet()  # TensorFlow's start-up lines are not the benchmark's
    if variant != "pipeline-tf-default":
        from chapter2.run import device

        device.prepare()
    import tensorflow as tf

    if variant.endswith("-t1"):
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import importlib

    import numpy as np

    from chapter2.doctor import forward_flops
    from chapter2.steering import pipeline

    mod = importlib.import_module(script)
    model = mod.build_model()  # the script's own network, with its constants
    jit = variant.endswith("-xla") or (
        variant == "script" and bool(getattr(mod, "JIT_COMPILE", False))
    )
    model.compile(optimizer="adam", loss="mean_squared_error", jit_compile=jit)
    batch = mod.BATCH_SIZE
    n = batch * (steps + warmup)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n,) + model.input.shape[1:], dtype=np.uint8)
    Y = rng.uniform(-1, 1, n).astype(np.float32)

    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.marks = []

        def on_train_batch_end(self, b, logs=None):
            if b >= warmup - 1 and (b - warmup + 1) % WINDOW == 0:
                self.marks.append(time.perf_counter())
            if b == warmup - 1:
                self.t0, self.c0 = time.perf_counter(), cpu_seconds()

        def on_train_end(self, logs=None):
            self.wall, self.cpu = time.perf_counter() - self.t0, cpu_seconds() - self.c0

    timer = StepTimer()
    if variant.startswith("fit"):
        x = X.astype(np.float32) if variant == "fit-f32" else X
        model.fit(x, Y, batch_size=batch, epochs=1, shuffle=True, callbacks=[timer], verbose=0)
    else:
        half = np.arange(n // 2)  # mirrored copies make up the other half
        ds, total = pipeline.batches(X, Y, half, batch, mirror=True, shuffle=True)
        # as the scripts call it
        model.fit(ds, epochs=1, shuffle=False, callbacks=[timer], verbose=0)
    samples = batch * steps
    windows = sorted(WINDOW * batch / (b - a) for a, b in zip(timer.marks, timer.marks[1:]))
    rate = samples / timer.wall
    median = statistics.median(windows) if windows else rate
    flops = forward_flops(model)
    print(
        json.dumps(
            {
                "script": script,
                "variant": variant,
                "jit_compile": jit,
                "samples_per_s": rate,
                "train_samples_per_s": {
                    "median": round(median, 2),
                    "min": round(min(windows or [rate]), 2),
                    "max": round(max(windows or [rate]), 2),
                    "n": len(windows),
                },
                "train_samples_per_cpu_s": round(samples / timer.cpu, 2),
                "cpu_s_per_1000": 1000 * timer.cpu / samples,
                "flops_fwd_per_sample": flops,
                "train_gflops_per_s": round(3 * flops * median / 1e9, 2),
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
            }
        )
    )


def reset_peak_rss():
    """Start a new peak-memory measurement (Linux: clear_refs 5 resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_rss_since_reset_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return peak_rss_mb()


def memory_run(frames, steps):
    """In this process: peak memory of a chapter-sized data set through the script's steps."""
    import tracemalloc

    sys.path.insert(0, str(ROOT))
    from chapter2.run import console

    console.quiet()  # TensorFlow's start-up lines are not the benchmark's
    import numpy as np

    import Chapter_2_2
    from chapter2.data import driving
    from chapter2.steering import pipeline

    model = Chapter_2_2.build_model()
    model.compile(optimizer="adam", loss="mean_squared_error")
    # TensorFlow's own start-up memory
    model.predict(np.zeros((2, 120, 160, 3), np.uint8), verbose=0)
    base = current_rss_mb()
    reset_peak_rss()
    tracemalloc.start()
    X, Y, info = driving.load(None, sim_frames=frames, sim_seed=0, log=lambda *a: None)
    raw_mb = X.nbytes / 2**20
    load_peak = peak_rss_since_reset_mb() - base
    sim_numpy_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.reset_peak()
    reset_peak_rss()
    order = np.random.default_rng(0).permutation(len(X))  # the scripts' 80/10/10 split
    test, val, train = np.split(order, [len(X) // 10, len(X) // 5])
    ds, total = pipeline.batches(X, Y, train, 64, mirror=True, shuffle=True)
    model.fit(
        ds.take(steps),
        epochs=1,
        validation_data=pipeline.batches(X, Y, np.sort(val), 64)[0],
        shuffle=False,
        verbose=0,
    )
    model.predict(pipeline.batches(X, Y, np.sort(test), 64)[0], verbose=0)
    train_peak = peak_rss_since_reset_mb() - base
    train_numpy_peak = tracemalloc.get_traced_memory()[1] / 2**20
    print(
        json.dumps(
            {
                "frames": len(X),
                "raw_frame_mb": raw_mb,
                "rss_before_data_mb": base,
                "peak_added_loading_mb": load_peak,
                "peak_added_training_mb": train_peak,
                "ratio_to_raw": max(load_peak, train_peak) / raw_mb,
                "numpy_peak_loading_mb": sim_numpy_peak,
                "numpy_peak_training_mb": train_numpy_peak,
            }
        )
    )


def child(args):
    return measure_in_child(__file__, args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("train", "memory"), default=None)
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma list of " + ", ".join(VARIANTS)
    )
    parser.add_argument("--scripts", default="Chapter_2_2,Chapter_2_3")
    parser.add_argument(
        "--steps", type=int, default=20, help="timed steps per variant (2_3 uses half)"
    )
    parser.add_argument("--frames", type=int, default=8000, help="frames for the memory run")
    parser.add_argument("--_train", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--_memory", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._train:
        script, variant, steps, warmup = args._train
        return train_variant(script, variant, int(steps), int(warmup))
    if args._memory:
        return memory_run(*args._memory)

    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start "
        "(figures drop with other work on the machine)"
    )
    last = None
    if args.only in (None, "train"):
        unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
        if unknown:
            parser.error(
                f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}"
            )
        print(
            f"{'network':<12} {'variant':<20} {'samples/s':>10} {'CPU s/1000':>11} {'GFLOP/s':>8}"
        )
        for script in args.scripts.split(","):
            steps = args.steps if script == "Chapter_2_2" else max(4, args.steps // 2)
            for variant in args.variants.split(","):
                r = last = child(["--_train", script, variant, str(steps), "3"])
                print(
                    f"{script:<12} {variant:<20} {r['train_samples_per_s']['median']:>10.1f} "
                    f"{r['cpu_s_per_1000']:>11.1f} {r['train_gflops_per_s']:>8.2f}",
                    flush=True,
                )
    if args.only in (None, "memory"):
        r = child(["--_memory", str(args.frames), "20"])
        print(
            f"memory, {r['frames']} simulator frames ({r['raw_frame_mb']:.0f} MiB of uint8 frames), peak "
            f"resident memory above TensorFlow's own start-up: {r['peak_added_loading_mb']:.0f} MiB while "
            f"simulating, {r['peak_added_training_mb']:.0f} MiB while training and testing: "
            f"{r['ratio_to_raw']:.2f}x the raw frames (target < 2x); of which numpy arrays (tracemalloc) "
            f"{r['numpy_peak_loading_mb']:.0f} and {r['numpy_peak_training_mb']:.0f} MiB"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if last is not None:
        print(json.dumps(dict(last, bench=last["script"], impl="project")))


if __name__ == "__main__":
    main()

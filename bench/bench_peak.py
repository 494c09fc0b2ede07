"""The machine's peak float32 arithmetic rate as TensorFlow reaches it: a large matmul.

    python bench/bench_peak.py                # 2048 x 2048 float32 matmuls, best of 10 runs
    python bench/bench_peak.py --size 4096 --repeat 5

A square matmul of n x n matrices does 2 n^3 floating-point operations and
keeps every core's vector units busy: the practical ceiling for the training
figures (GFLOP/s) the other benchmarks report. Prints the CPU model, its
vector extensions (from /proc/cpuinfo) and the best rate, with the kit's
device settings (oneDNN kernels). The best run, not the median, because
other work on the machine only ever lowers the figure.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chapter2.run import console  # noqa: E402

console.quiet()  # TensorFlow's start-up lines are not the benchmark's
from chapter2.run import device  # noqa: E402

device.prepare()

from chapter2.doctor import cpu_model  # noqa: E402


def cpu_flags():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [
                    f
                    for f in (
                        "sse4_2",
                        "avx",
                        "avx2",
                        "fma",
                        "avx512f",
                        "avx512_vnni",
                        "avx512_bf16",
                        "amx_tile",
                    )
                    if f in have
                ]
    except OSError:
        pass
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of --inner matmuls each")
    parser.add_argument("--inner", type=int, default=10)
    args = parser.parse_args()
    import tensorflow as tf

    n = args.size
    a = tf.random.uniform((n, n), dtype=tf.float32)
    b = tf.random.uniform((n, n), dtype=tf.float32)

    @tf.function
    def chain(a, b):
        c = a
        for _ in range(args.inner):
            c = tf.matmul(c, b) * (1.0 / n)  # scaled so the values stay finite
        return c

    chain(a, b).numpy()
    rates = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        chain(a, b).numpy()
        rates.append(2 * n**3 * args.inner / (time.perf_counter() - t0) / 1e9)
    best = max(rates)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, {' '.join(cpu_flags())}")
    print(
        f"float32 matmul {n}x{n}, TensorFlow {tf.__version__} (oneDNN {device.onednn_state()}): "
        f"best {best:.1f} GFLOP/s, median {sorted(rates)[len(rates) // 2]:.1f} GFLOP/s over {len(rates)} runs"
    )
    print(
        json.dumps(
            {
                "bench": "peak_matmul",
                "size": n,
                "best_gflops_per_s": round(best, 1),
                "all_gflops_per_s": [round(r, 1) for r in rates],
                "cpu": cpu_model(),
                "cores": os.cpu_count(),
                "flags": cpu_flags(),
            }
        )
    )


if __name__ == "__main__":
    main()

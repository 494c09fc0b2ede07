"""How long the offline stand-in digits take to generate (60,000 train + 10,000 test).

Run: python bench/bench_digits.py [--seed 7] [--repeat 3]
Prints the wall-clock and CPU time of each repeat and the best wall time, on
the machine it runs on (the rendering uses up to 4 threads).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from chapter2.standins.digits import synthetic_mnist  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--test", type=int, default=10000)
    args = parser.parse_args(argv)
    synthetic_mnist(args.seed, 100, 100)  # warm-up: builds the stroke tables once
    times = []
    for i in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        (x_train, _), (x_test, _) = synthetic_mnist(args.seed, args.train, args.test)
        times.append(time.perf_counter() - start)
        cpu = time.process_time() - cpu
        n = len(x_train) + len(x_test)
        print(
            f"run {i + 1}: {n:,} images in {times[-1]:.2f} s wall, {cpu:.2f} s CPU "
            f"(all threads), {n / times[-1]:,.0f} images/s"
        )
    print(
        f"best: {min(times):.2f} s for {args.train:,} + {args.test:,} images "
        f"on {os.cpu_count()} CPU core(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

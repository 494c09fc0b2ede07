"""Chapter_2_4's training: plain model.fit against fastfit (one graph per epoch).

Run:
    python bench/bench_alphabet.py                      # speed: 500 epochs x 25 steps of batch 1, each way
    python bench/bench_alphabet.py --epochs 100         # shorter (first-epoch tracing then weighs more)
    python bench/bench_alphabet.py --repeat 3           # three rounds, best of each kept (for a busy machine)
    python bench/bench_alphabet.py --accuracy --seeds 1,2,3,4,5   # accuracy of both ways over seeds

Speed compares the same 12,500 optimizer steps (batch 1, shuffled every
epoch) of the chapter's model (LSTM(32) -> Dense(26), adam):
  listing fit    the listing as printed: LSTM without unroll, model.fit
  unrolled fit   the script's model (unroll=True, same maths), model.fit
  fastfit        the script's model, chapter2.models.epoch_fit (one graph per epoch)
  fastfit + cbs  the same with the script's callbacks (NaN guard, backup
                 every 25 epochs, history.csv, TensorBoard) in a temp folder
Each line gives wall-clock and CPU seconds (CPU: all threads of this
process, less disturbed than wall time when others use the machine) and
the 1-minute load average before and after. Times include the first epoch's
graph tracing, as a real run pays it.

Accuracy trains the listing's plain fit and the script's fastfit path for
each seed and prints the accuracy on the 25 pairs, so the two distributions
can be compared.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import Chapter_2_4 as ch  # noqa: E402
from chapter2.models import epoch_fit  # noqa: E402
from chapter2.run import runfolder  # noqa: E402


def chapter_data():
    data_x, data_y = ch.make_pairs(1, verbose=False)
    return ch.encode(data_x), ch.one_hot(data_y), np.asarray(data_y)


def script_callbacks(folder):
    return [runfolder.EpochGuard(),
            runfolder.PeriodicBackupAndRestore(os.path.join(folder, "backup"), every=25, double_checkpoint=True),
            keras.callbacks.CSVLogger(os.path.join(folder, "history.csv"), append=True),
            keras.callbacks.TensorBoard(log_dir=os.path.join(folder, "logs"), profile_batch=0)]


def train(way, seed, epochs, x, y, folder=None):
    """Train the chapter's model one way; return (wall s, CPU s, model)."""
    keras.utils.set_random_seed(seed)
    model = ch.build_model(x.shape[1:], unroll=(way != "listing fit"))
    wall, cpu = time.perf_counter(), time.process_time()
    if way in ("listing fit", "unrolled fit"):
        model.fit(x, y, epochs=epochs, batch_size=1, shuffle=True, verbose=0)
    else:
        callbacks = script_callbacks(folder) if way == "fastfit + cbs" else None
        epoch_fit.fit(model, x, y, epochs=epochs, batch_size=1, shuffle=True, verbose=0, callbacks=callbacks)
    return time.perf_counter() - wall, time.process_time() - cpu, model


def accuracy(model, x, labels):
    return float(np.mean(np.asarray(model(x, training=False)).argmax(axis=1) == labels))


def speed(args):
    x, y, labels = chapter_data()
    steps = args.epochs * len(x)
    print(f"{args.epochs} epochs x {len(x)} steps of batch 1 = {steps:,} optimizer steps; "
          f"{os.cpu_count()} CPU cores; seed {args.seed}; {args.repeat} round(s), the ways taking turns")
    results = {}
    ways = args.ways.split(",")
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.repeat):
            for way in ways:
                load = os.getloadavg()[0]
                wall, cpu, model = train(way, args.seed, args.epochs, x, y, os.path.join(folder, str(round_)))
                results.setdefault(way, []).append((wall, cpu))
                print(f"{way:14s} {wall:7.2f} s wall {cpu:7.2f} s CPU  {steps / wall:7.0f} steps/s  "
                      f"accuracy {accuracy(model, x, labels) * 100:5.1f}%  "
                      f"load {load:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    best = {way: (min(w for w, _ in runs_), min(c for _, c in runs_)) for way, runs_ in results.items()}
    base = ways[0]
    for way in ways[1:]:
        print(f"{way} vs {base} (best of {args.repeat}): {best[base][0]:.1f} s -> {best[way][0]:.1f} s wall "
              f"({best[base][0] / best[way][0]:.1f}x), {best[base][1]:.1f} s -> {best[way][1]:.1f} s CPU "
              f"({best[base][1] / best[way][1]:.1f}x)")


def accuracies(args):
    x, y, labels = chapter_data()
    seeds = [int(s) for s in args.seeds.split(",")]
    ways = args.ways.split(",")
    table = {way: [] for way in ways}
    for seed in seeds:
        row = []
        for way in ways:
            wall, _, model = train(way, seed, args.epochs, x, y)
            table[way].append(accuracy(model, x, labels))
            row.append(f"{way} {table[way][-1] * 100:5.1f}% ({wall:.0f} s)")
        print(f"seed {seed}: " + "  ".join(row), flush=True)
    for way in ways:
        acc = np.array(table[way]) * 100
        print(f"{way:14s} mean {acc.mean():5.1f}%  min {acc.min():5.1f}%  max {acc.max():5.1f}%  "
              f"over seeds {seeds}: {', '.join(f'{a:.0f}' for a in acc)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the speed comparison (best kept)")
    parser.add_argument("--accuracy", action="store_true", help="compare accuracy over --seeds instead of speed")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--ways", default=None,
                        help="comma list of: listing fit, unrolled fit, fastfit, fastfit + cbs")
    args = parser.parse_args(argv)
    if args.ways is None:
        args.ways = ("listing fit,fastfit" if args.accuracy
                     else "listing fit,unrolled fit,fastfit,fastfit + cbs")
    (accuracies if args.accuracy else speed)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

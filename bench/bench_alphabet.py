"""Chapter_2_4 end to end, against the printed listing's plain model.fit.

Run:
    python bench/bench_alphabet.py                                  # the script's default run, timed
    python bench/bench_alphabet.py --listing PATH --rounds 3        # taking turns with a port of the listing
    python bench/bench_alphabet.py --epochs 100                     # shorter runs of both
    python bench/bench_alphabet.py --accuracy --seeds 1,2,3         # accuracy: epoch_fit against model.fit
    python bench/bench_alphabet.py --accuracy --ways epoch_fit      # accuracy of the script's default run only
    python bench/bench_alphabet.py --trainers --rounds 3            # the training call alone, three ways

Speed runs ``python Chapter_2_4.py`` as a learner would (a fresh process,
its own run folder, every callback: history.csv, TensorBoard scalars, resume
points every BACKUP_EVERY epochs, the console lines) and reads from its
metrics.json ``fit_seconds``: the wall time of the whole training call, the
callbacks' work included. ``--listing PATH`` runs a script that prints one
JSON line with ``fit_wall_s`` last (a Keras 3 port of the printed listing:
``model.fit(X, y, epochs=500, batch_size=1)``), in turns with the script, so
that a busy machine slows both alike; each round prints both and their
ratio, and the summary gives the median ratio of the rounds:

    listing fit / script fit          the training call against the listing's (the headline)
    listing process / script process  whole processes, Python start to exit

The last line is one JSON object (``fit_wall_s``: the script's median fit
seconds) for scripts that collect benchmark results.

``--trainers`` times the training call alone (500 epochs of the script's
network, no callbacks) three ways, each in a fresh process, taking turns:
``fit`` as the listing calls it (arrays, batch 1), ``fit-spe`` (a tf.data
dataset and ``compile(steps_per_execution=25)``: an epoch's 25 steps per
call) and ``epoch_fit`` (the script's default), with each one's speed-up
over ``fit``.

Accuracy trains the script with and without ``--no-fast-fit`` (the listing's
plain model.fit) for each seed and prints the accuracy on the 25 pairs, so the
two distributions can be compared.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_script(folder, *flags):
    """Chapter_2_4.py in a fresh process; (process seconds, its metrics.json)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "Chapter_2_4.py"), "--run-dir", str(folder), *flags],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"Chapter_2_4.py failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return seconds, json.loads((Path(folder) / "metrics.json").read_text())


def run_listing(path, epochs):
    """The listing's port in a fresh process; (process seconds, its JSON line)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(path), "--epochs", str(epochs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(path).parent,
    )
    seconds = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{path} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return seconds, json.loads(lines[-1])


def speed(args):
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            load = os.getloadavg()[0]
            process, record = run_script(Path(tmp) / f"run{n}", *epochs)
            fit = record["metrics"]["fit_seconds"]
            row = {
                "script_fit": fit,
                "script_process": process,
                "epochs": record["timing"]["epochs"],
                "accuracy": record["metrics"]["accuracy"],
            }
            line = (
                f"round {n + 1}: script {row['epochs']} epochs: fit {fit:.2f} s, process {process:.2f} s, "
                f"accuracy {row['accuracy']:.0%}"
            )
            if args.listing:
                l_process, result = run_listing(args.listing, args.epochs or row["epochs"])
                row.update(listing_fit=result["fit_wall_s"], listing_process=l_process)
                line += (
                    f" | listing: fit {result['fit_wall_s']:.2f} s, process {l_process:.2f} s | "
                    f"fit {result['fit_wall_s'] / fit:.1f}x, process {l_process / process:.1f}x"
                )
            print(line + f"  (load {load:.1f} -> {os.getloadavg()[0]:.1f})", flush=True)
            rows.append(row)
    summary = {
        "bench": "2_4_alphabet",
        "impl": "project",
        "rounds": len(rows),
        "fit_wall_s": round(statistics.median(r["script_fit"] for r in rows), 3),
        "process_wall_s": round(statistics.median(r["script_process"] for r in rows), 3),
    }
    if args.listing:
        for kind in ("fit", "process"):
            ratios = [r[f"listing_{kind}"] / r[f"script_{kind}"] for r in rows]
            summary[f"{kind}_ratio_median"] = round(statistics.median(ratios), 2)
            summary[f"{kind}_ratios"] = [round(r, 2) for r in ratios]
        print(
            f"median over {len(rows)} rounds: listing fit / script fit {summary['fit_ratio_median']}x, "
            f"listing process / script process {summary['process_ratio_median']}x"
        )
    print(json.dumps(summary), flush=True)


def train_once(way, epochs):
    """In this process: train Chapter_2_4's network `way` for `epochs`; print its seconds as JSON."""
    sys.path.insert(0, str(ROOT))
    from chapter2.run import console

    console.quiet()  # TensorFlow's start-up lines are not the benchmark's
    from chapter2.run import device

    device.prepare()
    import keras
    import tensorflow as tf

    import Chapter_2_4 as ch
    from chapter2.run import epoch_fit

    keras.utils.set_random_seed(7)
    pairs, letters = ch.make_pairs(verbose=False)
    x, y = ch.encode(pairs), keras.utils.to_categorical(letters, num_classes=26)
    model = ch.build_model(x.shape[1:])
    start = time.perf_counter()
    if way == "fit":
        model.fit(x, y, epochs=epochs, batch_size=1, verbose=0)
    elif way == "fit-spe":
        model.compile(
            loss="categorical_crossentropy",
            optimizer="adam",
            metrics=["accuracy"],
            steps_per_execution=len(x),
        )
        data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=7).batch(1)
        model.fit(data, epochs=epochs, verbose=0)
    else:
        epoch_fit.fit(model, x, y, epochs=epochs, batch_size=1)
    print(json.dumps({"way": way, "seconds": time.perf_counter() - start}))


def trainers(args):
    from childproc import measure_in_child

    epochs = args.epochs or 500
    ways = ("fit", "fit-spe", "epoch_fit")
    times = {way: [] for way in ways}
    for n in range(args.rounds):
        for way in ways:
            times[way].append(
                measure_in_child(__file__, ["--_train", way, "--epochs", epochs])["seconds"]
            )
        print(f"round {n + 1}: " + ", ".join(f"{w} {times[w][-1]:.2f} s" for w in ways), flush=True)
    median = {w: statistics.median(v) for w, v in times.items()}
    print(
        f"median over {args.rounds} rounds of {epochs} epochs: "
        + ", ".join(f"{w} {median[w]:.2f} s ({median['fit'] / median[w]:.1f}x fit)" for w in ways)
    )
    print(json.dumps({"bench": "2_4_trainers", "epochs": epochs, "median_s": median}), flush=True)


def accuracies(args):
    seeds = [int(s) for s in args.seeds.split(",")]
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    ways = {"epoch_fit": [], "model.fit": ["--no-fast-fit"]}
    ways = {way: ways[way] for way in args.ways.split(",")}
    table = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            row = []
            for way, flags in ways.items():
                _, record = run_script(
                    Path(tmp) / f"{way}-{seed}", "--seed", str(seed), *epochs, *flags
                )
                table[way].append(record["metrics"]["accuracy"] * 100)
                row.append(
                    f"{way} {table[way][-1]:5.1f}% ({record['metrics']['fit_seconds']:.0f} s)"
                )
            print(f"seed {seed}: " + "  ".join(row), flush=True)
    for way, values in table.items():
        print(
            f"{way:10s} mean {statistics.fmean(values):5.1f}%  min {min(values):5.1f}%  max {max(values):5.1f}%  "
            f"over seeds {seeds}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs of both (default: the script's 500)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds, the script and the listing taking turns"
    )
    parser.add_argument(
        "--listing",
        type=Path,
        default=None,
        help="a port of the printed listing that prints a JSON line with fit_wall_s",
    )
    parser.add_argument(
        "--accuracy", action="store_true", help="compare accuracy over --seeds instead of speed"
    )
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument(
        "--ways", default="epoch_fit,model.fit", help="for --accuracy: epoch_fit, model.fit or both"
    )
    parser.add_argument(
        "--trainers", action="store_true", help="time the training call alone, three ways"
    )
    parser.add_argument("--_train", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._train:
        train_once(args._train, args.epochs or 500)
        return 0
    (accuracies if args.accuracy else trainers if args.trainers else speed)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

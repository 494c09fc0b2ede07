"""The scripts' training paths against the listings' Keras 3 ports and PyTorch, in one run.

    python bench/side_by_side.py                          # 2 rounds, every model, default sizes
    python bench/side_by_side.py --rounds 3 --only ae
    python bench/side_by_side.py --ae-samples 3200 --ae-epochs 3 --steps 20 \\
        --pilotnet-frames 400 --lesspool-frames 200 --alphabet-epochs 200

Each round trains every model on each side in turn, each in a fresh Python
process, so that whatever else the machine is doing slows all sides alike;
the sides take turns going first from one round to the next. The sides:

  project   the scripts' own training paths: bench/bench_autoencoder.py
            --variants script, bench/bench_steering.py --only train
            --variants script (Chapter_2_2, Chapter_2_3), bench/bench_alphabet.py
  listing   the printed listings on Keras 3, only what no longer runs fixed
            (bench/listings/): what a reader gets by typing them in
  pytorch   PyTorch CPU ports of the convolutional networks
            (bench/torch_ports/); skipped when PyTorch is not installed
            (pip install -r requirements-bench.txt)

Every side trains the same network with the same batch size and optimizer on
data of the same shapes. The convolutional models are compared in training
samples per second (median over the timed epochs or windows, the first epoch
or the warm-up left out) and in training samples per CPU-second (all of a
process's threads: the steadier figure when other work shares the machine);
the alphabet LSTM in seconds of its whole
training call (the script's: 500 epochs with every callback; the listing's:
model.fit(epochs=500, batch_size=1, verbose=2)). A ratio above 1 means the
project is faster. Every child starts without TF_ENABLE_ONEDNN_OPTS, so each
side gets the kernels it chooses itself (the project's scripts set it; the
listings get TensorFlow's default).

Prints one line per measurement as it finishes, then two Markdown tables of
the values and ratios per model and round (per second, per CPU-second), the
median ratios per model, and last one JSON line with everything. Exits 1 if
any measurement failed (its log names why).
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
MODELS = ("ae", "pilotnet", "lesspool", "alphabet")
SIDES = ("project", "listing", "pytorch")
LABELS = {
    "ae": "2_1 autoencoder",
    "pilotnet": "2_2 steering CNN",
    "lesspool": "2_3 fewer pools",
    "alphabet": "2_4 alphabet LSTM",
}


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one `error: ...` line and exit status 2."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def parse_args(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive, default=2)
    parser.add_argument(
        "--only", default=",".join(MODELS), help="comma list of " + ", ".join(MODELS)
    )
    parser.add_argument("--ae-samples", type=positive, default=12800, help="2_1: training digits")
    parser.add_argument("--ae-epochs", type=positive, default=4, help="2_1: epochs (first untimed)")
    parser.add_argument(
        "--steps",
        type=positive,
        default=40,
        help="project's 2_2: timed steps of 64 (2_3: half, at least 4)",
    )
    parser.add_argument(
        "--pilotnet-frames",
        type=positive,
        default=800,
        help="listing 2_2: frames (an epoch trains on 1.6x that many)",
    )
    parser.add_argument(
        "--lesspool-frames",
        type=positive,
        default=400,
        help="listing 2_3: frames (an epoch trains on 1.6x that many)",
    )
    parser.add_argument(
        "--conv-epochs",
        type=positive,
        default=4,
        help="2_2 and 2_3 listing and PyTorch ports: epochs (first untimed)",
    )
    parser.add_argument("--alphabet-epochs", type=positive, default=500)
    parser.add_argument(
        "--torch-python",
        default=sys.executable,
        help="the Python that runs the PyTorch ports (default: this one)",
    )
    parser.add_argument(
        "--torch-threads",
        type=positive,
        default=None,
        help="PyTorch's intra-op threads (default: PyTorch's own choice)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch ports")
    parser.add_argument(
        "--logs",
        type=Path,
        default=None,
        help="write every child's output to this folder (default: a new temporary folder)",
    )
    args = parser.parse_args(argv)
    args.only = [m for m in args.only.split(",") if m]
    unknown = sorted(set(args.only) - set(MODELS))
    if unknown or not args.only:
        parser.error(
            f"--only: unknown model(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(MODELS)}"
        )
    if args.ae_epochs < 2 or args.conv_epochs < 2:
        parser.error("--ae-epochs and --conv-epochs must be at least 2 (the first is not timed)")
    return args


def commands(args):
    """{model: {side: argv}} for this run's sizes."""
    py, tpy = sys.executable, args.torch_python
    threads = f" --threads {args.torch_threads}" if args.torch_threads else ""
    ae = f"--samples {args.ae_samples} --epochs {args.ae_epochs}"
    ae_val = max(128, args.ae_samples // 6)
    pn_train = 2 * int(args.pilotnet_frames * 0.8)  # the listing's 80% split, mirrored
    lp_frames = args.lesspool_frames
    lp_train = 2 * int(lp_frames * 0.8)
    ce = f"--epochs {args.conv_epochs}"
    steering = f"bench/bench_steering.py --only train --variants script --steps {args.steps}"
    torch_pn = "bench/torch_ports/torch_2_2_pilotnet.py"
    listings = "bench/listings"
    table = {
        "ae": {
            "project": f"bench/bench_autoencoder.py {ae} --variants script",
            "listing": f"bench/listings/listing_2_1_autoencoder.py {ae} --val-samples {ae_val}",
            "pytorch": f"bench/torch_ports/torch_2_1_autoencoder.py {ae}{threads}",
        },
        "pilotnet": {
            "project": f"{steering} --scripts Chapter_2_2",
            "listing": f"{listings}/listing_2_2_pilotnet.py --samples {args.pilotnet_frames} {ce}",
            "pytorch": f"{torch_pn} --samples {pn_train} {ce} --pooling 111 --dropout 0.2{threads}",
        },
        "lesspool": {
            "project": f"{steering} --scripts Chapter_2_3",
            "listing": f"{listings}/listing_2_3_fewer_pools.py --samples {lp_frames} {ce}",
            "pytorch": f"{torch_pn} --samples {lp_train} {ce} --pooling 100 --dropout 0.5{threads}",
        },
        "alphabet": {
            "project": f"bench/bench_alphabet.py --epochs {args.alphabet_epochs}",
            "listing": f"bench/listings/listing_2_4_alphabet.py --epochs {args.alphabet_epochs}",
        },
    }
    return {
        model: {side: [tpy if side == "pytorch" else py, *line.split()] for side, line in t.items()}
        for model, t in table.items()
        if model in args.only
    }


def torch_available(python):
    try:
        return (
            subprocess.run(
                [python, "-c", "import torch"], check=False, capture_output=True, timeout=120
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def measure(argv, log_path):
    """Run one side in a fresh process; (its last JSON line or None, wall seconds, failure)."""
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="-1",
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
    )
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # each side chooses its own kernels
    start = time.perf_counter()
    proc = subprocess.run(argv, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log_path.write_text(
        f"$ {' '.join(argv)}\n# exit {proc.returncode}, {wall:.1f} s\n"
        f"{proc.stdout}\n# stderr\n{proc.stderr}"
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return None, wall, f"failed (exit {proc.returncode}): {last[:160]}"
    return json.loads(lines[-1]), wall, None


def value_of(model, record):
    """Samples/s for the convolutional models, fit seconds for the alphabet."""
    if model == "alphabet":
        return record.get("fit_wall_s")
    return (record.get("train_samples_per_s") or {}).get("median")


def cpu_value_of(model, record):
    """Training samples per CPU-second (all the process's threads), where the side reports it."""
    if model == "alphabet":
        return None
    value = record.get("train_samples_per_cpu_s")
    return value.get("median") if isinstance(value, dict) else value


def speed_ratio(model, project, other):
    """How many times faster the project is than the other side (None if either is missing)."""
    if not project or not other:
        return None
    return other / project if model == "alphabet" else project / other


def fmt(value, model):
    if value is None:
        return "-"
    return f"{value:.2f} s" if model == "alphabet" else f"{value:,.0f}"


def fmt_ratio(ratio):
    return "-" if ratio is None else f"{ratio:.2f}x"


def print_table(results, sides, key, title):
    """A Markdown table of one figure per side and the project's ratios, per model and round."""
    print(f"{title}; a ratio is how many times faster the project is.")
    prefix = "cpu " if key == "cpu" else ""
    others = [side for side in sides if side != "project"]
    header = ["model", "round", *sides, *(f"project/{other}" for other in others)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in results:
        if key == "cpu" and row["model"] == "alphabet":
            continue
        cells = [LABELS[row["model"]], str(row["round"])]
        cells += [fmt(row[key].get(side), row["model"]) for side in sides]
        cells += [fmt_ratio(row.get(f"{prefix}project/{other}")) for other in others]
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    args = parse_args(argv)
    table = commands(args)
    sides = list(SIDES)
    if args.no_torch:
        sides.remove("pytorch")
        print("PyTorch ports: skipped (--no-torch)")
    elif not torch_available(args.torch_python):
        sides.remove("pytorch")
        print(
            f"PyTorch ports: skipped, no torch for {args.torch_python} "
            "(optional: pip install -r requirements-bench.txt)"
        )
    logs = args.logs or Path(tempfile.mkdtemp(prefix="side_by_side-"))
    logs.mkdir(parents=True, exist_ok=True)
    print(
        f"{os.cpu_count()} CPUs; {args.rounds} round(s) of {', '.join(args.only)}; "
        f"sides {', '.join(sides)}; logs in {logs}",
        flush=True,
    )

    results = []  # one dict per model and round
    for rnd in range(1, args.rounds + 1):
        shift = (rnd - 1) % len(sides)
        order = sides[shift:] + sides[:shift]  # the sides take turns going first
        for model, by_side in table.items():
            row = {"model": model, "round": rnd, "values": {}, "cpu": {}}
            for side in order:
                if side not in by_side:
                    continue
                log = logs / f"{model}.{side}.round{rnd}.log"
                record, wall, failure = measure(by_side[side], log)
                if failure:
                    print(f"round {rnd}  {model:<9} {side:<8} {failure}  (log: {log})", flush=True)
                    row["values"][side] = None
                    continue
                value, cpu = value_of(model, record), cpu_value_of(model, record)
                row["values"][side], row["cpu"][side] = value, cpu
                unit = "of training" if model == "alphabet" else "samples/s"
                per_cpu = f", {cpu:,.0f} per CPU-second" if cpu else ""
                print(
                    f"round {rnd}  {model:<9} {side:<8} {fmt(value, model):>10} {unit}{per_cpu}"
                    f"  (process {wall:.1f} s)",
                    flush=True,
                )
            for other in ("listing", "pytorch"):
                project = row["values"].get("project")
                row[f"project/{other}"] = speed_ratio(model, project, row["values"].get(other))
                cpu = row["cpu"].get("project")
                row[f"cpu project/{other}"] = speed_ratio(model, cpu, row["cpu"].get(other))
            results.append(row)

    print()
    print_table(results, sides, "values", "Samples/s (2_4: seconds of training)")
    print()
    print_table(results, sides, "cpu", "Samples per CPU-second (all of a process's threads)")
    medians = {}
    for model in table:
        for key in ("project/listing", "project/pytorch"):
            for prefix in ("", "cpu "):
                ratios = [r[prefix + key] for r in results if r["model"] == model]
                ratios = [x for x in ratios if x is not None]
                if ratios:
                    medians.setdefault(model, {})[prefix + key] = round(
                        statistics.median(ratios), 3
                    )
    print()
    for model, ratios in medians.items():
        text = ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
        print(f"median over rounds, {LABELS[model]}: {text}")
    summary = {
        "bench": "side_by_side",
        "rounds": args.rounds,
        "sides": sides,
        "commands": {m: {s: " ".join(a[1:]) for s, a in t.items()} for m, t in table.items()},
        "results": results,
        "median_ratios": medians,
    }
    print(json.dumps(summary))
    failed = any(v is None for r in results for v in r["values"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Every script's smoke run, one after another, and a table of what they did.

    python -m chapter2.tour            # all five --quick runs (a few minutes on 2 cores)
    python -m chapter2.tour 2_1 2_4    # some of them

Each script runs as a learner would run it (``python Chapter_2_N.py --quick``,
offline, its run folder under runs/). The table gives the seconds it took,
its headline figure and its run folder; the exit status is 1 if any failed.
A smoke run's figures check that the script works; they are not results.
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from chapter2.run import hparams

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {
    "2_1": ["--quick", "--offline"],
    "2_2": ["--quick"],
    "2_3": ["--quick"],
    "2_4": ["--quick"],
    "2_5": ["--quick"],
}


def headline(record):
    """The script's headline figure (the compare command's), as text."""
    name = hparams.HEADLINE.get(record.get("script"))
    value = hparams.headline(record).get(name)
    if value is None:
        return "-"
    return f"{name} {value:.1%}" if "accuracy" in name else f"{name} {value:.4f}"


def run_one(name, args):
    script = ROOT / f"Chapter_{name}.py"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), *args, "--name", "tour"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    found = re.search(r"^run folder: (.+)$", proc.stdout, re.M)
    folder = found.group(1).strip() if found else "-"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {
            "script": script.name,
            "seconds": seconds,
            "figure": f"FAILED (exit {proc.returncode}): {last}",
            "folder": folder,
            "ok": False,
        }
    try:
        record = json.loads((Path(folder) / "metrics.json").read_text())
        figure = headline(record)
    except (OSError, ValueError, KeyError, TypeError) as err:
        figure, ok = f"no readable metrics.json ({type(err).__name__})", False
    else:
        ok = True
    return {"script": script.name, "seconds": seconds, "figure": figure, "folder": folder, "ok": ok}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scripts", nargs="*", metavar="2_N", help="which scripts (default: all five)"
    )
    args = parser.parse_args(argv)
    chosen = args.scripts or list(SCRIPTS)
    unknown = [s for s in chosen if s not in SCRIPTS]
    if unknown:
        print(
            f"error: unknown script {unknown[0]!r}; choose from {', '.join(SCRIPTS)}",
            file=sys.stderr,
        )
        return 2
    rows = []
    for name in chosen:
        print(f"running Chapter_{name}.py {' '.join(SCRIPTS[name])} ...", flush=True)
        rows.append(run_one(name, SCRIPTS[name]))
    width = max(len(r["figure"]) for r in rows)
    print(f"\n{'script':<15} {'seconds':>7}  {'headline figure':<{width}}  run folder")
    for r in rows:
        print(f"{r['script']:<15} {r['seconds']:>7.1f}  {r['figure']:<{width}}  {r['folder']}")
    print("\nsmoke runs: their figures check that each script works; they are not results")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Rerun one exercise's table and report how far docs/exercises.md has drifted from it.

    python bench/exercise_drift.py 1                  # exercise 1: rerun its runs, compare
    python bench/exercise_drift.py 8 --out runs/drift  # keep the runs (a rerun skips finished ones)
    python bench/exercise_drift.py 1 --tolerance 0.02  # allow 2 % relative difference

Runs ``bash bench/exercise_tables.sh OUT N`` (the same runs the table was
made from, at lab size, deterministic), reads the new table for exercise N
and the one printed under "## N." in docs/exercises.md, and prints, for every
run in either, each figure that differs: the documented value, the new one
and the relative difference. Timings (s/epoch, samples/s) depend on the
machine and are not compared. Exit status 0 when every figure is within the
tolerance and both tables hold the same runs, 1 otherwise.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = {"s/epoch", "samples/s", "epochs"}


def markdown_tables(text):
    """{exercise number: (headings, {run: {heading: cell}})}: the first table under each exercise heading."""
    tables, current, table = {}, None, None
    for line in text.splitlines() + [""]:
        heading = re.match(r"^## (?:Exercise )?(\d+)\b", line)
        if heading:
            current = int(heading.group(1))
        elif line.startswith("|") and current is not None and current not in tables:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if table is None:
                table = (cells, {})
            elif not all(set(c) <= set("-:") for c in cells):
                table[1][cells[0]] = dict(zip(table[0], cells))
        elif table is not None:
            tables[current], table = table, None
    return tables


def number(cell):
    try:
        return float(cell.replace(",", "").rstrip("%"))
    except ValueError:
        return None


def drift(documented, measured, tolerance):
    """Lines on every difference between two tables' figures, and whether any exceeds `tolerance`."""
    lines, bad = [], False
    (doc_headings, doc_rows), (_, new_rows) = documented, measured
    for run in sorted(set(doc_rows) | set(new_rows)):
        if run not in new_rows or run not in doc_rows:
            lines.append(f"{run}: only in the {'documented' if run in doc_rows else 'new'} table")
            bad = True
            continue
        for heading in doc_headings[1:]:
            if heading in TIMINGS or heading not in new_rows[run]:
                continue
            old, new = doc_rows[run][heading], new_rows[run][heading]
            if old == new:
                continue
            a, b = number(old), number(new)
            relative = (
                abs(b - a) / max(abs(a), 1e-12) if a is not None and b is not None else float("inf")
            )
            bad |= relative > tolerance
            lines.append(f"{run}: {heading} {old} in the docs, now {new} ({relative:.1%})")
    return lines, bad


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("exercise", type=int, choices=range(1, 11))
    parser.add_argument(
        "--out", type=Path, default=None, help="where the runs go [default: a temporary folder]"
    )
    parser.add_argument(
        "--tolerance", type=float, default=0.0, help="relative difference allowed [default: 0]"
    )
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "exercises.md")
    args = parser.parse_args(argv)
    documented = markdown_tables(args.doc.read_text(encoding="utf-8")).get(args.exercise)
    if documented is None:
        sys.exit(f"error: {args.doc} has no table under exercise {args.exercise}")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        env = dict(os.environ, PY=os.environ.get("PY", sys.executable))
        proc = subprocess.run(
            ["bash", str(ROOT / "bench" / "exercise_tables.sh"), str(out), str(args.exercise)],
            cwd=ROOT,
            env=env,
        )
        if proc.returncode != 0:
            sys.exit(f"error: bench/exercise_tables.sh exited {proc.returncode}")
        measured = markdown_tables((out / "tables.md").read_text(encoding="utf-8")).get(
            args.exercise
        )
    lines, bad = drift(documented, measured, args.tolerance)
    for line in lines:
        print(line)
    print(
        f"exercise {args.exercise}: {len(measured[1])} runs rerun; "
        + ("no figure differs" if not lines else f"{len(lines)} difference(s)")
        + (f", beyond the tolerance of {args.tolerance:.1%}" if bad else "")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""bench/exercise_drift.py: the tables of docs/exercises.md read back, and drift reported."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import exercise_drift

DOC = """## 1. Chapter_2_1: change the Conv2D filter sizes

| run | FILTERS | val_loss | parameters | s/epoch |
|---|---|---:|---:|---:|
| chapter | 16,8,8 | 0.1497 | 4,385 | 1.78 |
| kernel-5 | 16,8,8 | 0.1581 | 12,065 | 3.06 |

- data: synthetic digits

| other | table |
|---|---|
| x | y |

## 2. Chapter_2_1: remove MaxPooling layers
"""


def test_every_table_in_the_exercises_doc_is_read():
    tables = exercise_drift.markdown_tables((ROOT / "docs" / "exercises.md").read_text())
    assert sorted(tables) == list(range(1, 11))
    assert all(rows for _, rows in tables.values())


def test_drift_reports_changed_figures_but_not_timings():
    documented = exercise_drift.markdown_tables(DOC)[1]
    # the second table under the heading is not read
    assert list(documented[1]) == [
        "chapter",
        "kernel-5",
    ]
    same = exercise_drift.markdown_tables(DOC.replace("| 1.78 |", "| 9.99 |"))[1]
    assert exercise_drift.drift(documented, same, 0.0) == ([], False)
    moved = exercise_drift.markdown_tables(DOC.replace("0.1581", "0.1600"))[1]
    lines, bad = exercise_drift.drift(documented, moved, 0.0)
    assert bad and lines == ["kernel-5: val_loss 0.1581 in the docs, now 0.1600 (1.2%)"]
    assert exercise_drift.drift(documented, moved, 0.02) == (lines, False)
    fewer = exercise_drift.markdown_tables(
        DOC.replace("| kernel-5 | 16,8,8 | 0.1581 | 12,065 | 3.06 |\n", "")
    )[1]
    assert exercise_drift.drift(documented, fewer, 0.5) == (
        ["kernel-5: only in the documented table"],
        True,
    )

"""The compare command: run folders in, one table and one figure out."""

import json
import re
import subprocess
import sys

import matplotlib.image
import pytest
from conftest import ROOT, error_line, run_script, script_env

from chapter2 import compare


def make_run(folder, script, config, metrics, history=(), timing=None, data="test"):
    folder.mkdir(parents=True)
    record = {
        "script": script,
        "dataset": {"name": data},
        "config": config,
        "metrics": metrics,
        "history": list(history),
        "timing": timing or {"epochs": len(history)},
    }
    (folder / "metrics.json").write_text(json.dumps(record))
    return folder


def curve(*val_losses, seconds=2.0):
    return [
        {"epoch": e, "loss": v + 0.01, "val_loss": v, "epoch_seconds": seconds}
        for e, v in enumerate(val_losses)
    ]


def steering(folder, script, pooling, dropout, mse, autonomy, parameters):
    config = {
        "FILTERS": [8, 16, 32],
        "POOLING": pooling,
        "DROPOUT": dropout,
        "EPOCHS": 4,
        "seed": 7,
        "quick": False,
    }
    return make_run(
        folder,
        script,
        config,
        {"test_mse": mse, "test_mae": mse * 5, "autonomy": autonomy, "parameters": parameters},
        curve(0.05, 0.04, mse),
        {"epochs": 3, "train_seconds": 6.0, "samples_per_second": 500.0},
    )


def compare_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "chapter2.compare", *map(str, args)],
        cwd=cwd,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def rows_of(stdout):
    """The plain table as a list of {heading: cell}."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("run "))
    headings = re.split(r"\s{2,}", lines[at].strip())
    rows = []
    for line in lines[at + 2 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(headings):
            break
        rows.append(dict(zip(headings, cells)))
    return rows


@pytest.fixture
def steering_runs(tmp_path):
    runs = tmp_path / "runs"
    steering(
        runs / "chapter_2_2" / "a", "chapter_2_2", [True, True, True], 0.2, 0.030, 85.0, 1_000_000
    )
    steering(
        runs / "chapter_2_2" / "b", "chapter_2_2", [True, True, True], 0.5, 0.020, 90.0, 1_000_000
    )
    steering(
        runs / "chapter_2_3" / "c",
        "chapter_2_3",
        [True, False, False],
        0.5,
        0.025,
        95.0,
        33_000_000,
    )
    return runs


def test_the_chapter_comparison_2_2_against_2_3(steering_runs, tmp_path):
    proc = compare_cli(steering_runs, "--figure", tmp_path / "curves.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = rows_of(proc.stdout)
    # best first by test MSE, lower is better, across the two scripts
    assert [r["run"] for r in rows] == ["chapter_2_2/b", "chapter_2_3/c", "chapter_2_2/a"]
    assert "best first by test MSE (lower is better)" in proc.stdout
    # the settings that differ, and only those
    assert [r["POOLING"] for r in rows] == ["true,true,true", "true,false,false", "true,true,true"]
    assert [r["DROPOUT"] for r in rows] == ["0.5", "0.5", "0.2"]
    assert "FILTERS" not in rows[0] and "EPOCHS" not in rows[0] and "seed" not in rows[0]
    assert [r["script"] for r in rows] == ["chapter_2_2", "chapter_2_3", "chapter_2_2"]
    assert rows[1]["test MSE"] == "0.025" and rows[1]["autonomy %"] == "95.0"
    assert rows[1]["parameters"] == "33,000,000"
    assert rows[0]["s/epoch"] == "2" and rows[0]["samples/s"] == "500" and rows[0]["epochs"] == "3"
    assert "status" not in rows[0]
    assert f"wrote {tmp_path / 'curves.png'}" in proc.stdout
    image = matplotlib.image.imread(tmp_path / "curves.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300


def test_markdown_table(steering_runs, tmp_path):
    proc = compare_cli(steering_runs / "chapter_2_2", "--markdown", "--no-figure", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == (
        "| run | DROPOUT | test MSE | test MAE | autonomy % | parameters | epochs | s/epoch "
        "| samples/s |"
    )
    assert lines[1] == "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    assert lines[2].startswith("| b | 0.5 | 0.02 | 0.1 | 90.0 |")
    assert lines[3].startswith("| a | 0.2 | 0.03 |")
    assert lines[4:] == ["", "- data: test"]
    assert not (tmp_path / "compare.png").exists()


def test_unfinished_and_damaged_runs_are_listed_not_fatal(tmp_path):
    runs = tmp_path / "runs" / "chapter_2_1"
    make_run(
        runs / "good",
        "chapter_2_1",
        {"FILTERS": [16, 8, 8], "seed": 7},
        {"val_loss": 0.11, "parameters": 4385},
        curve(0.2, 0.11),
    )
    make_run(
        runs / "better",
        "chapter_2_1",
        {"FILTERS": [32, 16, 16], "seed": 7},
        {"val_loss": 0.09, "parameters": 9000},
        curve(0.2, 0.09),
    )
    (runs / "unfinished").mkdir()
    (runs / "unfinished" / "history.csv").write_text(
        "epoch,loss,val_loss,epoch_seconds\n0,0.30,0.25,3.0\n1,0.20,0.18,2.0\n1,0.21,0.17,2.5\n2,NA,NA,x\n"
    )
    (runs / "bad-json").mkdir()
    (runs / "bad-json" / "metrics.json").write_text('{"script": "chapter_2_1", ')
    (runs / "bad-json" / "history.csv").write_text("epoch,loss,val_loss\n0,0.4,0.35\n")
    make_run(runs / "no-metrics", "chapter_2_1", {"seed": 7}, {}).joinpath(
        "metrics.json"
    ).write_text(json.dumps({"script": "chapter_2_1", "config": {}}))
    (runs / "a-list").mkdir()
    (runs / "a-list" / "metrics.json").write_text("[1, 2]")
    make_run(runs / "bad-timing", "chapter_2_1", {"seed": 7}, {"val_loss": 0.1}).joinpath(
        "metrics.json"
    ).write_text(
        json.dumps(
            {"script": "chapter_2_1", "config": {}, "metrics": {"val_loss": 0.1}, "timing": [1]}
        )
    )
    make_run(
        runs / "odd-history",
        "chapter_2_1",
        {"seed": 7},
        {"val_loss": 0.5},
        [
            {"epoch": "one", "val_loss": 0.3},
            {"epoch": 1, "val_loss": "x"},
            "row",
            {"epoch": 2, "val_loss": 0.4},
        ],
    )
    (runs / "not-utf8").mkdir()
    (runs / "not-utf8" / "metrics.json").write_bytes(b"\xff\xfe\x00garbage")

    proc = compare_cli(tmp_path / "runs", "--figure", tmp_path / "c.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["run"]: r for r in rows_of(proc.stdout)}
    order = list(rows)
    assert order[:4] == ["better", "good", "odd-history", "unfinished"]
    assert set(order[4:]) == {"bad-json", "no-metrics", "a-list", "bad-timing", "not-utf8"}
    assert rows["better"]["status"] == "finished" and rows["better"]["FILTERS"] == "32,16,16"
    assert rows["unfinished"]["status"] == "unfinished" and rows["unfinished"]["FILTERS"] == "-"
    assert rows["unfinished"]["epochs"] == "2" and rows["unfinished"]["val_loss"] == "-"
    assert all(rows[r]["status"] == "damaged" for r in order[4:])
    notes = proc.stdout
    assert "unfinished: unfinished: 2 epochs in history.csv, last val_loss 0.17" in notes
    assert "bad-json: damaged: metrics.json is not valid JSON" in notes
    assert "no-metrics: damaged: metrics.json lacks metrics" in notes
    assert "a-list: damaged: metrics.json holds list, not an object" in notes
    assert "bad-timing: damaged: metrics.json: malformed timing" in notes
    assert "not-utf8: damaged: metrics.json cannot be read" in notes
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_runs_of_scripts_without_a_shared_headline_are_grouped(tmp_path):
    make_run(
        tmp_path / "r" / "chapter_2_4" / "x",
        "chapter_2_4",
        {"UNITS": 32},
        {"accuracy": 0.8},
        [{"epoch": 0, "loss": 3.2}],
    )
    make_run(
        tmp_path / "r" / "chapter_2_4" / "y",
        "chapter_2_4",
        {"UNITS": 64},
        {"accuracy": 0.9},
        [{"epoch": 0, "loss": 3.1}],
    )
    make_run(
        tmp_path / "r" / "chapter_2_1" / "z",
        "chapter_2_1",
        {"FILTERS": [16, 8, 8]},
        {"val_loss": 0.1},
        curve(0.1),
    )
    runs = [compare.read_run(p) for p in compare.find_runs([tmp_path / "r"])]
    ordered, how = compare.order(runs)
    assert [r.path.name for r in ordered] == ["z", "y", "x"]
    assert how.startswith("grouped by script")
    headings, rows, _ = compare.table(ordered)
    assert headings[:4] == ["run", "script", "FILTERS", "UNITS"]
    assert rows[1][:4] == ["chapter_2_4/y", "chapter_2_4", "-", "64"]
    assert (
        rows[1][headings.index("accuracy %")] == "90.0"
        and rows[0][headings.index("accuracy %")] == "-"
    )


def test_the_data_is_named_and_a_column_when_it_differs(tmp_path):
    make_run(tmp_path / "a", "chapter_2_1", {"seed": 7}, {"val_loss": 0.1}, data="MNIST")
    make_run(tmp_path / "b", "chapter_2_1", {"seed": 7}, {"val_loss": 0.2}, data="synthetic digits")
    proc = compare_cli(tmp_path / "a", tmp_path / "b", "--no-figure", cwd=tmp_path)
    assert [(r["run"], r["data"]) for r in rows_of(proc.stdout)] == [
        ("a", "MNIST"),
        ("b", "synthetic digits"),
    ]
    assert "data:" not in proc.stdout.splitlines()[0]
    proc = compare_cli(tmp_path / "a", "--no-figure", cwd=tmp_path)
    assert (
        proc.stdout.splitlines()[0].endswith("; data: MNIST")
        and "data" not in rows_of(proc.stdout)[0]
    )


def test_run_folders_are_found_once_and_not_inside_each_other(tmp_path):
    run = make_run(tmp_path / "runs" / "chapter_2_4" / "a", "chapter_2_4", {}, {"accuracy": 0.5})
    (run / "logs" / "inner").mkdir(parents=True)
    (run / "logs" / "inner" / "history.csv").write_text("epoch,loss\n0,1\n")
    (tmp_path / "runs" / ".hidden" / "b").mkdir(parents=True)
    (tmp_path / "runs" / ".hidden" / "b" / "history.csv").write_text("epoch,loss\n0,1\n")
    found = compare.find_runs([tmp_path / "runs", run, run / "metrics.json"])
    assert found == [run]


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere"], "error: nowhere: no such file or folder"),
        (
            ["empty"],
            "error: empty: holds no run (no metrics.json or history.csv in it or below it)",
        ),
        (
            ["note.txt"],
            "error: note.txt: not a run folder (give the folder that holds metrics.json)",
        ),
        (
            ["runs", "empty"],
            "error: empty: holds no run (no metrics.json or history.csv in it or below it)",
        ),
        (
            ["runs", "--figure", "out.jpg"],
            "error: --figure out.jpg: the figure is a PNG; give a path ending in .png",
        ),
        (
            ["runs", "--figure", "no/such/dir/f.png"],
            "error: --figure no/such/dir/f.png: no such folder no/such/dir",
        ),
        (["runs", "--bogus"], "error: unrecognized arguments: --bogus (see --help)"),
    ],
)
def test_bad_paths_are_one_line_and_exit_2(tmp_path, args, message):
    make_run(tmp_path / "runs" / "chapter_2_4" / "a", "chapter_2_4", {}, {"accuracy": 0.5})
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "note.txt").write_text("hi")
    proc = compare_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == message
    assert proc.stdout == ""
    assert not (tmp_path / "compare.png").exists()


def test_a_figure_is_never_written_into_a_run_folder(tmp_path):
    run = make_run(
        tmp_path / "runs" / "chapter_2_1" / "a",
        "chapter_2_1",
        {"seed": 7},
        {"val_loss": 0.1},
        curve(0.2, 0.1),
    )
    (run / "reconstructions.png").write_bytes(b"the run's own figure")
    (run / "logs").mkdir()
    for target in (run / "reconstructions.png", run / "logs" / "c.png", run / "new.png"):
        proc = compare_cli(run, "--figure", target, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.strip() == (
            f"error: --figure {target}: inside the run folder "
            "runs/chapter_2_1/a; compare writes nothing into a run "
            "(give a path outside it)"
        )
    assert (run / "reconstructions.png").read_bytes() == b"the run's own figure"
    assert not (run / "new.png").exists() and not (run / "logs" / "c.png").exists()
    # one run, no --figure: beside it, and the command says where
    proc = compare_cli(run, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote runs/chapter_2_1/compare.png" in proc.stdout
    assert (tmp_path / "runs" / "chapter_2_1" / "compare.png").is_file() and not (
        run / "compare.png"
    ).exists()


def test_a_run_too_deeply_nested_to_read_is_a_note_not_the_end(tmp_path):
    runs = tmp_path / "runs" / "chapter_2_1"
    make_run(runs / "good", "chapter_2_1", {"seed": 7}, {"val_loss": 0.1}, curve(0.2, 0.1))
    (runs / "deep").mkdir()
    (runs / "deep" / "metrics.json").write_text("[" * 200_000 + "]" * 200_000)
    proc = compare_cli(tmp_path / "runs", "--no-figure", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "RecursionError" not in proc.stderr and "Traceback" not in proc.stderr
    rows = {r["run"]: r for r in rows_of(proc.stdout)}
    assert rows["good"]["val_loss"] == "0.1" and rows["deep"]["status"] == "damaged"
    assert "deep: damaged: metrics.json is nested too deeply to read" in proc.stdout.splitlines()


def test_the_legend_names_every_differing_setting_below_the_curves(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    base = {
        "FILTERS": [16, 8, 8],
        "KERNEL_SIZE": 3,
        "POOLING": [True, True, True],
        "OPTIMIZER": "adadelta",
        "LEARNING_RATE": 1.0,
        "EPOCHS": 3,
        "seed": 7,
    }
    variants = {
        "a": {},
        "b": {"KERNEL_SIZE": 5, "FILTERS": [32, 16, 16]},
        "c": {"POOLING": [True, True, False], "LEARNING_RATE": 0.5, "seed": 3},
        "d": {"OPTIMIZER": "adam"},
    }
    for n, (name, change) in enumerate(variants.items()):
        make_run(
            tmp_path / name,
            "chapter_2_1",
            dict(base, **change),
            {"val_loss": 0.1},
            curve(0.3, 0.2, 0.1 + n / 100),
        )
    runs = [compare.read_run(tmp_path / name) for name in variants]
    fig = compare.curves_figure(runs, compare.run_labels(runs))
    (ax,) = fig.axes
    texts = [t.get_text().replace("\n", " ") for t in ax.get_legend().get_texts()]
    assert len(texts) == 4
    for (
        text
    ) in texts:  # the six settings that differ, in every entry; EPOCHS is the same everywhere
        for name in ("FILTERS", "KERNEL_SIZE", "POOLING", "OPTIMIZER", "LEARNING_RATE", "seed"):
            assert f"{name} " in text, text
        assert "EPOCHS" not in text and "..." not in text
    assert "KERNEL_SIZE 5" in texts[1] and "POOLING true,true,false" in " ".join(texts[2].split())
    FigureCanvasAgg(fig).draw()
    assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0  # below the axes


def test_importing_loads_no_tensorflow():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, chapter2.compare, chapter2.run.hparams; "
            "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)",
        ],
        cwd=ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


# -- end to end: two real quick runs of Chapter_2_4 -------------------------


@pytest.fixture(scope="module")
def two_real_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    for units in (8, 16):
        proc = run_script(
            "Chapter_2_4.py",
            "--quick",
            "--units",
            units,
            "--run-dir",
            root / "runs" / "chapter_2_4" / f"units{units}",
            cwd=root,
        )
        assert proc.returncode == 0, error_line(proc)
    return root


def test_real_runs_end_to_end(two_real_runs):
    root = two_real_runs
    proc = compare_cli("runs", cwd=root)
    assert proc.returncode == 0, proc.stderr
    rows = {r["run"]: r for r in rows_of(proc.stdout)}
    assert set(rows) == {"units8", "units16"}
    assert rows["units8"]["UNITS"] == "8" and rows["units16"]["UNITS"] == "16"
    assert "EPOCHS" not in rows["units8"]  # the same in both
    for name, row in rows.items():
        record = json.loads((root / "runs" / "chapter_2_4" / name / "metrics.json").read_text())
        assert row["parameters"] == f"{record['metrics']['parameters']:,}"
        assert row["accuracy %"] == f"{record['metrics']['accuracy'] * 100:.1f}"
        assert row["epochs"] == str(len(record["history"]))
    assert rows["units8"]["parameters"] != rows["units16"]["parameters"]
    best = max(rows.values(), key=lambda r: float(r["accuracy %"]))
    assert float(rows_of(proc.stdout)[0]["accuracy %"]) == float(best["accuracy %"])
    # the figure goes beside the runs compared, not into the current folder
    assert (
        "wrote runs/chapter_2_4/compare.png" in proc.stdout and not (root / "compare.png").exists()
    )
    assert matplotlib.image.imread(root / "runs" / "chapter_2_4" / "compare.png").shape[2] in (3, 4)

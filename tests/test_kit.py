"""The kit: flags derived from constants, run folders, atomic writes, the NaN guard."""

import json
import math

import pytest

from chapter2.run import files, flags
from chapter2.run.errors import InputError, TrainingDiverged

SCRIPT = {
    "__doc__": "A test script.\n\nMore words.",
    "__file__": "Chapter_test.py",
    "EPOCHS": 50,
    "FILTERS": (16, 8, 8),
    "POOLING": (True, True, True),
    "DROPOUT": 0.2,
    "OPTIMIZER": "adadelta",
    "STATEFUL": False,
    "lowercase": 3,
    "NOT_A_KNOB": {"a": 1},
}


def parse(*argv, **kw):
    return flags.parse(SCRIPT, list(argv), **kw)


def test_constants_become_flags_with_their_defaults():
    cfg = parse()
    assert cfg.constants == {
        "EPOCHS": 50,
        "FILTERS": (16, 8, 8),
        "POOLING": (True, True, True),
        "DROPOUT": 0.2,
        "OPTIMIZER": "adadelta",
        "STATEFUL": False,
    }
    assert cfg.EPOCHS == 50 and cfg.quick is False and cfg.seed == 7 and cfg.run_dir is None


def test_flags_override_constants_with_the_constant_types():
    cfg = parse(
        "--epochs",
        "5",
        "--filters",
        "32,16,16",
        "--pooling",
        "true,false,yes",
        "--dropout",
        "0.5",
        "--optimizer",
        "adam",
        "--stateful",
        "--seed",
        "3",
    )
    assert cfg.EPOCHS == 5
    assert cfg.FILTERS == (32, 16, 16)
    assert cfg.POOLING == (True, False, True)
    assert cfg.DROPOUT == 0.5 and cfg.OPTIMIZER == "adam" and cfg.STATEFUL is True
    assert cfg.seed == 3
    assert parse("--no-stateful").STATEFUL is False


def test_quick_overrides_unless_the_flag_is_given():
    assert parse("--quick", quick={"EPOCHS": 1}).EPOCHS == 1
    assert parse("--quick", "--epochs", "3", quick={"EPOCHS": 1}).EPOCHS == 3
    assert parse(quick={"EPOCHS": 1}).EPOCHS == 50


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--epochs", "-1"], ["--epochs", "at least 1"]),
        (["--epochs", "two"], ["--epochs", "whole number"]),
        (["--dropout", "1.5"], ["--dropout", "at most 1"]),
        (["--dropout", "nan"], ["--dropout", "number"]),
        (["--filters", "16,x"], ["--filters", "comma list"]),
        (["--filters", "16,-8"], ["--filters", "at least 0"]),
        (["--pooling", "true,maybe"], ["--pooling"]),
        (["--bogus"], ["unrecognized", "--bogus"]),
    ],
)
def test_bad_flags_are_one_line_input_errors(argv, words):
    with pytest.raises(InputError) as err:
        parse(*argv, bounds={"EPOCHS": (1, None), "DROPOUT": (0, 1)})
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_run_turns_errors_into_exit_codes(capsys):
    def bad_input(argv):
        raise InputError("--data x.npz: not found")

    def diverged(argv):
        raise TrainingDiverged("loss became nan in epoch 2")

    assert flags.run(bad_input) == 2
    assert capsys.readouterr().err == "error: --data x.npz: not found\n"
    assert flags.run(diverged) == 1
    assert "nan" in capsys.readouterr().err
    assert flags.run(lambda argv: None) == 0


def test_help_lists_every_constant_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse("--help")
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag, default in [
        ("--epochs", "50"),
        ("--filters", "16,8,8"),
        ("--pooling", "true,true,true"),
        ("--stateful", "false"),
        ("--quick", ""),
        ("--run-dir", ""),
    ]:
        assert flag in out and default in out


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.json"
    files.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_run_folder_refuses_a_finished_run_and_reads_history(tmp_path, capsys):
    from chapter2.run import runfolder

    cfg = flags.Config(
        {"EPOCHS": 2},
        {
            "run_dir": tmp_path / "r",
            "seed": 1,
            "quick": False,
            "show": False,
            "name": None,
            "deterministic": False,
        },
    )
    run = runfolder.start("chapter_test", cfg)
    out = capsys.readouterr().out
    assert str(tmp_path / "r") in out and "python -m chapter2.board --logdir" in out
    # history.csv as CSVLogger writes it, with epoch 1 repeated by a resumed run
    run.file("history.csv").write_text(
        "epoch,epoch_seconds,loss\n0,2.0,0.5\n1,1.0,0.4\n1,1.5,0.39\n"
    )
    run.samples_per_epoch = 300
    history = run.history()
    assert [row["epoch"] for row in history] == [1, 2]  # counted from 1, as the console counts
    assert history[1]["loss"] == 0.39
    assert run.timing(history)["samples_per_second"] == 200.0
    run.finish(dataset={"name": "t"}, metrics={"loss": 0.39})
    record = json.loads(run.file("metrics.json").read_text())
    for key in (
        "script",
        "dataset",
        "config",
        "metrics",
        "history",
        "timing",
        "versions",
        "device",
    ):
        assert key in record
    with pytest.raises(InputError, match="finished run"):
        runfolder.start("chapter_test", cfg)


def test_nan_guard_stops_with_a_clear_message():
    from chapter2.run.runfolder import EpochGuard

    guard = EpochGuard()
    guard.on_epoch_begin(0)
    logs = {"loss": 0.5}
    guard.on_epoch_end(0, logs)
    assert logs["epoch_seconds"] >= 0
    guard.on_epoch_begin(1)
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 2"):
        guard.on_epoch_end(1, {"loss": math.nan})

"""A run folder touches only what it made; an edited constant counts like a
flag; damaged history, fewer epochs, other data and a full disk are one line."""

import errno
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ROOT, run_script, script_env

from chapter2 import chapter
from chapter2.run import flags, resume, runfolder
from chapter2.run.errors import InputError

SCRIPTS = ["Chapter_2_1", "Chapter_2_2", "Chapter_2_3", "Chapter_2_4", "Chapter_2_5"]


def options(run_dir, **kw):
    return dict(
        {
            "run_dir": run_dir,
            "seed": 7,
            "quick": False,
            "lab": False,
            "show": False,
            "name": None,
            "deterministic": False,
        },
        **kw,
    )


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


class Killed(Exception):
    pass


class KillAfter(keras.callbacks.Callback):
    """Ends training after epoch `n` like a kill: nothing runs after it."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise Killed


def train(run, epochs, best=True, killed_after=None):
    x = np.random.default_rng(0).random((16, 3)).astype("float32")
    callbacks = [resume.BestModel(run.file("best.keras"))] if best else []
    model = tiny_model()
    start = run.resume(model, callbacks)
    kill = [KillAfter(killed_after)] if killed_after else []
    try:
        model.fit(
            x,
            x.sum(1),
            epochs=epochs,
            initial_epoch=start,
            verbose=0,
            validation_data=(x, x.sum(1)),
            callbacks=callbacks + run.callbacks(samples_per_epoch=16) + kill,
        )
    except Killed:
        pass
    return model


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_scripts_as_shipped_hold_the_settings_changes_are_measured_against(script):
    module = __import__(script)
    constants = flags.constants_of(vars(module))
    assert constants == chapter.shipped(script)


def test_an_edited_constant_counts_like_a_flag():
    namespace = dict(vars(__import__("Chapter_2_1")))
    namespace["KERNEL_SIZE"] = 5  # as if the learner had edited the file
    cfg = flags.parse(namespace, ["--quick", "--epochs", "3"], quick={"EPOCHS": 2})
    assert cfg.changed() == {"KERNEL_SIZE": 5, "EPOCHS": 3} and cfg.edited == ("KERNEL_SIZE",)
    assert runfolder.folder_name(cfg, "S") == "S-kernelsize5-epochs3-quick"
    assert (
        runfolder.settings_text(cfg) == "--kernel-size 5 (edited in the file), --epochs 3 (--quick)"
    )
    flagged = flags.parse(dict(vars(__import__("Chapter_2_1"))), ["--kernel-size", "5"])
    assert flagged.changed() == {"KERNEL_SIZE": 5} and flagged.edited == ()


def test_an_edited_script_file_is_named_logged_and_recorded(tmp_path):
    """The book's way of doing an exercise: edit the constant, run the file."""
    source = (ROOT / "Chapter_2_4.py").read_text()
    assert "\nUNITS = 32 " in source
    edited = tmp_path / "Chapter_2_4.py"
    edited.write_text(source.replace("\nUNITS = 32 ", "\nUNITS = 16 ", 1))
    proc = subprocess.run(
        [sys.executable, str(edited), "--quick"],
        cwd=tmp_path,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "settings:   --units 16 (edited in the file) (--quick)" in proc.stdout
    (folder,) = (tmp_path / "runs" / "chapter_2_4").iterdir()
    assert folder.name.endswith("-units16-quick")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["changed"] == {"UNITS": "16"} and record["edited_in_file"] == ["UNITS"]


def test_a_folder_that_is_not_a_run_folder_is_refused_before_anything_is_written(tmp_path):
    folder = tmp_path / "X"
    (folder / "resume").mkdir(parents=True)
    (folder / "resume" / "my_cv.txt").write_text("cv")
    before = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    with pytest.raises(InputError, match="is not empty and not a run folder"):
        runfolder.start("chapter_test", flags.Config({"EPOCHS": 1}, options(folder)))
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    runfolder.start("chapter_test", flags.Config({"EPOCHS": 1}, options(empty))).release()


def test_a_run_leaves_every_file_it_did_not_write_untouched(tmp_path):
    """User files in the run's resume folder and logs survive a killed run,
    its resume and its finish byte for byte; a file under one of the run's
    own output names that the run did not write stops the resume in one line."""
    folder = tmp_path / "run"
    cfg = flags.Config({"EPOCHS": 3}, options(folder))
    run = runfolder.start("chapter_test", cfg)
    train(run, 3, killed_after=2)  # the resume point of epoch 2 stays
    run.release()
    mine = {
        folder / "resume" / "my_cv.txt": b"cv",
        folder / "logs" / "other" / "events.out.tfevents.1.x": b"\0" * 40,
        folder / "logs" / "train" / "notes.txt": b"notes",
    }
    for path, data in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    stranger = folder / "model.keras"
    stranger.write_bytes(b"the user's own model")
    with pytest.raises(InputError, match="holds model.keras, which this run did not write"):
        runfolder.start("chapter_test", cfg)
    assert stranger.read_bytes() == b"the user's own model"
    stranger.unlink()
    run = runfolder.start("chapter_test", cfg)
    train(run, 3)
    run.save_model(tiny_model(), "model.keras")
    run.finish(dataset={}, metrics={})
    assert all(path.read_bytes() == data for path, data in mine.items())
    # the points are gone
    assert sorted(p.name for p in (folder / "resume").iterdir()) == ["my_cv.txt"]
    assert json.loads((folder / "run.json").read_text())["files"] == ["model.keras"]


def test_damaged_history_any_bytes_any_field_size_is_read_and_trimmed(tmp_path):
    folder = tmp_path / "run"
    cfg = flags.Config({"EPOCHS": 3}, options(folder))
    run = runfolder.start("chapter_test", cfg)
    train(run, 3, best=False, killed_after=2)
    run.release()
    history = folder / "history.csv"
    history.write_bytes(history.read_bytes() + b"2," + b"9" * 200_000 + b"\n\xff\xfe\x00,\x00\n")
    run = runfolder.start("chapter_test", cfg)
    train(run, 3, best=False)
    rows = run.history()
    assert [row["epoch"] for row in rows] == [1, 2, 3] and all(
        isinstance(r["loss"], float) for r in rows
    )
    run.release()


def test_fewer_epochs_than_done_and_other_data_are_refused(tmp_path):
    folder = tmp_path / "run"
    run = runfolder.start(
        "chapter_test",
        flags.Config({"EPOCHS": 5}, options(folder)),
        data=runfolder.fingerprint(np.arange(10)),
    )
    train(run, 5, killed_after=3)
    run.release()
    with pytest.raises(InputError, match="trained on other data"):
        runfolder.start(
            "chapter_test",
            flags.Config({"EPOCHS": 5}, options(folder)),
            data=runfolder.fingerprint(np.arange(11)),
        )
    again = runfolder.start(
        "chapter_test",
        flags.Config({"EPOCHS": 2}, options(folder)),
        data=runfolder.fingerprint(np.arange(10)),
    )
    with pytest.raises(InputError, match="3 epochs are done already; --epochs 2 is fewer"):
        again.resume(tiny_model())
    again.release()


def test_a_misspelt_flag_gets_a_suggestion_and_a_finished_folder_is_refused_at_once(tmp_path):
    module = dict(vars(__import__("Chapter_2_1")))
    with pytest.raises(InputError, match="did you mean --filters"):
        flags.parse(module, ["--fliters", "3"])
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(InputError, match="already holds a finished run"):
        flags.parse(module, ["--run-dir", str(tmp_path)])


def test_ctrl_c_and_a_full_disk_print_the_command_that_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["Chapter_2_1.py", "--quick", "--run-dir", "old"])
    monkeypatch.setattr(flags, "current_run_dir", tmp_path / "run 1")

    def interrupted(argv):
        raise KeyboardInterrupt

    assert flags.run(interrupted) == 130
    err = capsys.readouterr().err
    assert (
        f"python Chapter_2_1.py --quick --run-dir '{tmp_path / 'run 1'}'" in err
        and "old" not in err
    )

    def full(argv):
        raise OSError(
            errno.ENOSPC, "No space left on device", str(tmp_path / "run 1" / "model.keras")
        )

    assert flags.run(full) == flags.DISK_FULL
    err = capsys.readouterr().err
    assert (
        err.startswith("error: no space left on the disk while writing")
        and len(err.strip().splitlines()) == 1
    )


def test_ctrl_c_prints_a_command_that_resumes_the_run(tmp_path):
    """Chapter_2_4 stopped by Ctrl-C (SIGINT) mid-run prints a command; that command resumes it."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "Chapter_2_4.py"),
            "--epochs",
            "400",
            "--backup-every",
            "20",
            "--run-dir",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("epoch "):  # a tenth of the run is done
            break
    proc.send_signal(2)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    command = err.strip().splitlines()[-1].split()
    assert command[:2] == ["python", "Chapter_2_4.py"] and command[-2:] == [
        "--run-dir",
        str(tmp_path / "r"),
    ]
    again = run_script(*command[1:])
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming: after epoch" in again.stdout
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["timing"]["epochs"] == 400


@pytest.fixture
def small_disk(tmp_path):
    """A 120 kB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=120k", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(
            "cannot mount a small tmpfs here: " + proc.stderr.decode(errors="replace").strip()
        )
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_the_rerun_with_space_resumes(small_disk):
    run_dir = small_disk / "r"
    full = run_script("Chapter_2_4.py", "--quick", "--run-dir", run_dir)
    assert full.returncode == flags.DISK_FULL, full.stderr[-2000:]
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no space left on the disk while writing")
    assert f"resume with: python Chapter_2_4.py --quick --run-dir {run_dir}" in lines[0]
    # nothing half-written
    assert json.loads((run_dir / "run.json").read_text())["made_by"] == "chapter2"
    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    again = run_script("Chapter_2_4.py", "--quick", "--run-dir", run_dir)
    assert again.returncode == 0, again.stderr[-2000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert [row["epoch"] for row in record["history"]] == list(range(1, 11))


@pytest.mark.parametrize("flag", ["--run-dir", "--drive"])
def test_a_name_too_long_is_one_line_and_status_2(tmp_path, flag):
    path = tmp_path / ("x" * 300)
    script = "Chapter_2_4.py" if flag == "--run-dir" else "Chapter_2_2.py"
    proc = run_script(script, "--quick", flag, path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}" + ("/metrics.json" if flag == "--run-dir" else "") + ": File name too long"
    ]

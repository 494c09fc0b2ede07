"""Run plumbing: --help from the source, run folder names, identity, the
lock, resume points (damaged ones too) and the quiet console."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ROOT, script_env

from chapter2.run import console, flags, resume, runfolder
from chapter2.run.errors import InputError

SCRIPTS = ["Chapter_2_1.py", "Chapter_2_2.py", "Chapter_2_3.py", "Chapter_2_4.py", "Chapter_2_5.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_from_the_source_matches_the_parser_and_needs_no_tensorflow(script, capsys):
    """--help is answered before TensorFlow is imported, and says the same
    as the parser the script really uses."""
    code = (
        "import sys; sys.argv = ['x', '--help']; from chapter2.run import flags;"
        f"print(flags.help_from_source({str(ROOT / script)!r}));"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    from_source = proc.stdout
    module = __import__(script[:-3])
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert capsys.readouterr().out.strip() == from_source.strip()
    assert "[default:" in from_source and "--quick" in from_source


def test_help_groups_constants_under_their_headers_with_their_comments():
    text = flags.help_from_source(ROOT / "Chapter_2_1.py")
    assert "The chapter's settings and the exercise knobs:" in text and "Data:" in text
    knobs = text.split("The chapter's settings")[1].split("Data:")[0]
    assert "--filters" in knobs and "(exercise 1)" in knobs and "--train-digits" not in knobs


def make_cfg(argv=(), **constants):
    namespace = dict(
        {"EPOCHS": 5, "FILTERS": (16, 8, 8), "STATEFUL": False, "DROPOUT": 0.2}, **constants
    )
    return flags.parse(namespace, list(argv), quick={"EPOCHS": 2})


def test_folder_name_says_what_changed():
    assert runfolder.folder_name(make_cfg(), "20261127-181500") == "20261127-181500"
    name = runfolder.folder_name(
        make_cfg(
            [
                "--filters",
                "32,16,16",
                "--stateful",
                "--dropout",
                "0.5",
                "--seed",
                "3",
                "--name",
                "try1",
            ]
        ),
        "S",
    )
    assert name == "S-filters32x16x16-stateful-dropout0.5-seed3-try1"
    # --quick's own values are no change
    assert runfolder.folder_name(make_cfg(["--quick"]), "S") == "S-quick"
    assert runfolder.folder_name(make_cfg(["--quick", "--epochs", "3"]), "S") == "S-epochs3-quick"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--seed", "-1"], "--seed must be from 0"),
        (["--seed", "99999999999999999999"], "--seed must be from 0"),
        (["--name", "a/b"], "--name expects"),
    ],
)
def test_run_flags_are_checked(argv, words):
    with pytest.raises(InputError, match=words):
        make_cfg(argv)


def options(tmp_path, **kw):
    return dict(
        {
            "run_dir": tmp_path / "r",
            "seed": 7,
            "quick": False,
            "show": False,
            "name": None,
            "deterministic": False,
        },
        **kw,
    )


def test_rerun_with_other_settings_or_script_is_refused_and_lock_blocks_a_second_run(tmp_path):
    cfg = flags.Config({"EPOCHS": 3, "FILTERS": (16, 8, 8)}, options(tmp_path))
    run = runfolder.start("chapter_test", cfg)
    with pytest.raises(InputError, match=r"in use by process \d+"):
        runfolder.start("chapter_test", cfg)
    run.release()
    runfolder.start(
        "chapter_test", flags.Config({"EPOCHS": 9, "FILTERS": (16, 8, 8)}, options(tmp_path))
    ).release()
    with pytest.raises(InputError, match=r"--filters 16,8,8 \(now 32,16,16\)"):
        runfolder.start(
            "chapter_test", flags.Config({"EPOCHS": 3, "FILTERS": (32, 16, 16)}, options(tmp_path))
        )
    with pytest.raises(InputError, match="holds a run of chapter_test, not chapter_other"):
        runfolder.start("chapter_other", cfg)


def test_unwritable_run_dir_is_one_line(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    if os.access(target, os.W_OK):  # root ignores the mode
        target = ROOT / "README.md" / "sub"
    with pytest.raises(InputError, match="--run-dir"):
        runfolder.start(
            "chapter_test", flags.Config({"EPOCHS": 3}, options(tmp_path, run_dir=target))
        )


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def fit(run, model, epochs, x, y, best_model=None, patience=None):
    callbacks = [resume.BestModel(best_model)] if best_model else []
    callbacks += [resume.EarlyStopping(patience=patience)] if patience is not None else []
    start = run.resume(model, callbacks)
    model.fit(
        x,
        y,
        epochs=epochs,
        initial_epoch=start,
        verbose=0,
        validation_data=(x, y),
        callbacks=callbacks + run.callbacks(samples_per_epoch=len(x)),
    )
    return start


def test_resume_restores_weights_optimizer_and_best_model_state(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    x = np.random.rand(32, 3).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    cfg = flags.Config({"EPOCHS": 3}, options(tmp_path))
    run = runfolder.start("chapter_test", cfg)
    model = tiny_model()
    assert fit(run, model, 3, x, y, best_model=run.file("best.keras"), patience=5) == 0
    run.release()
    record = json.loads(run.file(".best.keras.json").read_text())
    best = record["best"]
    saved = keras.models.load_model(run.file("best.keras"))  # the network without adam's state
    assert getattr(saved, "optimizer", None) is None and len(saved.weights) == len(model.weights)
    assert record["epoch"] == 3  # the loss fell every epoch
    np.testing.assert_allclose(saved.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)

    again = runfolder.start("chapter_test", cfg)
    fresh = tiny_model()
    kept = resume.BestModel(again.file("best.keras"))
    assert again.resume(fresh, [kept]) == 3  # training had finished
    for a, b in zip(
        model.weights + model.optimizer.variables, fresh.weights + fresh.optimizer.variables
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert kept.best == best
    again.release()


def test_damaged_resume_point_falls_back_in_one_line(tmp_path, capsys):
    x = np.random.rand(16, 3).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    cfg = flags.Config({"EPOCHS": 2}, options(tmp_path))
    run = runfolder.start("chapter_test", cfg)
    run.points.state = {}
    model = tiny_model()
    run.resume(model)
    model.fit(x, y, epochs=1, verbose=0)
    run.points.save(1, {})
    run.points.save(2, {})
    (run.points.folder / "epoch-000002.ckpt.data-00000-of-00001").write_bytes(b"half a file")
    run.release()
    capsys.readouterr()
    again = runfolder.start("chapter_test", cfg)
    assert again.resume(tiny_model()) in (0, 1)
    out = capsys.readouterr().out
    assert "resume point of epoch 2" in out and "damaged" in out
    again.release()


def test_console_filter_drops_tensorflow_chatter_but_not_errors():
    noise = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        b"I0000 00:00:1795808605.295437    6209 cudart_stub.cc:31] Could not find cuda drivers",
        b"E0000 00:00:1795808614.856815    6209 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow",
    ]
    kept = [
        b"error: --epochs must be at least 1, got -1",
        b"E0000 00:00:1.2 77 some_kernel.cc:9] Out of memory while trying to allocate",
        b"Traceback (most recent call last):",
    ]
    assert all(console.is_noise(line) for line in noise)
    assert not any(console.is_noise(line) for line in kept)


def test_a_script_run_prints_nothing_on_stderr(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "Chapter_2_1.py"), "--epochs", "0"],
        cwd=tmp_path,
        env=dict(script_env(), TF_CPP_MIN_LOG_LEVEL="0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --epochs must be at least 1, got 0"


def test_deterministic_runs_repeat_bit_for_bit(tmp_path):
    """--deterministic with the same --seed: two runs give the same history,
    number for number (what differs between two runs is then the settings)."""
    args = [
        "--quick",
        "--offline",
        "--deterministic",
        "--seed",
        "3",
        "--train-digits",
        "512",
        "--test-digits",
        "128",
    ]
    # side by side: the same history whatever else runs
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "Chapter_2_1.py"),
                *args,
                "--run-dir",
                str(tmp_path / f"r{n}"),
            ],
            cwd=ROOT,
            env=script_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    histories = []
    for n, proc in enumerate(procs):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        record = json.loads((tmp_path / f"r{n}" / "metrics.json").read_text())
        histories.append([(row["loss"], row["val_loss"]) for row in record["history"]])
    assert len(histories[0]) == 2
    assert histories[0] == histories[1]


def test_best_model_as_legacy_h5_loads_and_predicts_like_the_model(tmp_path):
    """--h5 keeps the best epoch as best_model.h5: the network alone, loadable by Keras."""
    keras.utils.set_random_seed(1)
    x = np.random.rand(32, 3).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    run = runfolder.start("chapter_test", flags.Config({"EPOCHS": 2}, options(tmp_path)))
    model = tiny_model()
    fit(run, model, 2, x, y, best_model=run.file("best.h5"))
    run.release()
    record = json.loads(run.file(".best.h5.json").read_text())
    saved = keras.models.load_model(run.file("best.h5"), compile=False)
    # the loss fell: the last epoch is the best, the model in memory the saved one
    assert record["epoch"] == 2
    np.testing.assert_allclose(saved.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert saved.count_params() == model.count_params() and record["monitor"] == "val_loss"

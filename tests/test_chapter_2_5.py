"""Chapter_2_5.py end to end: a quick run, the game scripted through stdin,
every flag, and bad input."""

import io
import json
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ROOT, run_script, script_env
from PIL import Image

import Chapter_2_5 as ch
from chapter2.data import games
from chapter2.game import baselines
from chapter2.run import flags, tblog
from chapter2.run.errors import InputError
from chapter2.standins import players

MOVES = {"rock": 0, "paper": 1, "scissors": 2}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("rps") / "run"
    data = run_dir.parent / "data.txt"
    shutil.copyfile(ROOT / "data.txt", data)
    proc = run_script("Chapter_2_5.py", "--quick", "--run-dir", run_dir, "--data-file", data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, run_dir


def test_quick_run_writes_a_model_that_loads_the_figure_and_honest_metrics(quick_run):
    proc, run_dir = quick_run
    for name in ("RPS_model.h5", "model.keras"):
        model = keras.saving.load_model(run_dir / name, compile=False)
        assert model.output_shape == (None, None, 3)
    record = json.loads((run_dir / "metrics.json").read_text())
    m = record["metrics"]
    # The baselines are fixed by the data: counted here from data.txt and the script's split.
    _, held_out = games.split_games(
        games.read_games(ROOT / "data.txt", notice=None), ch.HELD_OUT_GAMES, 7
    )
    assert m["chapter_validation_game"]["moves"] == 86
    assert m["held_out"]["moves"] == sum(len(g) - 1 for g in held_out)
    assert m["held_out"]["repeat_last"] == pytest.approx(
        baselines.accuracy([baselines.repeat_last(g) for g in held_out], held_out)
    )
    ngram, k = baselines.best_ngram(held_out)
    assert (m["held_out"]["ngram"], m["held_out"]["ngram_k"]) == (pytest.approx(ngram), k)
    assert m["chapter_validation_game"]["most_frequent"] == pytest.approx(0.372, abs=0.001)
    assert len(m["test_moves"]["argmax"]) == 9
    assert set(m["versus_simulated_players"]) == set(players.KINDS)
    assert all(
        0 <= r["model_read"] <= 1 and 0 <= r["ngram_read"] <= 1
        for r in m["versus_simulated_players"].values()
    )
    fresh = m["new_simulated_players"]
    assert set(fresh) == set(players.KINDS) | {"all kinds"}
    # --quick: 2 x 50
    assert all(s["moves"] == 2 * 49 for kind, s in fresh.items() if kind != "all kinds")
    assert fresh["repeat"]["ngram"] > 0.8 and fresh["random"]["ngram"] < 0.6
    assert [row["epoch"] for row in record["history"]] == [1]
    for run in ("train", "validation"):
        assert [s for s, _ in tblog.read_scalars(run_dir / "logs", run, "epoch_loss")] == [0]
    with Image.open(run_dir / "rps.png") as image:
        assert image.size[0] > 600 and image.size[1] > 500
    out = proc.stdout
    held = m["held_out"]
    assert (
        f"held-out games ({ch.HELD_OUT_GAMES}), {held['moves']} predictions: model {held['model']:.1%} | "
        f"n-gram table {held['ngram']:.1%} (best k = {held['ngram_k']}) | repeat last "
        f"{held['repeat_last']:.1%} |"
    ) in out
    assert (
        "new simulated players (2 games of 50 moves of each kind" in out and "back_and_forth" in out
    )
    assert re.search(r"^  random +model wins .*read: model +[\d.]+%  n-gram +[\d.]+%$", out, re.M)
    assert "(1 new games x 30 rounds each, 10% random moves" in out  # VERSUS_MOVES, VERSUS_NOISE
    assert re.search(
        rf"^fit: [\d.]+ s for 1 epochs over {record['dataset']['train_games']} games$", out, re.M
    )
    assert "smoke run" in out.strip().splitlines()[-1] and proc.stderr.strip() == ""
    assert (run_dir.parent / "data.txt").read_bytes() == (ROOT / "data.txt").read_bytes()


def test_play_scripted_through_stdin_scores_and_appends_one_game(quick_run, tmp_path):
    _, run_dir = quick_run
    data = tmp_path / "data.txt"
    shutil.copyfile(ROOT / "data.txt", data)
    before = data.read_bytes()
    keys = "r p s 0 1 2 r r p p s s".split()
    proc = run_script(
        "Chapter_2_5.py",
        "--play",
        run_dir / "RPS_model.h5",
        "--data-file",
        data,
        input="\n".join(keys) + "\nq\n",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rounds = re.findall(
        r"round (\d+): you (\w+) +model (\w+) +(you win|model wins|draw) +"
        r"score you (\d+) - model (\d+) - draws (\d+)",
        proc.stdout,
    )
    assert len(rounds) == len(keys)
    score = {"you win": 0, "model wins": 0, "draw": 0}
    for n, (number, mine, theirs, result, s_you, s_model, s_draws) in enumerate(rounds, start=1):
        assert (
            int(number) == n
            and MOVES[mine] == {"r": 0, "p": 1, "s": 2, "0": 0, "1": 1, "2": 2}[keys[n - 1]]
        )
        a, b = MOVES[mine], MOVES[theirs]
        assert result == ("draw" if a == b else "you win" if a == (b + 1) % 3 else "model wins")
        score[result] += 1
        assert (int(s_you), int(s_model), int(s_draws)) == (
            score["you win"],
            score["model wins"],
            score["draw"],
        )
    # From the second round on, what each reader expected and its running share of moves read right.
    reads = re.findall(
        r"model expected (\w+) \(\d+%\), right (\d+)/(\d+) \(\d+%\) \| lookup table expected "
        r"(\w+), right (\d+)/(\d+) \(\d+%\)",
        proc.stdout,
    )
    assert len(reads) == len(keys) - 1
    table, right = baselines.NGramReader(ch.NGRAM_K), 0
    for n, (model_guess, _, m_total, table_guess, t_right, t_total) in enumerate(reads, start=1):
        table.update(MOVES[rounds[n - 1][1]])
        assert MOVES[table_guess] == table.predict()  # the same table, in the game
        # the model plays what beats its guess
        assert MOVES[rounds[n][2]] == (MOVES[model_guess] + 1) % 3
        right += MOVES[table_guess] == MOVES[rounds[n][1]]
        assert int(t_right) == right and int(m_total) == int(t_total) == n
    m_right = reads[-1][1]  # the model's running count after the last move
    assert proc.stdout.strip().splitlines()[-1] == (
        f"the model read {m_right}/{n} ({int(m_right) / n:.0%}) of your moves, the lookup table {right}/{n} "
        f"({right / n:.0%}); final score: you {score['you win']} - model {score['model wins']} - draws "
        f"{score['draw']} in {len(keys)} rounds"
    )
    after = data.read_bytes()
    assert after[: len(before)] == before and after[len(before) :] == b"012012001122\n"


def test_play_under_strict_utf8_takes_bad_bytes_as_no_move(quick_run, tmp_path):
    _, run_dir = quick_run
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "Chapter_2_5.py"),
            "--play",
            str(run_dir / "model.keras"),
            "--data-file",
            str(tmp_path / "data.txt"),
        ],
        input=b"\xff\xfe r p q",
        cwd=ROOT,
        env=dict(script_env(), PYTHONIOENCODING="utf-8:strict"),
        capture_output=True,
        timeout=120,
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert "ignored '\\ufffd\\ufffd'" in out and out.count("round ") == 2 and "not saved" in out
    assert not (tmp_path / "data.txt").exists()


def test_play_refuses_a_data_file_it_cannot_write_before_anything_else(
    quick_run, tmp_path, capsys, monkeypatch
):
    _, run_dir = quick_run
    monkeypatch.setattr("sys.stdin", io.StringIO("r\np\nq\n"))
    argv = ["--play", str(run_dir / "model.keras"), "--data-file", "/sys/kernel/data.txt"]
    assert flags.run(ch.main, argv) == 2
    out, err = capsys.readouterr()
    assert "round" not in out and err == (
        "error: --data-file /sys/kernel/data.txt: cannot be written "
        "(Permission denied); your games could not be saved\n"
    )
    with pytest.raises(
        InputError, match="is a folder"
    ):  # training first (--play without a model) too
        ch.main(["--play", "--data-file", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_no_games_against_simulated_players_and_the_flags_that_act_after_training(
    tmp_path, monkeypatch
):
    """What comes after training, on an untrained model (fit skipped)."""
    monkeypatch.setattr(keras.Model, "fit", lambda *args, **kwargs: None)
    data = tmp_path / "data.txt"
    data.write_text(players.format_games(players.generate_games(seed=3, games=6, total_moves=300)))
    argv = [
        "--versus-games",
        "0",
        "--fresh-games",
        "0",
        "--epochs",
        "1",
        "--lstm-units",
        "4,4,4",
        "--dense-units",
        "4,4",
        "--held-out-games",
        "1",
        "--validation-game",
        "0120120",
        "--test-moves",
        "0011",
        "--model-file",
        "small.keras",
        "--data-file",
        str(data),
        "--run-dir",
        str(tmp_path / "run"),
    ]
    assert ch.main(argv) == 0
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    m = record["metrics"]
    assert m["versus_simulated_players"] == {} and m["new_simulated_players"] == {}
    assert m["chapter_validation_game"]["moves"] == 6
    assert m["test_moves"]["moves"] == "0011" and len(m["test_moves"]["argmax"]) == 4
    assert m["parameters"] < 1000 and record["dataset"]["train_games"] == 5
    assert (tmp_path / "run" / "small.keras").exists() and not (
        tmp_path / "run" / "RPS_model.h5"
    ).exists()
    assert (tmp_path / "run" / "rps.png").exists()


@pytest.mark.parametrize(
    "content, argv, expected",
    [
        (None, [], "no such file"),
        (b"", [], "is empty"),
        (b"0120\n012\n", [], "no game of at least 10 moves"),
        (
            b"0120120120\n01201201x0\n",
            [],
            "line 2, column 9: unexpected character 'x'; expected one game per line "
            r"made of 0, 1 and 2 \(rock, paper, scissors\)$",
        ),
        (b"0120120120\n" * 3, ["--lstm-units", "8,8"], "--lstm-units takes three values"),
        (b"0120120120\n" * 3, ["--versus-games", "-1"], "--versus-games must be at least 0"),
        (b"0120120120\n" * 3, ["--model-file", "x/model.h5"], "--model-file expects a file name"),
        (b"0120120120\n" * 3, ["--activation", "swish"], "--activation must be one of"),
        (
            b"0120120120\n" * 3,
            ["--window", "5"],
            "--window must be 0 .whole games. or at least 10 moves, got 5",
        ),
    ],
)
def test_bad_input_in_process(tmp_path, content, argv, expected):
    data = tmp_path / "data.txt"
    if content is not None:
        data.write_bytes(content)
    with pytest.raises(InputError, match=expected):
        ch.main(["--quick", "--data-file", str(data), "--run-dir", str(tmp_path / "run"), *argv])
    if content is not None:
        assert data.read_bytes() == content
    assert not (tmp_path / "run").exists()


def test_play_rejects_missing_and_foreign_model_files(tmp_path):
    data = tmp_path / "data.txt"
    shutil.copyfile(ROOT / "data.txt", data)
    with pytest.raises(InputError, match="no such model file"):
        ch.main(["--play", str(tmp_path / "nothing.h5"), "--data-file", str(data)])
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    other.save(tmp_path / "other.keras")
    with pytest.raises(InputError, match="not a rock-paper-scissors model"):
        ch.main(["--play", str(tmp_path / "other.keras"), "--data-file", str(data)])
    assert data.read_bytes() == (ROOT / "data.txt").read_bytes()


# --- Every flag does something --------------------------------------------------


class Stop(Exception):
    pass


def test_every_training_flag_changes_the_model_the_data_or_the_fit(tmp_path, monkeypatch):
    """Each flag that acts before training changes what fit() gets; the
    others (evaluation, saving, the games after training) are seen in the
    quick run's outputs and in test_no_games_against_simulated_players."""

    def what_fit_gets(*argv):
        seen = {}

        def fake_fit(model, x=None, **kwargs):
            seen["model"] = [
                json.dumps(layer.get_config(), sort_keys=True, default=str)
                for layer in model.layers
            ]
            seen["optimizer"] = json.dumps(
                model.optimizer.get_config(), sort_keys=True, default=str
            )
            seen["data"] = [np.asarray(b).tobytes() for batch in x.batches for b in batch]
            seen["rotate"] = x.rotate
            seen["validation"] = [np.asarray(v).tobytes() for v in kwargs["validation_data"]]
            seen["epochs"] = kwargs["epochs"]
            raise Stop

        monkeypatch.setattr(keras.Model, "fit", fake_fit)
        with pytest.raises(Stop):
            ch.main([*argv, "--run-dir", str(tmp_path / f"run{len(list(tmp_path.iterdir()))}")])
        return seen

    other = tmp_path.parent / "other-data.txt"
    other.write_text(players.format_games(players.generate_games(seed=3, games=8, total_moves=400)))
    changes = {
        "LSTM_UNITS": "64,64,32",
        "ACTIVATION": "sigmoid",
        "DENSE_UNITS": "64,32",
        "EPOCHS": "3",
        "BATCH_SIZE": "4",
        "LEARNING_RATE": "0.005",
        "DATA_FILE": str(other),
        "ONE_HOT": "false",
        "MIN_GAME_MOVES": "100",
        "HELD_OUT_GAMES": "3",
        "WINDOW": "20",
        "ROTATE": "false",
    }
    after_training = {
        "VALIDATION_GAME",
        "TEST_MOVES",
        "MODEL_FILE",
        "VERSUS_GAMES",
        "VERSUS_MOVES",
        "VERSUS_NOISE",
        "NGRAM_K",
        "FRESH_GAMES",
        "FRESH_MOVES",
    }
    assert set(changes) | after_training == set(flags.constants_of(vars(ch)))
    baseline = what_fit_gets()
    ignored = [
        name
        for name, value in changes.items()
        if what_fit_gets(
            f"--no-{flags.flag_name(name)[2:]}"
            if value == "false"
            else flags.flag_name(name) + "=" + value
        )
        == baseline
    ]
    assert ignored == []

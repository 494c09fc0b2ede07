"""Chapter_2_5.py end to end: a quick run, the game scripted through stdin,
and bad input."""

import json
import re
import shutil

import keras
import pytest

from conftest import ROOT, error_line, run_script

MOVES = {"rock": 0, "paper": 1, "scissors": 2}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("rps") / "run"
    data = run_dir.parent / "data.txt"
    shutil.copyfile(ROOT / "data.txt", data)
    proc = run_script("Chapter_2_5.py", "--quick", "--run-dir", run_dir, "--data-file", data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, run_dir


def test_quick_run_writes_a_model_that_loads_and_honest_metrics(quick_run):
    proc, run_dir = quick_run
    for name in ("RPS_model.h5", "model.keras"):
        model = keras.saving.load_model(run_dir / name, compile=False)
        assert model.output_shape == (None, None, 3)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    m = metrics["metrics"]
    for key in ("chapter_validation_game", "held_out"):
        assert set(m[key]) >= {"model", "repeat_last", "most_frequent", "chance"}
        assert 0 <= m[key]["model"] <= 1
    assert m["chapter_validation_game"]["moves"] == 86
    assert len(m["test_moves"]["argmax"]) == 9 and len(m["test_moves"]["probabilities"][0]) == 3
    versus = m["versus_simulated_players"]
    assert {"repeat", "cycle_up", "win_stay_lose_shift", "random"} <= set(versus)
    assert all(sum(r.values()) == pytest.approx(1, abs=1e-3) for r in versus.values())
    assert "held-out games" in proc.stdout and "repeat last" in proc.stdout
    assert "the chapter's test, 000111222" in proc.stdout
    assert (run_dir.parent / "data.txt").read_bytes() == (ROOT / "data.txt").read_bytes()


def test_play_scripted_through_stdin_scores_and_appends_one_game(quick_run, tmp_path):
    _, run_dir = quick_run
    data = tmp_path / "data.txt"
    shutil.copyfile(ROOT / "data.txt", data)
    before = data.read_bytes()
    keys = "r p s 0 1 2 r r p p s s".split()
    proc = run_script("Chapter_2_5.py", "--play", run_dir / "RPS_model.h5", "--data-file", data,
                      input="\n".join(keys) + "\nq\n", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rounds = re.findall(r"round (\d+): you (\w+) +model (\w+) +(you win|model wins|draw) +"
                        r"score you (\d+) - model (\d+) - draws (\d+)", proc.stdout)
    assert len(rounds) == len(keys)
    you = model = draws = 0
    for n, (number, mine, theirs, result, s_you, s_model, s_draws) in enumerate(rounds, start=1):
        assert int(number) == n
        assert MOVES[mine] == {"r": 0, "p": 1, "s": 2, "0": 0, "1": 1, "2": 2}[keys[n - 1]]
        a, b = MOVES[mine], MOVES[theirs]
        expected = "draw" if a == b else "you win" if a == (b + 1) % 3 else "model wins"
        assert result == expected
        you, model, draws = you + (result == "you win"), model + (result == "model wins"), draws + (result == "draw")
        assert (int(s_you), int(s_model), int(s_draws)) == (you, model, draws)
    assert f"final score: you {you} - model {model} - draws {draws} in {len(keys)} rounds" in proc.stdout
    after = data.read_bytes()
    assert after[:len(before)] == before
    assert after[len(before):] == b"012012001122\n"


def test_play_does_not_save_short_games(quick_run, tmp_path):
    import io

    from chapter2.game import rps

    _, run_dir = quick_run
    data = tmp_path / "data.txt"
    shutil.copyfile(ROOT / "data.txt", data)
    out = io.StringIO()
    model = rps.load_model(run_dir / "model.keras")
    you, them, score = rps.play_terminal(model, data, stdin=io.StringIO("r\nx\npaper\n s \n"), out=out)
    assert you == [0, 1, 2] and len(them) == 3 and sum(score.values()) == 3  # ends without q: quits too
    assert out.getvalue().count("round ") == 3 and "ignored 'x'" in out.getvalue()
    assert "not saved" in out.getvalue()
    assert data.read_bytes() == (ROOT / "data.txt").read_bytes()


def test_bad_data_file_is_one_line_and_exit_2(tmp_path):
    data = tmp_path / "data.txt"
    data.write_bytes(b"0120120120\n01201201x0\n")
    proc = run_script("Chapter_2_5.py", "--quick", "--data-file", data, "--run-dir", tmp_path / "run")
    assert proc.returncode == 2
    assert error_line(proc) == (f"error: {data}: line 2, column 9: unexpected character 'x'; expected one "
                                "game per line made of 0, 1 and 2 (rock, paper, scissors)")
    assert data.read_bytes() == b"0120120120\n01201201x0\n"
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("chapter_2_5", ROOT / "Chapter_2_5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    (b"", "is empty"),
    (b"0120\n012\n", "no game of at least 10 moves"),
    (b"0120120120\n0120a\n", "line 2, column 5"),
])
def test_bad_data_in_process(script, tmp_path, content, expected):
    from chapter2.run.errors import InputError

    data = tmp_path / "data.txt"
    if content is not None:
        data.write_bytes(content)
    with pytest.raises(InputError, match=expected):
        script.main(["--quick", "--data-file", str(data), "--run-dir", str(tmp_path / "run")])
    if content is not None:
        assert data.read_bytes() == content
    assert not (tmp_path / "run").exists()


def test_play_rejects_missing_and_foreign_model_files(script, tmp_path):
    from chapter2.run.errors import InputError

    data = tmp_path / "data.txt"
    shutil.copyfile(ROOT / "data.txt", data)
    with pytest.raises(InputError, match="no such model file"):
        script.main(["--play", str(tmp_path / "nothing.h5"), "--data-file", str(data)])
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="cannot load a Keras model"):
        script.main(["--play", str(junk), "--data-file", str(data)])
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    other.save(tmp_path / "other.keras")
    with pytest.raises(InputError, match="not a rock-paper-scissors model"):
        script.main(["--play", str(tmp_path / "other.keras"), "--data-file", str(data)])
    assert data.read_bytes() == (ROOT / "data.txt").read_bytes()

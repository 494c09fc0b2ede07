"""chapter2.game.rps and chapter2.standins.players: reading data.txt, the simulated
players, padding with masking, the one-move-at-a-time model, appending games."""

import keras
import numpy as np
import pytest
from keras import layers

from chapter2.standins import players
from chapter2.game import rps
from chapter2.run.errors import InputError


# --- reading data.txt ----------------------------------------------------------
def test_parser_accepts_crlf_blank_lines_and_trailing_whitespace():
    data = b"0120120120\r\n\r\n\n1111122222 \t\r\n   \n2101010101\n\n"
    games = rps.parse_games(data, notice=None)
    assert games == [[0, 1, 2, 0, 1, 2, 0, 1, 2, 0], [1] * 5 + [2] * 5, [2, 1, 0, 1, 0, 1, 0, 1, 0, 1]]


@pytest.mark.parametrize("data, line, column, char", [
    (b"0120120120\n01201x0120\n", 2, 6, "x"),
    (b"0120120120\n0120 120120\n", 2, 5, " "),            # whitespace inside a game
    (b" 0120120120\n", 1, 1, " "),                         # or before it
    (b"0120120120\n\n\n0123012012\n", 4, 4, "3"),
    (b"012012\r0120\n", 1, 7, "\r"),                       # a lone CR inside a line
    ("0120120120\n01201é\n".encode(), 2, 6, "é"),
    (b"\xef\xbb\xbf0120120120\n", 1, 1, "\ufeff"),         # a byte-order mark
    (b"0120120120\n012\xff\n", 2, 4, "\ufffd"),            # not UTF-8 at all
])
def test_parser_rejects_other_characters_with_line_and_column(data, line, column, char):
    with pytest.raises(InputError) as err:
        rps.parse_games(data, name="games.txt", notice=None)
    message = str(err.value)
    assert message.startswith(f"games.txt: line {line}, column {column}: unexpected character {char!r}")
    assert "\n" not in message


def test_parser_skips_short_games_with_a_notice():
    notices = []
    games = rps.parse_games(b"012\n0120120120\n01\n", min_moves=10, notice=notices.append)
    assert games == [[0, 1, 2, 0, 1, 2, 0, 1, 2, 0]]
    assert len(notices) == 1 and "skipped 2 game(s) shorter than 10 moves (line 1, 3)" in notices[0]


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    (b"", "is empty"),
    (b"\r\n \n\n", "is empty"),
    (b"0120\n11\n", "no game of at least 10 moves"),
    (b"0120120120\n012a\n", "line 2, column 4"),
])
def test_read_games_rejects_bad_files_in_one_line(tmp_path, content, expected):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        rps.read_games(path, notice=None)
    assert expected in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)
    if content is not None:
        assert path.read_bytes() == content


def test_read_games_rejects_a_folder(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        rps.read_games(tmp_path)


# --- the simulated players and the generator ----------------------------------------
def test_generator_is_deterministic_per_seed_and_its_output_parses():
    a = players.format_games(players.generate_games(seed=7))
    b = players.format_games(players.generate_games(seed=7))
    c = players.format_games(players.generate_games(seed=8))
    assert a == b and a != c
    games = rps.parse_games(a.encode(), notice=None)
    lengths = [len(g) for g in games]
    assert 30 <= len(games) <= 60                      # a few dozen games
    assert 4500 <= sum(lengths) <= 5500                # about 5,000 moves
    assert min(lengths) >= 10 and max(lengths) >= 200  # 10 to several hundred moves


def test_generator_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "data.txt"
    assert players.main(["--seed", "3", "--games", "6", "--moves", "300", "--out", str(out)]) == 0
    assert players.main(["--seed", "3", "--games", "6", "--moves", "300"]) == 0
    assert out.read_text() == capsys.readouterr().out
    assert len(rps.parse_games(out.read_bytes(), notice=None)) == 6


def test_the_repository_data_file_is_what_the_documented_command_writes():
    from conftest import ROOT

    # (games played with --play may follow)
    assert (ROOT / "data.txt").read_text().startswith(players.format_games(players.generate_games(seed=7)))


@pytest.mark.parametrize("habit, expected", [
    ("repeat", [1, 1, 1, 1, 1, 1, 1]),
    ("cycle_up", [1, 2, 0, 1, 2, 0, 1]),
    ("cycle_down", [1, 0, 2, 1, 0, 2, 1]),
    ("double", [1, 1, 2, 2, 0, 0, 1]),
])
def test_habits_without_noise(habit, expected):
    player = players.Player([habit], np.random.default_rng(0), noise=0.0)
    player.habits[0].start = 1
    mine, _ = players.play_game(player, lambda a, b: 0, 7)
    assert mine == expected


def test_alternate_and_win_stay_lose_shift():
    rng = np.random.default_rng(0)
    alt = players.Player(["alternate"], rng, noise=0.0)
    mine, _ = players.play_game(alt, lambda a, b: 0, 6)
    a, b = alt.habits[0].pair
    assert mine == [a, b, a, b, a, b] and a != b
    # win-stay/lose-shift against an opponent who always plays rock (0):
    wsls = players.Player(["win_stay_lose_shift"], rng, noise=0.0)
    wsls.habits[0].start = 2                      # scissors loses to rock ...
    mine, _ = players.play_game(wsls, lambda a, b: 0, 4)
    assert mine == [2, 1, 1, 1]                   # ... so shift to paper, which wins: stay


def test_players_switch_habits_mid_game():
    player = players.Player(["repeat", "cycle_up"], np.random.default_rng(0), noise=0.0, switch_every=[5])
    player.habits[0].start = 0
    mine, _ = players.play_game(player, lambda a, b: 0, 9)
    assert mine == [0, 0, 0, 0, 0, 1, 2, 0, 1]


# --- predictors, batches, masking ----------------------------------------------
def test_simple_predictors():
    game = [0, 0, 1, 1, 1, 2]
    assert rps.predict_repeat_last(game) == [0, 0, 1, 1, 1]
    assert rps.predict_most_frequent(game) == [0, 0, 0, 0, 1]   # ties go to the lower move
    assert rps.accuracy([rps.predict_repeat_last(game)], [game]) == pytest.approx(3 / 5)


def test_windows_and_batches_cover_every_real_step_once():
    games = [[0, 1, 2] * 4, [1, 1] * 10, [2, 0] * 30, [0] * 11]
    x, y, w = rps.windows(games)
    assert x.shape == (4, 59, 3) and y.shape == (4, 59, 3)
    assert w.sum() == sum(len(g) - 1 for g in games)
    assert np.all(x[w == 0] == 0) and np.all(x[w == 1].sum(axis=-1) == 1)
    assert np.array_equal(y[1, :19].argmax(-1), np.array(games[1][1:]))
    xr, _, _ = rps.windows(games, one_hot=False)
    assert xr.shape == (4, 59, 1) and np.all(xr[w == 0] == -1) and np.all(xr[w == 1] >= 0)
    batches = rps.GameBatches(games, batch_size=2, seed=0)
    assert len(batches) == 2
    assert sorted(xb.shape[1] for xb, _ in batches.batches) == [11, 59]   # each padded to its own longest
    assert sum(yb.sum() for _, yb in batches.batches) == w.sum()


def small_model(one_hot=True, activation="tanh", units=8):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((None, 3 if one_hot else 1)),
        layers.Masking(rps.pad_value(one_hot)),
        layers.LSTM(units, return_sequences=True, activation=activation),
        layers.LSTM(units, return_sequences=True, activation=activation),
        layers.Dense(8, activation="relu"),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("one_hot", [True, False])
def test_padding_does_not_change_the_loss_or_the_training(one_hot):
    games = [[0, 1, 2] * 5, [1, 1, 2, 2, 0, 0] * 3, [2] * 12]
    model = small_model(one_hot)
    start = model.get_weights()
    results = []
    for length in (None, 80):
        x, y, w = rps.windows(games, one_hot, length=length)
        results.append(model.evaluate(x, y, verbose=0, return_dict=True))
    # By hand, on the real steps only:
    x, y, w = rps.windows(games, one_hot)
    p = model.predict(x, verbose=0)
    loss = float((-(np.log(p) * y).sum(-1) * w).sum() / w.sum())
    acc = float(((p.argmax(-1) == y.argmax(-1)) * w).sum() / w.sum())
    for r in results:
        assert r["loss"] == pytest.approx(loss, rel=1e-5)
        assert r["accuracy"] == pytest.approx(acc, abs=1e-6)
    if not one_hot:
        return
    # One training step from the same weights moves them the same way
    # (plain SGD: the step depends on the gradients alone).
    model.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy")
    after = []
    for length in (None, 80):
        model.set_weights(start)
        x, y, _ = rps.windows(games, one_hot, length=length)
        model.train_on_batch(x, y)
        after.append(model.get_weights())
    assert not np.allclose(after[0][0], start[0])
    for a, b in zip(*after):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("one_hot, activation", [(True, "tanh"), (False, "sigmoid")])
def test_stepper_gives_the_same_probabilities_as_predict(one_hot, activation):
    model = small_model(one_hot, activation)
    game = [0, 1, 1, 2, 0, 2, 2, 2, 1, 0, 0, 1]
    expected = model.predict(rps.encode(game, one_hot)[None], verbose=0)[0]
    np.testing.assert_allclose(rps.Stepper(model).run(game), expected, atol=1e-5)


def test_check_model_rejects_other_models():
    other = keras.Sequential([keras.Input((None, 3)), layers.GRU(4, return_sequences=True),
                              layers.Dense(3, activation="softmax")])
    with pytest.raises(InputError, match="unexpected layer"):
        rps.check_model(other)
    flat = keras.Sequential([keras.Input((5,)), layers.Dense(3, activation="softmax")])
    with pytest.raises(InputError, match="input shape"):
        rps.check_model(flat)


def test_model_beats_chance_and_repeat_last_on_held_out_patterned_games():
    """Trained on players who double their moves (001122...), with 10% random
    moves, the model predicts new such players' next moves better than
    chance and than repeating the last move (right about half the time)."""
    rng = np.random.default_rng(11)

    def games(n, moves):
        return [players.play_game(players.Player(["double"], rng, noise=0.1),
                                  players.random_opponent(rng), moves)[0] for _ in range(n)]

    train, held_out = games(24, 40), games(6, 60)
    model = small_model(units=16)
    model.fit(rps.GameBatches(train, batch_size=12, seed=0), epochs=20, verbose=0)
    x, _, _ = rps.windows(held_out)
    probs = model.predict(x, verbose=0)
    predicted = [probs[i, :len(g) - 1].argmax(-1) for i, g in enumerate(held_out)]
    model_acc = rps.accuracy(predicted, held_out)
    repeat_acc = rps.accuracy([rps.predict_repeat_last(g) for g in held_out], held_out)
    assert repeat_acc < 0.6
    assert model_acc > max(1 / 3, repeat_acc) + 0.1, (model_acc, repeat_acc)


# --- playing -------------------------------------------------------------------
def test_append_game_keeps_existing_bytes(tmp_path):
    path = tmp_path / "data.txt"
    original = b"0120120120\r\n\n1111111111  "          # no newline at the end
    path.write_bytes(original)
    rps.append_game(path, [2] * 10)
    assert path.read_bytes() == original + b"\n2222222222\n"
    rps.append_game(path, [0, 1] * 6)
    assert path.read_bytes() == original + b"\n2222222222\n010101010101\n"


def test_play_against_counts_every_round():
    model = small_model()
    counts = rps.play_against(model, lambda: players.Player(["cycle_up"], np.random.default_rng(1), 0.0),
                              moves=30, games=4)
    assert sum(counts.values()) == 120 and set(counts) == {"win", "draw", "loss"}

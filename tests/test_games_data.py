"""chapter2.data.games: reading data.txt, checking it can take a new game,
appending one complete line, and games made into padded, masked batches."""

import os

import keras
import numpy as np
import pytest
from keras import layers

from chapter2.data import games
from chapter2.run.errors import InputError


# --- reading data.txt ----------------------------------------------------------
def test_parser_accepts_crlf_blank_lines_and_trailing_whitespace():
    data = b"0120120120\r\n\r\n\n1111122222 \t\r\n   \n2101010101\n\n"
    assert games.parse_games(data, notice=None) == [
        [0, 1, 2, 0, 1, 2, 0, 1, 2, 0],
        [1] * 5 + [2] * 5,
        [2, 1, 0, 1, 0, 1, 0, 1, 0, 1],
    ]


@pytest.mark.parametrize(
    "data, line, column, char",
    [
        (b"0120120120\n01201x0120\n", 2, 6, "x"),
        (b"0120120120\n0120 120120\n", 2, 5, " "),  # whitespace inside a game
        (b" 0120120120\n", 1, 1, " "),  # or before it
        (b"0120120120\n\n\n0123012012\n", 4, 4, "3"),
        (b"012012\r0120\n", 1, 7, "\r"),  # a lone CR inside a line
        ("0120120120\n01201é\n".encode(), 2, 6, "é"),
        (b"\xef\xbb\xbf0120120120\n", 1, 1, "\ufeff"),  # a byte-order mark
        (b"0120120120\n012\xff\n", 2, 4, "\ufffd"),  # not UTF-8 at all
    ],
)
def test_parser_rejects_other_characters_with_line_and_column(data, line, column, char):
    with pytest.raises(InputError) as err:
        games.parse_games(data, name="games.txt", notice=None)
    message = str(err.value)
    assert message.startswith(
        f"games.txt: line {line}, column {column}: unexpected character {char!r}"
    )
    assert "\n" not in message


def test_parser_skips_short_games_with_a_notice():
    notices = []
    assert games.parse_games(b"012\n0120120120\n01\n", min_moves=10, notice=notices.append) == [
        [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    ]
    assert len(notices) == 1 and "skipped 2 game(s) shorter than 10 moves (line 1, 3)" in notices[0]


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "no such file"),
        (b"", "is empty"),
        (b"\r\n \n\n", "is empty"),
        (b"0120\n11\n", "no game of at least 10 moves"),
        (b"0120120120\n012a\n", "line 2, column 4"),
    ],
)
def test_read_games_rejects_bad_files_in_one_line(tmp_path, content, expected):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        games.read_games(path, notice=None)
    assert expected in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
    if content is not None:
        assert path.read_bytes() == content
    with pytest.raises(InputError, match="is a folder"):
        games.read_games(tmp_path)


# --- a file that can take a new game ------------------------------------------------
def test_check_appendable_accepts_games_and_new_files_and_refuses_the_rest(tmp_path):
    good = tmp_path / "data.txt"
    good.write_bytes(b"0120120120\n")
    games.check_appendable(good)
    games.check_appendable(tmp_path / "new.txt")
    assert not (tmp_path / "new.txt").exists() and sorted(os.listdir(tmp_path)) == ["data.txt"]
    (tmp_path / "other.txt").write_bytes(b"name,score\n")
    (tmp_path / "plain").write_bytes(b"")
    for path, words in (
        (tmp_path / "other.txt", "unexpected character"),
        (tmp_path, "is a folder"),
        (tmp_path / "no" / "data.txt", "its folder does not exist"),
        (tmp_path / "plain" / "data.txt", "its folder does not exist"),
        ("/sys/kernel/data.txt", "cannot be written"),
    ):
        with pytest.raises(InputError, match=words) as err:
            games.check_appendable(path)
        assert str(err.value).startswith(f"--data-file {path}")
    assert (tmp_path / "other.txt").read_bytes() == b"name,score\n"


def test_append_game_keeps_existing_bytes(tmp_path):
    path = tmp_path / "data.txt"
    original = b"0120120120\r\n\n1111111111  "  # no newline at the end
    path.write_bytes(original)
    games.append_game(path, [2] * 10)
    assert path.read_bytes() == original + b"\n2222222222\n"
    games.append_game(path, [0, 1] * 6)
    assert path.read_bytes() == original + b"\n2222222222\n010101010101\n"


def test_a_game_is_saved_as_one_complete_line_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "data.txt"
    path.write_bytes(b"0120120120\n")
    real_write = os.write

    def half_write(fd, data):  # a disk that fills up half way through the line
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(os, "write", half_write)
    with pytest.raises(OSError):
        games.append_game(path, [1] * 12)
    assert path.read_bytes() == b"0120120120\n"


# --- encoding, padding, batches ---------------------------------------------------
def test_windows_and_batches_cover_every_real_step_once():
    played = [[0, 1, 2] * 4, [1, 1] * 10, [2, 0] * 30, [0] * 11]
    x, y, w = games.windows(played)
    assert x.shape == (4, 59, 3) and y.shape == (4, 59, 3)
    assert w.sum() == sum(len(g) - 1 for g in played)
    assert np.all(x[w == 0] == 0) and np.all(x[w == 1].sum(axis=-1) == 1)
    assert np.array_equal(y[1, :19].argmax(-1), np.array(played[1][1:]))
    xr, _, _ = games.windows(played, one_hot=False)
    assert xr.shape == (4, 59, 1) and np.all(xr[w == 0] == -1) and np.all(xr[w == 1] >= 0)
    batches = games.GameBatches(played, batch_size=2, seed=0)
    assert len(batches) == 2
    # each padded to its own longest
    assert sorted(xb.shape[1] for xb, _ in batches.batches) == [
        11,
        59,
    ]
    assert sum(yb.sum() for _, yb in batches.batches) == w.sum()


def test_split_holds_out_some_games_never_all():
    played = [[0] * 10, [1] * 10, [2] * 10]
    train, held = games.split_games(played, 1, seed=3)
    assert len(train) == 2 and len(held) == 1 and sorted(train + held) == sorted(played)
    train, held = games.split_games(played, 5, seed=3)
    assert len(train) == 1 and len(held) == 2


@pytest.mark.parametrize("one_hot", [True, False])
def test_padding_does_not_change_the_loss_or_the_training(one_hot):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((None, 3 if one_hot else 1)),
            layers.Masking(games.pad_value(one_hot)),
            layers.LSTM(6, return_sequences=True),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy", metrics=["accuracy"])
    played = [[0, 1, 2] * 5, [1, 1, 2, 2, 0, 0] * 3, [2] * 12]
    start = model.get_weights()
    # By hand, on the real steps only:
    x, y, w = games.windows(played, one_hot)
    p = model.predict(x, verbose=0)
    loss = float((-(np.log(p) * y).sum(-1) * w).sum() / w.sum())
    acc = float(((p.argmax(-1) == y.argmax(-1)) * w).sum() / w.sum())
    after = []
    for length in (None, 80):
        x, y, _ = games.windows(played, one_hot, length=length)
        result = model.evaluate(x, y, verbose=0, return_dict=True)
        assert result["loss"] == pytest.approx(loss, rel=1e-5)
        assert result["accuracy"] == pytest.approx(acc, abs=1e-6)
        # One plain SGD step from the same weights moves them the same way.
        model.set_weights(start)
        model.train_on_batch(x, y)
        after.append(model.get_weights())
        model.set_weights(start)
    assert not np.allclose(after[0][0], start[0])
    for a, b in zip(*after):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_long_games_are_cut_into_pieces_that_predict_every_move_once():
    game = [int(m) for m in np.random.default_rng(0).integers(3, size=250)]
    pieces = games.cut(game, 60)
    assert [len(p) for p in pieces] == [60, 60, 60, 60, 14]
    for a, b in zip(pieces, pieces[1:]):
        assert a[-1] == b[0]  # the next piece's first input
    assert sum(len(p) - 1 for p in pieces) == len(game) - 1
    assert [m for p in pieces for m in p[1:]] == game[1:]  # every predicted move, once, in order
    assert games.cut(game[:60], 60) == [game[:60]]
    assert [len(p) for p in games.cut(game[:65], 60)] == [65]  # a short tail joins the piece before
    batches = games.GameBatches([game, game[:30]], batch_size=2, seed=0, window=60)
    assert sum(yb.sum() for _, yb in batches.batches) == len(game) - 1 + 29
    assert max(xb.shape[1] for xb, _ in batches.batches) == 59


def test_the_first_two_batches_differ_in_length_so_keras_keeps_the_length_free():
    played = [[0, 1, 2] * 20] * 40 + [[1, 2] * 10] * 4  # mostly one length
    for seed in range(10):
        batches = games.GameBatches(played, batch_size=4, seed=seed)
        for _ in range(3):
            assert batches[0][0].shape[1] != batches[1][0].shape[1]
            batches.on_epoch_end()


@pytest.mark.parametrize("one_hot", [True, False])
def test_turned_batches_rename_every_move_by_the_same_turn(one_hot):
    played = [[0, 1, 2, 2, 1] * 3, [2, 2, 0, 1] * 4]
    plain = games.GameBatches(played, batch_size=2, one_hot=one_hot, shuffle=False)
    turned = games.GameBatches(
        played, batch_size=2, one_hot=one_hot, shuffle=False, seed=1, rotate=True
    )
    x, y = plain[0]
    turns = set()
    for _ in range(12):
        xt, yt = turned[0]
        real = y.sum(-1) == 1
        turn = int((yt[real].argmax(-1) - y[real].argmax(-1))[0]) % 3
        assert np.all((yt[real].argmax(-1) - y[real].argmax(-1)) % 3 == turn)
        assert np.all(yt[~real] == 0)
        moves = x.argmax(-1) if one_hot else x[..., 0]
        moves_t = xt.argmax(-1) if one_hot else xt[..., 0]
        assert np.all((moves_t[real] - moves[real]) % 3 == turn)
        if not one_hot:
            assert np.all(xt[~real] == -1)  # padding stays padding
        turns.add(turn)
    assert turns == {0, 1, 2}

"""chapter2.game: the rules, the simple predictors, the model stepped one move
at a time, the model against simulated players, loading a saved model, and
the terminal game's input."""

import io

import keras
import numpy as np
import pytest
from keras import layers

from chapter2.data import games
from chapter2.game import baselines, rules, saved_model, stepper, terminal, versus
from chapter2.run.errors import InputError
from chapter2.standins import players


def small_model(one_hot=True, activation="tanh", units=8):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((None, 3 if one_hot else 1)),
            layers.Masking(games.pad_value(one_hot)),
            layers.LSTM(units, return_sequences=True, activation=activation),
            layers.LSTM(units, return_sequences=True, activation=activation),
            layers.Dense(8, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    return model


def test_rules_and_simple_predictors():
    assert [rules.beats(m) for m in range(3)] == [1, 2, 0]
    assert rules.outcome(1, 0) == 1 and rules.outcome(0, 1) == -1 and rules.outcome(2, 2) == 0
    game = [0, 0, 1, 1, 1, 2]
    assert baselines.repeat_last(game) == [0, 0, 1, 1, 1]
    assert baselines.most_frequent(game) == [0, 0, 0, 0, 1]  # ties go to the lower move
    assert baselines.accuracy([baselines.repeat_last(game)], [game]) == pytest.approx(3 / 5)


def test_ngram_reader_learns_a_periodic_player_within_a_few_periods():
    pattern = [0, 2, 2, 1, 0, 1, 1]  # period 7: no context of one move decides it
    game = pattern * 12
    for k in (3, 4):
        predicted = baselines.ngram(game, k)
        # Right at every move from the third period on: the table has seen each context.
        assert predicted[2 * len(pattern) :] == game[2 * len(pattern) + 1 :], k
    # one move of context is not enough
    assert baselines.accuracy([baselines.ngram(game, 1)], [game]) < 0.7
    acc, k = baselines.best_ngram([game], k_max=5)
    assert k == 3 and acc > 0.85  # the shortest context that decides it: "1 0" comes before 1 and 2


def test_ngram_reader_backs_off_to_shorter_contexts_and_repeats_the_last_move_at_first():
    reader = baselines.NGramReader(3)
    assert reader.predict() is None
    reader.update(2)
    assert reader.predict() == 2  # nothing known: repeat the last move
    for m in (0, 1, 0, 1, 0):
        reader.update(m)
    assert reader.predict() == 1  # after 0 came 1 every time
    reader.update(2)  # the contexts (1, 0, 2), (0, 2) are new ...
    assert reader.predict() == 0  # ... (2,) was followed by 0 once
    ties = baselines.NGramReader(1)
    for m in (0, 1, 0, 2, 0):
        ties.update(m)
    assert ties.predict() == 2  # 1 and 2 followed 0 once each: the latest wins
    with pytest.raises(ValueError):
        baselines.NGramReader(0)


def test_every_context_length_in_one_pass_is_each_table_on_its_own():
    rng = np.random.default_rng(2)
    played = [players.fresh_games(kind, 3, 1, 120)[0] for kind in ("sequence", "switching", "runs")]
    for game in played:
        every = baselines.ngrams(game, 6)
        assert all(every[k] == baselines.ngram(game, k) for k in range(1, 7))
    acc, k = baselines.best_ngram(played, k_max=6)
    assert acc == max(
        baselines.accuracy([baselines.ngram(g, j) for g in played], played) for j in range(1, 7)
    )
    assert acc == baselines.accuracy([baselines.ngram(g, k) for g in played], played)
    assert (
        baselines.accuracy(
            [[int(m) for m in rng.integers(3, size=len(g) - 1)] for g in played], played
        )
        < acc
    )


def test_ngram_reader_stays_online_it_never_sees_the_move_it_predicts():
    rng = np.random.default_rng(1)
    game = [int(m) for m in rng.integers(3, size=3000)]
    for k in (1, 3, 6):
        assert abs(baselines.accuracy([baselines.ngram(game, k)], [game]) - 1 / 3) < 0.04


@pytest.mark.parametrize("one_hot, activation", [(True, "tanh"), (False, "sigmoid")])
def test_stepper_gives_the_same_probabilities_as_predict(one_hot, activation):
    model = small_model(one_hot, activation)
    game = [0, 1, 1, 2, 0, 2, 2, 2, 1, 0, 0, 1]
    expected = np.asarray(model(games.encode(game, one_hot)[None]))[0]
    np.testing.assert_allclose(stepper.Stepper(model).run(game), expected, atol=1e-5)


def test_other_models_are_refused_in_one_line(tmp_path):
    gru = keras.Sequential(
        [
            keras.Input((None, 3)),
            layers.GRU(4, return_sequences=True),
            layers.Dense(3, activation="softmax"),
        ]
    )
    with pytest.raises(InputError, match="unexpected layer"):
        stepper.layer_stack(gru)
    flat = keras.Sequential([keras.Input((5,)), layers.Dense(3, activation="softmax")])
    with pytest.raises(InputError, match="input shape"):
        stepper.layer_stack(flat)
    with pytest.raises(InputError, match="no such model file"):
        saved_model.load_model(tmp_path / "nothing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="cannot load a Keras model") as err:
        saved_model.load_model(tmp_path / "junk.h5")
    assert "\n" not in str(err.value)


def test_model_beats_chance_and_repeat_last_on_held_out_habitual_players():
    """Trained on players who double their moves (001122...), with 10% random
    moves, the model predicts new such players' next moves better than
    chance and than repeating the last move (right about half the time)."""
    rng = np.random.default_rng(11)

    def played(n, moves):
        return [
            players.play_game(
                players.Player(["double"], rng, noise=0.1), players.random_opponent(rng), moves
            )[0]
            for _ in range(n)
        ]

    train, held_out = played(24, 40), played(6, 60)
    model = small_model(units=16)
    model.fit(games.GameBatches(train, batch_size=12, seed=0), epochs=20, verbose=0)
    probs = model.predict(games.windows(held_out)[0], verbose=0)
    model_acc = baselines.accuracy(
        [probs[i, : len(g) - 1].argmax(-1) for i, g in enumerate(held_out)], held_out
    )
    repeat_acc = baselines.accuracy([baselines.repeat_last(g) for g in held_out], held_out)
    assert repeat_acc < 0.6
    assert model_acc > max(1 / 3, repeat_acc) + 0.1, (model_acc, repeat_acc)


def always_expects(move):
    """A model that predicts `move` whatever it sees (its last layer's bias)."""
    model = small_model()
    kernel, bias = model.layers[-1].get_weights()
    bias[:] = -20.0
    bias[move] = 20.0
    model.layers[-1].set_weights([kernel * 0, bias])
    return model


def test_the_model_plays_what_beats_the_move_it_expects():
    rock = always_expects(0)  # so it plays paper from the second round on

    def repeater(first):
        def make():
            player = players.Player(["repeat"], np.random.default_rng(1), noise=0.0)
            player.habits[0].start = first
            return player

        return make

    # Round 1 is a random move; then paper every round: it beats rock,
    # draws with paper and loses to scissors, every time.
    for first, result in ((0, "win"), (1, "draw"), (2, "loss")):
        counts = versus.play_against(rock, repeater(first), moves=30, games=4)
        assert (
            counts["win"] + counts["draw"] + counts["loss"] == 120 and counts[result] >= 4 * 29
        ), (first, counts)
        # It expects rock: right about a rock player only; the table reads every repeater from move 2 on.
        assert counts["reads"] == 4 * 29 and counts["ngram_read"] == 4 * 29
        assert counts["model_read"] == (4 * 29 if first == 0 else 0)
    assert versus.against_habits(rock, 0, 30, 0.1, seed=7) == {}
    rates = versus.against_habits(rock, 1, 30, 0.0, seed=7)
    assert set(rates) == set(players.KINDS)
    r = rates["repeat"]  # one repeater: the same result in every round but the first
    assert max(r["win"], r["draw"], r["loss"]) >= 0.96 and r["ngram_read"] == 1.0
    # wrong at first only
    assert rates["cycle_up"]["ngram_read"] >= 0.85 and rates["random"]["ngram_read"] < 0.7


def test_terminal_reads_words_and_ignores_what_is_not_a_move(tmp_path):
    data = tmp_path / "data.txt"
    data.write_bytes(b"0120120120\n")
    out = io.StringIO()
    you, them, score = terminal.play_terminal(
        always_expects(0),
        data,
        min_moves=3,
        stdin=io.StringIO("r x\npaper\n s SCISSORS\nq r\n"),
        out=out,
    )
    assert (
        you == [0, 1, 2, 2]
        and len(them) == 4
        and score["you"] + score["model"] + score["draws"] == 4
    )
    # Expecting rock, the model reads none of paper, scissors, scissors; the table, repeating
    # the last move until it knows better, reads the second scissors.
    assert (score["model_read"], score["ngram_read"], score["reads"]) == (0, 1, 3)
    assert them[1:] == [1, 1, 1]  # expecting rock, it plays paper
    assert score["you"] >= 2 and score["draws"] >= 1  # paper against paper, scissors twice
    text = out.getvalue()
    assert text.count("round ") == 4 and "ignored 'x'" in text and "saved your 4 moves" in text
    assert (
        "model expected rock (100%), right 0/3 (0%) | lookup table expected scissors, right 1/3 (33%)"
        in text
    )
    assert text.splitlines()[-1] == (
        "the model read 0/3 (0%) of your moves, the lookup table 1/3 (33%); "
        f"final score: you {score['you']} - model {score['model']} - draws "
        f"{score['draws']} in 4 rounds"
    )
    assert data.read_bytes() == b"0120120120\n0122\n"


def test_bytes_that_are_not_utf8_are_no_move(tmp_path):
    class Raw(io.StringIO):
        buffer = io.BytesIO(b"\xff\xfe r p q\n")

    out = io.StringIO()
    you, _, _ = terminal.play_terminal(
        always_expects(0), tmp_path / "data.txt", stdin=Raw(), out=out
    )
    assert you == [0, 1]
    assert "ignored '\\ufffd\\ufffd'" in out.getvalue() and "not saved" in out.getvalue()
    assert not (tmp_path / "data.txt").exists()


def test_a_game_that_cannot_be_saved_is_shown_not_lost(tmp_path, monkeypatch):
    def full_disk(path, moves):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(terminal, "append_game", full_disk)
    out = io.StringIO()
    terminal.play_terminal(
        always_expects(0), tmp_path / "data.txt", min_moves=2, stdin=io.StringIO("r p s"), out=out
    )
    assert "could not save your game" in out.getvalue() and "your moves were 012" in out.getvalue()

"""chapter2.standins.players: the simulated players and the data.txt they write."""

import numpy as np
import pytest
from conftest import ROOT

from chapter2.data import games
from chapter2.standins import players


def test_generator_is_deterministic_per_seed_and_its_output_parses():
    a = players.format_games(players.generate_games(seed=7))
    b = players.format_games(players.generate_games(seed=7))
    c = players.format_games(players.generate_games(seed=8))
    assert a == b and a != c
    lengths = [len(g) for g in games.parse_games(a.encode(), notice=None)]
    assert len(lengths) == players.GAMES
    assert abs(sum(lengths) - players.MOVES) <= 0.02 * players.MOVES
    assert min(lengths) >= 10 and max(lengths) >= 200  # 10 to a few hundred moves


def test_generator_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "data.txt"
    assert players.main(["--seed", "3", "--games", "6", "--moves", "300", "--out", str(out)]) == 0
    assert players.main(["--seed", "3", "--games", "6", "--moves", "300"]) == 0
    assert out.read_text() == capsys.readouterr().out
    assert len(games.parse_games(out.read_bytes(), notice=None)) == 6


def test_the_repository_data_file_is_what_the_documented_command_writes():
    # (games played with --play may follow)
    assert (
        (ROOT / "data.txt")
        .read_text()
        .startswith(players.format_games(players.generate_games(seed=7)))
    )


def test_every_kind_of_player_is_deterministic_per_seed_and_fresh_games_differ_from_the_data():
    data = {"".join(map(str, g)) for g in players.generate_games(seed=7)}
    for kind in players.KINDS:
        a = players.fresh_games(kind, seed=7, games=3, moves=40)
        assert a == players.fresh_games(kind, seed=7, games=3, moves=40), kind
        assert a != players.fresh_games(kind, seed=8, games=3, moves=40), kind
        assert all(len(g) == 40 and set(g) <= {0, 1, 2} for g in a)
        assert not any("".join(map(str, g)) in data for g in a)  # not a game of data.txt


@pytest.mark.parametrize(
    "habit, expected",
    [
        ("repeat", [1, 1, 1, 1, 1, 1, 1]),
        ("cycle_up", [1, 2, 0, 1, 2, 0, 1]),
        ("cycle_down", [1, 0, 2, 1, 0, 2, 1]),
        ("double", [1, 1, 2, 2, 0, 0, 1]),
    ],
)
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
    wsls.habits[0].start = 2  # scissors loses to rock ...
    mine, _ = players.play_game(wsls, lambda a, b: 0, 4)
    assert mine == [2, 1, 1, 1]  # ... so shift to paper, which wins: stay


def test_sequence_runs_and_biased_players():
    rng = np.random.default_rng(4)
    seq = players.Player(["sequence"], rng, noise=0.0)
    pattern = seq.habits[0].sequence
    assert 3 <= len(pattern) <= 8 and len(set(pattern)) >= 2
    mine, _ = players.play_game(seq, lambda a, b: 0, 3 * len(pattern))
    assert mine == pattern * 3
    lengths = set()
    for _ in range(20):
        runs = players.Player(["runs"], rng, noise=0.0)
        mine, _ = players.play_game(runs, lambda a, b: 0, 60)
        changes = [i for i in range(1, 60) if mine[i] != mine[i - 1]]
        steps = {b - a for a, b in zip(changes, changes[1:])}
        assert steps == {runs.habits[0].run}  # every run of moves as long as the player's
        lengths.add(runs.habits[0].run)
    assert lengths == {2, 3}
    biased = players.Player(["biased"], rng, noise=0.0)
    mine, _ = players.play_game(biased, lambda a, b: 0, 2000)
    shares = np.bincount(mine, minlength=3) / 2000
    assert abs(shares[biased.habits[0].start] - 0.6) < 0.04 and shares.min() > 0.15


def test_players_that_react_to_the_opponent():
    rng = np.random.default_rng(5)
    theirs = [2, 0, 1, 1, 0, 2, 2]
    for habit, rule in (("beat_last", lambda m: (m + 1) % 3), ("copy", lambda m: m)):
        player = players.Player([habit], rng, noise=0.0)
        mine, _ = players.play_game(player, lambda a, b: theirs[len(b)], len(theirs))
        assert mine[1:] == [rule(m) for m in theirs[:-1]], habit
    bot = players.bot_opponent(rng, focus=1.0)  # always what beats the player's last move
    assert [bot([0], []), bot([0, 1], []), bot([2], [])] == [1, 2, 0]


def test_back_and_forth_players_take_turns_again_and_again():
    rng = np.random.default_rng(6)
    player = players.make_player("back_and_forth", rng, noise=0.0, moves=100)
    a, b = player.habits
    first, second = player.switch_every
    assert a.name != b.name and 8 <= first <= 20 and 8 <= second <= 20
    period = first + second
    assert [player._habit(t) for t in (0, first, period, period + first, 3 * period)] == [
        a,
        b,
        a,
        b,
        a,
    ]
    assert "back_and_forth" not in players.IN_DATA and "random" not in players.IN_DATA


def test_players_switch_habits_mid_game():
    player = players.Player(
        ["repeat", "cycle_up"], np.random.default_rng(0), noise=0.0, switch_every=[5]
    )
    player.habits[0].start = 0
    mine, _ = players.play_game(player, lambda a, b: 0, 9)
    assert mine == [0, 0, 0, 0, 0, 1, 2, 0, 1]

"""chapter2.standins.players: the simulated players and the data.txt they write."""

import numpy as np
import pytest

from chapter2.data import games
from chapter2.standins import players
from conftest import ROOT


def test_generator_is_deterministic_per_seed_and_its_output_parses():
    a = players.format_games(players.generate_games(seed=7))
    b = players.format_games(players.generate_games(seed=7))
    c = players.format_games(players.generate_games(seed=8))
    assert a == b and a != c
    lengths = [len(g) for g in games.parse_games(a.encode(), notice=None)]
    assert 30 <= len(lengths) <= 60                    # a few dozen games
    assert 4500 <= sum(lengths) <= 5500                # about 5,000 moves
    assert min(lengths) >= 10 and max(lengths) >= 200  # 10 to several hundred moves


def test_generator_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "data.txt"
    assert players.main(["--seed", "3", "--games", "6", "--moves", "300", "--out", str(out)]) == 0
    assert players.main(["--seed", "3", "--games", "6", "--moves", "300"]) == 0
    assert out.read_text() == capsys.readouterr().out
    assert len(games.parse_games(out.read_bytes(), notice=None)) == 6


def test_the_repository_data_file_is_what_the_documented_command_writes():
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

"""Simulated rock-paper-scissors players with human habits, and data.txt.

Moves are 0 = rock, 1 = paper, 2 = scissors; ``(m + 1) % 3`` beats ``m``.
Each habit is a rule for the next move from the moves so far (the player's
own, and the opponent's for win-stay/lose-shift):

    repeat               plays the same move again and again      0000...
    cycle_up             rock, paper, scissors, rock, ...         0120...
    cycle_down           rock, scissors, paper, rock, ...         0210...
    double               every move twice, cycling up             001122...
    alternate            two moves in turn                        1212...
    win_stay_lose_shift  keeps a winning move; after a loss or a draw,
                         plays what would have beaten the opponent's last move

A player has one habit, or switches habits mid-game, and makes a random move
instead of its habit's with some probability (noise). ``random`` (no habit at
all) exists for comparisons; it is not in the generated data.

Write the project's data.txt (deterministic per seed; written atomically):

    python -m chapter2.standins.players --seed 7 --out data.txt
    python -m chapter2.standins.players --seed 3 --games 10       # to stdout
"""

import argparse
import math
import sys

import numpy as np

from chapter2.game.rules import beats, outcome
from chapter2.run.errors import InputError
from chapter2.run.files import atomic_path

HABITS = ("repeat", "cycle_up", "cycle_down", "double", "alternate", "win_stay_lose_shift")


class Habit:
    """One habit: ``move(mine, theirs)`` -> the habit's next move."""

    def __init__(self, name, rng):
        if name not in HABITS and name != "random":
            raise ValueError(f"unknown habit {name!r}")
        self.name = name
        self.rng = rng
        self.start = int(rng.integers(3))                    # the first move
        pair = rng.choice(3, size=2, replace=False)          # for `alternate`
        self.pair = (int(pair[0]), int(pair[1]))

    def move(self, mine, theirs):
        name, rng = self.name, self.rng
        if name == "random":
            return int(rng.integers(3))
        if not mine:
            return self.pair[0] if name == "alternate" else self.start
        last = mine[-1]
        if name == "repeat":
            return last
        if name == "cycle_up":
            return (last + 1) % 3
        if name == "cycle_down":
            return (last + 2) % 3
        if name == "double":
            return (last + 1) % 3 if len(mine) >= 2 and mine[-2] == last else last
        if name == "alternate":
            a, b = self.pair
            if last == a:
                return b
            if last == b:
                return a
            return a                                         # after a noisy move, back to the pair
        # win_stay_lose_shift
        if not theirs:
            return last
        return last if outcome(last, theirs[-1]) > 0 else beats(theirs[-1])


class Player:
    """A simulated person: a schedule of habits (switching after a number of
    moves) and a noise level (the chance of a random move instead)."""

    def __init__(self, habits, rng, noise=0.1, switch_every=None):
        self.rng = rng
        self.habits = [Habit(h, rng) for h in habits]
        self.noise = float(noise)
        self.switch_every = list(switch_every or [])       # segment lengths
        self.name = "+".join(habits)

    def _habit(self, t):
        end = 0
        for habit, length in zip(self.habits, self.switch_every):
            end += length
            if t < end:
                return habit
        return self.habits[min(len(self.switch_every), len(self.habits) - 1)]

    def move(self, mine, theirs):
        if self.noise and self.rng.random() < self.noise:
            return int(self.rng.integers(3))
        return self._habit(len(mine)).move(mine, theirs)


def play_game(player, opponent, moves):
    """`moves` rounds between a Player and an opponent (a function
    ``opponent(theirs, mine) -> move``, seeing the player's moves as
    `theirs`). Returns (player's moves, opponent's moves)."""
    mine, theirs = [], []
    for _ in range(moves):
        a = player.move(mine, theirs)
        b = opponent(mine, theirs)
        mine.append(a)
        theirs.append(b)
    return mine, theirs


def random_opponent(rng):
    return lambda player_moves, own_moves: int(rng.integers(3))


def random_player(rng, noise_range=(0.0, 0.2), switch_chance=0.4):
    """A player as in data.txt: one habit, or two to four in turn; some noise."""
    noise = rng.uniform(*noise_range)
    if rng.random() < switch_chance:
        k = int(rng.integers(2, 5))
        habits = [str(h) for h in rng.choice(HABITS, size=k, replace=False)]
        return Player(habits, rng, noise, switch_every=None), k
    return Player([str(rng.choice(HABITS))], rng, noise), 1


def game_lengths(rng, games, total, low=10, high=400):
    """`games` lengths between `low` and `high`, many short and a few long
    (log-uniform), scaled so that they add up to about `total`."""
    raw = np.exp(rng.uniform(math.log(low), math.log(high), size=games))
    for _ in range(20):
        lengths = np.clip(np.round(raw), low, high)
        if abs(lengths.sum() - total) < 0.02 * total:
            break
        raw = raw * total / lengths.sum()
    return [int(n) for n in np.clip(np.round(raw), low, high)]


def generate_games(seed=7, games=45, total_moves=5000, min_moves=10, max_moves=400):
    """The games of data.txt: a list of move lists, deterministic per seed.

    Each game is one simulated player against an opponent who plays at
    random (what win-stay/lose-shift reacts to). About four in ten players
    switch habits once or more during the game."""
    rng = np.random.default_rng(seed)
    out = []
    for n in game_lengths(rng, games, total_moves, min_moves, max_moves):
        player, segments = random_player(rng)
        if segments > 1:
            places = np.arange(5, max(n - 4, 6))         # switch after 5+ moves, 5+ before the end
            cuts = np.sort(rng.choice(places, size=min(segments - 1, len(places)), replace=False))
            player.switch_every = list(np.diff(np.concatenate([[0], cuts])).astype(int))
        mine, _ = play_game(player, random_opponent(rng), n)
        out.append(mine)
    return out


def format_games(games):
    return "".join("".join(str(m) for m in g) + "\n" for g in games)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m chapter2.standins.players",
        description="Write rock-paper-scissors games of simulated players, one game per line "
                    "(0 = rock, 1 = paper, 2 = scissors).")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    parser.add_argument("--games", type=int, default=45, help="number of games (default: 45)")
    parser.add_argument("--moves", type=int, default=5000, help="about this many moves in all (default: 5000)")
    parser.add_argument("--out", default=None, help="write this file (atomically) instead of stdout")
    args = parser.parse_args(argv)
    if args.games < 1 or args.moves < 10 * args.games:
        print("error: --games must be at least 1 and --moves at least 10 per game", file=sys.stderr)
        return 2
    text = format_games(generate_games(args.seed, args.games, args.moves))
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            with atomic_path(args.out) as tmp:
                tmp.write_text(text)
        except OSError as err:
            raise InputError(f"--out {args.out}: cannot write ({err.strerror})") from None
        lines = text.count("\n")
        print(f"wrote {args.out}: {lines} games, {len(text) - lines} moves", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from chapter2.run import flags

    sys.exit(flags.run(main))

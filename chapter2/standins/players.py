"""Simulated rock-paper-scissors players with human habits, and data.txt.

Moves are 0 = rock, 1 = paper, 2 = scissors; ``(m + 1) % 3`` beats ``m``.
Each habit is a rule for the next move from the moves so far (the player's
own, and the opponent's for the habits that react to it):

    repeat               plays the same move again and again           0000...
    cycle_up             rock, paper, scissors, rock, ...              0120...
    cycle_down           rock, scissors, paper, rock, ...              0210...
    alternate            two moves in turn                             1212...
    double               every move twice, cycling up                  001122...
    sequence             a sequence of 3 to 8 moves of its own, again
                         and again (periods 3 to 8)                    0210102102...
    runs                 each move 2 or 3 times in a row (the player's
                         own number), then another move at random       2200011...
    biased               its favourite move 60 % of the time, else one
                         of the other two at random
    win_stay_lose_shift  keeps a winning move; after a loss or a draw,
                         plays what would have beaten the opponent's last move
    beat_last            plays what would have beaten the opponent's last move
    copy                 plays the opponent's last move

A player has one habit, or changes habit mid-game (``switching``: two or
three habits one after the other), and makes a random move instead of its
habit's with some probability (noise). Two kinds exist only to test on:
``back_and_forth`` (two habits taking turns every 8 to 20 moves, again and
again: a mix that data.txt never holds) and ``random`` (no habit at all).

In data.txt each game is one player against an opponent who either plays at
random or, as a simple bot would, mostly plays what beats the player's last
move (what the reacting habits then react to).

Write the project's data.txt (deterministic per seed; written atomically):

    python -m chapter2.standins.players --seed 7 --out data.txt
    python -m chapter2.standins.players --seed 3 --games 10 --moves 500   # to stdout
"""

import argparse
import math
import sys

import numpy as np

from chapter2.game.rules import beats, outcome
from chapter2.run.errors import InputError
from chapter2.run.files import atomic_path

HABITS = (
    "repeat",
    "cycle_up",
    "cycle_down",
    "alternate",
    "double",
    "sequence",
    "runs",
    "biased",
    "win_stay_lose_shift",
    "beat_last",
    "copy",
)
KINDS = HABITS + ("switching", "back_and_forth", "random")  # kinds of player to test on
IN_DATA = HABITS + ("switching",)  # the kinds data.txt holds
GAMES = 2000  # data.txt's games (see generate_games for why so many)
MOVES = 150000  # data.txt's moves, about
# In data.txt, a player's habit is drawn with these weights (others: 1): a
# sequence of up to 8 moves of its own is the hardest habit to learn to
# read (thousands of possible sequences), a bias the next hardest.
HABIT_WEIGHTS = {"sequence": 4, "biased": 2}


class Habit:
    """One habit: ``move(mine, theirs)`` -> the habit's next move."""

    def __init__(self, name, rng):
        if name not in HABITS and name != "random":
            raise ValueError(f"unknown habit {name!r}")
        self.name = name
        self.rng = rng
        self.start = int(rng.integers(3))  # the first move
        pair = rng.choice(3, size=2, replace=False)  # for `alternate`
        self.pair = (int(pair[0]), int(pair[1]))
        self.sequence = [int(m) for m in rng.integers(3, size=int(rng.integers(3, 9)))]
        while len(set(self.sequence)) < 2:  # never a plain repeat
            self.sequence = [int(m) for m in rng.integers(3, size=len(self.sequence))]
        self.run = int(rng.integers(2, 4))  # for `runs`
        self.t = 0  # moves made with this habit

    def move(self, mine, theirs):
        name, rng = self.name, self.rng
        t, self.t = self.t, self.t + 1
        if name == "random":
            return int(rng.integers(3))
        if name == "sequence":
            return self.sequence[t % len(self.sequence)]
        if name == "biased":
            return self.start if rng.random() < 0.6 else (self.start + int(rng.integers(1, 3))) % 3
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
        if name == "runs":
            same = 1
            while same < len(mine) and mine[-1 - same] == last:
                same += 1
            return last if same < self.run else (last + int(rng.integers(1, 3))) % 3
        if name == "alternate":
            a, b = self.pair
            if last == a:
                return b
            if last == b:
                return a
            return a  # after a noisy move, back to the pair
        if not theirs:
            return last
        if name == "beat_last":
            return beats(theirs[-1])
        if name == "copy":
            return theirs[-1]
        # win_stay_lose_shift
        return last if outcome(last, theirs[-1]) > 0 else beats(theirs[-1])


class Player:
    """A simulated person: a schedule of habits (switching after a number of
    moves; with `again`, the schedule starts over when it ends) and a noise
    level (the chance of a random move instead)."""

    def __init__(self, habits, rng, noise=0.1, switch_every=None, again=False):
        self.rng = rng
        self.habits = [Habit(h, rng) for h in habits]
        self.noise = float(noise)
        self.switch_every = list(switch_every or [])  # segment lengths
        self.again = bool(again)
        self.name = "+".join(habits)

    def _habit(self, t):
        if self.again and self.switch_every:
            t %= sum(self.switch_every)
        end = 0
        for habit, length in zip(self.habits, self.switch_every):
            end += length
            if t < end:
                return habit
        return self.habits[min(len(self.switch_every), len(self.habits) - 1)]

    def move(self, mine, theirs):
        habit = self._habit(len(mine))
        if self.noise and self.rng.random() < self.noise:
            habit.t += 1  # a slip: the habit's place moves on
            return int(self.rng.integers(3))
        return habit.move(mine, theirs)


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


def bot_opponent(rng, focus=0.7):
    """An opponent who, `focus` of the time, plays what beats the player's
    last move (it expects a repeat), and otherwise plays at random."""

    def play(player_moves, own_moves):
        if player_moves and rng.random() < focus:
            return beats(player_moves[-1])
        return int(rng.integers(3))

    return play


def any_opponent(rng):
    """The opponent of a game of data.txt: at random or a bot, half and half."""
    return random_opponent(rng) if rng.random() < 0.5 else bot_opponent(rng)


def make_player(kind, rng, noise, moves):
    """A new player of one of KINDS for a game of `moves` moves: one habit;
    ``switching``: two or three different habits one after the other, the
    changes at random places (5+ moves from either end); ``back_and_forth``:
    two habits taking turns every 8 to 20 moves; ``random``: no habit (and
    no noise to add)."""
    if kind == "random":
        return Player(["random"], rng, 0.0)
    if kind == "switching":
        k = int(rng.integers(2, 4))
        habits = [str(h) for h in rng.choice(HABITS, size=k, replace=False)]
        places = np.arange(5, max(moves - 4, 6))
        cuts = np.sort(rng.choice(places, size=min(k - 1, len(places)), replace=False))
        return Player(
            habits, rng, noise, switch_every=[int(n) for n in np.diff(np.concatenate([[0], cuts]))]
        )
    if kind == "back_and_forth":
        habits = [str(h) for h in rng.choice(HABITS, size=2, replace=False)]
        return Player(
            habits,
            rng,
            noise,
            switch_every=[int(n) for n in rng.integers(8, 21, size=2)],
            again=True,
        )
    if kind not in HABITS:
        raise ValueError(f"unknown kind of player {kind!r}")
    return Player([kind], rng, noise)


def random_player(rng, moves, noise_range=(0.0, 0.2), switch_chance=0.3):
    """A player as in data.txt: one habit, or, 3 times in 10, `switching`;
    a noise level between 0 and 20 %. The habits that take the most
    examples to learn are drawn more often (HABIT_WEIGHTS)."""
    noise = rng.uniform(*noise_range)
    weights = np.array([HABIT_WEIGHTS.get(h, 1) for h in HABITS], dtype=float)
    kind = (
        "switching"
        if rng.random() < switch_chance
        else str(rng.choice(HABITS, p=weights / weights.sum()))
    )
    return make_player(kind, rng, noise, moves)


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


def generate_games(seed=7, games=GAMES, total_moves=MOVES, min_moves=10, max_moves=400):
    """The games of data.txt: a list of move lists, deterministic per seed.

    Game lengths run from 10 to 400 moves, many short and a few long. The
    size: a reader of players has to learn every habit from examples, with
    every sequence of up to 8 moves a possible pattern, and from games that
    start at any point of a pattern; with fewer games the network learns
    the habits it saw and reads new players worse than a lookup table does
    (docs/rock-paper-scissors.md measures it)."""
    rng = np.random.default_rng(seed)
    out = []
    for n in game_lengths(rng, games, total_moves, min_moves, max_moves):
        player = random_player(rng, n)
        mine, _ = play_game(player, any_opponent(rng), n)
        out.append(mine)
    return out


def fresh_games(kind, seed, games, moves, noise=0.1):
    """`games` new games of `moves` moves, each by a new player of `kind`
    (one of KINDS) against data.txt's kind of opponent; deterministic per
    seed, and other seeds than data.txt's make players it never held."""
    rng = np.random.default_rng([seed, 2000 + KINDS.index(kind)])
    return [
        play_game(make_player(kind, rng, noise, moves), any_opponent(rng), moves)[0]
        for _ in range(games)
    ]


def format_games(games):
    return "".join("".join(str(m) for m in g) + "\n" for g in games)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m chapter2.standins.players",
        description="Write rock-paper-scissors games of simulated players, one game per line "
        "(0 = rock, 1 = paper, 2 = scissors).",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    parser.add_argument(
        "--games", type=int, default=GAMES, help=f"number of games (default: {GAMES})"
    )
    parser.add_argument(
        "--moves", type=int, default=MOVES, help=f"about this many moves in all (default: {MOVES})"
    )
    parser.add_argument(
        "--out", default=None, help="write this file (atomically) instead of stdout"
    )
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

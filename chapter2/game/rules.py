"""The rules of rock, paper, scissors: moves are 0 = rock, 1 = paper, 2 = scissors."""

MOVE_NAMES = ("rock", "paper", "scissors")


def beats(move):
    """The move that beats `move`: paper beats rock, scissors paper, rock scissors."""
    return (move + 1) % 3


def outcome(mine, theirs):
    """+1 if `mine` beats `theirs`, -1 if it loses, 0 for a draw."""
    if mine == theirs:
        return 0
    return 1 if mine == beats(theirs) else -1

"""The two kinds of failure a script reports without a traceback."""


class InputError(Exception):
    """Bad input from the user: a flag, a value or a file.

    The message is one line that names what was wrong and what was expected.
    Scripts end with exit status 2 when they see one.
    """


class TrainingDiverged(Exception):
    """The loss became NaN or infinite, so training was stopped."""

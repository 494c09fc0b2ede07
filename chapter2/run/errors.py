"""The two kinds of failure a script reports without a traceback."""


class InputError(Exception):
    """Bad input (a flag, a value or a file), told in one line that names what was wrong and
    what was expected. Scripts end with exit status 2 when they see one."""


class TrainingDiverged(Exception):
    """The loss became NaN or infinite, so training was stopped."""


def brief(err, limit=160):
    """An exception's message on one line (its type name when it has none), cut to `limit`
    characters, for an error or notice line."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."

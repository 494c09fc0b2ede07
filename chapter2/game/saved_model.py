"""Loading a saved rock-paper-scissors model (.h5 or .keras) to play against."""

from pathlib import Path

from chapter2.game.stepper import layer_stack
from chapter2.run.errors import InputError, brief


def load_model(path, flag="--play"):
    """The model saved at `path`, checked to be of this chapter's shape; an
    InputError in one line for a missing file or any other kind of file."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{flag} {path}: no such model file (train one first, or give {flag} without a path)"
        )
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as err:  # any unreadable or foreign file
        raise InputError(
            f"{flag} {path}: cannot load a Keras model from it ({brief(err)})"
        ) from None
    layer_stack(model, f"{flag} {path}")
    return model

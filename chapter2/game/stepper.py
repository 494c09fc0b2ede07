"""A trained rock-paper-scissors model run one move at a time, in NumPy.

The game asks the model for the player's next move after every round.
``model.predict`` on the whole game so far would recompute the past at every
move; ``Stepper`` carries each LSTM's state from one move to the next
instead, for many games at once, with the model's own weights: the same
maths as ``predict`` on the whole sequence (a test checks it).
"""

import numpy as np

from chapter2.data.games import encode
from chapter2.run.errors import InputError


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
    "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
}


class Stepper:
    """The model's LSTM and Dense layers, stepped one move per game at a time."""

    def __init__(self, model):
        self.one_hot, self.layers = layer_stack(model)
        self.reset(1)

    def reset(self, games):
        """Start `games` new games: every LSTM's state back to zeros."""
        self.state = [
            (np.zeros((games, layer["units"])), np.zeros((games, layer["units"])))
            for layer in self.layers
            if layer["kind"] == "lstm"
        ]

    def step(self, moves):
        """Feed one move per game (a sequence of ints); return the predicted
        probabilities of each game's next move, shape (games, 3)."""
        x = encode(moves, self.one_hot).astype("float64")
        k = 0
        for layer in self.layers:
            if layer["kind"] == "lstm":
                h, c = self.state[k]
                z = x @ layer["kernel"] + h @ layer["recurrent"] + layer["bias"]
                i, f, g, o = np.split(z, 4, axis=1)  # Keras' gate order
                ra = layer["recurrent_activation"]
                c = ra(f) * c + ra(i) * layer["activation"](g)
                h = ra(o) * layer["activation"](c)
                self.state[k] = (h, c)
                x, k = h, k + 1
            else:
                z = x @ layer["kernel"] + layer["bias"]
                if layer["softmax"]:
                    z = np.exp(z - z.max(axis=1, keepdims=True))
                    x = z / z.sum(axis=1, keepdims=True)
                else:
                    x = layer["activation"](z)
        return x

    def run(self, game):
        """Probabilities of the next move after each move of `game`, (T, 3)."""
        self.reset(1)
        return np.concatenate([self.step([m]) for m in game])


def layer_stack(model, name="model"):
    """(one_hot, layers as NumPy weights) when `model` is this chapter's kind
    of model: input (None, None, 3 or 1), LSTM layers returning sequences,
    then Dense layers ending in 3 softmax outputs; otherwise an InputError."""

    def bad(why):
        return InputError(
            f"{name}: not a rock-paper-scissors model of this chapter's shape ({why}); "
            "expected inputs (batch, moves, 3 or 1), LSTM layers then Dense layers, "
            "3 softmax outputs"
        )

    try:
        in_shape = tuple(model.inputs[0].shape)
        out_shape = tuple(model.outputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):
        raise bad("no single input and output") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise bad("more than one input or output")
    if len(in_shape) != 3 or in_shape[-1] not in (1, 3):
        raise bad(f"input shape {in_shape}")
    if len(out_shape) != 3 or out_shape[-1] != 3:
        raise bad(f"output shape {out_shape}")
    stack, seen_dense = [], False
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "Masking", "Dropout"):
            continue
        cfg = layer.get_config()
        if kind == "LSTM" and not seen_dense:
            if (
                not cfg.get("return_sequences")
                or cfg.get("go_backwards")
                or not cfg.get("use_bias", True)
            ):
                raise bad(
                    f"LSTM layer {layer.name} must return sequences, run forwards and use a bias"
                )
            act, ract = (
                ACTIVATIONS.get(str(cfg["activation"])),
                ACTIVATIONS.get(str(cfg["recurrent_activation"])),
            )
            if act is None or ract is None:
                raise bad(f"LSTM layer {layer.name} uses an unsupported activation")
            kernel, recurrent, bias = (np.asarray(w, dtype="float64") for w in layer.get_weights())
            stack.append(
                dict(
                    kind="lstm",
                    units=cfg["units"],
                    kernel=kernel,
                    recurrent=recurrent,
                    bias=bias,
                    activation=act,
                    recurrent_activation=ract,
                )
            )
        elif kind == "Dense" and stack:
            seen_dense = True
            weights = layer.get_weights()
            if len(weights) != 2:
                raise bad(f"Dense layer {layer.name} without a bias")
            act_name = cfg["activation"] if isinstance(cfg["activation"], str) else ""
            act = ACTIVATIONS.get(act_name)
            if act is None and act_name != "softmax":
                raise bad(f"Dense layer {layer.name} uses an unsupported activation")
            stack.append(
                dict(
                    kind="dense",
                    kernel=np.asarray(weights[0], dtype="float64"),
                    bias=np.asarray(weights[1], dtype="float64"),
                    activation=act,
                    softmax=act_name == "softmax",
                )
            )
        else:
            raise bad(f"unexpected layer {layer.name} ({kind})")
    if not stack or stack[-1]["kind"] != "dense" or not stack[-1]["softmax"]:
        raise bad("it does not end in a softmax Dense layer")
    return in_shape[-1] == 3, stack

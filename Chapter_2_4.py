"""An LSTM that learns the alphabet: given a letter, predict the next one.

Chapter 2, "Memory and recurrent networks": 25 training pairs A->B ... Y->Z,
each input letter scaled to index/26, each target one-hot over the 26
letters; LSTM(32) -> Dense(26, softmax), adam, categorical cross-entropy,
500 epochs of batch size 1. The chapter's one-letter model gets most letters
right but not all: a single number in, with no memory of what came before,
is a hard input to split 25 ways. The exercises make it better.

Run it:

    python Chapter_2_4.py                  # the chapter's naive model (500 epochs)
    python Chapter_2_4.py --quick          # a smoke run in well under a minute
    python Chapter_2_4.py --seq-length 3   # exercise 8: three letters as three time steps
    python Chapter_2_4.py --help           # every constant below is also a flag

Exercise 8 (more accuracy): SEQ_LENGTH, WINDOW_AS ("timesteps" or
"features"), UNITS, EPOCHS, BATCH_SIZE and STATEFUL (the LSTM carries its
state from one letter to the next through each epoch).
Exercise 9 (several letters): PREDICT_LETTERS letters are generated from every
starting letter by feeding each prediction back in as the next input; the run
reports how many of those sequences are entirely right.

Training runs each epoch's batch-size-1 steps inside one compiled graph
(chapter2/models/epoch_fit.py): the same optimizer steps in the same shuffled order as
model.fit, several times faster. --no-fast-fit trains with plain model.fit.

Writes runs/chapter_2_4/<timestamp>/: TensorBoard logs (loss and accuracy per
epoch), model.keras, next_letter.png (the predicted probability of every next
letter for every input letter), history.csv and metrics.json.
"""

import string
import sys

import keras
import numpy as np
from keras import layers

from chapter2.run import flags, plots, runfolder
from chapter2.models import epoch_fit
from chapter2.run.errors import InputError

# --- Constants: the chapter's settings, and the knobs for its exercises -----
SEQ_LENGTH = 1              # letters in each input window (exercise 8: try 3)
WINDOW_AS = "timesteps"     # "timesteps": a window is SEQ_LENGTH steps of 1 feature;
                            # "features": 1 step of SEQ_LENGTH features (exercise 8)
UNITS = 32                  # LSTM units
EPOCHS = 500
BATCH_SIZE = 1
STATEFUL = False            # keep the LSTM state from letter to letter (in order,
                            # reset each epoch); needs BATCH_SIZE 1 (exercise 8)
PREDICT_LETTERS = 3         # letters to generate from each start letter (exercise 9)
FAST_FIT = True             # one compiled graph per epoch; False: plain model.fit

BACKUP_EVERY = 25           # epochs between resume points (rerun with the same --run-dir)

alphabet = string.ascii_uppercase  # the listing's "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
window_choices = ("timesteps", "features")


def make_pairs(seq_length=SEQ_LENGTH, verbose=True):
    """Every window of `seq_length` letters and the letter after it, as
    letter indices: ([[0], [1], ...], [1, 2, ...]) for seq_length 1.
    Printed as built, like the listing ("A -> B")."""
    data_x, data_y = [], []
    for i in range(len(alphabet) - seq_length):
        seq_in = alphabet[i:i + seq_length]
        seq_out = alphabet[i + seq_length]
        data_x.append([alphabet.index(c) for c in seq_in])
        data_y.append(alphabet.index(seq_out))
        if verbose:
            print(seq_in, "->", seq_out)
    return data_x, data_y


def encode(windows, window_as=WINDOW_AS):
    """Letter-index windows -> the LSTM's input, scaled by 1/26:
    (samples, seq_length, 1) as time steps, (samples, 1, seq_length) as features."""
    windows = np.asarray(windows, dtype="float32")
    n, length = windows.shape
    shape = (n, length, 1) if window_as == "timesteps" else (n, 1, length)
    return np.reshape(windows, shape) / float(len(alphabet))


def one_hot(data_y):
    # The listing's keras.utils.np_utils is gone in Keras 3; to_categorical
    # lives in keras.utils itself.
    return keras.utils.to_categorical(data_y, num_classes=len(alphabet))


def build_model(input_shape, units=UNITS, stateful=False, batch_size=1, unroll=True):
    """The chapter's network: LSTM(units) -> Dense(26, softmax).

    Keras 3 takes the input shape from an Input layer instead of
    LSTM(input_shape=...); a stateful LSTM also needs the batch size fixed
    there (batch_shape; the tutorial's batch_input_shape). unroll=True
    computes exactly the same LSTM; for sequences this short it skips the
    per-step loop and trains faster (False builds the listing's layer as printed).
    """
    if stateful:
        inputs = keras.Input(batch_shape=(batch_size,) + tuple(input_shape), name="letters")
    else:
        inputs = keras.Input(shape=tuple(input_shape), name="letters")
    x = layers.LSTM(units, stateful=stateful, unroll=unroll)(inputs)
    outputs = layers.Dense(len(alphabet), activation="softmax", name="next_letter")(x)
    model = keras.Model(inputs, outputs, name="alphabet_lstm")
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


class ResetStates(keras.callbacks.Callback):
    """Zero a stateful LSTM's memory at the start of every epoch (the
    tutorial's model.reset_states() after each one-epoch fit)."""

    def on_epoch_begin(self, epoch, logs=None):
        epoch_fit.reset_states(self.model)


def train(model, x, y, cfg, callbacks):
    """EPOCHS epochs of BATCH_SIZE, shuffled each epoch unless stateful."""
    shuffle = not cfg.STATEFUL  # a stateful LSTM must see the letters in order
    if cfg.FAST_FIT:
        return epoch_fit.fit(model, x, y, epochs=cfg.EPOCHS, batch_size=cfg.BATCH_SIZE, shuffle=shuffle,
                           reset_states_each_epoch=cfg.STATEFUL, callbacks=callbacks, verbose=2)
    if cfg.STATEFUL:
        callbacks = [ResetStates()] + callbacks
    return model.fit(x, y, epochs=cfg.EPOCHS, batch_size=cfg.BATCH_SIZE, shuffle=shuffle,
                     callbacks=callbacks, verbose=2)


def next_letter_probabilities(model, windows, window_as, stateful=False):
    """The model's probabilities for the letter after each window, (n, 26).
    A stateful model reads the windows in order from a zero state, one by one."""
    x = encode(windows, window_as)
    if not stateful:
        return np.asarray(model(x, training=False))
    epoch_fit.reset_states(model)
    return np.concatenate([np.asarray(model(x[i:i + 1], training=False)) for i in range(len(x))])


def generate(predict, start_windows, n_letters, window_as=WINDOW_AS):
    """Exercise 9: from each start window, predict a letter, slide it into the
    window, predict again, `n_letters` times. `predict(encoded) -> (n, 26)`.
    Returns the generated letter indices, (n_starts, n_letters)."""
    windows = np.array(start_windows, dtype=int).reshape(len(start_windows), -1)
    generated = []
    for _ in range(n_letters):
        nxt = np.asarray(predict(encode(windows, window_as))).argmax(axis=1)
        generated.append(nxt)
        windows = np.concatenate([windows[:, 1:], nxt[:, None]], axis=1)
    return np.stack(generated, axis=1) if generated else np.zeros((len(windows), 0), dtype=int)


def generation_starts(seq_length, n_letters):
    """The start windows whose next `n_letters` letters exist (…Z is last)."""
    return [list(range(i, i + seq_length)) for i in range(len(alphabet) - seq_length - n_letters + 1)]


def generate_from_every_start(model, seq_length, n_letters, window_as, stateful=False):
    """Generated letters and whether each sequence is entirely right."""
    starts = generation_starts(seq_length, n_letters)
    if not stateful:
        def predict(x):
            return model(x, training=False)
        generated = generate(predict, starts, n_letters, window_as)
    else:
        # A stateful model's memory is part of its input: each start is
        # reached the way training reached it, reading the alphabet from A
        # (state reset), then the generated letters are fed back one by one.
        rows = []
        for i, start in enumerate(starts):
            epoch_fit.reset_states(model)
            for window in starts[:i]:
                model(encode([window], window_as), training=False)
            rows.append(generate(lambda x: model(x, training=False), [start], n_letters, window_as)[0])
        generated = np.array(rows)
    truth = np.array([[s[-1] + 1 + k for k in range(n_letters)] for s in starts])
    right = (generated == truth).all(axis=1)
    return starts, generated, right


def heat_map(probabilities, rows, title):
    """26x26: the probability of each next letter (columns) for each input
    letter (rows; the last letter of the window), the true next letter boxed."""
    from matplotlib.patches import Rectangle

    fig, ax = plots.subplots(figsize=(8.5, 8))
    image = ax.imshow(probabilities, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(alphabet)), list(alphabet))
    ax.set_yticks(range(len(alphabet)), list(alphabet))
    ax.set_xlabel("predicted next letter")
    ax.set_ylabel("input letter (last letter of the window)")
    for r in rows:
        if r + 1 < len(alphabet):  # the right answer, boxed
            ax.add_patch(Rectangle((r + 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1))
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="probability")
    return fig


def check_config(cfg):
    if cfg.WINDOW_AS not in window_choices:
        raise InputError(f"--window-as must be one of {', '.join(window_choices)}, got {cfg.WINDOW_AS!r}")
    if cfg.STATEFUL and cfg.BATCH_SIZE != 1:
        raise InputError(f"--stateful needs --batch-size 1 (the state follows one letter to the next), "
                         f"got --batch-size {cfg.BATCH_SIZE}")
    if cfg.SEQ_LENGTH + cfg.PREDICT_LETTERS > len(alphabet) - 1:
        raise InputError(f"--seq-length {cfg.SEQ_LENGTH} plus --predict-letters {cfg.PREDICT_LETTERS} "
                         f"must be at most {len(alphabet) - 1}, so that some start letter has that many "
                         "letters after its window")


def main(argv=None):
    cfg = flags.parse_args(
        globals(), argv,
        quick={"EPOCHS": 10},
        bounds={"SEQ_LENGTH": (1, len(alphabet) - 2), "UNITS": (1, 4096), "EPOCHS": (1, None),
                "BATCH_SIZE": (1, None), "BACKUP_EVERY": (1, None), "PREDICT_LETTERS": (1, len(alphabet) - 2)},
    )
    check_config(cfg)
    run = runfolder.start("chapter_2_4", cfg)

    # --- Data: every window of SEQ_LENGTH letters and the letter after it.
    data_x, data_y = make_pairs(cfg.SEQ_LENGTH)
    x = encode(data_x, cfg.WINDOW_AS)
    y = one_hot(data_y)
    print(f"data: {len(x)} pairs, X {x.shape} (letters as {cfg.WINDOW_AS}, scaled by 1/26), y {y.shape}")

    # --- Model
    model = build_model(x.shape[1:], cfg.UNITS, stateful=cfg.STATEFUL, batch_size=cfg.BATCH_SIZE)
    model.summary()

    # --- Training
    # The run's callbacks (NaN guard, backup, history.csv, TensorBoard), with
    # the backup written every BACKUP_EVERY epochs: saving it after each of
    # 500 epochs of a few milliseconds would take longer than the training.
    callbacks = run.callbacks(samples_per_epoch=len(x), backup_every=cfg.BACKUP_EVERY)
    train(model, x, y, cfg, callbacks)

    # --- Evaluation: accuracy on the pairs, then each input and its prediction.
    probabilities = next_letter_probabilities(model, data_x, cfg.WINDOW_AS, cfg.STATEFUL)
    predicted = probabilities.argmax(axis=1)
    accuracy = float(np.mean(predicted == np.asarray(data_y)))
    loss = float(np.mean(keras.losses.categorical_crossentropy(y, probabilities)))
    print(f"Model Accuracy: {accuracy * 100:.2f}%")
    predictions = {}
    for window, guess in zip(data_x, predicted):
        seq_in = "".join(alphabet[i] for i in window)
        predictions[seq_in] = alphabet[guess]
        print(seq_in, "->", alphabet[guess])

    # --- Exercise 9: several letters, each prediction fed back in.
    starts, generated, right = generate_from_every_start(
        model, cfg.SEQ_LENGTH, cfg.PREDICT_LETTERS, cfg.WINDOW_AS, cfg.STATEFUL)
    generations = {}
    print(f"\n{cfg.PREDICT_LETTERS} letters generated from each start, predictions fed back in:")
    for start, letters, ok in zip(starts, generated, right):
        seq_in = "".join(alphabet[i] for i in start)
        generations[seq_in] = "".join(alphabet[i] for i in letters)
        print(f"{seq_in} -> {generations[seq_in]}  {'right' if ok else 'wrong'}")
    print(f"entirely right: {int(right.sum())} of {len(right)} sequences")

    # --- The figure: next-letter probabilities for every input letter.
    windows = [list(range(j - cfg.SEQ_LENGTH + 1, j + 1)) for j in range(cfg.SEQ_LENGTH - 1, len(alphabet))]
    grid = np.full((len(alphabet), len(alphabet)), np.nan)
    grid[cfg.SEQ_LENGTH - 1:] = next_letter_probabilities(model, windows, cfg.WINDOW_AS, cfg.STATEFUL)
    variant = f"seq_length {cfg.SEQ_LENGTH} as {cfg.WINDOW_AS}, LSTM({cfg.UNITS})" + (
        ", stateful" if cfg.STATEFUL else "")
    fig = heat_map(grid, range(cfg.SEQ_LENGTH - 1, len(alphabet) - 1),
                   f"P(next letter | input): {variant}\naccuracy on the pairs {accuracy * 100:.1f}%")
    run.save_figure(fig, "next_letter.png")
    run.save_model(model, "model.keras")

    run.finish(
        dataset={"name": "alphabet", "source": "generated: windows of A-Z and the letter after each",
                 "pairs": len(x), "seq_length": cfg.SEQ_LENGTH, "window_as": cfg.WINDOW_AS},
        metrics={"accuracy": accuracy, "loss": loss, "pairs_right": int(np.sum(predicted == np.asarray(data_y))),
                 "pairs": len(x), "predict_letters": cfg.PREDICT_LETTERS,
                 "generated_entirely_right": int(right.sum()), "generated_sequences": len(right),
                 "parameters": model.count_params()},
        predictions=predictions, generated=generations,
        trainer="fastfit (one graph per epoch)" if cfg.FAST_FIT else "model.fit",
    )
    print(f"accuracy {accuracy * 100:.2f}% on the {len(x)} pairs; the tutorial reports about 84% for the "
          "one-letter model (the book: about 80%) and 100% for three letters as time steps")
    return 0


if __name__ == "__main__":
    sys.exit(flags.run(main))

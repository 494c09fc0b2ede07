"""Chapter_2_4.py: the alphabet LSTM, its data, its fast training loop, its exercises."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

import Chapter_2_4 as ch
from chapter2.run import flags, tblog
from chapter2.models import epoch_fit
from conftest import run_script

A = ch.alphabet


# --- Data -------------------------------------------------------------------

def test_pairs_are_the_alphabet_printed_as_built(capsys):
    data_x, data_y = ch.make_pairs(1)
    assert len(data_x) == len(data_y) == 25
    assert data_x[0] == [0] and data_y[0] == 1          # A -> B
    assert data_x[-1] == [24] and data_y[-1] == 25      # Y -> Z
    assert all(y == x[0] + 1 for x, y in zip(data_x, data_y))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "A -> B" and lines[-1] == "Y -> Z" and len(lines) == 25

    data_x, data_y = ch.make_pairs(3, verbose=False)
    assert len(data_x) == 23
    assert data_x[0] == [0, 1, 2] and data_y[0] == 3    # ABC -> D
    assert data_x[-1] == [22, 23, 24] and data_y[-1] == 25


def test_encoding_scales_by_26_and_lays_windows_out_as_asked():
    data_x, data_y = ch.make_pairs(3, verbose=False)
    steps = ch.encode(data_x, "timesteps")
    features = ch.encode(data_x, "features")
    assert steps.shape == (23, 3, 1) and features.shape == (23, 1, 3)
    assert steps.dtype == np.float32
    np.testing.assert_allclose(steps[1, :, 0], np.array([1, 2, 3]) / 26)
    np.testing.assert_allclose(features[1, 0, :], np.array([1, 2, 3]) / 26)
    assert ch.encode([[0]], "timesteps").shape == (1, 1, 1)
    y = ch.one_hot(data_y)
    assert y.shape == (23, 26)
    assert (y.sum(axis=1) == 1).all() and (y.argmax(axis=1) == data_y).all()


def test_default_model_is_the_chapters_network():
    model = ch.build_model((1, 1))
    lstm, dense = model.layers[1], model.layers[2]
    assert isinstance(lstm, keras.layers.LSTM) and lstm.units == 32 and not lstm.stateful
    assert isinstance(dense, keras.layers.Dense) and dense.units == 26
    assert dense.activation.__name__ == "softmax"
    assert model.count_params() == 5210            # 4,352 + 858
    assert model.loss == "categorical_crossentropy"
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    stateful = ch.build_model((1, 1), units=50, stateful=True)
    assert stateful.layers[1].stateful and stateful.input.shape[0] == 1


# --- The fast training loop ---------------------------------------------------

def _twin_models(stateful=False):
    """Two compiled copies of one model, same starting weights."""
    keras.utils.set_random_seed(3)
    a = ch.build_model((1, 1), units=8, stateful=stateful)
    b = ch.build_model((1, 1), units=8, stateful=stateful)
    b.set_weights(a.get_weights())
    return a, b


@pytest.mark.parametrize("batch_size, stateful", [(4, False), (1, True)])
def test_fastfit_takes_the_same_steps_as_fit(batch_size, stateful):
    """Unshuffled, fastfit and model.fit must agree step for step: same
    weights after training and the same logged loss and accuracy per epoch.
    Batch 4 has a smaller last batch (25 = 6 x 4 + 1); the stateful LSTM
    (batch 1) carries its state from step to step and is reset every epoch."""
    data_x, data_y = ch.make_pairs(1, verbose=False)
    x, y = ch.encode(data_x), ch.one_hot(data_y)
    plain, fast = _twin_models(stateful)
    start = plain.get_weights()
    callbacks = [ch.ResetStates()] if stateful else []
    h_plain = plain.fit(x, y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0, callbacks=callbacks)
    h_fast = epoch_fit.fit(fast, x, y, epochs=2, batch_size=batch_size, shuffle=False,
                         reset_states_each_epoch=stateful, verbose=0)
    assert np.abs(plain.get_weights()[0] - start[0]).max() > 1e-3  # it trained
    for w_plain, w_fast in zip(plain.get_weights(), fast.get_weights()):
        np.testing.assert_allclose(w_fast, w_plain, rtol=1e-4, atol=1e-6)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h_fast.history[key], h_plain.history[key], rtol=1e-4, atol=1e-6)


class _Spy(keras.layers.Layer):
    """Passes its input through; while training it notes, for each sample
    (its input is the sample's index), the number of the step that used it."""

    def build(self, input_shape):
        self.step = self.add_weight(shape=(), initializer="zeros", trainable=False, name="step")
        self.when = self.add_weight(shape=(10,), initializer="zeros", trainable=False, name="when")

    def call(self, x, training=False):
        if training:
            self.step.assign(self.step + 1)
            used = keras.ops.sum(keras.ops.one_hot(keras.ops.cast(x[:, 0], "int32"), 10), axis=0)
            self.when.assign(self.when * (1 - used) + used * self.step)
        return x


def _orders(shuffle):
    """The order in which fastfit used 10 samples in each of 3 epochs."""
    x = np.arange(10, dtype="float32").reshape(10, 1)
    spy = _Spy()
    model = keras.Sequential([keras.Input((1,)), spy, keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    orders = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: orders.append(keras.ops.convert_to_numpy(spy.when).astype(int).tolist()))
    epoch_fit.fit(model, x, x, epochs=3, batch_size=1, shuffle=shuffle, verbose=0, callbacks=[record])
    return orders


def test_fastfit_uses_every_sample_once_per_epoch_in_a_new_order():
    keras.utils.set_random_seed(11)
    orders = _orders(shuffle=True)
    for epoch, when in enumerate(orders):   # the steps of epoch e are 10e+1 ... 10e+10
        assert sorted(when) == list(range(10 * epoch + 1, 10 * epoch + 11))
    positions = [[w - 10 * e for w in when] for e, when in enumerate(orders)]
    assert len({tuple(p) for p in positions}) > 1 and positions[0] != list(range(1, 11))
    assert _orders(shuffle=False) == [list(range(10 * e + 1, 10 * e + 11)) for e in range(3)]


# --- Exercise 9: generating several letters ------------------------------------

def _successor_predictor(window_as, wrong_after=None):
    """A stand-in model: reads the window's last letter back out of the
    encoded input and predicts the letter after it, except after
    `wrong_after`, where it predicts A. Checks the window slid correctly."""
    def predict(x):
        windows = np.rint((x[:, :, 0] if window_as == "timesteps" else x[:, 0, :]) * 26).astype(int)
        assert (np.diff(windows, axis=1) == 1).all(), "generated letters must slide into the window"
        nxt = windows[:, -1] + 1
        if wrong_after is not None:
            nxt[windows[:, -1] == wrong_after] = 0
        return np.eye(26)[np.clip(nxt, 0, 25)]
    return predict


@pytest.mark.parametrize("window_as", ["timesteps", "features"])
def test_generation_feeds_each_prediction_back_in(window_as):
    starts = ch.generation_starts(3, 4)
    assert len(starts) == 26 - 3 - 4 + 1 and starts[0] == [0, 1, 2] and starts[-1] == [19, 20, 21]
    generated = ch.generate(_successor_predictor(window_as), starts, 4, window_as)
    assert generated.shape == (len(starts), 4)
    assert "".join(A[i] for i in generated[0]) == "DEFG"
    assert (generated == np.array([[s[-1] + 1 + k for k in range(4)] for s in starts])).all()


def test_generation_counts_only_entirely_right_sequences():
    class Stand_in:  # called like a Keras model
        def __call__(self, x, training=False):
            return _successor_predictor("timesteps", wrong_after=ch.alphabet.index("K"))(np.asarray(x))

    starts, generated, right = ch.generate_from_every_start(Stand_in(), 1, 3, "timesteps")
    assert len(starts) == 23
    # A sequence is wrong exactly when it has to predict the letter after K:
    # from I (J K L), J (K L M) and K (L M N); every other start is right.
    wrong = [A[s[0]] for s, ok in zip(starts, right) if not ok]
    assert wrong == ["I", "J", "K"]
    assert "".join(A[i] for i in generated[starts.index([9])]) == "KAB"


# --- Runs of the script ----------------------------------------------------------

def test_three_letters_as_time_steps_learn_every_pair(tmp_path):
    """The tutorial's 100% variant: three letters as three time steps (here
    with 128 units, which gets there in half the tutorial's 500 epochs).
    Every pair right means every generated sequence is right too."""
    code = ch.main(["--seq-length", "3", "--window-as", "timesteps", "--units", "128", "--epochs", "250",
                    "--run-dir", str(tmp_path / "run")])
    assert code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert metrics["pairs"] == 23
    assert metrics["accuracy"] == 1.0
    assert metrics["generated_entirely_right"] == metrics["generated_sequences"] == 21


def test_quick_run_writes_every_output(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_script("Chapter_2_4.py", "--quick", "--run-dir", run_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "A -> B" in out and "Y -> Z" in out
    assert "Model Accuracy: " in out and "%" in out.split("Model Accuracy: ")[1].splitlines()[0]
    assert "entirely right:" in out

    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["config"]["EPOCHS"] == 10 and record["config"]["quick"] is True
    assert len(record["history"]) == 10
    assert set(record["predictions"]) == {A[i] for i in range(25)}
    assert record["metrics"]["generated_sequences"] == 23
    assert 0 <= record["metrics"]["accuracy"] <= 1

    with Image.open(run_dir / "next_letter.png") as image:
        assert image.size[0] > 300 and image.size[1] > 300
    model = keras.saving.load_model(run_dir / "model.keras")
    probabilities = model.predict(ch.encode([[0], [1]]), verbose=0)
    assert probabilities.shape == (2, 26)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)

    tags = tblog.read_tags(run_dir / "logs")
    assert "epoch_loss" in tags["train"]["scalars"] and "epoch_accuracy" in tags["train"]["scalars"]
    assert len(tblog.read_scalars(run_dir / "logs", "train", "epoch_loss")) == 10


def test_stateful_and_plain_fit_variants_run(tmp_path):
    for n, flags in enumerate((["--stateful", "--units", "8"], ["--no-fast-fit", "--batch-size", "5"])):
        run_dir = tmp_path / f"run{n}"
        assert ch.main(flags + ["--epochs", "1", "--predict-letters", "2", "--run-dir", str(run_dir)]) == 0
        record = json.loads((run_dir / "metrics.json").read_text())
        assert len(record["history"]) == 1
        assert record["metrics"]["generated_sequences"] == 24


@pytest.mark.parametrize("flags, words", [
    (["--window-as", "diagonal"], "--window-as"),
    (["--stateful", "--batch-size", "5"], "--batch-size 1"),
    (["--seq-length", "0"], "--seq-length"),
    (["--seq-length", "20", "--predict-letters", "6"], "--predict-letters"),
    (["--units", "many"], "--units"),
    (["--epochs", "0"], "--epochs"),
])
def test_bad_values_are_one_line_and_exit_2(flags, words, tmp_path, capsys):
    assert flags.run(ch.main, flags + ["--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]
    assert not (tmp_path / "run").exists()

"""chapter2.run.epoch_fit and epoch_logs: the same steps as model.fit, each
epoch in one compiled call; cheap per-epoch TensorBoard scalars and console lines."""

import keras
import numpy as np
import pytest

from chapter2.run import epoch_fit, epoch_logs, tblog


def twin_models(stateful=False, units=4):
    """Two compiled copies of one small LSTM, same starting weights."""

    def build():
        shape = dict(batch_shape=(1, 1, 1)) if stateful else dict(shape=(1, 1))
        model = keras.Sequential(
            [
                keras.Input(**shape),
                keras.layers.LSTM(units, stateful=stateful, unroll=True),
                keras.layers.Dense(5, activation="softmax"),
            ]
        )
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        return model

    keras.utils.set_random_seed(3)
    a, b = build(), build()
    b.set_weights(a.get_weights())
    return a, b


def data(n=9):
    x = (np.arange(n, dtype="float32") / n).reshape(n, 1, 1)
    y = keras.utils.to_categorical(np.arange(n) % 5, 5)
    return x, y


@pytest.mark.parametrize(
    "batch_size, stateful, jit_compile", [(4, False, False), (1, True, False), (4, False, True)]
)
def test_the_same_steps_as_fit(batch_size, stateful, jit_compile):
    """Unshuffled, epoch_fit and model.fit agree step for step: the same
    weights after training and the same loss and accuracy per epoch. Batch 4
    of 9 samples ends in a smaller batch; the stateful LSTM (batch 1) carries
    its state from step to step and is reset every epoch; compiled with XLA
    (as long runs are), the steps stay the same."""
    x, y = data()
    plain, fast = twin_models(stateful)
    start = plain.get_weights()
    resets = [epoch_fit.ResetStates()] if stateful else []
    h_plain = plain.fit(
        x, y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0, callbacks=resets
    )
    h_fast = epoch_fit.fit(
        fast,
        x,
        y,
        epochs=2,
        batch_size=batch_size,
        shuffle=False,
        callbacks=[epoch_fit.ResetStates()] if stateful else [],
        jit_compile=jit_compile,
    )
    assert np.abs(plain.get_weights()[0] - start[0]).max() > 1e-3  # it trained
    for w_plain, w_fast in zip(plain.get_weights(), fast.get_weights()):
        np.testing.assert_allclose(w_fast, w_plain, rtol=1e-4, atol=1e-6)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h_fast.history[key], h_plain.history[key], rtol=1e-4, atol=1e-6)
    assert len(h_fast.history["epoch_seconds"]) == 2


class Spy(keras.layers.Layer):
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


def test_every_sample_once_per_epoch_in_a_new_order_and_callbacks_see_every_epoch():
    keras.utils.set_random_seed(11)
    x = np.arange(10, dtype="float32").reshape(10, 1)
    spy = Spy()
    model = keras.Sequential([keras.Input((1,)), spy, keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    orders, seen = [], []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(epoch),
        on_epoch_end=lambda epoch, logs: orders.append(
            keras.ops.convert_to_numpy(spy.when).astype(int).tolist()
        ),
    )
    epoch_fit.fit(model, x, x, epochs=4, batch_size=1, callbacks=[record], initial_epoch=1)
    assert seen == [1, 2, 3]  # from initial_epoch on
    for n, when in enumerate(orders):  # the steps of the n-th epoch run are 10n+1 ... 10n+10
        assert sorted(when) == list(range(10 * n + 1, 10 * n + 11))
    positions = [tuple(w - 10 * n for w in when) for n, when in enumerate(orders)]
    assert len(set(positions)) > 1 and positions[0] != tuple(range(1, 11))
    stop = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", True)
    )
    history = epoch_fit.fit(model, x, x, epochs=5, batch_size=3, shuffle=False, callbacks=[stop])
    assert len(history.history["loss"]) == 1


def test_stateful_layers_are_found_in_nested_models():
    inner = keras.Sequential(
        [keras.Input(batch_shape=(1, 2, 1)), keras.layers.LSTM(3, stateful=True)]
    )
    outer = keras.Sequential([keras.Input(batch_shape=(1, 2, 1)), inner, keras.layers.Dense(2)])
    assert epoch_fit.stateful_layers(outer) == [inner.layers[0]]
    outer(np.ones((1, 2, 1), "float32"))
    assert np.abs(keras.ops.convert_to_numpy(inner.layers[0].states[0])).sum() > 0
    epoch_fit.reset_states(outer)
    assert np.abs(keras.ops.convert_to_numpy(inner.layers[0].states[0])).sum() == 0


def test_scalars_reach_tensorboard_for_every_epoch_in_batches(tmp_path):
    scalars = epoch_logs.EpochScalars(tmp_path, every=3)
    for epoch in range(7):
        scalars.on_epoch_end(
            epoch, {"loss": 1.0 / (epoch + 1), "accuracy": 0.1 * epoch, "val_loss": 2.0 + epoch}
        )
        if epoch == 3:  # epochs 0-2 written, epoch 3 waits for the next batch
            assert [s for s, _ in tblog.read_scalars(tmp_path, "train", "epoch_loss")] == [0, 1, 2]
    scalars.on_train_end()
    loss = tblog.read_scalars(tmp_path, "train", "epoch_loss")
    assert [s for s, _ in loss] == list(range(7)) and loss[3][1] == pytest.approx(0.25)
    assert [v for _, v in tblog.read_scalars(tmp_path, "validation", "epoch_loss")] == [
        2.0 + e for e in range(7)
    ]
    assert tblog.read_tags(tmp_path)["train"]["scalars"] == ["epoch_loss", "epoch_metrics/accuracy"]


def test_console_lines_every_few_epochs_and_the_last(capsys):
    lines = epoch_logs.EpochLines(epochs=25, every=10)
    for epoch in range(25):
        lines.on_epoch_begin(epoch)
        lines.on_epoch_end(epoch, {"loss": 1.5, "accuracy": 0.25, "epoch_seconds": 0.01})
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["epoch 10/25", "epoch 20/25", "epoch 25/25"]
    assert "loss 1.5000" in out[0] and "accuracy 25.0%" in out[0] and out[0].endswith(" s)")

"""Small-batch training without the per-step overhead: each epoch in one compiled call.

``fit`` takes the same steps as ``model.fit`` (with the compiled loss, optimizer and metrics)
but runs each epoch's steps in one graph instead of one Python-driven call per step; callbacks
see every epoch but no batches. For small data sets (one tensor) and mean-type metrics::

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    epoch_fit.fit(model, x, y, epochs=500, batch_size=1, callbacks=[...])
"""

import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.errors import InternalError, InvalidArgumentError, UnimplementedError


def stateful_layers(model):
    """The stateful recurrent layers of `model`, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += stateful_layers(layer)
        elif getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
            found.append(layer)
    return found


def reset_states(model):
    """Zero the state of every stateful recurrent layer in `model`."""
    for layer in stateful_layers(model):
        layer.reset_state()


class ResetStates(keras.callbacks.Callback):
    """Zero a stateful LSTM's memory at the start of every epoch (``model.fit`` or `fit`)."""

    def on_epoch_begin(self, epoch, logs=None):
        reset_states(self.model)


def compiled_loss(model):
    """The loss `model` was compiled with, as ``(y, y_pred) -> scalar``: a Keras Loss as it is,
    a loss function or its name averaged over the batch (as ``compile`` does)."""
    loss = keras.losses.get(model.loss)
    if isinstance(loss, keras.losses.Loss):
        return loss
    return lambda y_true, y_pred: keras.ops.mean(loss(y_true, y_pred))


def compiled_metrics(model):
    """New metric objects for the metrics `model` was compiled with; "accuracy" is what
    ``compile`` makes of it for the compiled loss."""
    names = (model.get_compile_config() or {}).get("metrics") or []
    loss_name = model.loss if isinstance(model.loss, str) else getattr(model.loss, "name", "")
    metrics = []
    for name in names if isinstance(names, (list, tuple)) else [names]:
        if name in ("accuracy", "acc"):
            if "sparse_categorical" in loss_name:
                metric = keras.metrics.SparseCategoricalAccuracy(name=name)
            elif "categorical" in loss_name:
                metric = keras.metrics.CategoricalAccuracy(name=name)
            elif "binary" in loss_name:
                metric = keras.metrics.BinaryAccuracy(name=name)
            else:
                metric = keras.metrics.Accuracy(name=name)
        else:
            metric = keras.metrics.get(name)
            if not isinstance(metric, keras.metrics.Metric):
                raise ValueError(f"epoch_fit: metric {name!r} is not a Keras Metric")
        metrics.append(metric)
    return metrics


class EpochLoop:
    """One epoch of a compiled `model` as one compiled TensorFlow call: shuffle (unless
    ``shuffle=False``), one optimizer step per mini-batch in a ``tf.while_loop``. As in
    ``model.fit``, the loss is averaged with each mini-batch weighted by its size and the
    metrics see each sample's prediction from before its own update (updated once per epoch,
    which gives the same means)."""

    def __init__(self, model, batch_size, shuffle=True, jit_compile=False):
        if model.optimizer is None:
            raise ValueError("epoch_fit: compile the model first")
        self.model = model
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.loss_fn = compiled_loss(model)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.other_metrics = compiled_metrics(model)
        self.metrics = [self.loss_tracker] + self.other_metrics
        self.jit_compile = bool(jit_compile)
        # An explicit tf.while_loop leaves autograph nothing to convert: traced faster without.
        self._epoch = tf.function(self._one_epoch, autograph=False, jit_compile=self.jit_compile)

    def __call__(self, x, y):
        """Train one epoch on tensors `x`, `y`; return its logs (floats)."""
        try:
            results = self._epoch(x, y)
        except (InvalidArgumentError, UnimplementedError, InternalError):
            if not self.jit_compile:
                raise
            # XLA cannot compile this model: the same graph without it (no step was taken).
            self.jit_compile = False
            self._epoch = tf.function(self._one_epoch, autograph=False)
            results = self._epoch(x, y)
        return {name: float(value) for name, value in results.items()}

    def _one_epoch(self, x, y):
        model, size = self.model, self.batch_size
        for metric in self.metrics:
            metric.reset_state()
        n, sample = x.shape[0], y.shape[1:].as_list()
        full, rest = divmod(n, size)  # `full` mini-batches of `size`, then one of `rest`
        order = tf.random.shuffle(tf.range(n)) if self.shuffle else tf.range(n)
        weights = model.trainable_variables

        def train_on(picked, count):
            # Static mini-batch shapes save each step's shape arithmetic.
            xb = tf.ensure_shape(tf.gather(x, picked), [count] + x.shape[1:].as_list())
            yb = tf.ensure_shape(tf.gather(y, picked), [count] + sample)
            with tf.GradientTape() as tape:
                y_pred = model(xb, training=True)
                loss = self.loss_fn(yb, y_pred)
                if model.losses:
                    loss = loss + tf.add_n(model.losses)
            model.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
            return tf.cast(loss, tf.float32) * count, tf.cast(y_pred, tf.float32)

        def one_step(i, loss_sum, predictions):
            loss, y_pred = train_on(tf.slice(order, [i * size], [size]), size)
            return i + 1, loss_sum + loss, predictions.write(i, y_pred)

        predictions = tf.TensorArray(tf.float32, size=full, element_shape=[size] + sample)
        _, loss_sum, predictions = tf.while_loop(
            lambda i, *_: i < full, one_step, [tf.constant(0), tf.constant(0.0), predictions]
        )
        predicted = tf.reshape(predictions.stack(), [full * size] + sample)
        if rest:  # the last, smaller mini-batch (a stateful layer refuses it, as in fit)
            loss, y_pred = train_on(order[full * size :], rest)
            loss_sum, predicted = loss_sum + loss, tf.concat([predicted, y_pred], axis=0)
        self.loss_tracker.update_state(loss_sum / n, sample_weight=n)
        for metric in self.other_metrics:
            metric.update_state(tf.gather(y, order), predicted)
        return {metric.name: metric.result() for metric in self.metrics}


xla_from_epochs = 200  # jit_compile="auto": XLA for runs of this many epochs or more


def fit(
    model,
    x,
    y,
    *,
    epochs,
    batch_size=32,
    shuffle=True,
    callbacks=None,
    initial_epoch=0,
    jit_compile="auto",
):
    """Train the compiled `model` like ``model.fit`` with these arguments, each epoch's steps
    in one call; returns the History. Each epoch's logs hold its loss, metrics and
    ``epoch_seconds``; ``model.stop_training`` ends the run after the epoch. A stateful LSTM
    needs the ResetStates callback, as with ``model.fit``. ``jit_compile`` compiles the epoch
    with XLA, which repays its compile time only in long runs: "auto" uses it from
    ``xla_from_epochs`` epochs on (docs/benchmarks.md)."""
    x, y = (tf.convert_to_tensor(np.asarray(a)) for a in (x, y))
    if not model.built:
        model(x[:batch_size])
    if not model.optimizer.built:  # its variables must exist before the graph is traced
        model.optimizer.build(model.trainable_variables)
    if jit_compile == "auto":
        jit_compile = epochs - initial_epoch >= xla_from_epochs
    loop = EpochLoop(model, batch_size, shuffle=shuffle, jit_compile=jit_compile)
    history = keras.callbacks.History()
    callbacks = keras.callbacks.CallbackList(
        list(callbacks or []) + [history], model=model, epochs=epochs, steps=1, verbose=0
    )
    model.stop_training = False
    callbacks.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        callbacks.on_epoch_begin(epoch)
        start = time.perf_counter()
        logs = loop(x, y)
        logs["epoch_seconds"] = time.perf_counter() - start
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end(logs)
    return history

"""Small-batch training without the per-step overhead: each epoch in one compiled call.

Training a tiny model with ``batch_size=1`` through ``model.fit`` spends
almost all of its time in Python: one graph call per optimizer step, and
a few milliseconds of bookkeeping per epoch. ``fit`` here takes the very
same steps (the same mini-batches of ``batch_size``, the last one smaller,
shuffled every epoch; the model's compiled loss, optimizer and metrics) but
runs each epoch's steps inside one TensorFlow graph, and calls the Keras
callbacks you pass once per epoch, as ``model.fit`` does::

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    epoch_fit.fit(model, x, y, epochs=500, batch_size=1, callbacks=[...])

Callbacks see every epoch (``on_epoch_begin``/``on_epoch_end`` with the
epoch's loss and metrics) but no batches; ``self.model`` is the model you
passed. The model stays a plain Keras model: save, load and predict it as
usual. Meant for small data sets (the whole set is one tensor) and
mean-type metrics such as accuracy. Public Keras only: the documented
custom-training pattern (own loss tracker, the compiled loss from
``keras.losses.get``, ``optimizer.apply_gradients``).
"""

import time

import keras
import numpy as np
import tensorflow as tf


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
    """Zero a stateful LSTM's memory at the start of every epoch (for
    ``model.fit`` and ``fit`` below alike)."""

    def on_epoch_begin(self, epoch, logs=None):
        reset_states(self.model)


def compiled_loss(model):
    """The loss `model` was compiled with, as a function ``(y, y_pred) ->
    scalar``: a Keras Loss object as it is, a loss function or its name
    averaged over the batch (what ``compile`` does with it)."""
    loss = keras.losses.get(model.loss)
    if isinstance(loss, keras.losses.Loss):
        return loss
    return lambda y_true, y_pred: keras.ops.mean(loss(y_true, y_pred))


def compiled_metrics(model):
    """New metric objects for the metrics `model` was compiled with.
    "accuracy" means what ``compile`` makes of it for the compiled loss."""
    config = model.get_compile_config() or {}
    names = config.get("metrics") or []
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
    """One epoch of a compiled `model` as one compiled TensorFlow call.

    Each call shuffles the sample order (unless ``shuffle=False``), cuts it
    into mini-batches of ``batch_size`` (the last one may be smaller, as in
    ``model.fit``) and runs one optimizer step per mini-batch in a
    ``tf.while_loop``. The loss is averaged over the epoch as ``fit``
    averages it (each mini-batch weighted by its size) and the metrics see
    every sample's prediction from before its own update, as fit's per-batch
    updates do; they are updated once per epoch, which gives the same means.
    """

    def __init__(self, model, batch_size, shuffle=True, jit_compile=False):
        if model.optimizer is None:
            raise ValueError("epoch_fit: compile the model first")
        self.model = model
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.loss_fn = compiled_loss(model)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.other_metrics = compiled_metrics(model)
        # The loop is written with tf.while_loop, so autograph has nothing to
        # convert; without it the graph is traced in half the time.
        self._epoch = tf.function(self._one_epoch, autograph=False, jit_compile=bool(jit_compile))
        self.jit_compile = bool(jit_compile)

    @property
    def metrics(self):
        return [self.loss_tracker] + self.other_metrics

    def __call__(self, x, y):
        """Train one epoch on tensors `x`, `y`; return its logs (floats)."""
        try:
            results = self._epoch(x, y)
        except (
            tf.errors.InvalidArgumentError,
            tf.errors.UnimplementedError,
            tf.errors.InternalError,
        ):
            if not self.jit_compile:
                raise
            # XLA cannot compile this model: the same graph without it. (XLA
            # compiles before anything runs, so no step was taken.)
            self.jit_compile = False
            self._epoch = tf.function(self._one_epoch, autograph=False)
            results = self._epoch(x, y)
        return {name: float(value) for name, value in results.items()}

    def _one_epoch(self, x, y):
        model, size = self.model, self.batch_size
        for metric in self.metrics:
            metric.reset_state()
        n = x.shape[0]
        full, rest = divmod(n, size)  # `full` mini-batches of `size`, then one of `rest`
        order = tf.random.shuffle(tf.range(n)) if self.shuffle else tf.range(n)
        weights = model.trainable_variables

        def train_on(picked, count):
            # Mini-batches of a fixed, known size keep every shape in the
            # graph static, which saves the shape arithmetic of each step.
            xb = tf.ensure_shape(tf.gather(x, picked), [count] + x.shape[1:].as_list())
            yb = tf.ensure_shape(tf.gather(y, picked), [count] + y.shape[1:].as_list())
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

        predictions = tf.TensorArray(
            tf.float32, size=full, element_shape=[size] + y.shape[1:].as_list()
        )
        _, loss_sum, predictions = tf.while_loop(
            lambda i, *_: i < full, one_step, [tf.constant(0), tf.constant(0.0), predictions]
        )
        predicted = tf.reshape(predictions.stack(), [full * size] + y.shape[1:].as_list())
        if rest:  # the last, smaller mini-batch (a stateful layer refuses it, as in fit)
            loss, y_pred = train_on(order[full * size :], rest)
            loss_sum, predicted = loss_sum + loss, tf.concat([predicted, y_pred], axis=0)
        self.loss_tracker.update_state(loss_sum / n, sample_weight=n)
        for metric in self.other_metrics:
            metric.update_state(tf.gather(y, order), predicted)
        return {metric.name: metric.result() for metric in self.metrics}


xla_from_epochs = 200  # "auto": runs this long repay XLA's compile time


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
    """Train the compiled `model` like ``model.fit(x, y, batch_size, epochs,
    shuffle, callbacks, initial_epoch)``, each epoch's steps in one call.

    A stateful LSTM is reset every epoch by the ResetStates callback, as with
    ``model.fit``.
    ``jit_compile`` compiles the epoch with XLA: faster epochs for a few
    seconds of compiling, so "auto" uses it for runs of ``xla_from_epochs``
    epochs or more (docs/benchmarks.md).
    Each epoch's logs hold its loss, metrics and ``epoch_seconds``; a
    callback that sets ``model.stop_training`` ends the run after that
    epoch. Returns the History object.
    """
    x = tf.convert_to_tensor(np.asarray(x))
    y = tf.convert_to_tensor(np.asarray(y))
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

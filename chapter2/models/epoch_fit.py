"""Small-batch training without the per-step overhead: one compiled graph per epoch.

Training a tiny model with ``batch_size=1`` through ``model.fit`` spends
almost all of its time in Python and in launching one graph per optimizer
step, not in the maths. ``fit`` here runs the very same steps (the same
mini-batches, shuffled each epoch, the same loss, optimizer and metrics) but
runs a whole epoch of them inside one TensorFlow graph, so Keras is entered
once per epoch instead of once per step::

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    fastfit.fit(model, x, y, epochs=500, batch_size=1, callbacks=run.callbacks(...))

Keras' own per-epoch callbacks (TensorBoard, CSVLogger, BackupAndRestore,
EarlyStopping ...) work as usual; per-batch callbacks see one "batch" per
epoch, and a callback's ``self.model`` is the training wrapper (save the
model you passed in, not the wrapper). The model itself stays a plain Keras
model: save, load and predict it as usual.

Meant for small data sets (the whole set is handed over as one tensor) and
single-output models with mean-type metrics such as accuracy.
"""

import keras
import numpy as np
import tensorflow as tf


def stateful_layers(model):
    """The stateful RNN layers of `model` (nested models included)."""
    found = []
    for layer in model._flatten_layers(include_self=False):
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
            found.append(layer)
    return found


def reset_states(model):
    """Zero the state of every stateful RNN layer in `model`."""
    for layer in stateful_layers(model):
        layer.reset_state()


class EpochTrainer(keras.Model):
    """Wraps a compiled `model`; one ``train_step`` runs one whole epoch.

    ``fit`` hands the whole training set to ``train_step`` as a single batch;
    the step shuffles the sample order (unless ``shuffle=False``), cuts it
    into mini-batches of ``batch_size`` (the last one may be smaller, as in
    ``fit``) and runs one optimizer step per mini-batch in a ``tf.while_loop``.
    The loss and metrics are accumulated over the epoch exactly as ``fit``
    accumulates them (each mini-batch weighted by its size, predictions taken
    before that mini-batch's update).
    """

    def __init__(self, model, batch_size, shuffle=True, reset_states=False):
        super().__init__()
        self.inner = model
        self.step_batch = int(batch_size)
        self.step_shuffle = bool(shuffle)
        self.step_reset = bool(reset_states)

    def call(self, inputs, training=False):
        return self.inner(inputs, training=training)

    def train_step(self, data):
        x, y = data[0], data[1]
        n = tf.shape(x)[0]
        size = self.step_batch
        order = tf.random.shuffle(tf.range(n)) if self.step_shuffle else tf.range(n)
        steps = (n + size - 1) // size
        weights = self.trainable_variables
        if self.step_reset:
            reset_states(self.inner)
        stateful = bool(stateful_layers(self.inner))

        def one_step(i, loss_sum, predictions):
            start = i * size
            picked = order[start:tf.minimum(start + size, n)]
            xb = tf.gather(x, picked)
            yb = tf.gather(y, picked)
            if stateful:  # a stateful layer needs its fixed batch size
                xb = tf.ensure_shape(xb, [size] + x.shape[1:].as_list())
            with tf.GradientTape() as tape:
                y_pred = self.inner(xb, training=True)
                loss = self._compute_loss(x=xb, y=yb, y_pred=y_pred, training=True)
                scaled = self.optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, weights)
            self.optimizer.apply_gradients(zip(grads, weights))
            count = tf.cast(tf.shape(picked)[0], tf.float32)
            return (i + 1, loss_sum + tf.cast(loss, tf.float32) * count,
                    predictions.write(i, tf.cast(y_pred, tf.float32)))

        predictions = tf.TensorArray(tf.float32, size=steps, infer_shape=False,
                                     element_shape=tf.TensorShape([None]).concatenate(y.shape[1:]))
        _, loss_sum, predictions = tf.while_loop(
            lambda i, *_: i < steps, one_step, [tf.constant(0), tf.constant(0.0), predictions])
        # The metrics see every sample's prediction from before its own
        # update, as fit's per-batch updates do; updating them once per epoch
        # gives the same means for a fraction of the work.
        self._loss_tracker.update_state(loss_sum / tf.cast(n, tf.float32), sample_weight=n)
        self.compute_metrics(x, tf.gather(y, order), predictions.concat())
        return self.get_metrics_result()


def fit(model, x, y, *, epochs, batch_size=32, shuffle=True, reset_states_each_epoch=False,
        callbacks=None, verbose="auto", initial_epoch=0):
    """Train the compiled `model` like ``model.fit(x, y, batch_size, epochs,
    shuffle, callbacks)``, with each epoch's optimizer steps in one graph.

    `model` must be compiled (its optimizer, loss and metrics are used).
    ``reset_states_each_epoch`` zeroes stateful RNN layers at the start of
    every epoch (the usual loop for a stateful LSTM, with ``shuffle=False``).
    Returns the History object.
    """
    if model.optimizer is None:
        raise ValueError("compile the model before fastfit.fit")
    x = np.asarray(x)
    y = np.asarray(y)
    trainer = EpochTrainer(model, batch_size, shuffle=shuffle, reset_states=reset_states_each_epoch)
    trainer.compile(optimizer=model.optimizer, loss=model.loss,
                    metrics=_metric_names(model), jit_compile=False)
    if not model.built:
        model(x[:batch_size])
    trainer.built = True  # its only weights are the (built) model's
    # The whole set is one element, repeated: fit then keeps one iterator for
    # the whole run instead of building a new input pipeline every epoch.
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    return trainer.fit(data, steps_per_epoch=1, epochs=epochs, shuffle=False, callbacks=callbacks,
                       verbose=verbose, initial_epoch=initial_epoch)


def _metric_names(model):
    """The metrics `model` was compiled with (as given to compile)."""
    config = model.get_compile_config() or {}
    return config.get("metrics")

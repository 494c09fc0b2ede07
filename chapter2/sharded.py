"""Use both CPU cores for a small convolutional network.

On a 2-core CPU, TensorFlow runs most of a small network's convolutions on
one core at a time: each op is too small to split. ShardedTrainer cuts every
batch into equal shards whose forward and backward passes are independent
ops, so TensorFlow's executor runs them side by side, and averages their
gradients weighted by shard size. For a mean-reduced loss that average is
the full batch's gradient, so the optimizer takes exactly the steps plain
``fit`` takes, with the same batch size; only the arithmetic is scheduled
differently (float rounding aside).

    trainer = ShardedTrainer(model, shards=2)
    trainer.compile(optimizer=..., loss=...)
    trainer.fit(...)            # Keras' own fit, callbacks and all
    model.save("model.keras")  # the plain model, loadable without this class
"""

import keras
import tensorflow as tf


class ShardedTrainer(keras.Model):
    def __init__(self, model, shards=2, **kwargs):
        super().__init__(name=f"{model.name}_x{shards}", **kwargs)
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self.model = model
        self.shards = shards

    def call(self, x, training=False):
        return self.model(x, training=training)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None or self.shards == 1:
            return super().train_step(data)
        n = tf.shape(x)[0]
        bounds = [(n * i) // self.shards for i in range(self.shards + 1)]
        sizes = [bounds[i + 1] - bounds[i] for i in range(self.shards)]
        xs, ys = tf.split(x, sizes), tf.split(y, sizes)
        with tf.GradientTape() as tape:
            preds, total = [], 0.0
            for xi, yi, size in zip(xs, ys, sizes):
                pred = self.model(xi, training=True)
                preds.append(pred)
                shard_loss = self.compute_loss(x=xi, y=yi, y_pred=pred, training=True)
                total += shard_loss * tf.cast(size, shard_loss.dtype)
            loss = total / tf.cast(n, total.dtype)
            self._loss_tracker.update_state(loss, sample_weight=n)
            scaled = self.optimizer.scale_loss(loss)
        weights = self.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return self.compute_metrics(x, y, tf.concat(preds, axis=0), sample_weight=None)

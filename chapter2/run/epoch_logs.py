"""Per-epoch logging cheap enough for epochs of a few milliseconds.

Keras' TensorBoard callback writes each epoch's scalars with several eager
TensorFlow calls, which take longer than an epoch of the alphabet LSTM.
``EpochScalars`` writes the same scalars (the same tags,
``tblog.curve_tag``, in the same ``train``/``validation`` folders, one step
per epoch) in one compiled call every few epochs and at the end of training.
``EpochLines`` prints one console line every few epochs instead of one per
epoch. Both are Keras callbacks, for ``model.fit`` and ``epoch_fit.fit`` alike.
"""

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.scalar import metadata as scalar_metadata

from chapter2.run import tblog


class EpochScalars(keras.callbacks.Callback):
    """Every epoch's logs as TensorBoard scalars, written `every` epochs.

    Logs named ``val_<name>`` go to ``<log_dir>/validation`` as
    ``epoch_<name>``, the others to ``<log_dir>/train``, as Keras'
    TensorBoard callback writes them. Writing in batches ties the scalars on
    disk to the last batch written: give `every` the run's backup interval,
    so that a resumed run rewrites exactly the epochs it trains again.
    """

    def __init__(self, log_dir, every=25):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.every = max(1, int(every))
        self.rows = []
        self._writers = {}
        self._write = {}

    def on_epoch_end(self, epoch, logs=None):
        # The curves of training; an epoch's wall time goes to history.csv, not here.
        numbers = {
            k: float(v)
            for k, v in (logs or {}).items()
            if k != "epoch_seconds"
            and isinstance(v, (int, float, np.number))
            and not isinstance(v, bool)
        }
        self.rows.append((int(epoch), numbers))
        # Written with every resume point: each `every` epochs, the last
        # epoch, and an epoch after which training stops.
        if (
            (epoch + 1) % self.every == 0
            or epoch + 1 == (self.params or {}).get("epochs")
            or getattr(self.model, "stop_training", False)
        ):
            self.flush()

    def on_train_end(self, logs=None):
        self.flush()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._write.clear()

    def flush(self):
        """Write the epochs logged since the last flush."""
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        for folder, prefix in (("train", None), ("validation", "val_")):
            # The logs every epoch of the batch has (a key only some epochs have is left out).
            names = sorted(
                k
                for k in set.intersection(*(set(logs) for _, logs in rows))
                if (k.startswith(prefix) if prefix else not k.startswith("val_"))
            )
            if not names:
                continue
            steps = np.array([epoch for epoch, _ in rows], dtype="int64")
            values = np.array([[logs[k] for k in names] for _, logs in rows], dtype="float32")
            tags = tuple(tblog.curve_tag(k[len(prefix) :] if prefix else k) for k in names)
            self._writer_for(folder, tags)(steps, values)
            self._writers[folder].flush()

    def _writer_for(self, folder, tags):
        """A compiled function writing rows of `tags` (one trace per set of tags)."""
        key = (folder, tags)
        if key not in self._write:
            if folder not in self._writers:
                self._writers[folder] = tf.summary.create_file_writer(str(self.log_dir / folder))
            writer = self._writers[folder]

            # tf.summary.write with the plain tag (tf.summary.scalar would
            # prefix it with the loop's name scope) and the scalar plugin's
            # metadata, which is what tf.summary.scalar writes.
            scalar = scalar_metadata.create_summary_metadata(display_name=None, description=None)

            @tf.function(autograph=False)  # an explicit loop: tracing without autograph is faster
            def write(steps, values):
                def one_epoch(k):
                    for j, tag in enumerate(tags):
                        tf.summary.write(tag, values[k, j], step=steps[k], metadata=scalar)
                    return k + 1

                with writer.as_default():
                    tf.while_loop(lambda k: k < tf.shape(steps)[0], one_epoch, [tf.constant(0)])

            self._write[key] = write
        return self._write[key]


class EpochLines(keras.callbacks.Callback):
    """One console line every `every` epochs (and the last one): the epoch,
    its logs (a name ending in accuracy as a percentage) and the seconds
    since the previous line."""

    def __init__(self, epochs, every):
        super().__init__()
        self.epochs = int(epochs)
        self.every = max(1, int(every))
        self._since = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._since is None:
            self._since = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        parts = []
        for name, value in (logs or {}).items():
            if name == "epoch_seconds" or isinstance(value, str):
                continue
            parts.append(
                f"{name} {float(value) * 100:.1f}%"
                if name.endswith("accuracy")
                else f"{name} {float(value):.4f}"
            )
        now = time.perf_counter()
        width = len(str(self.epochs))
        print(
            f"epoch {epoch + 1:>{width}}/{self.epochs}: {', '.join(parts)}  ({now - self._since:.2f} s)",
            flush=True,
        )
        self._since = now

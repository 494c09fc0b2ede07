"""Per-epoch logging cheap enough for epochs of a few milliseconds, for ``model.fit`` and
``epoch_fit.fit`` alike: Keras' TensorBoard callback spends several eager calls per epoch,
longer than an epoch of the alphabet LSTM, and a console line per epoch is too many."""

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.scalar import metadata as scalar_metadata

from chapter2.run import tblog


class EpochScalars(keras.callbacks.Callback):
    """Every epoch's logs as TensorBoard scalars (the tags and ``train``/``validation`` folders
    that tblog.curve gives), written in one compiled call every `every` epochs, at the last epoch
    and when training stops. The scalars on disk reach the last batch written: give `every`
    the run's backup interval, so that a resumed run rewrites exactly the epochs it redoes."""

    def __init__(self, log_dir, every=25):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.every = max(1, int(every))
        self.rows = []
        self._writers = {}
        self._write = {}

    def on_epoch_end(self, epoch, logs=None):
        # An epoch's wall time goes to history.csv, not to the curves.
        numbers = {
            k: float(v)
            for k, v in (logs or {}).items()
            if k != "epoch_seconds"
            and isinstance(v, (int, float, np.number))
            and not isinstance(v, bool)
        }
        self.rows.append((int(epoch), numbers))
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
        steps = np.array([epoch for epoch, _ in rows], dtype="int64")
        shared = set.intersection(*(set(logs) for _, logs in rows))  # logs every epoch has
        for folder in ("train", "validation"):
            names = sorted(k for k in shared if tblog.curve(k)[0] == folder)
            if names:
                values = np.array([[logs[k] for k in names] for _, logs in rows], dtype="float32")
                tags = tuple(tblog.curve(k)[1] for k in names)
                self._writer_for(folder, tags)(steps, values)
                self._writers[folder].flush()

    def _writer_for(self, folder, tags):
        """A compiled function writing rows of `tags` (one trace per set of tags)."""
        if (folder, tags) not in self._write:
            if folder not in self._writers:
                self._writers[folder] = tf.summary.create_file_writer(str(self.log_dir / folder))
            writer = self._writers[folder]
            # tf.summary.write with the scalar plugin's metadata is tf.summary.scalar without
            # the loop's name scope prefixed to the tag.
            scalar = scalar_metadata.create_summary_metadata(display_name=None, description=None)

            @tf.function(autograph=False)  # an explicit loop: traced faster without autograph
            def write(steps, values):
                def one_epoch(k):
                    for j, tag in enumerate(tags):
                        tf.summary.write(tag, values[k, j], step=steps[k], metadata=scalar)
                    return k + 1

                with writer.as_default():
                    tf.while_loop(lambda k: k < tf.shape(steps)[0], one_epoch, [tf.constant(0)])

            self._write[folder, tags] = write
        return self._write[folder, tags]


class EpochLines(keras.callbacks.Callback):
    """One console line every `every` epochs and at the last: the epoch, its logs (a name
    ending in accuracy as a percentage) and the seconds since the previous line."""

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
        parts = [
            f"{name} {float(value) * 100:.1f}%"
            if name.endswith("accuracy")
            else f"{name} {float(value):.4f}"
            for name, value in (logs or {}).items()
            if name != "epoch_seconds" and not isinstance(value, str)
        ]
        now, width = time.perf_counter(), len(str(self.epochs))
        took = f"({now - self._since:.2f} s)"
        print(f"epoch {epoch + 1:>{width}}/{self.epochs}: {', '.join(parts)}  {took}", flush=True)
        self._since = now

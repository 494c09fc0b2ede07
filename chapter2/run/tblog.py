"""TensorBoard beyond the scalar curves: image summaries, and reading logs back."""

from pathlib import Path

import keras
import numpy as np


class ImageLogger(keras.callbacks.Callback):
    """After every epoch, write ``make_images(model)`` (a batch of images,
    shape (N, H, W, C), values in [0, 1]) as an image summary, so
    TensorBoard's Images tab shows the model learning. The step is the epoch
    number, so a resumed run continues the same strip."""

    def __init__(self, log_dir, tag, make_images, max_outputs=3):
        super().__init__()
        self.log_dir = str(Path(log_dir) / "images")
        self.tag = tag
        self.make_images = make_images
        self.max_outputs = max_outputs
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        images = np.clip(np.asarray(self.make_images(self.model), dtype="float32"), 0.0, 1.0)
        with self._writer.as_default():
            tf.summary.image(self.tag, images, step=epoch, max_outputs=self.max_outputs)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _accumulator(folder):
    """TensorBoard's own event reader, over every event file in `folder`."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    acc = pea.EventAccumulator(str(folder), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    return acc


def read_tags(log_dir):
    """{run name: {"scalars": [...], "images": [...]}} for every run folder
    under `log_dir`, read with TensorBoard's own event reader."""
    found = {}
    for folder in sorted({p.parent for p in Path(log_dir).rglob("events.out.tfevents.*")}):
        acc = _accumulator(folder)
        tags = {"scalars": [], "images": []}
        for tag in acc.Tags().get("tensors", []):
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
            if plugin in ("images", "scalars"):
                tags[plugin].append(tag)
        found[folder.relative_to(log_dir).as_posix()] = {k: sorted(set(v)) for k, v in tags.items()}
    return found


def read_scalars(log_dir, run, tag):
    """[(step, value), ...] of one scalar tag, as TensorBoard shows it."""
    from tensorboard.util import tensor_util

    acc = _accumulator(Path(log_dir) / run)
    if tag not in acc.Tags().get("tensors", []):
        return []
    # A resumed run writes the epochs after its resume point again, into a new
    # event file; TensorBoard's server shows each step once, with the value
    # written last, and so does this.
    steps = {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)}
    return sorted(steps.items())

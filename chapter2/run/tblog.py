"""TensorBoard for a run: Keras' curves, the run's own entry, and reading logs back.

A run's ``logs`` holds three TensorBoard runs: ``train`` and ``validation`` (the per-epoch
curves, `TensorBoard`) and ``run``, the whole run's settings and figures (hparams.py) and
image strips (`ImageLogger`). The whole-run entry is a folder beside the curves, not ``logs``
itself: the HParams dashboard lists every scalar in an entry's folder and the folders below it
as a column, so the per-epoch curves would crowd out the figures.
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

# The folder, inside a run's logs, of what belongs to the whole run.
WHOLE_RUN = "run"


def curve(key):
    """(folder, tag) of one per-epoch log: ``val_<name>`` in ``validation``, the rest in
    ``train``; the tag ``epoch_loss`` for the loss, ``epoch_metrics/<name>`` for a metric.
    TensorBoard opens the first two sections by name, so the loss sorts first, before an
    accuracy and the run's ``final``/``run`` sections."""
    name = key.removeprefix("val_")
    folder = "train" if name == key else "validation"
    return folder, "epoch_loss" if name == "loss" else f"epoch_metrics/{name}"


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback (the model graph, no profiler), writing each epoch's logs
    where `curve` puts them, and nothing else per epoch:
    not Keras' ``epoch_learning_rate`` (a flat line sorting before the loss; the rates are
    in HParams) nor ``evaluation_<name>_vs_iterations`` (the validation values again)."""

    def __init__(self, log_dir):
        super().__init__(log_dir=str(log_dir), profile_batch=0)
        self._curve_writers = {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if isinstance(value, (bool, str)) or np.ndim(value) != 0:
                continue
            folder, tag = curve(key)
            if folder not in self._curve_writers:
                path = str(Path(self.log_dir) / folder)
                self._curve_writers[folder] = tf.summary.create_file_writer(path)
            with self._curve_writers[folder].as_default():
                tf.summary.scalar(tag, float(value), step=epoch)
        for writer in self._curve_writers.values():
            writer.flush()

    # Validation inside fit: Keras would switch writers and log evaluation_<name>_vs_iterations.
    on_test_begin = keras.callbacks.Callback.on_test_begin
    on_test_end = keras.callbacks.Callback.on_test_end

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        for writer in self._curve_writers.values():
            writer.close()
        self._curve_writers.clear()


def whole_run_dir(log_dir):
    """The folder, under a run's `log_dir`, of the run's settings, figures and images."""
    return Path(log_dir) / WHOLE_RUN


class ImageLogger(keras.callbacks.Callback):
    """After every epoch, write ``make_images(model)`` (images (N, H, W, C) in [0, 1]) to the
    run's own entry, at the epoch as step, so a resumed run continues the same strip."""

    def __init__(self, log_dir, tag, make_images, max_outputs=3):
        super().__init__()
        self.log_dir = str(whole_run_dir(log_dir))
        self.tag = tag
        self.make_images = make_images
        self.max_outputs = max_outputs
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
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
    """{run name: {"scalars": [...], "images": [...]}} for every run folder under `log_dir`."""
    found = {}
    for folder in sorted({p.parent for p in Path(log_dir).rglob("events.out.tfevents.*")}):
        acc = _accumulator(folder)
        tags = {"scalars": [], "images": []}
        for tag in acc.Tags().get("tensors", []):
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
            if plugin in tags:
                tags[plugin].append(tag)
        found[folder.relative_to(log_dir).as_posix()] = {k: sorted(set(v)) for k, v in tags.items()}
    return found


def read_scalars(log_dir, run, tag):
    """[(step, value), ...] of one scalar tag, as TensorBoard shows it: a step written twice
    (a resumed run rewrites the epochs after its resume point) with the value written last."""
    from tensorboard.util import tensor_util

    acc = _accumulator(Path(log_dir) / run)
    if tag not in acc.Tags().get("tensors", []):
        return []
    steps = {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)}
    return sorted(steps.items())

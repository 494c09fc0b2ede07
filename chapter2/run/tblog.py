"""TensorBoard for a run: Keras' curves, the run's own entry, and reading logs back.

A run's ``logs`` folder holds three TensorBoard runs:

    logs/train        Keras' TensorBoard callback (EpochCurves): the training curves,
                      epoch_loss, then any metric as epoch_metrics/<name>
    logs/validation   the same for the validation data
    logs/run          what belongs to the whole run: its settings and figures for
                      the HParams dashboard (chapter2/run/hparams.py, tags final/...
                      and run/...)
                      and the image strips (ImageLogger)

The whole-run entry is a folder beside train and validation rather than
``logs`` itself: TensorBoard's HParams dashboard takes every scalar in a
session's folder and the folders below it as a metric column, so settings
logged in ``logs`` would list every per-epoch curve beside the figures.
"""

from pathlib import Path

import keras
import numpy as np

# The folder, inside a run's logs, of what belongs to the whole run.
WHOLE_RUN = "run"


def curve_tag(name):
    """The TensorBoard tag of one per-epoch log (`name` without ``val_``):
    Keras' ``epoch_loss`` for the loss, ``epoch_metrics/<name>`` for a
    metric. TensorBoard shows its sections in name order and opens the first
    two, so the loss comes first, before an accuracy (``epoch_accuracy``
    would sort before it) and before the run's ``final``/``run`` sections."""
    return "epoch_loss" if name == "loss" else f"epoch_metrics/{name}"


def keras_tensorboard(log_dir):
    """The TensorBoard callback of a run: Keras' own, writing the curves
    under `log_dir` (``train`` and ``validation``) once per epoch, without
    the lines that would come before the loss (see `EpochCurves`)."""
    return EpochCurves(log_dir)


class EpochCurves(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback (the model graph, no profiler) that writes
    each epoch's logs under `curve_tag`'s names, in ``train`` and (for
    ``val_<name>``) in ``validation``, and nothing else per epoch. Keras
    would add ``epoch_learning_rate``, the rate at each epoch's end, which
    sorts before ``epoch_loss`` and is a flat line here (the rates are
    settings, in HParams; Chapter_2_3's warm-up is over within its first
    epoch), and ``evaluation_<name>_vs_iterations``, the validation values
    again against training batches. So every script's loss comes first."""

    def __init__(self, log_dir):
        super().__init__(log_dir=str(log_dir), profile_batch=0)
        self.curves_dir = Path(log_dir)
        self._curve_writers = {}

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        for key, value in (logs or {}).items():
            if isinstance(value, (bool, str)) or np.ndim(value) != 0:
                continue
            part, name = (
                ("validation", key[len("val_") :]) if key.startswith("val_") else ("train", key)
            )
            if part not in self._curve_writers:
                folder = str(self.curves_dir / part)
                self._curve_writers[part] = tf.summary.create_file_writer(folder)
            with self._curve_writers[part].as_default():
                tf.summary.scalar(curve_tag(name), float(value), step=epoch)
        for writer in self._curve_writers.values():
            writer.flush()

    # Validation inside fit: Keras' callback would switch to its validation
    # writer here and log evaluation_<name>_vs_iterations at the end.
    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        for writer in self._curve_writers.values():
            writer.close()
        self._curve_writers.clear()


def whole_run_dir(log_dir):
    """The folder, under a run's `log_dir`, of the run's settings, figures and images."""
    return Path(log_dir) / WHOLE_RUN


class ImageLogger(keras.callbacks.Callback):
    """After every epoch, write ``make_images(model)`` (a batch of images,
    shape (N, H, W, C), values in [0, 1]) as an image summary, so
    TensorBoard's Images tab shows the model learning. The step is the epoch
    number, so a resumed run continues the same strip. The images go to the
    run's own entry (``logs/run``), beside its settings and figures."""

    def __init__(self, log_dir, tag, make_images, max_outputs=3):
        super().__init__()
        self.log_dir = str(whole_run_dir(log_dir))
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

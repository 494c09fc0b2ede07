"""Training on several devices or machines: --distribute and --cpu-replicas.

    strategy = distribute.strategy(cfg)       # before anything else touches TensorFlow's devices
    with strategy.scope():
        model = build_model(...)
        model.compile(...)
    distribute.fit(strategy, model, x, y, batch_size=..., epochs=..., callbacks=...)   # model.fit's arguments
    run.finish(..., distribute=distribute.describe(strategy))

--distribute none         one device: the GPU if TensorFlow finds one, else the CPU (the default)
--distribute mirrored     tf.distribute.MirroredStrategy over every visible GPU (or, with no GPU,
                          the CPU); each batch of BATCH_SIZE (the global batch) is split evenly
                          across the replicas and their gradients summed, so an epoch takes the
                          same optimizer steps as on one device
--cpu-replicas N          split the CPU into N logical devices (tf.config.set_logical_device_configuration)
                          so that mirrored training runs N replicas on a machine without GPUs:
                          the way to try multi-device training, and to test it, on a laptop
--distribute multiworker  tf.distribute.MultiWorkerMirroredStrategy across machines, configured
                          by the standard TF_CONFIG variable (one process per machine; without
                          TF_CONFIG, one local worker); the global batch is split across all
                          workers' replicas

Under multiworker, Keras 3.15's model.fit and model.evaluate fail on
TensorFlow 2.21 as soon as there are two workers ("ValueError: Attempt to
convert a value (PerReplica:{...}) with an unsupported type", Keras issue
20585), while predict, calling the model and saving work. fit() here
therefore trains multiworker runs with its own loop: strategy.run of a step
made of the model's forward pass, model.compute_loss, tf.GradientTape and
the model's Keras optimizer (which all-reduces the gradients), over
strategy.experimental_distribute_dataset, calling the Keras callbacks as
model.fit does. History has loss and val_loss (the compiled loss); compiled
metrics are not computed on that path.

Every worker runs the same script with the same flags; only the chief
(is_chief()) should write the run folder, the others a throwaway folder.
Importing this module does no work.
"""

import json
import os

from chapter2.run.errors import InputError

CHOICES = ("none", "mirrored", "multiworker")


def settings(cfg):
    """(kind, cpu_replicas) from the parsed flags, checked."""
    kind = getattr(cfg, "distribute", "none") or "none"
    replicas = getattr(cfg, "cpu_replicas", None)
    replicas = 1 if replicas is None else replicas
    if kind not in CHOICES:
        raise InputError(f"--distribute: expected one of {', '.join(CHOICES)}, got {kind!r}")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
        raise InputError(f"--cpu-replicas: expected a whole number of at least 1, got {replicas!r}")
    if replicas > 1 and kind != "mirrored":
        raise InputError(f"--cpu-replicas {replicas}: splits the CPU for --distribute mirrored "
                         f"(got --distribute {kind})")
    return kind, replicas


def require_single_device(cfg, why):
    """For a model that trains on one device only: refuse --distribute/--cpu-replicas, saying `why`."""
    kind, replicas = settings(cfg)
    if kind != "none":
        raise InputError(f"--distribute {kind}: {why}; run with --distribute none")
    if replicas > 1:
        raise InputError(f"--cpu-replicas {replicas}: {why}")


def tf_config(environ=None):
    """The parsed TF_CONFIG ({} when unset), checked for the parts MultiWorkerMirroredStrategy reads."""
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"TF_CONFIG: not valid JSON ({err.msg} at character {err.pos})") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(
            isinstance(v, list) and v and all(isinstance(a, str) for a in v) for v in cluster.values()):
        raise InputError('TF_CONFIG: needs "cluster": {"worker": ["host:port", ...]} (a list of addresses per job)')
    if not isinstance(task, dict) or task.get("type") not in cluster or not isinstance(task.get("index"), int) \
            or not 0 <= task["index"] < len(cluster[task["type"]]):
        raise InputError('TF_CONFIG: needs "task": {"type": "worker", "index": i} naming one of the cluster\'s '
                         "addresses (i counts from 0)")
    return config


def is_chief(environ=None):
    """True in the process that writes the run: the only one, the "chief" task,
    or worker 0 of a cluster without a chief (TensorFlow's convention)."""
    config = tf_config(environ)
    if not config:
        return True
    task = config["task"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and task["index"] == 0 and "chief" not in config["cluster"]


def split_cpu(replicas):
    """Make the CPU appear as `replicas` logical devices; before TensorFlow's runtime starts."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == replicas:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        raise InputError(f"--cpu-replicas {replicas}: TensorFlow's devices were already set up in this "
                         f"process ({len(current or [cpu])} CPU device(s)); the split must come first") from None


def strategy(cfg):
    """The tf.distribute strategy the flags ask for (TensorFlow's default one for none)."""
    kind, replicas = settings(cfg)
    if kind == "multiworker":
        tf_config()  # a malformed TF_CONFIG is one clear line, not a traceback from the cluster resolver
    import tensorflow as tf

    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        if replicas > 1:
            split_cpu(replicas)
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        else:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                [tf.config.list_logical_devices("CPU")[0].name]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.MultiWorkerMirroredStrategy()


def describe(strategy):
    """{"strategy": none|mirrored|multiworker, "replicas", "workers", "chief"} for metrics.json."""
    import tensorflow as tf

    name, workers = "none", 1
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        cluster = tf_config().get("cluster", {})
        name, workers = "multiworker", max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))
    elif isinstance(strategy, tf.distribute.MirroredStrategy):
        name = "mirrored"
    return {"strategy": name, "replicas": int(strategy.num_replicas_in_sync), "workers": workers,
            "chief": is_chief()}


def add_flags(parser):
    """--distribute and --cpu-replicas on an argparse parser (dest: distribute, cpu_replicas)."""
    parser.add_argument("--distribute", choices=CHOICES, default="none",
                        help="none: one device; mirrored: every GPU of this machine (or --cpu-replicas "
                             "CPU devices); multiworker: the machines named in TF_CONFIG")
    parser.add_argument("--cpu-replicas", type=int, default=1, metavar="N",
                        help="with --distribute mirrored: split the CPU into N logical devices")


def worker_run_dir(environ=None):
    """None on the chief; on any other worker a fresh temporary folder for its
    copy of the run (removed when the process ends), so that workers write
    nothing where the chief writes."""
    if is_chief(environ):
        return None
    import atexit
    import shutil
    import tempfile

    task = tf_config(environ)["task"]
    path = tempfile.mkdtemp(prefix=f"chapter2-{task['type']}{task['index']}-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _multiworker(strategy):
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def fit(strategy, model, x=None, y=None, *, batch_size=None, epochs=1, initial_epoch=0, shuffle=True,
        validation_data=None, callbacks=None, verbose="auto", seed=0):
    """model.fit(...) under `strategy`; for MultiWorkerMirroredStrategy, the loop described above.

    x is numpy arrays (with y) or a tf.data.Dataset of (x, y) batches of the
    global batch size; validation_data a tuple (x_val, y_val) or such a dataset.
    Returns the History callback, as model.fit does.
    """
    if not _multiworker(strategy):
        train = _as_dataset(x, y, batch_size, shuffle, seed)
        if validation_data is not None:
            validation_data = _as_dataset(validation_data, None, batch_size, False, seed)
        with strategy.scope():
            return model.fit(train, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,  # train shuffles
                             validation_data=validation_data, callbacks=callbacks, verbose=verbose)
    return _Loop(strategy, model).fit(x, y, batch_size, epochs, initial_epoch, shuffle, validation_data,
                                      callbacks, verbose, seed)


def evaluate(strategy, model, x, y=None, *, batch_size=None):
    """model.evaluate(x, y, batch_size=..., verbose=0): the compiled loss, or the first
    of its results (a scalar); under multiworker through the loop above."""
    if not _multiworker(strategy):
        with strategy.scope():
            result = model.evaluate(_as_dataset(x, y, batch_size, False, 0), verbose=0)
        return result[0] if isinstance(result, list) else result
    loop = _Loop(strategy, model)
    with strategy.scope():
        return loop.mean_loss(loop.distributed(x, y, batch_size, False, 0))


def _as_dataset(x, y, batch_size, shuffle, seed):
    """Batches of (x, y) as model.fit(x, y, batch_size, shuffle) makes them
    from arrays (every sample once per epoch, in a new order each epoch when
    `shuffle`, the last batch partial), with tf.data's autotuning off. `x`
    may also be an (x, y) tuple, as validation_data is, or a dataset of
    batches, which only gets the options.

    Keras' own pipeline for arrays lets tf.data tune its parallelism while
    training runs. On 2 cores that tuning made about every other epoch of
    Chapter_2_1 take 5.1 s instead of 3.3 s for the same work; this pipeline
    (a shuffled index per sample, one gather per batch, two batches prefetched)
    keeps every epoch at the faster time (docs/benchmarks.md). The order
    comes from `seed`: every worker of a multi-worker run draws the same
    global batches and takes its own share of each."""
    import tensorflow as tf

    if isinstance(x, tuple) and y is None:
        x, y = x
    if isinstance(x, tf.data.Dataset):
        ds = x
    else:
        if batch_size is None:
            raise ValueError("batch_size is needed with array input")
        same = y is x  # an autoencoder's target is its input: keep one copy
        with tf.device("/cpu:0"):  # tf.data runs on the CPU: keep the arrays there, not on a GPU
            x = tf.convert_to_tensor(x)
            y = x if same else tf.convert_to_tensor(y)
        ds = tf.data.Dataset.range(int(x.shape[0]))
        if shuffle:
            ds = ds.shuffle(int(x.shape[0]), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).map(lambda rows: (tf.gather(x, rows), tf.gather(y, rows))).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


class _Loop:
    """Training and loss evaluation through strategy.run, for MultiWorkerMirroredStrategy."""

    def __init__(self, strategy, model):
        import tensorflow as tf

        self.strategy, self.model = strategy, model
        replicas = strategy.num_replicas_in_sync
        total = tf.distribute.ReduceOp.SUM

        def replica_totals(xb, yb, training):
            """The replica's loss (as compute_loss returns it: its mean over the
            replica's samples, divided by the replica count), the sum of its
            per-sample losses and its sample count."""
            y_pred = model(xb, training=training)
            loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, training=training)
            n = tf.cast(tf.shape(xb)[0], loss.dtype)
            return loss, loss * replicas * n, n

        def train_replica(xb, yb):
            with tf.GradientTape() as tape:
                loss, loss_sum, n = replica_totals(xb, yb, True)
            grads = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss_sum, n

        def test_replica(xb, yb):
            return replica_totals(xb, yb, False)[1:]

        def reduced(per_replica):
            return [strategy.reduce(total, v, axis=None) for v in per_replica]

        self.train_step = tf.function(lambda batch: reduced(strategy.run(train_replica, args=batch)))
        self.test_step = tf.function(lambda batch: reduced(strategy.run(test_replica, args=batch)))

    def distributed(self, x, y, batch_size, shuffle, seed):
        return self.strategy.experimental_distribute_dataset(_as_dataset(x, y, batch_size, shuffle, seed))

    def mean_loss(self, dataset):
        loss_sum = count = 0.0
        for batch in dataset:
            t, n = self.test_step(batch)
            loss_sum, count = loss_sum + float(t), count + float(n)
        return loss_sum / max(count, 1.0)

    def fit(self, x, y, batch_size, epochs, initial_epoch, shuffle, validation_data, callbacks, verbose, seed):
        import keras

        model = self.model
        train = self.distributed(x, y, batch_size, shuffle, seed)
        val = None if validation_data is None else self.distributed(validation_data, None, batch_size, False, seed)
        callback_list = keras.callbacks.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                                     model=model, verbose=2 if verbose == "auto" else verbose,
                                                     epochs=epochs, steps=None)
        model.stop_training = False
        logs = {}
        with self.strategy.scope():
            callback_list.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                callback_list.on_epoch_begin(epoch)
                loss_sum = count = 0.0
                for step, batch in enumerate(train):
                    callback_list.on_train_batch_begin(step)
                    t, n = self.train_step(batch)
                    loss_sum, count = loss_sum + float(t), count + float(n)
                    callback_list.on_train_batch_end(step, {"loss": loss_sum / max(count, 1.0)})
                logs = {"loss": loss_sum / max(count, 1.0)}
                if val is not None:
                    logs["val_loss"] = self.mean_loss(val)
                callback_list.on_epoch_end(epoch, logs)
                if model.stop_training:
                    break
            callback_list.on_train_end(logs)
        return model.history


def is_multiworker(strategy):
    """True under MultiWorkerMirroredStrategy, where Keras' fit fails and fit() above trains instead."""
    return _multiworker(strategy)

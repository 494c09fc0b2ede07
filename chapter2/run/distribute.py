"""Training on several devices or machines: --distribute, --cpu-replicas, --worker-timeout.

    strategy = distribute.strategy(cfg)       # before anything else touches TensorFlow's devices
    with strategy.scope():
        model = build_model(...); model.compile(...)
    if distribute.is_multiworker(strategy):   # Keras' fit fails there (below)
        distribute.fit(strategy, model, train, epochs=..., callbacks=...)
    else:
        model.fit(train, epochs=..., callbacks=...)

none: one device (a GPU if TensorFlow finds one). mirrored: MirroredStrategy over
every GPU, or over --cpu-replicas logical CPU devices on a machine without one;
BATCH_SIZE is the global batch, split evenly across the replicas. multiworker:
MultiWorkerMirroredStrategy across the machines of TF_CONFIG. A multi-worker run
waits a bounded time for its workers, ends in one line (exit status 3) when one
is lost, and resumes every worker from the chief's resume point; only the chief
writes the run folder.

Under multiworker, Keras 3.15's fit and evaluate fail on TensorFlow 2.21 once
there are two workers ("Attempt to convert a value (PerReplica...)", Keras issue
20585), so fit() and evaluate() here run their own loop: strategy.run of the
forward pass, model.compute_loss and the model's optimizer, calling the Keras
callbacks as fit does (loss and val_loss only). Importing this module does no work.
"""

import argparse
import atexit
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref

from chapter2.run.errors import InputError

CHOICES = ("none", "mirrored", "multiworker")
WORKER_TIMEOUT = 120.0  # seconds a worker waits for the others by default (--worker-timeout)
# --cpu-replicas: logical devices share the same cores; more only adds overhead
MAX_CPU_REPLICAS = 16
LOST_WORKER = 3  # exit status of a worker whose peers stopped answering during the run


# --- flags and TF_CONFIG ---------------------------------------------------------


def add_flags(parser):
    """--distribute, --cpu-replicas and --worker-timeout on an argparse parser."""
    parser.add_argument(
        "--distribute",
        choices=CHOICES,
        default="none",
        help="none: one device; mirrored: every GPU of this machine (or --cpu-replicas "
        "CPU devices); multiworker: the machines named in TF_CONFIG",
    )
    parser.add_argument(
        "--cpu-replicas",
        type=int,
        default=1,
        metavar="N",
        help="with --distribute mirrored: split the CPU into N logical devices (at most two "
        f"per CPU core and at most {MAX_CPU_REPLICAS}; the batch size must be a multiple of N)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=_seconds,
        default=WORKER_TIMEOUT,
        metavar="SECONDS",
        help="with --distribute multiworker: how long to wait for the other workers named in "
        f"TF_CONFIG before giving up (exit status 2) [default: {WORKER_TIMEOUT:g}]",
    )


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--worker-timeout expects seconds, got {text!r}"
        ) from None
    if not 1 <= value <= 86400:
        raise argparse.ArgumentTypeError(
            f"--worker-timeout must be from 1 to 86400 seconds, got {text}"
        )
    return value


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
        raise InputError(
            f"--cpu-replicas {replicas}: splits the CPU for --distribute mirrored "
            f"(got --distribute {kind})"
        )
    most = max_cpu_replicas()
    if replicas > most:
        raise InputError(
            f"--cpu-replicas {replicas}: at most {most} on this machine ({os.cpu_count()} "
            f"CPU cores: two logical devices per core, and never more than {MAX_CPU_REPLICAS})"
        )
    batch = getattr(cfg, "BATCH_SIZE", None)
    if replicas > 1 and isinstance(batch, int) and batch % replicas:
        raise InputError(
            f"--cpu-replicas {replicas}: each batch of --batch-size {batch} is split evenly "
            f"across the replicas, so the batch size must be a multiple of {replicas}"
        )
    return kind, replicas


def max_cpu_replicas():
    """The most logical CPU devices --cpu-replicas may ask for here: two per core."""
    return max(1, min(MAX_CPU_REPLICAS, 2 * (os.cpu_count() or 1)))


def require_single_device(cfg, why):
    """For a model that trains on one device only: refuse --distribute/--cpu-replicas, saying `why`."""
    kind, replicas = settings(cfg)
    if kind != "none":
        raise InputError(f"--distribute {kind}: {why}; run with --distribute none")
    if replicas > 1:
        raise InputError(f"--cpu-replicas {replicas}: {why}")


def tf_config(environ=None):
    """The parsed TF_CONFIG ({} when unset), checked for the parts MultiWorkerMirroredStrategy reads."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"TF_CONFIG: not valid JSON ({err.msg} at character {err.pos})") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if (
        not isinstance(cluster, dict)
        or not cluster
        or not all(
            isinstance(v, list) and v and all(isinstance(a, str) for a in v)
            for v in cluster.values()
        )
    ):
        raise InputError(
            'TF_CONFIG: needs "cluster": {"worker": ["host:port", ...]} (a list of addresses per job)'
        )
    if (
        not isinstance(task, dict)
        or task.get("type") not in cluster
        or not isinstance(task.get("index"), int)
        or not 0 <= task["index"] < len(cluster[task["type"]])
    ):
        raise InputError(
            'TF_CONFIG: needs "task": {"type": "worker", "index": i} naming one of the cluster\'s '
            "addresses (i counts from 0)"
        )
    seen = set()
    for address in itertools.chain(*cluster.values()):
        host, port = split_address(address)  # "notaport": one line, not a gRPC error later
        if (host.lower(), port) in seen:
            raise InputError(f"TF_CONFIG: the address {address} appears twice in the cluster")
        seen.add((host.lower(), port))
    return config


def split_address(address):
    """(host, port) of a TF_CONFIG address "host:port" ("[::1]:port" for IPv6)."""
    host, sep, port = address.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if (
        not sep
        or not host
        or not port.isdigit()
        or not 1 <= int(port) <= 65535
        or any(c.isspace() or c in "/@[]" for c in host)
    ):
        raise InputError(
            f"TF_CONFIG: the address {address[:60]!r} is not host:port "
            "(a host name or IP address, and a port from 1 to 65535)"
        )
    return host, int(port)


def is_chief(environ=None):
    """True in the process that writes the run: the only one, the "chief" task,
    or worker 0 of a cluster without a chief (TensorFlow's convention)."""
    config = tf_config(environ)
    if not config:
        return True
    task = config["task"]
    return task["type"] == "chief" or (
        task["type"] == "worker" and task["index"] == 0 and "chief" not in config["cluster"]
    )


def worker_run_dir(environ=None):
    """None on the chief; on any other worker a fresh temporary folder for its
    copy of the run, removed when the process ends."""
    if is_chief(environ):
        return None
    task = tf_config(environ)["task"]
    path = tempfile.mkdtemp(prefix=f"chapter2-{task['type']}{task['index']}-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _peers(config):
    """The addresses of every task in TF_CONFIG but this process's own."""
    task = config["task"]
    return [
        address
        for job, addresses in config["cluster"].items()
        for i, address in enumerate(addresses)
        if (job, i) != (task["type"], task["index"])
    ]


# --- the strategy ------------------------------------------------------------------


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
            devices = [d.name for d in tf.config.list_logical_devices("GPU")]
            devices = devices or [tf.config.list_logical_devices("CPU")[0].name]
        return tf.distribute.MirroredStrategy(devices=devices)
    config = tf_config()
    if not config:
        return tf.distribute.MultiWorkerMirroredStrategy()  # one local worker: nothing to wait for
    timeout = float(getattr(cfg, "worker_timeout", None) or WORKER_TIMEOUT)
    wait_for_workers(config, timeout)
    # TensorFlow's own start-up waits for every worker again, with no time limit
    # and deaf to signals: a watchdog bounds it.
    peers = ", ".join(_peers(config))
    with _Watchdog(
        timeout, f"the workers at {peers} answered, then did not join the run (TF_CONFIG)"
    ):
        made = tf.distribute.MultiWorkerMirroredStrategy()
    # The multi-worker runtime takes SIGTERM for itself (it notes it and goes on):
    # give it back to Python, where it stops the run as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    return made


def split_cpu(replicas):
    """Make the CPU appear as `replicas` logical devices; before TensorFlow's runtime starts."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == replicas:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
    except RuntimeError:
        raise InputError(
            f"--cpu-replicas {replicas}: TensorFlow's devices were already set up in this "
            f"process ({len(current or [cpu])} CPU device(s)); the split must come first"
        ) from None


def is_multiworker(strategy):
    """True under MultiWorkerMirroredStrategy, where Keras' fit fails and fit() below trains instead."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def workers(strategy):
    """How many worker processes train together under `strategy` (1 unless multi-worker)."""
    if not is_multiworker(strategy):
        return 1
    cluster = tf_config().get("cluster", {})
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def describe(strategy):
    """{"strategy": none|mirrored|multiworker, "replicas", "workers", "chief"} for metrics.json."""
    import tensorflow as tf

    name = "mirrored" if isinstance(strategy, tf.distribute.MirroredStrategy) else "none"
    return {
        "strategy": "multiworker" if is_multiworker(strategy) else name,
        "replicas": int(strategy.num_replicas_in_sync),
        "workers": workers(strategy),
        "chief": is_chief(),
    }


# --- waiting for the workers, and losing one ------------------------------------------


class WorkersMissing(InputError):
    """Some workers named in TF_CONFIG did not answer in time (exit status 2)."""


def wait_for_workers(config, timeout, *, log=print, poll=0.2):
    """Wait until every other worker of TF_CONFIG accepts a connection, at
    most `timeout` seconds; WorkersMissing naming those that did not.

    Meanwhile this process holds its own port with a plain listening socket
    (so the others see it is there, and a port another program holds is
    reported at once), and lets go just before TensorFlow starts its server
    there. Ctrl-C and SIGTERM end the wait at any moment."""
    task = config["task"]
    mine = config["cluster"][task["type"]][task["index"]]
    port = split_address(mine)[1]
    try:
        if socket.has_dualstack_ipv6():
            held = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
        else:
            held = socket.create_server(("", port))
    except OSError as err:
        raise InputError(
            f"TF_CONFIG: this worker's address {mine}: cannot listen on port {port} "
            f"({os.strerror(err.errno) if err.errno else err}); is another program using it?"
        ) from None
    waiting = _peers(config)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        log(
            f"waiting up to {timeout:g} s for workers at {', '.join(waiting)} "
            f"(this is {task['type']} {task['index']}, at {mine}; --worker-timeout changes the wait)",
            flush=True,
        )
        deadline = time.monotonic() + timeout
        while waiting:
            seconds = min(1.0, max(0.05, deadline - time.monotonic()))
            waiting = [a for a in waiting if not _answers(a, seconds)]
            if waiting and time.monotonic() >= deadline:
                raise WorkersMissing(
                    f"no answer in {timeout:g} s from the worker(s) at {', '.join(waiting)} "
                    "named in TF_CONFIG; start the same command there with their task "
                    "index, or raise --worker-timeout"
                )
            if waiting:
                time.sleep(poll)
    finally:
        signal.signal(signal.SIGTERM, previous)
        held.close()


def _answers(address, seconds):
    """Whether something accepts a TCP connection at `address` within `seconds`."""
    try:
        with socket.create_connection(split_address(address), timeout=seconds):
            return True
    except OSError:
        return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class _Watchdog:
    """Ends the process in one line (exit status 137) if the block takes longer
    than `timeout` seconds, or on Ctrl-C or SIGTERM. TensorFlow's multi-worker
    start-up holds Python's interpreter lock while it waits, so no signal
    handler or thread of this process can run: the watch is a small separate
    process, reading the signal numbers that this process's C-level handlers
    write to a pipe (signal.set_wakeup_fd), and "done" when the block ends."""

    WATCH = (
        "import os, select, signal, sys\n"
        "parent, timeout, console, what = map(str, sys.argv[1:5])\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "ready = select.select([0], [], [], float(timeout))[0]\n"
        "data = os.read(0, 64) if ready else None\n"
        "if data is not None and not data.replace(b'done', b''):\n"
        "    sys.exit(0)  # the block ended (or this process did), no signal came\n"
        "line = ('\\ninterrupted while the workers were starting' if data else\n"
        "        f'error: {what}; gave up after {float(timeout):g} s')\n"
        "os.write(int(console), (line + '\\n').encode())\n"
        "os.kill(int(parent), signal.SIGKILL)\n"
    )

    def __init__(self, timeout, what):
        self.timeout, self.what = timeout, what

    def __enter__(self):
        from chapter2.run import console

        self._watch = None
        if threading.current_thread() is not threading.main_thread():
            return self  # signals and their wake-up descriptor belong to the main thread
        read, self._send = os.pipe()
        os.set_blocking(self._send, False)
        out = console.original_stderr()
        self._watch = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", self.WATCH]
            + [str(os.getpid()), str(self.timeout), str(out), self.what],
            stdin=read,
            pass_fds=(out,),
        )
        os.close(read)
        self._old_fd = signal.set_wakeup_fd(self._send, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        if self._watch is None:
            return False
        signal.set_wakeup_fd(self._old_fd)
        os.set_blocking(self._send, True)
        with contextlib.suppress(OSError):
            os.write(self._send, b"done")
        self._watch.wait()
        os.close(self._send)
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        return False


def lost_worker(err):
    """If `err` is a multi-worker collective failing because another worker died
    or stopped answering (at any moment of the run), print the one line that
    says so and return True (flags.run then exits with LOST_WORKER); else False."""
    if "tensorflow" not in sys.modules:
        return False
    import tensorflow as tf

    lost = (
        tf.errors.UnavailableError,
        tf.errors.CancelledError,
        tf.errors.AbortedError,
        tf.errors.DeadlineExceededError,
        tf.errors.FailedPreconditionError,
    )
    if not isinstance(err, lost):
        return False
    try:
        config = tf_config()
    except InputError:
        return False
    if not config:
        return False
    print(
        f"error: {_lost(config, str(err))} stopped answering; every worker stops. Rerun the same "
        "command on every worker: the run resumes from its last finished epoch",
        file=sys.stderr,
        flush=True,
    )
    return True


def _lost(config, text):
    """Which workers an error from TensorFlow's collectives names, by their TF_CONFIG addresses."""
    task = config["task"]
    named = []
    for job, index in re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text):
        addresses = config["cluster"].get(job, [])
        if (job, int(index)) != (task["type"], task["index"]) and int(index) < len(addresses):
            address = f"the {job} at {addresses[int(index)]}"
            named += [] if address in named else [address]
    return " and ".join(named) or "another worker (" + ", ".join(_peers(config)) + ")"


# --- batches every replica gets a share of ------------------------------------------


def batch_sizes(samples, batch_size, replicas=1):
    """The batch sizes one pass over `samples` takes: model.fit's (full batches,
    then a partial one), except where a batch would not split across `replicas`.

    tf.distribute cuts a batch of b samples into pieces of ceil(b / replicas),
    so a short batch can leave the last replicas with none (9 samples on 4: 3,
    3, 3, 0), and a zero-sample convolution fails; Keras also builds the model
    from the first batch's pieces, which must be of equal size. So a last batch
    that would leave a replica empty joins the one before it, and a set smaller
    than one batch starts with a batch of exactly `replicas` samples. InputError
    when no such cut exists (fewer samples than replicas)."""
    if samples < 1:
        raise InputError("no samples to make batches of")
    sizes = [batch_size] * (samples // batch_size)
    rest = samples % batch_size
    if rest:
        if not splits(rest, replicas) and sizes and splits(batch_size + rest, replicas):
            sizes[-1] += rest
        else:
            sizes.append(rest)
    if sizes[0] % replicas and len(sizes) == 1:  # fewer samples than one batch
        sizes = [replicas, samples - replicas]
    if sizes[0] % replicas or not all(splits(b, replicas) for b in sizes):
        raise InputError(
            f"{samples} samples in batches of {batch_size} cannot be split across {replicas} "
            "replicas without leaving one empty; use fewer --cpu-replicas or another "
            "--batch-size"
        )
    return sizes


def splits(batch, replicas):
    """Whether tf.distribute's cut of `batch` samples gives every replica at least one."""
    return batch - -(-batch // replicas) * (replicas - 1) > 0


def cut(ds, samples, batch_size, replicas=1):
    """`ds`, `samples` items per pass (e.g. shuffled row numbers), cut into the
    batches batch_sizes chooses: ds.batch(batch_size) whenever that is safe."""
    import tensorflow as tf

    sizes = batch_sizes(samples, batch_size, replicas)
    if len(set(sizes[:-1])) <= 1 and sizes[-1] <= sizes[0]:
        return ds.batch(sizes[0])  # model.fit's batches
    ends = tf.constant(list(itertools.accumulate(sizes)), tf.int64)
    starts = tf.concat([[0], ends[:-1]], 0)
    return ds.batch(samples).flat_map(
        lambda items: tf.data.Dataset.from_tensor_slices((starts, ends)).map(
            lambda start, end: items[start:end]
        )
    )


def dataset(strategy, x, y, *, batch_size, shuffle=False, seed=0):
    """The batches model.fit(x, y, batch_size, shuffle) makes of arrays, as a
    tf.data pipeline for model.fit, model.evaluate or fit() under `strategy`:
    every sample once per pass, reshuffled each pass when `shuffle`, cut by
    batch_sizes, with tf.data's autotuning off (Keras' own pipeline tunes while
    training runs, which on a small CPU made some epochs much slower for the
    same work: docs/benchmarks.md). Every worker of a multi-worker run draws
    the same global batches from `seed` and takes its share of each."""
    import tensorflow as tf

    same = y is x  # an autoencoder's target is its input: keep one copy
    with tf.device("/cpu:0"):  # tf.data runs on the CPU: keep the arrays there, not on a GPU
        x = tf.convert_to_tensor(x)
        y = x if same else tf.convert_to_tensor(y)
    samples = int(x.shape[0])
    ds = tf.data.Dataset.range(samples)
    if shuffle:
        ds = ds.shuffle(samples, seed=seed, reshuffle_each_iteration=True)
    ds = cut(ds, samples, batch_size, int(strategy.num_replicas_in_sync))
    return fixed(ds.map(lambda rows: (tf.gather(x, rows), tf.gather(y, rows))).prefetch(2))


def fixed(ds):
    """`ds` as the kit's pipelines run: tf.data's autotuning off (a fixed pipeline, every
    epoch alike) and, across several workers, each taking its share of every batch."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def predict(model, x, batch_size=32):
    """model.predict(x, verbose=0) under any strategy and for any number of
    samples: under MirroredStrategy Keras' predict fails when a batch leaves a
    replica without a sample, so the input is padded with copies of its last
    sample to a multiple of the replica count, and the padding's output dropped."""
    import keras
    import numpy as np

    replicas = int(model.distribute_strategy.num_replicas_in_sync)
    x = np.asarray(x)
    if replicas == 1 or len(x) == 0:
        return model.predict(x, batch_size=batch_size, verbose=0)
    padded = np.concatenate([x, np.repeat(x[-1:], -len(x) % replicas, axis=0)])
    batch = max(replicas, batch_size - batch_size % replicas)
    out = model.predict(padded, batch_size=batch, verbose=0)
    return keras.tree.map_structure(lambda part: part[: len(x)], out)


# --- training and evaluating under MultiWorkerMirroredStrategy ----------------------


def fit(
    strategy,
    model,
    train,
    *,
    epochs=1,
    initial_epoch=0,
    validation_data=None,
    callbacks=None,
    verbose="auto",
):
    """model.fit(train, ...)'s stand-in under MultiWorkerMirroredStrategy, where
    Keras' own fails; `train` and `validation_data` are datasets of global
    batches made `fixed` (dataset() or the steering pipeline). Returns the History callback."""
    if not is_multiworker(strategy):
        raise ValueError("distribute.fit is for multi-worker runs; call model.fit otherwise")
    import keras

    train_step, mean_loss = _steps(strategy, model)
    train = strategy.experimental_distribute_dataset(train)
    val = validation_data
    val = None if val is None else strategy.experimental_distribute_dataset(val)
    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=2 if verbose == "auto" else verbose,
        epochs=epochs,
        steps=None,
    )
    model.stop_training = False
    logs = {}
    with strategy.scope():
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            loss_sum = count = 0.0
            for step, batch in enumerate(train):
                callback_list.on_train_batch_begin(step)
                t, n = train_step(batch)
                loss_sum, count = loss_sum + float(t), count + float(n)
                callback_list.on_train_batch_end(step, {"loss": loss_sum / max(count, 1.0)})
            logs = {"loss": loss_sum / max(count, 1.0)}
            if val is not None:
                logs["val_loss"] = mean_loss(val)
            callback_list.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callback_list.on_train_end(logs)
    return model.history


def evaluate(strategy, model, data):
    """model.evaluate(data, verbose=0)'s compiled loss (the first of its
    results), under multiworker from the loop above."""
    if not is_multiworker(strategy):
        with strategy.scope():
            result = model.evaluate(data, verbose=0)
        return result[0] if isinstance(result, list) else result
    mean_loss = _steps(strategy, model)[1]
    with strategy.scope():
        return mean_loss(strategy.experimental_distribute_dataset(data))


_STEPS = weakref.WeakKeyDictionary()  # a model's steps, traced once for fit and evaluate


def _steps(strategy, model):
    """(train_step, mean_loss) through strategy.run: a step returns the sum of
    the batch's per-sample losses and its sample count, reduced over replicas."""
    if model not in _STEPS:
        _STEPS[model] = _make_steps(strategy, model)
    return _STEPS[model]


def _make_steps(strategy, model):
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync

    def replica_totals(xb, yb, training):
        # compute_loss gives the replica's mean loss divided by the replica count
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

    def reduced(fn):
        return lambda batch: [
            strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for v in strategy.run(fn, args=batch)
        ]

    train_step = tf.function(reduced(train_replica))
    test_step = tf.function(reduced(lambda xb, yb: replica_totals(xb, yb, False)[1:]))

    def mean_loss(batches):
        loss_sum = count = 0.0
        for batch in batches:
            t, n = test_step(batch)
            loss_sum, count = loss_sum + float(t), count + float(n)
        return loss_sum / max(count, 1.0)

    return train_step, mean_loss


# --- resuming every worker from the chief's point ------------------------------------


def from_chief(strategy, tensors):
    """The chief's values of `tensors` (the same shapes and dtypes on every
    worker), on every worker: an all-reduce (SUM) to which only the first
    replica, the chief's, adds its values. Every worker must call it at the
    same point. Integers travel as float64 (exact up to 2**53)."""
    import tensorflow as tf

    values = [tf.convert_to_tensor(t) for t in tensors]
    if not values:
        return []
    sent = [v if v.dtype.is_floating else tf.cast(v, tf.float64) for v in values]

    def replica(*local):
        context = tf.distribute.get_replica_context()
        first = tf.equal(context.replica_id_in_sync_group, 0)
        mine = [tf.where(first, v, tf.zeros_like(v)) for v in local]
        out = list(mine)
        for dtype in {v.dtype for v in mine}:  # one all-reduce per dtype packs its tensors
            picked = [i for i, v in enumerate(mine) if v.dtype == dtype]
            summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [mine[i] for i in picked])
            for i, r in zip(picked, summed):
                out[i] = r
        return out

    reduced = tf.function(lambda *local: strategy.run(replica, args=local))(*sent)
    reduced = [strategy.experimental_local_results(r)[0] for r in reduced]
    return [r if r.dtype == v.dtype else tf.cast(r, v.dtype) for r, v in zip(reduced, values)]


def same_point_everywhere(model, epoch, record):
    """After each worker has read its own resume point (only the chief keeps
    points), make every worker carry on from the chief's: its epoch, its record
    and every variable of the model and the optimizer. Returns (epoch, record)
    as the chief has them; on one worker, unchanged."""
    import tensorflow as tf

    strategy = model.distribute_strategy
    if workers(strategy) < 2:
        return epoch, record
    text = json.dumps(record if is_chief() else {}).encode()
    with strategy.scope():
        length = int(from_chief(strategy, [tf.constant(len(text), tf.float64)])[0].numpy())
        padded = tf.constant(list(text[:length].ljust(length, b" ")), tf.float32)
        chief_text = bytes(int(b) for b in from_chief(strategy, [padded])[0].numpy()).decode()
        epoch = int(from_chief(strategy, [tf.constant(epoch, tf.float64)])[0].numpy())
        variables = list(model.variables)
        if model.optimizer is not None:
            variables += list(model.optimizer.variables)
        for variable, value in zip(variables, from_chief(strategy, [v.value for v in variables])):
            variable.assign(value)
    return epoch, json.loads(chief_text)

"""What this machine gives the chapter's scripts: versions, devices, speed.

    python -m chapter2.doctor              # about 3 s of training per model
    python -m chapter2.doctor --seconds 1 --models 2_1,2_2

Prints Python, TensorFlow, Keras and the CUDA and cuDNN versions TensorFlow
was built with; the devices TensorFlow finds (and, on a machine with an
NVIDIA driver where TensorFlow finds no GPU, the likely reason and the
command that fixes it; with no GPU, that the scripts train on the CPU);
then, for each of the five chapter models, the training step's throughput
on the device TensorFlow picks: samples/s and GFLOP/s (training counted as
3x the forward pass's analytic FLOPs). TensorFlow's own start-up lines are
kept out of the console (chapter2/run/console.py).

The models come from the scripts themselves (Chapter_2_N.build_model), fed
random data of the chapter's shapes, at the chapter's batch sizes. The
figures are the compiled training step (Keras train_on_batch), so they leave
out data loading and per-epoch work.
"""

import argparse
import importlib.util
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from chapter2.run import console, device

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("2_1", "2_2", "2_3", "2_4", "2_5")


def forward_flops(model, timesteps=1):
    """Forward-pass FLOPs per sample, analytic: multiply-adds x 2 of Conv2D,
    Dense and LSTM layers (pooling, activations and biases not counted).
    `timesteps` stands for a sequence length the model leaves open (None)."""
    import keras

    total = 0
    for layer in model.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.LSTM)):
            continue
        # a masked layer's input is (x, mask)
        inputs = layer.input[0] if isinstance(layer.input, (list, tuple)) else layer.input
        if isinstance(layer, keras.layers.Conv2D):
            _, ho, wo, co = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2 * ho * wo * co * kh * kw * inputs.shape[-1] // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            positions = 1
            for d in inputs.shape[1:-1]:
                positions *= d or timesteps
            total += 2 * positions * inputs.shape[-1] * layer.units
        elif isinstance(layer, keras.layers.LSTM):
            steps = inputs.shape[1] or timesteps
            total += 2 * steps * 4 * layer.units * (inputs.shape[-1] + layer.units)
    return int(total)


def _script(name):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(name)


def chapter_models():
    """{name: (description, build() -> (compiled model, x, y, timesteps))} for the five scripts."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)

    def ae():
        ch = _script("Chapter_2_1")
        model = ch.build_model()
        model.compile(optimizer=ch.make_optimizer(), loss="binary_crossentropy")
        x = rng.random((ch.BATCH_SIZE, 28, 28, 1), dtype=np.float32)
        return model, x, x, 1

    def steering(script):
        def build():
            ch = _script(script)
            model = ch.build_model()  # the script's own network
            model.compile(
                optimizer="adam",
                loss="mean_squared_error",
                jit_compile=bool(getattr(ch, "JIT_COMPILE", False)),
            )
            x = rng.integers(
                0, 256, (ch.BATCH_SIZE,) + tuple(model.input.shape[1:]), dtype=np.uint8
            )
            return model, x, rng.uniform(-1, 1, (ch.BATCH_SIZE, 1)).astype(np.float32), 1

        return build

    def alphabet():
        ch = _script("Chapter_2_4")
        model = ch.build_model((ch.SEQ_LENGTH, 1))
        x = rng.random((ch.BATCH_SIZE, ch.SEQ_LENGTH, 1), dtype=np.float32)
        y = keras.utils.to_categorical(rng.integers(0, 26, ch.BATCH_SIZE), 26)
        return model, x, y, ch.SEQ_LENGTH

    def rps():
        ch = _script("Chapter_2_5")
        model = ch.build_model()
        steps = 50  # moves in a typical game of the chapter's data.txt
        moves = keras.utils.to_categorical(rng.integers(0, 3, (ch.BATCH_SIZE, steps + 1)), 3)
        return model, moves[:, :-1], moves[:, 1:], steps

    return {
        "2_1": ("autoencoder, batch 128, adadelta", ae),
        "2_2": ("steering CNN, batch 64, adam", steering("Chapter_2_2")),
        "2_3": ("steering CNN with fewer pools, batch 64, adam", steering("Chapter_2_3")),
        "2_4": ("alphabet LSTM, batch 1, adam", alphabet),
        "2_5": ("rock-paper-scissors LSTMs, batch 32 x 50 moves, adam", rps),
    }


def throughput(model, x, y, seconds):
    """Training samples/s of model.train_on_batch(x, y), after one warm-up step."""
    model.train_on_batch(x, y)  # traces and compiles
    steps, start = 0, time.perf_counter()
    while True:
        model.train_on_batch(x, y)
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps >= 2:
            return steps * len(x) / elapsed


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_advice(
    build,
    gpus,
    environ=None,
    which=shutil.which,
    driver_dir="/proc/driver/nvidia",
    find_spec=importlib.util.find_spec,
    tf_version=None,
):
    """Why TensorFlow found no GPU on a machine with an NVIDIA driver, and the fix; None if not that case."""
    environ = os.environ if environ is None else environ
    if gpus or not (which("nvidia-smi") or Path(driver_dir).exists()):
        return None
    series = ".".join((tf_version or "2.21").split(".")[:2])
    install = f'pip install "tensorflow[and-cuda]=={series}.*"'
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return (
            f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from TensorFlow; "
            "fix: unset CUDA_VISIBLE_DEVICES"
        )
    if not build.get("is_cuda_build"):
        return f"this TensorFlow was built without CUDA; fix: {install}"
    missing = [
        m
        for m in ("nvidia.cudnn", "nvidia.cuda_runtime", "nvidia.cublas")
        if not _has(find_spec, m)
    ]
    if missing:
        return (
            f"the CUDA libraries TensorFlow loads from pip packages are missing ({', '.join(missing)}); "
            f"fix: {install}"
        )
    return (
        f"TensorFlow (CUDA {build.get('cuda_version', '?')}, cuDNN {build.get('cudnn_version', '?')}) "
        "could not start the driver: check `nvidia-smi` works and shows a driver at least as new as "
        "that CUDA needs (CUDA 12: driver 525 or newer); an older driver needs updating"
    )


def _has(find_spec, name):
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m chapter2.doctor", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="timed training per model (default 3)"
    )
    parser.add_argument(
        "--models", default=",".join(MODELS), help="comma list of " + ", ".join(MODELS)
    )
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        print(
            f"error: --models: unknown {', '.join(unknown) or 'empty list'} (choose from {', '.join(MODELS)})",
            file=sys.stderr,
        )
        return 2
    if args.seconds <= 0:
        print(f"error: --seconds: must be above 0, got {args.seconds:g}", file=sys.stderr)
        return 2

    device.prepare()
    import keras
    import tensorflow as tf

    build = dict(tf.sysconfig.get_build_info())
    print(f"Python      {platform.python_version()} ({sys.executable})")
    print(f"TensorFlow  {tf.__version__}   Keras {keras.__version__}")
    cuda = build.get("cuda_version") or "none"
    print(
        f"built with  CUDA {cuda}, cuDNN {build.get('cudnn_version') or 'none'}"
        f"{'' if build.get('is_cuda_build') else ' (a CPU-only build)'}"
    )
    print(
        f"CPU         {cpu_model()}, {os.cpu_count()} cores; oneDNN kernels {device.onednn_state()}"
    )
    gpus = tf.config.list_physical_devices("GPU")
    for d in tf.config.list_physical_devices():
        details = tf.config.experimental.get_device_details(d) if d.device_type == "GPU" else {}
        print(f"device      {d.name}{'  ' + details.get('device_name', '') if details else ''}")
    if not gpus:
        print(
            "GPU         none found: the scripts train on the CPU "
            "(all of them work there, more slowly)"
        )
    advice = gpu_advice(build, gpus, tf_version=tf.__version__)
    if advice:
        print(f"no GPU      {advice}")
    where = "GPU:0" if gpus else "CPU"
    print(f"\ntraining step throughput on {where}, {args.seconds:g} s per model:")
    catalogue = chapter_models()
    for name in models:
        label, build_fn = catalogue[name]
        keras.utils.set_random_seed(0)
        model, x, y, timesteps = build_fn()
        rate = throughput(model, x, y, args.seconds)
        gflops = 3 * forward_flops(model, timesteps) * rate / 1e9
        print(
            f"  Chapter_{name}  {rate:10,.0f} samples/s  {gflops:7.3g} GFLOP/s   {label}",
            flush=True,
        )
        keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    console.quiet()  # TensorFlow's start-up lines (cuInit, CUDA drivers) are not findings
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)

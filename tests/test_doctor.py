"""python -m chapter2.doctor: versions, devices and a throughput figure per model."""

import re
import subprocess
import sys

from conftest import ROOT, script_env

from chapter2 import doctor


def test_doctor_prints_versions_devices_and_a_rate_per_model():
    # One convolutional network and one LSTM: the doctor times every model through the same
    # code, and building and tracing the others (Chapter_2_3's 33.8 million weights above all)
    # would only add time (`--models` is checked on the way).
    models = ["2_1", "2_4"]
    env = script_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL")  # as in a learner's shell
    proc = subprocess.run(
        [sys.executable, "-m", "chapter2.doctor", "--seconds", "0.2", "--models", ",".join(models)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    # TensorFlow's start-up lines (cuInit, CUDA drivers) stay out of the console
    assert proc.stderr.strip() == "", proc.stderr[-3000:]
    assert not re.search(r"^[IWEF]\d{4} |cuInit", out, re.MULTILINE)
    import keras
    import tensorflow as tf

    assert f"TensorFlow  {tf.__version__}" in out and f"Keras {keras.__version__}" in out
    assert re.search(r"built with  CUDA \S+, cuDNN \S+", out)
    assert "/physical_device:CPU:0" in out and "Chapter_2_3 " not in out
    if "/physical_device:GPU:" not in out:
        assert "GPU         none found: the scripts train on the CPU" in out
    for name in models:
        line = re.search(rf"Chapter_{name}\s+([\d,]+) samples/s\s+([\d.e+-]+) GFLOP/s", out)
        assert line, f"no figure for Chapter_{name}:\n{out}"
        assert float(line.group(1).replace(",", "")) > 0


def test_doctor_rejects_an_unknown_model(capsys):
    assert doctor.main(["--models", "2_9"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "error: --models: unknown 2_9 (choose from 2_1, 2_2, 2_3, 2_4, 2_5)"
    )


def test_gpu_advice_names_the_likely_cause():
    cuda = {"is_cuda_build": True, "cuda_version": "12.5.1", "cudnn_version": "9"}
    no_driver = dict(which=lambda name: None, driver_dir="/nonexistent")
    driver = dict(which=lambda name: "/usr/bin/nvidia-smi", driver_dir="/nonexistent")
    assert doctor.gpu_advice(cuda, [], **no_driver) is None  # no NVIDIA driver: nothing to explain
    assert doctor.gpu_advice(cuda, ["gpu"], **driver) is None  # a GPU was found
    assert "unset CUDA_VISIBLE_DEVICES" in doctor.gpu_advice(
        cuda, [], environ={"CUDA_VISIBLE_DEVICES": "-1"}, **driver
    )
    cpu_build = doctor.gpu_advice(
        {"is_cuda_build": False}, [], environ={}, tf_version="2.21.0", **driver
    )
    assert cpu_build.endswith('pip install "tensorflow[and-cuda]==2.21.*"')
    missing = doctor.gpu_advice(cuda, [], environ={}, find_spec=lambda name: None, **driver)
    assert "nvidia.cudnn" in missing and "tensorflow[and-cuda]" in missing
    present = doctor.gpu_advice(cuda, [], environ={}, find_spec=lambda name: object(), **driver)
    assert "driver" in present and "nvidia-smi" in present


def test_forward_flops_counts_conv_dense_and_lstm():
    import keras

    conv = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(5),
        ]
    )
    assert doctor.forward_flops(conv) == 2 * 6 * 6 * 4 * 3 * 3 * 3 + 2 * 144 * 5
    lstm = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(7)])
    assert doctor.forward_flops(lstm, timesteps=10) == 2 * 10 * 4 * 7 * (3 + 7)

"""Does it drive? A steering model steers a simulated car round the lane simulator's evaluation
course, which no training frame shows: after training (closed_loop) or a saved model with no data
and no training (saved_model, --drive PATH). Leaving the lane is an intervention that costs 6 s
of autonomy, as in NVIDIA's PilotNet paper."""

import time
import zipfile
from pathlib import Path

import numpy as np

from chapter2.data import driving
from chapter2.run.errors import InputError, brief


def steering_function(model):
    """uint8 frames (B, 120, 160, 3) -> B angles, without Keras' predict overhead."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def infer(frames):
        return model(frames, training=False)

    return lambda frames: infer(tf.convert_to_tensor(np.asarray(frames))).numpy().reshape(-1)


def closed_loop(model, run, seconds, *, log=print):
    """Drive `model` round the evaluation track for `seconds` simulated seconds, beside the
    references (no steering, the ground-truth controller); write drive.gif. Returns (metrics,
    references), or ({}, None) without a drive when `seconds` is 0."""
    from chapter2.standins import lanesim

    if seconds <= 0:
        return {}, None
    log(f"driving the model round the simulator's evaluation track for {seconds:g} simulated s ...")
    started = time.perf_counter()
    result = lanesim.drive(steering_function(model), seconds=seconds, record=True)
    frames = result.pop("frames", None)
    references = lanesim.drive_references(seconds=seconds)
    if frames is not None and len(frames):
        lanesim.save_gif(frames, run.file("drive.gif"))
        log(f"wrote {run.file('drive.gif')}")
    took = f"{time.perf_counter() - started:.0f} s"
    kept = ("interventions", "mean_abs_offset", "distance", "sim_seconds")
    metrics = {"drive_scored": bool(result.get("scored", True)), **{k: result[k] for k in kept}}
    n = result["interventions"]
    path = (
        f"{n} intervention{'' if n == 1 else 's'} in {result['sim_seconds']:.0f} simulated s "
        f"({result['distance']:.0f} m), mean distance from the lane centre {100 * result['mean_abs_offset']:.1f} cm"
    )
    if metrics["drive_scored"]:
        metrics["autonomy"] = result["autonomy"]
        log(
            f"drive: autonomy {result['autonomy']:.1f} % with {path}; references on the same course: "
            f"no steering {references['no_steering']['autonomy']:.1f} %, ground truth "
            f"{references['ground_truth']['autonomy']:.1f} % [{took}]"
        )
    else:
        log(
            f"drive not scored ({seconds:g} simulated s is too short for autonomy to mean anything): {path} [{took}]"
        )
    return metrics, references


def check_driveable(model, path):
    """Refuse a model that does not map one 120x160x3 frame to one angle."""
    name = f"--drive {path}"
    inputs = list(getattr(model, "inputs", None) or [])
    outputs = list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1:
        raise InputError(
            f"{name}: the model has {len(inputs)} inputs; a steering model takes exactly one, "
            f"a {'x'.join(map(str, driving.FRAME_SHAPE))} camera frame"
        )
    shape = tuple(inputs[0].shape[1:])
    if shape != driving.FRAME_SHAPE:
        raise InputError(
            f"{name}: the model takes input of shape {shape}, expected {driving.FRAME_SHAPE} frames"
        )
    shapes = [tuple(o.shape[1:]) for o in outputs]
    if len(outputs) != 1 or shapes[0] not in ((), (1,)):
        raise InputError(
            f"{name}: the model gives {len(outputs)} output(s) of shape(s) "
            f"{', '.join(map(str, shapes)) or 'none'}; a steering model gives one angle per frame, "
            "shape (1,)"
        )


def load_for_driving(path):
    """The Keras model saved at `path`, checked to be a steering model."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--drive {path}: no such model file")
    try:
        model = keras.models.load_model(str(path))
    except Exception as err:  # Keras raises many kinds for a file it cannot read
        # Keras says "File not found" for a damaged .keras archive, which would mislead.
        with open(path, "rb") as fh:
            head = fh.read(8)
        if path.suffix == ".keras" and not zipfile.is_zipfile(path):
            why = (
                "damaged or not a .keras file: a .keras file is a zip archive, and this is not one"
            )
        elif path.suffix == ".h5" and head != b"\x89HDF\r\n\x1a\n":
            why = "damaged or not an .h5 file: it lacks the HDF5 signature"
        else:
            why = f"{type(err).__name__}: {brief(err, 150)}"
        raise InputError(f"--drive {path}: not a loadable Keras model ({why})") from None
    check_driveable(model, path)
    return model


def saved_model(path, script, cfg, seconds, *, log=print):
    """--drive PATH: load a saved model, check it, and drive it; no data, no training."""
    from chapter2.run import runfolder

    if seconds <= 0:
        raise InputError(
            f"--drive-seconds {seconds:g}: --drive needs a drive of more than 0 simulated seconds"
        )
    model = load_for_driving(path)
    run = runfolder.start(script, cfg)
    metrics, references = closed_loop(model, run, seconds, log=log)
    source = {"source": "none (driving a saved model)", "model": str(path)}
    extra = {"drive_references": references, "model": str(path)}  # in metrics.json's order
    run.finish(dataset=source, metrics=metrics, history=[], timing={}, **extra)
    return 0

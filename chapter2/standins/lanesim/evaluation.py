"""The closed-loop drive: a model steers a simulated car round the evaluation course.

``drive`` puts a kinematic bicycle car on the course (course.py) at
``SPEED`` m/s, ``STEP_HZ`` steps a second.  Each step renders the camera
frame from the car's pose (the camera ``CAMERA_SHIFT`` right of the car's
axis and turned ``CAMERA_YAW`` right), asks the predictor for an angle, and
steers.  When the car's centre leaves the lane (|offset| > half the lane
width) an intervention is counted and the car is put back on the centre
line, heading along the track, as NVIDIA's PilotNet evaluation does.
Autonomy is ``(1 - interventions * 6 s / simulated seconds) * 100``,
reported as computed: it goes below zero when a car needs a rescue more
often than once every 6 seconds.  A drive shorter than
``MIN_SCORED_SECONDS`` says ``"scored": False``: one intervention in a few
seconds swings the formula by hundreds of percent, so its figure means
nothing.
"""

import math
import time

import numpy as np

from chapter2.data.frames import FRAME_SHAPE

from .controller import LOOKAHEAD, steer_towards, turn_rate
from .course import evaluation_track
from .gif import GIF_FPS, DriveFigure
from .renderer import render_track_view
from .scenes import sample_styles
from .textures import sample_textures
from .track import advance

SPEED = 1.5  # metres per second
STEP_HZ = 20  # control steps per simulated second
RECORD_EVERY = STEP_HZ // GIF_FPS  # keep every 4th step for the GIF
PENALTY_SECONDS = 6.0  # PilotNet's cost of one intervention
MIN_SCORED_SECONDS = 20.0  # shorter drives are reported as not scored
CAMERA_SHIFT = 0.02  # metres right of the car's axis: a camera not quite centred
CAMERA_YAW = math.radians(2.0)  # and turned this much to the right
PROGRESS_EVERY = 10.0  # wall-clock seconds between progress lines


def autonomy(interventions, seconds):
    """PilotNet's autonomy in percent: each intervention costs PENALTY_SECONDS."""
    return (1 - interventions * PENALTY_SECONDS / seconds) * 100


def course_look(seed):
    """The look of the course's floor: drawn like a training scene, with
    the course's lane width, its own gaps instead of random long missing
    stretches of line, and at most half the training set's sensor noise."""
    rng = np.random.default_rng([seed, 11])
    st = sample_styles(rng, 1)
    st["lane_width"][:] = evaluation_track().lane_width
    st["gap_freq"][:] = 0.0
    st["gap_duty"][:] = 2.0
    texture = sample_textures(rng, 1)
    texture["noise"] = texture["noise"] * 0.5  # a cleaner camera than the worst in training
    return st, texture


def camera_pose(x, y, heading):
    """The world pose of the camera on a car at (x, y, heading)."""
    return (
        x + CAMERA_SHIFT * math.sin(heading),
        y - CAMERA_SHIFT * math.cos(heading),
        heading - CAMERA_YAW,
    )


def _ground_truth_angle(track, x, y, heading, s):
    tx, ty, _ = track.point(s + LOOKAHEAD)
    dx, dy = tx - x, ty - y
    c, sn = math.cos(heading), math.sin(heading)
    return float(steer_towards(dx * sn - dy * c, dx * c + dy * sn))


def _run(steer, *, seed, seconds, record, render, log=None, what="drive"):
    if not seconds > 0:
        raise ValueError(f"drive: seconds must be > 0, got {seconds}")
    track = evaluation_track()
    dt = 1.0 / STEP_HZ
    steps = max(1, int(round(seconds * STEP_HZ)))
    style, texture = course_look(seed)
    rng = np.random.default_rng([seed, 13])
    x, y, heading = track.point(float(rng.uniform(0, track.length)))
    half = track.lane_width / 2
    interventions, offsets, path, resets, frames = 0, [], [], [], []
    figure = DriveFigure(track) if record else None
    started = last_said = time.perf_counter()
    if log:
        log(f"{what}: {steps * dt:g} simulated s on the evaluation course ({steps} steps)")
    for step in range(steps):
        n, s = track.locate(x, y)
        n, s = float(n), float(s)
        if abs(n) > half:
            interventions += 1
            resets.append((x, y))
            path.append(None)  # the map's path breaks here
            x, y, heading = track.point(s)
            n = 0.0
        offsets.append(abs(n))
        path.append((x, y))
        frame = None
        if render:
            noise = rng.standard_normal((3,) + FRAME_SHAPE[:2], dtype=np.float32)
            noise *= np.float32(texture["noise"][0])
            frame = render_track_view(track, *camera_pose(x, y, heading), style, texture, noise)
        angle = steer(frame, (track, x, y, heading, s))
        angle = float(np.clip(np.nan_to_num(angle, nan=0.0), -1, 1))
        if record and step % RECORD_EVERY == 0:
            so_far = step * dt
            frames.append(
                figure.compose(
                    frame,
                    path,
                    resets,
                    heading,
                    angle,
                    seconds=so_far,
                    autonomy=autonomy(interventions, so_far)
                    if so_far >= MIN_SCORED_SECONDS
                    else None,
                    interventions=interventions,
                )
            )
        x, y, heading = advance(x, y, heading, SPEED * dt, turn_rate(angle))  # exact along its arc
        now = time.perf_counter()
        if log and now - last_said >= PROGRESS_EVERY and step + 1 < steps:
            last_said = now
            log(
                f"{what}: {(step + 1) * dt:.0f}/{steps * dt:g} simulated s, {interventions} interventions so far "
                f"({now - started:.0f} s)"
            )
    elapsed = steps * dt
    result = {
        "autonomy": autonomy(interventions, elapsed),
        "interventions": interventions,
        "mean_abs_offset": float(np.mean(offsets)),
        "max_abs_offset": float(np.max(offsets)),
        "distance": SPEED * elapsed,
        "sim_seconds": elapsed,
        "scored": elapsed >= MIN_SCORED_SECONDS,
    }
    if record:
        result["frames"] = frames
    return result


def drive(predict, *, seed=1, seconds=60.0, record=True, log=print):
    """Let ``predict`` drive the evaluation course for ``seconds`` of simulated time.

    predict: a callable taking a uint8 batch (1, 120, 160, 3) and returning
    one steering angle in [-1, 1] (an array of shape (1,) or (1, 1) is fine;
    values outside are clipped, NaN counts as 0).  For a Keras model pass
    ``lambda b: model(b, training=False)``: ``model.predict`` is far slower
    for one frame at a time.

    ``seed`` picks the floor's look and the start point on the course (the
    references with the same seed start at the same place).  ``log`` gets a
    line at the start and one every PROGRESS_EVERY wall-clock seconds
    (None: quiet).

    Returns {"autonomy": %, "interventions": int, "mean_abs_offset" and
    "max_abs_offset": metres from the centre line, "distance": metres
    driven, "sim_seconds": s, "scored": False for drives shorter than
    MIN_SCORED_SECONDS} plus "frames" (the GIF's frames: camera view,
    top-down map, time, autonomy so far and interventions, uint8 RGB, every
    RECORD_EVERY-th step) when ``record``.
    """

    def steer(frame, pose):
        out = np.asarray(predict(frame[None]), dtype=np.float64).reshape(-1)
        if out.size < 1:
            raise ValueError("drive: the predictor returned no steering angle")
        return out[0]

    return _run(steer, seed=seed, seconds=seconds, record=record, render=True, log=log)


def drive_references(*, seed=1, seconds=60.0):
    """The same drive with no steering (always 0) and with the ground-truth
    controller that labels the training frames, from the true pose."""
    gt = lambda frame, pose: _ground_truth_angle(*pose)  # noqa: E731
    zero = lambda frame, pose: 0.0  # noqa: E731
    return {
        "no_steering": _run(zero, seed=seed, seconds=seconds, record=False, render=False),
        "ground_truth": _run(gt, seed=seed, seconds=seconds, record=False, render=False),
    }

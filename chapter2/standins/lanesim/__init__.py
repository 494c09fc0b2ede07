"""A small lane simulator: camera frames of a floor with two lane lines, and a closed-loop drive.

Not from the book: the project's stand-in for the chapter's
``indoor_lanes.pkl``, which is no longer published.  The view of a low
camera on a small car (think Donkey Car) looking at a floor with two lane
lines, rendered by inverse perspective in numpy, each frame labelled with
the steering angle that brings the car back to the lane centre.

    X, Y = lanesim.make_dataset(8000, seed=0)   # uint8 (N,120,160,3), float32 (N,) in [-1, 1]
    result = lanesim.drive(predict)              # closed loop on a course never seen in training
    lanesim.save_gif(result["frames"], "drive.gif")

By concern: camera.py (where each pixel meets the floor), controller.py
(the car and the labelling controller), textures.py, scenes.py (the
training scenes and the data set), renderer.py, track.py (closed tracks),
course.py (the evaluation course), evaluation.py (the closed-loop drive and its
score), gif.py (drive.gif).  All lengths are in metres, angles in radians.
"""

from chapter2.data.frames import FRAME_SHAPE

from .camera import floor_geometry
from .controller import LOOKAHEAD, MAX_STEER, WHEELBASE, steer_towards, steering_label
from .course import evaluation_track
from .evaluation import (
    CAMERA_SHIFT,
    CAMERA_YAW,
    MIN_SCORED_SECONDS,
    PENALTY_SECONDS,
    RECORD_EVERY,
    SPEED,
    STEP_HZ,
    autonomy,
    drive,
    drive_references,
)
from .gif import save_gif
from .renderer import render_scenes, render_track_view
from .scenes import make_dataset, mirror_scenes, sample_scenes
from .textures import texture_bank
from .track import TRACK_LANE_WIDTH, Track

__all__ = [
    "FRAME_SHAPE",
    "CAMERA_SHIFT",
    "CAMERA_YAW",
    "LOOKAHEAD",
    "MAX_STEER",
    "MIN_SCORED_SECONDS",
    "PENALTY_SECONDS",
    "RECORD_EVERY",
    "SPEED",
    "STEP_HZ",
    "TRACK_LANE_WIDTH",
    "WHEELBASE",
    "Track",
    "autonomy",
    "drive",
    "drive_references",
    "evaluation_track",
    "floor_geometry",
    "make_dataset",
    "mirror_scenes",
    "render_scenes",
    "render_track_view",
    "sample_scenes",
    "save_gif",
    "steer_towards",
    "steering_label",
    "texture_bank",
]

"""The camera on the car: where each pixel of a frame meets the floor.

The camera sits on the car's rear axle, ``CAMERA_HEIGHT`` above the floor,
tilted down by ``CAMERA_PITCH``; a pinhole with focal length ``FOCAL_PX``
pixels and its optical centre exactly between the middle two columns, so a
left-right mirrored frame is the camera view of the mirrored world.  For
each pixel row the ray meets the floor at a fixed distance ahead, so the
floor point of every pixel is computed once; a frame only moves those
points into the lane's frame.
"""

import functools
import math

import numpy as np

from chapter2.data.frames import FRAME_SHAPE

CAMERA_HEIGHT = 0.18  # metres above the floor
CAMERA_PITCH = math.radians(22.0)  # tilted down from horizontal
FOCAL_PX = 50.0  # about 116 degrees across: a wide lens, as on Donkey cars
HAZE_START, HAZE_END = 2.5, 5.0  # metres ahead: the floor fades into haze


@functools.lru_cache(maxsize=1)
def floor_geometry():
    """Per-row floor geometry of the fixed camera (only rows that see floor)."""
    h, w = FRAME_SHAPE[:2]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ray_down = (np.arange(h) - cy) / FOCAL_PX
    ray_right = (np.arange(w) - cx) / FOCAL_PX  # odd about the centre
    sp, cp = math.sin(CAMERA_PITCH), math.cos(CAMERA_PITCH)
    drop = sp + ray_down * cp  # downward part of each row's ray
    ahead_part = cp - ray_down * sp
    # The first floor row: the floor closer than 40 m (rows above see the wall).
    ok = drop > 0
    t = np.where(ok, CAMERA_HEIGHT / np.where(ok, drop, 1), np.inf)
    first = int(np.argmax(t * ahead_part < 40.0))
    t = t[first:]  # ray length factor per floor row
    ahead = t * ahead_part[first:]
    footprint = t / FOCAL_PX  # lateral size of one pixel on the floor
    along = np.abs(np.gradient(ahead))  # and its size along the view
    keep = 1 - np.clip((ahead - HAZE_START) / (HAZE_END - HAZE_START), 0, 1)
    right = t[:, None] * ray_right[None, :]
    f = np.float32
    return {
        "first": first,
        "reach": float(np.hypot(right, ahead[:, None])[keep > 0].max()),  # farthest unhazed floor
        "right": right.astype(f),  # (Hf, W) metres right
        "ahead": ahead.astype(f)[:, None],  # (Hf, 1) metres ahead
        "footprint": footprint.astype(f)[:, None],  # (Hf, 1)
        "along": along.astype(f)[:, None],  # (Hf, 1)
        "keep": keep.astype(f)[:, None],  # (Hf, 1): 0 where hazed out
        "col": ((np.arange(w) - cx) / w).astype(f),  # -0.5..0.5, odd about the centre
        "row": (np.arange(h) / (h - 1)).astype(f),
    }

"""The car and the controller whose angles label the training frames.

``steering_label`` is a pure-pursuit controller on the true pose: it aims
the car at the centre-line point ``LOOKAHEAD`` metres further along the
lane and returns the steering-wheel angle (for a kinematic bicycle with
``WHEELBASE``) divided by ``MAX_STEER``, clipped to [-1, 1].  Donkey Car's
convention: -1 is full left, +1 full right.  The closed-loop
``ground_truth`` reference drives with the same controller, so a network
that imitates the labels can drive.  The controller is odd in (offset,
heading, curvature), so a mirrored frame has exactly the negated label,
which keeps the chapter's mirror augmentation honest.
"""

import math

import numpy as np

WHEELBASE = 0.25  # metres, a 1:10 scale car
MAX_STEER = math.radians(25.0)  # steering-wheel angle at |angle| = 1
LOOKAHEAD = 0.7  # metres along the lane for pure pursuit


def steer_towards(lateral, forward):
    """Pure pursuit: the steering angle in [-1, 1] whose arc from the rear
    axle passes through a point ``lateral`` metres right, ``forward`` metres
    ahead of the car."""
    lateral = np.asarray(lateral, np.float64)
    forward = np.asarray(forward, np.float64)
    curvature = 2.0 * lateral / np.maximum(lateral**2 + forward**2, 1e-9)
    angle = np.arctan(WHEELBASE * curvature) / MAX_STEER
    return np.clip(angle, -1.0, 1.0)


def steering_label(offset, heading, curvature):
    """The steering angle in [-1, 1] that returns the car to the lane centre.

    offset: metres right of the centre line; heading: radians clockwise from
    the lane direction; curvature: 1/metres, positive when the lane bends
    right.  Odd in all three together: mirroring the scene negates it.
    """
    offset, heading, curvature = (np.asarray(a, np.float64) for a in (offset, heading, curvature))
    ks = curvature * LOOKAHEAD
    # Centre-line point LOOKAHEAD metres along the arc, in the lane's frame
    # (x right, y forward); sinc keeps it exact on straight lanes.
    x = LOOKAHEAD * np.sin(ks / 2) * np.sinc(ks / (2 * np.pi))
    y = LOOKAHEAD * np.sinc(ks / np.pi)
    dx, dy = x - offset, y
    c, s = np.cos(heading), np.sin(heading)
    return steer_towards(dx * c - dy * s, dx * s + dy * c)


def turn_rate(angle):
    """The path curvature (1/metres, positive to the left, as the track
    counts it) of the car's rear axle at steering angle ``angle``."""
    return -math.tan(angle * MAX_STEER) / WHEELBASE

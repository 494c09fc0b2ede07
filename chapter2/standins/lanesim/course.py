"""The evaluation course: a closed track the network never sees in training.

A 24 m loop whose bends are sharper than the old bean-shaped loop's (radii
1.4 to 1.6 m, against 1.33 m for the sharpest training lane) and reverse
into each other with no straight between (left, right, left), so the
curvature a frame asks for keeps changing.  Lines go missing in places (one
side, and both at once for half a metre), shadows lie across the floor at
angles, and the camera is mounted slightly off the car's axis and turned
slightly right (``CAMERA_SHIFT``, ``CAMERA_YAW`` in evaluation.py): each of these
costs a network that has only learnt "steer towards the brighter side" and
leaves one that finds the lines untroubled.
"""

import functools
import math

from .track import Track, closed_loop

COURSE_LANE_WIDTH = 0.6  # metres between the two line centres


def _arc(degrees, radius):
    """An arc piece turning ``degrees`` (positive: left) on ``radius`` metres."""
    return abs(math.radians(degrees)) * radius, math.copysign(1 / radius, degrees)


@functools.lru_cache(maxsize=1)
def evaluation_track():
    """The evaluation course as a Track (its two long straights are solved
    so that the loop closes)."""
    pieces = closed_loop(
        [
            (0.0, 0.0),
            _arc(90, 1.6),
            (1.0, 0.0),
            _arc(60, 1.4),
            _arc(-100, 1.4),
            _arc(130, 1.4),  # left, right, left: reversing bends
            (0.8, 0.0),
            _arc(90, 1.5),
            _arc(-60, 1.5),
            _arc(70, 1.4),
            (0.0, 0.0),
            _arc(80, 1.6),
        ],
        free=(0, 10),
    )
    gaps = [
        (0, 7.6, 8.8),  # the left line is missing in the right-hand bend
        (1, 10.5, 11.7),  # the right line, outside the next left-hand bend
        (1, 19.6, 20.8),  # on the far straight
        (0, 22.5, 23.0),  # both lines, early in the last bend
        (1, 22.5, 23.0),
    ]
    shadows = [
        (1.0, 1.6, 0.5, 0.3, 0.55),
        (6.2, 1.6, 0.35, -0.4, 0.6),
        (14.5, 1.8, 0.8, 0.2, 0.5),
        (17.0, 1.5, 0.3, 0.5, 0.6),
        (21.0, 1.6, 0.6, -0.2, 0.5),
    ]
    return Track(pieces, lane_width=COURSE_LANE_WIDTH, gaps=gaps, shadows=shadows)

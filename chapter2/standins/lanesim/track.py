"""Closed tracks of straights and arcs, and the evaluation course.

World frame: x east, y north, heading counter-clockwise from east; a track
is driven counter-clockwise, its pieces are (length, curvature) with
curvature positive for left bends.  A track can carry what a training
scene never shows as such: stretches where a lane line is missing
(``gaps``) and shadows cast across the floor (``shadows``).
"""

import math

import numpy as np

from .numerics import fast_atan2

TRACK_LANE_WIDTH = 0.6  # metres between the two line centres
SHADOW_EDGE = 0.04  # metres over which a shadow's edge fades


def advance(x, y, h, length, kappa):
    """The pose (x, y, heading) after ``length`` metres along an arc of
    curvature ``kappa`` (0: a straight) from (x, y, h).  The chord form
    stays exact for curvatures as small as 1e-15, where the textbook
    (sin(h1) - sin(h)) / kappa loses every digit."""
    half_turn = kappa * length / 2
    chord = length * (math.sin(half_turn) / half_turn if abs(half_turn) > 1e-9 else 1.0)
    return (
        x + chord * math.cos(h + half_turn),
        y + chord * math.sin(h + half_turn),
        h + 2 * half_turn,
    )


class Track:
    """A closed track of straights and arcs, driven counter-clockwise.

    gaps: (side, start, end) stretches of arc length (metres) where the left
    (side 0) or right (side 1) line is missing; shadows: (s, across, along,
    angle, depth) shadows on the floor centred on the centre line at arc
    length s, ``across`` x ``along`` metres, turned ``angle`` radians from
    square to the track, letting 1 - depth of the light through.
    """

    def __init__(self, pieces, lane_width=TRACK_LANE_WIDTH, gaps=(), shadows=()):
        self.lane_width = lane_width
        self.pieces = []
        x = y = h = s = 0.0
        for length, kappa in pieces:
            self.pieces.append((x, y, h, length, kappa, s))
            x, y, h = advance(x, y, h, length, kappa)
            s += length
        self.length = s
        self.closure = math.hypot(x, y), (h - 2 * math.pi)
        self._pieces = []
        for x0, y0, h0, length, kappa, s0 in self.pieces:
            p = {"pose": (x0, y0, h0, length, kappa, s0)}
            mx, my, _ = advance(x0, y0, h0, length / 2, kappa)
            p["bound"] = (mx, my, length / 2)  # a circle holding the piece
            if kappa != 0:
                r = 1 / kappa
                cx, cy = x0 - r * math.sin(h0), y0 + r * math.cos(h0)
                p["centre"] = (cx, cy)
                p["radius"] = abs(r)
                p["mid"] = ((mx - cx) / abs(r), (my - cy) / abs(r))
                p["half_sweep"] = abs(kappa) * length / 2
                p["ends"] = ((x0, y0), advance(x0, y0, h0, length, kappa)[:2])
            self._pieces.append(p)
        self.gaps = tuple(
            (int(side), start % self.length, end % self.length) for side, start, end in gaps
        )
        self.shadows = []
        for s, across, along, angle, depth in shadows:
            x, y, h = self.point(s)
            a = h + math.pi / 2 + angle  # the shadow's long axis
            self.shadows.append((x, y, math.cos(a), math.sin(a), across / 2, along / 2, depth))

    def point(self, s):
        """(x, y, heading) of the centre line at arc length s."""
        s = s % self.length
        for x, y, h, length, kappa, s0 in self.pieces:
            if s <= s0 + length:
                return advance(x, y, h, s - s0, kappa)
        x, y, h, length, kappa, s0 = self.pieces[-1]
        return advance(x, y, h, length, kappa)

    def curvature(self, s):
        """The centre line's curvature (1/metres, positive bending left) at arc length s."""
        s = s % self.length
        return next(
            (kappa for _, _, _, length, kappa, s0 in self.pieces if s <= s0 + length),
            self.pieces[-1][4],
        )

    def locate(self, px, py, near=None):
        """(n, s) for world points (arrays): n signed distance from the centre
        line (positive right of the driving direction), s arc length.

        near=(x, y, radius): only pieces that come within ``radius`` of
        (x, y) are considered (points farther away get a nearby piece's
        distance, which is then only a lower bound)."""
        dtype = np.result_type(px, py, np.float32)
        px = np.asarray(px, dtype)
        py = np.asarray(py, dtype)
        best_d2 = np.full(px.shape, np.inf, dtype)
        best_n = np.zeros(px.shape, dtype)
        best_s = np.zeros(px.shape, dtype)
        for piece in self._near(near):
            x0, y0, h, length, kappa, s0 = piece["pose"]
            if kappa == 0:
                tx, ty = math.cos(h), math.sin(h)
                qx, qy = px - x0, py - y0
                along = qx * tx + qy * ty
                side = qx * ty - qy * tx  # right of the direction
                clamped = np.clip(along, 0, length)
                d2 = (along - clamped) ** 2 + side**2
                n = np.copysign(np.sqrt(d2), side)
                s = s0 + clamped
            else:
                # Angle of the point about the arc's centre, measured from the
                # middle of the arc in the driving direction.
                cx, cy = piece["centre"]
                mx, my = piece["mid"]  # unit vector to the arc's middle
                qx, qy = px - cx, py - cy
                rho = np.sqrt(qx * qx + qy * qy)
                sgn = math.copysign(1.0, kappa)
                rel = fast_atan2(sgn * (mx * qy - my * qx), mx * qx + my * qy, rho)
                half = piece["half_sweep"]
                inside = np.abs(rel) <= half
                radial = (rho - piece["radius"]) * sgn  # positive outside a left bend
                (ax, ay), (bx, by) = piece["ends"]
                past = rel > 0
                ex, ey = np.where(past, bx, ax), np.where(past, by, ay)
                d2 = np.where(inside, radial * radial, (px - ex) ** 2 + (py - ey) ** 2)
                n = np.copysign(np.sqrt(d2), radial)
                s = s0 + (np.clip(rel, -half, half) + half) * piece["radius"]
            better = d2 < best_d2
            best_d2 = np.where(better, d2, best_d2)
            best_n = np.where(better, n, best_n)
            best_s = np.where(better, s, best_s)
        return best_n, best_s

    def _near(self, near):
        if near is None:
            return self._pieces
        x, y, radius = near
        return [
            p
            for p in self._pieces
            if math.hypot(x - p["bound"][0], y - p["bound"][1]) <= radius + p["bound"][2]
        ]

    def lines_visible(self, s):
        """None when no line is missing anywhere; else float32 (2,) + s.shape,
        0 where the left (row 0) or right (row 1) line is missing at arc length s."""
        if not self.gaps:
            return None
        out = np.ones((2,) + np.shape(s), np.float32)
        for side, start, end in self.gaps:
            inside = (s >= start) & (s < end) if start <= end else (s >= start) | (s < end)
            out[side][inside] = 0
        return out

    def light(self, px, py):
        """None when the track has no shadows; else the fraction of light
        (float32, px's shape) reaching the floor at world points (px, py)."""
        if not self.shadows:
            return None
        out = np.ones(np.shape(px), np.float32)
        for cx, cy, ux, uy, half_long, half_short, depth in self.shadows:
            qx, qy = px - cx, py - cy
            dist = np.maximum(
                np.abs(qx * ux + qy * uy) - half_long, np.abs(qy * ux - qx * uy) - half_short
            )
            inside = np.clip(0.5 - dist / SHADOW_EDGE, 0, 1)  # a soft edge
            out *= 1 - depth * inside.astype(np.float32)
        return out

    def polyline(self, step=0.05):
        s = np.arange(0, self.length, step)
        return np.array([self.point(v)[:2] for v in s])


def closed_loop(pieces, free):
    """``pieces`` with the lengths of the two straights at indexes ``free``
    solved so that the loop closes (the arcs must turn 2 pi in all)."""
    pieces = [list(p) for p in pieces]
    for i in free:
        pieces[i][0] = 0.0

    def end(p):
        x = y = h = 0.0
        heads = []
        for length, kappa in p:
            heads.append(h)
            x, y, h = advance(x, y, h, length, kappa)
        return np.array([x, y]), heads

    gap, heads = end(pieces)
    units = np.array([[math.cos(heads[i]) for i in free], [math.sin(heads[i]) for i in free]])
    lengths = np.linalg.solve(units, -gap)
    if (lengths <= 0).any():
        raise ValueError(
            f"closed_loop: the loop closes only with straights of {lengths.round(3).tolist()} m"
        )
    for i, length in zip(free, lengths):
        pieces[i][0] = float(length)
    return [tuple(p) for p in pieces]

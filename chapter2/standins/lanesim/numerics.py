"""Small numeric helpers of the renderer and the track: fast arc tangents, per-scene columns."""

import numpy as np


def atan_unit(z):
    """atan(z) / z for |z| <= 1 (a minimax polynomial in z^2, error < 2e-5 rad)."""
    z2 = z * z
    p = z2 * np.float32(-0.0117212) + np.float32(0.05265332)
    for c in (-0.11643287, 0.19354346, -0.33262347, 0.99997726):
        p *= z2
        p += np.float32(c)
    return p


def fast_atan2(y, x, r):
    """atan2(y, x) for r = hypot(x, y), through two half-angle steps and a
    polynomial (numpy's arctan2 is slow); error below 1e-4 rad."""
    t = y / np.maximum(r + x, 1e-12)  # tan(angle / 2)
    t = t / (1 + np.sqrt(1 + t * t))  # tan(angle / 4), within [-1, 1]
    return 4 * t * atan_unit(t)


def per_scene(v):
    """Per-scene values (B,) as float32 (B, 1, 1), to broadcast over a frame."""
    return np.asarray(v, np.float32)[:, None, None]

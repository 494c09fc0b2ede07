"""The training scenes: random lanes and looks, and the labelled data set.

A training scene is a lane of constant curvature: the car is ``offset``
metres right of the centre line (negative: left), its heading is
``heading`` radians clockwise from the lane direction (positive: pointing
right), and the lane curves with ``curvature`` 1/metres (positive: bending
right).

Appearance varies per scene (``sample_styles``): lane width, floor colour,
line colours (chosen to contrast with the floor) and widths, dashes and
longer missing stretches, lighting level and gradients, the wall; the floor
texture and sensor noise come from the seed's texture bank.
"""

import numpy as np

from .controller import steering_label
from .renderer import render_scenes
from .textures import TEXTURE_BANK

LINE_COLOURS = np.array(
    [  # tape and paint people put on floors
        (0.95, 0.95, 0.92),  # white
        (0.95, 0.80, 0.15),  # yellow
        (1.00, 0.50, 0.10),  # orange
        (0.15, 0.35, 0.90),  # blue
        (0.20, 0.75, 0.30),  # green
        (0.85, 0.15, 0.15),  # red
        (0.06, 0.06, 0.06),  # black
        (0.75, 0.75, 0.78),  # light grey
    ],
    np.float32,
)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def sample_styles(rng, n):
    """Appearance of n scenes: floor, lines, lighting, which texture."""
    st = {}
    st["lane_width"] = rng.uniform(0.45, 0.8, n)
    grey = rng.uniform(0.1, 0.75, n)
    tint = rng.normal(0.0, 0.12, (n, 3)) * rng.uniform(0, 1, (n, 1))
    floor = np.clip(grey[:, None] * (1 + tint), 0.02, 1.0)
    st["floor"] = floor
    # Line colours with enough contrast against the floor (luminance or hue).
    floor_luma = floor @ _LUMA
    dl = np.abs(LINE_COLOURS @ _LUMA - floor_luma[:, None])  # (n, P)
    dc = np.linalg.norm(LINE_COLOURS[None] - floor[:, None], axis=2)  # (n, P)
    usable = (dl > 0.22) | (dc > 0.5)
    usable[:, 0] |= ~usable.any(axis=1)

    def pick():
        score = rng.random(usable.shape) * usable
        col = LINE_COLOURS[np.argmax(score, axis=1)]
        return np.clip(col + rng.normal(0, 0.04, (n, 3)), 0, 1)

    left, right = pick(), pick()
    same = rng.random(n) < 0.6
    right[same] = left[same]
    st["line_left"], st["line_right"] = left, right
    width = rng.uniform(0.018, 0.055, (n, 2))
    width[:, 1] = np.where(rng.random(n) < 0.7, width[:, 0], width[:, 1])
    st["line_width"] = width  # (n, 2): left, right
    # Dashes, and longer missing stretches: visible where frac(s/period + phase) < duty.
    for name, prob, period, duty in (
        ("dash", 0.3, (0.15, 0.6), (0.4, 0.75)),
        ("gap", 0.3, (1.0, 3.0), (0.55, 0.85)),
    ):
        on = rng.random((n, 2)) < prob
        st[name + "_freq"] = np.where(on, 1 / rng.uniform(*period, (n, 2)), 0.0)
        st[name + "_duty"] = np.where(on, rng.uniform(*duty, (n, 2)), 2.0)
        st[name + "_phase"] = rng.uniform(0, 1, (n, 2))
    # Lighting: overall level and a gradient across and down the frame.
    st["bright"] = rng.uniform(0.6, 1.25, n)
    st["grad_x"] = rng.uniform(-0.5, 0.5, n)
    st["grad_y"] = rng.uniform(-0.4, 0.3, n)
    st["wall"] = np.clip(rng.uniform(0.3, 0.9, (n, 1)) * (1 + rng.normal(0, 0.08, (n, 3))), 0, 1)
    st["texture_index"] = rng.integers(0, TEXTURE_BANK, n)
    return st


def sample_poses(rng, n, lane_width):
    """The car's offset and heading in n lanes, and each lane's curvature."""
    offset = rng.uniform(-0.95, 0.95, n) * lane_width / 2
    wide = rng.uniform(-0.55, 0.55, n)  # up to about 31 degrees
    narrow = np.clip(rng.normal(0, 0.15, n), -0.55, 0.55)
    heading = np.where(rng.random(n) < 0.5, wide, narrow)
    curvature = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(-0.75, 0.75, n))
    return {"offset": offset, "heading": heading, "curvature": curvature}


def sample_scenes(n, seed=0):
    """Random scenes (a dict of per-scene arrays): pose and appearance."""
    rng = np.random.default_rng(seed)
    st = sample_styles(rng, n)
    st.update(sample_poses(rng, n, st["lane_width"]))
    return st


def mirror_scenes(scenes):
    """The left-right mirror image of each scene: pose and curvature negated,
    left and right lines swapped, lighting gradient, texture and noise mirrored."""
    m = {k: np.array(v, copy=True) for k, v in scenes.items()}
    for k in ("offset", "heading", "curvature", "grad_x"):
        m[k] = -m[k]
    m["line_left"], m["line_right"] = m["line_right"], m["line_left"]
    for k in (
        "line_width",
        "dash_freq",
        "dash_duty",
        "dash_phase",
        "gap_freq",
        "gap_duty",
        "gap_phase",
    ):
        m[k] = m[k][:, ::-1].copy()
    m["texture_index"] = (m["texture_index"] + TEXTURE_BANK) % (2 * TEXTURE_BANK)
    return m


def make_dataset(n, seed=0, *, log=None):
    """n labelled camera frames: X uint8 (n, 120, 160, 3), Y float32 (n,) in [-1, 1].

    Deterministic per seed.  Y comes from the scene geometry (offset,
    heading, curvature) through ``steering_label``, never from the image.
    ``log`` (if given) gets a line first and one every 10 s of rendering.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"make_dataset: n must be >= 0, got {n}")
    if log:
        log(f"rendering {n:,} simulator frames (seed {seed})")
    scenes = sample_scenes(n, seed)
    X = render_scenes(scenes, seed, log=log)
    Y = steering_label(scenes["offset"], scenes["heading"], scenes["curvature"]).astype(np.float32)
    return X, Y

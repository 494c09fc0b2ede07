"""A small lane simulator: camera frames of a floor with two lane lines, and a closed-loop drive.

The offline stand-in for the chapter's ``indoor_lanes.pkl``: the view of a
low camera on a small car (think Donkey Car) looking at a floor with two lane
lines, rendered by inverse perspective in numpy, each frame labelled with the
steering angle that brings the car back to the lane centre.

    X, Y = lanesim.make_dataset(8000, seed=0)   # uint8 (N,120,160,3), float32 (N,) in [-1, 1]
    result = lanesim.drive(predict)              # closed loop on a track never seen in training
    lanesim.save_gif(result["frames"], "drive.gif")

Geometry (all lengths in metres, angles in radians)
---------------------------------------------------
The camera sits on the car's rear axle, ``CAMERA_HEIGHT`` above the floor,
tilted down by ``CAMERA_PITCH``; a pinhole with focal length ``FOCAL_PX``
pixels and its optical centre exactly between the middle two columns, so a
left-right mirrored frame is the camera view of the mirrored world.  For each
pixel row the ray meets the floor at a fixed distance ahead, so the floor
point of every pixel is precomputed once; a frame only moves those points
into the lane's frame (offset, heading) and measures their signed lateral
distance ``n`` from the curved lane centre (and arc length ``s`` along it).

A training scene is a lane of constant curvature: the car is ``offset``
metres right of the centre line (negative: left), its heading is ``heading``
radians clockwise from the lane direction (positive: pointing right), and
the lane curves with ``curvature`` 1/metres (positive: bending right).

Appearance varies per frame (``_sample_styles``): lane width, floor colour,
line colours (chosen to contrast with the floor) and widths, dashes and
longer missing stretches, lighting level and gradients, the wall.  Floor
texture (plane waves fixed to the floor, seen through the same camera) and
sensor noise come from a bank of images per seed, whose second half is the
first half mirrored.  Frames render in chunks of 16 on a few threads (numpy
releases the GIL), one colour plane at a time.

Labels
------
``steering_label`` is a pure-pursuit controller on the true pose: it aims the
car at the centre-line point ``LOOKAHEAD`` metres further along the lane and
returns the steering-wheel angle (for a kinematic bicycle with ``WHEELBASE``)
divided by ``MAX_STEER``, clipped to [-1, 1].  Donkey Car's convention:
-1 is full left, +1 full right.  The closed-loop ``ground_truth`` reference
drives with the same controller, so a network that imitates the labels can
drive.  The controller is odd in (offset, heading, curvature), so a mirrored
frame has exactly the negated label, which keeps the chapter's mirror
augmentation honest.

Closed loop
-----------
``drive`` puts a kinematic bicycle car on a closed track built from arcs and
straights, with left and right bends and curvature that changes along the
way (the training scenes only ever show one curvature per frame), at
``SPEED`` m/s, ``STEP_HZ`` steps a second.  Each step renders the camera
frame from the car's pose, asks the predictor for an angle, and steers.
When the car's centre leaves the lane (|offset| > half the lane width) an
intervention is counted and the car is put back on the centre line, heading
along the track, as NVIDIA's PilotNet evaluation does.  Autonomy is
``(1 - interventions * 6 s / simulated seconds) * 100``, reported as
computed: it goes below zero when a car needs a rescue more often than once
every 6 seconds.
"""

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageDraw

from chapter2.run.files import atomic_path

FRAME_SHAPE = (120, 160, 3)

# -- the camera on the car -----------------------------------------------------------
CAMERA_HEIGHT = 0.18          # metres above the floor
CAMERA_PITCH = math.radians(22.0)   # tilted down from horizontal
FOCAL_PX = 50.0               # about 116 degrees across: a wide lens, as on Donkey cars
HAZE_START, HAZE_END = 2.5, 5.0     # metres ahead: the floor fades into haze

# -- the car and its controller --------------------------------------------------------
WHEELBASE = 0.25              # metres, a 1:10 scale car
MAX_STEER = math.radians(25.0)      # steering-wheel angle at |angle| = 1
LOOKAHEAD = 0.7               # metres along the lane for pure pursuit

# -- the closed-loop drive ---------------------------------------------------------------
SPEED = 1.5                   # metres per second
STEP_HZ = 20                  # control steps per simulated second
RECORD_EVERY = 4              # keep every 4th step for the GIF (5 frames a second)
PENALTY_SECONDS = 6.0         # PilotNet's cost of one intervention
TRACK_LANE_WIDTH = 0.6        # metres between the two line centres

_CHUNK = 16                   # frames rendered per numpy pass
_TEXTURE_BANK = 48            # floor-texture and noise images per data set (plus mirrors)

_PALETTE = np.array([         # line colours: tape and paint people put on floors
    (0.95, 0.95, 0.92),       # white
    (0.95, 0.80, 0.15),       # yellow
    (1.00, 0.50, 0.10),       # orange
    (0.15, 0.35, 0.90),       # blue
    (0.20, 0.75, 0.30),       # green
    (0.85, 0.15, 0.15),       # red
    (0.06, 0.06, 0.06),       # black
    (0.75, 0.75, 0.78),       # light grey
], np.float32)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# -- labels ------------------------------------------------------------------------------
def steer_towards(lateral, forward):
    """Pure pursuit: the steering angle in [-1, 1] whose arc from the rear
    axle passes through a point ``lateral`` metres right, ``forward`` metres
    ahead of the car."""
    lateral = np.asarray(lateral, np.float64)
    forward = np.asarray(forward, np.float64)
    curvature = 2.0 * lateral / np.maximum(lateral ** 2 + forward ** 2, 1e-9)
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


# -- the camera ----------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _camera():
    """Per-row floor geometry of the fixed camera (only rows that see floor)."""
    h, w = FRAME_SHAPE[:2]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ray_down = (np.arange(h) - cy) / FOCAL_PX
    ray_right = (np.arange(w) - cx) / FOCAL_PX            # odd about the centre
    sp, cp = math.sin(CAMERA_PITCH), math.cos(CAMERA_PITCH)
    drop = sp + ray_down * cp              # downward part of each row's ray
    ahead_part = cp - ray_down * sp
    # The first floor row: the floor closer than 40 m (rows above see the wall).
    ok = drop > 0
    t = np.where(ok, CAMERA_HEIGHT / np.where(ok, drop, 1), np.inf)
    first = int(np.argmax(t * ahead_part < 40.0))
    t = t[first:]                          # ray length factor per floor row
    ahead = t * ahead_part[first:]
    footprint = t / FOCAL_PX               # lateral size of one pixel on the floor
    along = np.abs(np.gradient(ahead))     # and its size along the view
    keep = 1 - np.clip((ahead - HAZE_START) / (HAZE_END - HAZE_START), 0, 1)
    right = t[:, None] * ray_right[None, :]
    f = np.float32
    return {
        "first": first,
        "reach": float(np.hypot(right, ahead[:, None])[keep > 0].max()),  # farthest unhazed floor
        "right": right.astype(f),                                # (Hf, W) metres right
        "ahead": ahead.astype(f)[:, None],                       # (Hf, 1) metres ahead
        "footprint": footprint.astype(f)[:, None],               # (Hf, 1)
        "along": along.astype(f)[:, None],                       # (Hf, 1)
        "keep": keep.astype(f)[:, None],                         # (Hf, 1): 0 where hazed out
        "col": ((np.arange(w) - cx) / w).astype(f),              # -0.5..0.5, odd about the centre
        "row": (np.arange(h) / (h - 1)).astype(f),
    }


# -- scenes: random styles and poses ------------------------------------------------
def _sample_styles(rng, n):
    """Appearance of n scenes: floor, lines, lighting, noise."""
    st = {}
    st["lane_width"] = rng.uniform(0.45, 0.8, n)
    grey = rng.uniform(0.1, 0.75, n)
    tint = rng.normal(0.0, 0.12, (n, 3)) * rng.uniform(0, 1, (n, 1))
    floor = np.clip(grey[:, None] * (1 + tint), 0.02, 1.0)
    st["floor"] = floor
    # Line colours with enough contrast against the floor (luminance or hue).
    floor_luma = floor @ _LUMA
    dl = np.abs(_PALETTE @ _LUMA - floor_luma[:, None])                  # (n, P)
    dc = np.linalg.norm(_PALETTE[None] - floor[:, None], axis=2)          # (n, P)
    usable = (dl > 0.22) | (dc > 0.5)
    usable[:, 0] |= ~usable.any(axis=1)

    def pick():
        score = rng.random(usable.shape) * usable
        col = _PALETTE[np.argmax(score, axis=1)]
        return np.clip(col + rng.normal(0, 0.04, (n, 3)), 0, 1)

    left, right = pick(), pick()
    same = rng.random(n) < 0.6
    right[same] = left[same]
    st["line_left"], st["line_right"] = left, right
    width = rng.uniform(0.018, 0.055, (n, 2))
    width[:, 1] = np.where(rng.random(n) < 0.7, width[:, 0], width[:, 1])
    st["line_width"] = width                                              # (n, 2): left, right
    # Dashes, and longer missing stretches: visible where frac(s/period + phase) < duty.
    for name, prob, period, duty in (("dash", 0.3, (0.15, 0.6), (0.4, 0.75)),
                                     ("gap", 0.3, (1.0, 3.0), (0.55, 0.85))):
        on = rng.random((n, 2)) < prob
        st[name + "_freq"] = np.where(on, 1 / rng.uniform(*period, (n, 2)), 0.0)
        st[name + "_duty"] = np.where(on, rng.uniform(*duty, (n, 2)), 2.0)
        st[name + "_phase"] = rng.uniform(0, 1, (n, 2))
    # Lighting: overall level and a gradient across and down the frame.
    st["bright"] = rng.uniform(0.6, 1.25, n)
    st["grad_x"] = rng.uniform(-0.5, 0.5, n)
    st["grad_y"] = rng.uniform(-0.4, 0.3, n)
    st["wall"] = np.clip(rng.uniform(0.3, 0.9, (n, 1)) * (1 + rng.normal(0, 0.08, (n, 3))), 0, 1)
    # Floor texture and sensor noise come from a bank of images (see _texture_bank).
    st["texture_index"] = rng.integers(0, _TEXTURE_BANK, n)
    return st


def _sample_textures(rng, n):
    """Floor textures: two plane waves on the floor each (grain, tiles, carpet)."""
    tx = {}
    for i, top in ((1, 0.06), (2, 0.035)):
        wavelength = np.exp(rng.uniform(np.log(0.03), np.log(0.8), n))
        angle = rng.uniform(0, np.pi, n)
        tx[f"amp{i}"] = rng.uniform(0, top, n)
        tx[f"kx{i}"] = 2 * np.pi / wavelength * np.cos(angle)
        tx[f"ky{i}"] = 2 * np.pi / wavelength * np.sin(angle)
        tx[f"phase{i}"] = rng.uniform(0, 2 * np.pi, n)
    tx["noise"] = rng.uniform(0.0, 0.05, n)
    return tx


def _sample_poses(rng, n, lane_width):
    offset = rng.uniform(-0.95, 0.95, n) * lane_width / 2
    wide = rng.uniform(-0.55, 0.55, n)                      # up to about 31 degrees
    narrow = np.clip(rng.normal(0, 0.15, n), -0.55, 0.55)
    heading = np.where(rng.random(n) < 0.5, wide, narrow)
    curvature = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(-0.75, 0.75, n))
    return {"offset": offset, "heading": heading, "curvature": curvature}


def sample_scenes(n, seed=0):
    """Random scenes (a dict of per-scene arrays): pose and appearance."""
    rng = np.random.default_rng(seed)
    st = _sample_styles(rng, n)
    st.update(_sample_poses(rng, n, st["lane_width"]))
    return st


def mirror_scenes(scenes):
    """The left-right mirror image of each scene: pose and curvature negated,
    left and right lines swapped, lighting gradient, texture and noise mirrored."""
    m = {k: np.array(v, copy=True) for k, v in scenes.items()}
    for k in ("offset", "heading", "curvature", "grad_x"):
        m[k] = -m[k]
    m["line_left"], m["line_right"] = m["line_right"], m["line_left"]
    for k in ("line_width", "dash_freq", "dash_duty", "dash_phase",
              "gap_freq", "gap_duty", "gap_phase"):
        m[k] = m[k][:, ::-1].copy()
    m["texture_index"] = (m["texture_index"] + _TEXTURE_BANK) % (2 * _TEXTURE_BANK)
    return m


def _subset(st, idx):
    return {k: v[idx] for k, v in st.items()}


def _col(v):
    """Per-scene values (B,) as float32 (B, 1, 1) for broadcasting."""
    return np.asarray(v, np.float32)[:, None, None]


def _texture(tx, x, y, cam):
    """Floor texture (B, Hf, W) at floor points x, y, faded where a pixel
    covers more than a wavelength (so it does not alias into moire)."""
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), np.float32)
    for i in (1, 2):
        kx, ky = tx[f"kx{i}"], tx[f"ky{i}"]
        k = np.hypot(kx, ky)[:, None, None]
        amp = _col(tx[f"amp{i}"]) * np.exp(-0.5 * (k * cam["along"]) ** 2).astype(np.float32)
        w = x * _col(kx)
        w += y * _col(ky)
        w += _col(tx[f"phase{i}"])
        np.sin(w, out=w)
        w *= amp
        out += w
    return out


@functools.lru_cache(maxsize=2)
def _texture_bank(seed):
    """Floor texture plus sensor noise, added to the frames' colours.

    Entry i + _TEXTURE_BANK is entry i mirrored, so that mirrored scenes
    use mirrored texture and noise.  Each texture is seen from a random
    pose, through the same camera as the frames.
    """
    rng = np.random.default_rng([seed, 7])
    cam = _camera()
    n, first = _TEXTURE_BANK, cam["first"]
    tx = _sample_textures(rng, n)
    bank = rng.standard_normal((n, 3) + FRAME_SHAPE[:2], dtype=np.float32)   # planar
    bank *= _col(tx["noise"])[..., None]
    heading = _col(rng.uniform(-np.pi, np.pi, n))
    c, s = np.cos(heading), np.sin(heading)
    x = cam["right"] * c + cam["ahead"] * s + _col(rng.uniform(-5, 5, n))
    y = cam["ahead"] * c - cam["right"] * s + _col(rng.uniform(-5, 5, n))
    bank[:, :, first:] += _texture(tx, x, y, cam)[:, None]
    bank = np.concatenate([bank, bank[..., ::-1]])
    bank.setflags(write=False)
    return bank


# -- rendering ----------------------------------------------------------------------
def _atan_unit(z):
    """atan(z) / z for |z| <= 1 (a minimax polynomial in z^2, error < 2e-5 rad)."""
    z2 = z * z
    p = z2 * np.float32(-0.0117212) + np.float32(0.05265332)
    for c in (-0.11643287, 0.19354346, -0.33262347, 0.99997726):
        p *= z2
        p += np.float32(c)
    return p


def _lane_coordinates(st, cam, want_arc):
    """(n, s) of every floor pixel for B constant-curvature lanes.

    The floor point (x right of the centre line's closest point to the car,
    y along the lane) has signed distance n from the centre line (positive
    right) and arc length s along it.  Written without atan2 and hypot
    (slow in numpy) and exact as the curvature goes to 0:
        n = (2x - k (x^2 + y^2)) / (1 + r),   r = sqrt((1 - kx)^2 + (ky)^2)
        s = angle / k = 4 y atan(z2)/z2 / ((r + 1 - kx) (1 + sqrt(1 + z^2)))
    with z = ky / (r + 1 - kx) = tan(angle / 2) and z2 = tan(angle / 4).
    """
    right, ahead = cam["right"], cam["ahead"]
    c, sn = _col(np.cos(st["heading"])), _col(np.sin(st["heading"]))
    k = _col(st["curvature"])
    x = right * c
    x += ahead * sn + _col(st["offset"])
    y = right * sn
    np.subtract(ahead * c, y, out=y)
    ky = k * y
    one_kx = k * x
    np.subtract(1, one_kx, out=one_kx)
    r = one_kx * one_kx
    r += ky * ky
    np.sqrt(r, out=r)
    n = x * x
    n += y * y
    n *= k
    np.subtract(x + x, n, out=n)
    n /= r + 1
    if not want_arc:
        return n, None
    den = r
    den += one_kx
    np.maximum(den, np.float32(1e-6), out=den)
    z = np.divide(ky, den, out=ky)
    q = z * z
    q += 1
    np.sqrt(q, out=q)
    q += 1                                  # 1 + sqrt(1 + z^2)
    z /= q                                  # tan(angle / 4), within [-1, 1]
    den *= q
    s = _atan_unit(z)
    s *= y
    s *= 4
    s /= den
    return n, s


def _shade(n, s, st, extras, cam, out):
    """Colour B frames from the lane coordinates of their floor pixels.

    n, s: (B, Hf, W) signed distance from the centre line and arc length
    (s may be None when no line in these scenes has dashes or gaps);
    st: the B scenes' styles; extras: B images (3, H, W) of texture and
    noise added to the colours; out: (B, H, W, 3) uint8, filled.
    Colours are computed one channel plane at a time: numpy is slow at
    broadcasting over a trailing axis of length 3.
    """
    f = np.float32
    first = cam["first"]
    inv_fp = cam["keep"] / cam["footprint"]                     # (Hf, 1), 0 where hazed
    half_fp = cam["footprint"] / 2
    floor = st["floor"].T.astype(f)[:, :, None, None]           # (3, B, 1, 1)
    b = len(extras)
    rgb = np.empty((3,) + n.shape, f)
    rgb[...] = floor
    half_lane = _col(st["lane_width"]) / 2
    e = np.empty_like(n)
    for side, centre, name in ((0, -half_lane, "line_left"), (1, half_lane, "line_right")):
        np.subtract(n, centre, out=e)
        np.abs(e, out=e)
        hw = _col(st["line_width"][:, side]) / 2
        # Fraction of the pixel's lateral footprint covered by the line (anti-aliased),
        # faded by the haze: keep * clip((hw + fp/2 - e) / fp, 0, min(1, 2hw/fp)).
        top = (hw + half_fp) * inv_fp                            # (B, Hf, 1)
        cap = np.minimum(cam["keep"], 2 * hw * inv_fp)
        e *= inv_fp
        np.subtract(top, e, out=e)
        np.maximum(e, 0, out=e)
        np.minimum(e, cap, out=e)
        if s is not None:
            for kind in ("dash", "gap"):
                freq = st[kind + "_freq"][:, side]
                if not np.any(freq):
                    continue
                ph = s * _col(freq)
                ph += _col(st[kind + "_phase"][:, side])
                ph -= np.floor(ph)
                e *= ph < _col(st[kind + "_duty"][:, side])
        diff = st[name].T.astype(f)[:, :, None, None] - floor    # (3, B, 1, 1)
        for ch in range(3):
            rgb[ch] += e * diff[ch]
    for j, extra in enumerate(extras):
        rgb[:, j] += extra[:, first:]
    light = _col(st["bright"] * 255) * (1 + _col(st["grad_x"]) * cam["col"][None, None, :]
                                       + _col(st["grad_y"]) * cam["row"][None, :, None])
    rgb *= light[:, first:]
    np.clip(rgb, 0, 255, out=rgb)
    wall = np.empty((3, b, first, FRAME_SHAPE[1]), f)
    wall[...] = st["wall"].T.astype(f)[:, :, None, None]
    for j, extra in enumerate(extras):
        wall[:, j] += extra[:, :first]
    wall *= light[:, :first]
    np.clip(wall, 0, 255, out=wall)
    for ch in range(3):
        out[:, first:, :, ch] = rgb[ch]
        out[:, :first, :, ch] = wall[ch]
    return out


def render_scenes(scenes, seed=0, threads=None):
    """Camera frames (N, 120, 160, 3) uint8 of constant-curvature lane scenes.

    ``seed`` picks the bank of floor textures and sensor noise.  Rendered in
    chunks, grouped so that chunks without dashed lines skip the arc length,
    on a few threads (numpy releases the GIL in its loops).
    """
    n = len(scenes["offset"])
    out = np.empty((n,) + FRAME_SHAPE, np.uint8)
    bank = _texture_bank(seed)
    cam = _camera()
    broken = ((scenes["dash_freq"] > 0) | (scenes["gap_freq"] > 0)) @ np.array([1, 2])
    order = np.argsort(broken, kind="stable")

    def work(start):
        idx = np.sort(order[start:start + _CHUNK])
        st = _subset(scenes, idx)
        nn, ss = _lane_coordinates(st, cam, want_arc=bool(broken[idx].any()))
        buf = np.empty((len(idx),) + FRAME_SHAPE, np.uint8)
        _shade(nn, ss, st, [bank[i] for i in st["texture_index"]], cam, buf)
        out[idx] = buf

    starts = range(0, n, _CHUNK)
    threads = threads or min(4, os.cpu_count() or 1)
    if threads <= 1 or n <= _CHUNK:
        for start in starts:
            work(start)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, starts))
    return out


def make_dataset(n, seed=0):
    """n labelled camera frames: X uint8 (n, 120, 160, 3), Y float32 (n,) in [-1, 1].

    Deterministic per seed.  Y comes from the scene geometry (offset,
    heading, curvature) through ``steering_label``, never from the image.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"make_dataset: n must be >= 0, got {n}")
    scenes = sample_scenes(n, seed)
    X = render_scenes(scenes, seed)
    Y = steering_label(scenes["offset"], scenes["heading"], scenes["curvature"]).astype(np.float32)
    return X, Y


# -- the closed track ------------------------------------------------------------------
class Track:
    """A closed track of straights and arcs, driven counter-clockwise.

    World frame: x east, y north, heading counter-clockwise from east.
    Pieces are (length, curvature) with curvature positive for left bends.
    """

    def __init__(self, pieces, lane_width=TRACK_LANE_WIDTH):
        self.lane_width = lane_width
        self.pieces = []
        x = y = h = s = 0.0
        for length, kappa in pieces:
            self.pieces.append((x, y, h, length, kappa, s))
            x, y, h = _advance(x, y, h, length, kappa)
            s += length
        self.length = s
        self.closure = math.hypot(x, y), (h - 2 * math.pi)
        self._pieces = []
        for x0, y0, h0, length, kappa, s0 in self.pieces:
            p = {"pose": (x0, y0, h0, length, kappa, s0)}
            mx, my, _ = _advance(x0, y0, h0, length / 2, kappa)
            p["bound"] = (mx, my, length / 2)                   # a circle holding the piece
            if kappa != 0:
                r = 1 / kappa
                cx, cy = x0 - r * math.sin(h0), y0 + r * math.cos(h0)
                p["centre"] = (cx, cy)
                p["radius"] = abs(r)
                p["mid"] = ((mx - cx) / abs(r), (my - cy) / abs(r))
                p["half_sweep"] = abs(kappa) * length / 2
                p["ends"] = ((x0, y0), _advance(x0, y0, h0, length, kappa)[:2])
            self._pieces.append(p)

    def point(self, s):
        """(x, y, heading) of the centre line at arc length s."""
        s = s % self.length
        for x, y, h, length, kappa, s0 in self.pieces:
            if s <= s0 + length:
                return _advance(x, y, h, s - s0, kappa)
        x, y, h, length, kappa, s0 = self.pieces[-1]
        return _advance(x, y, h, length, kappa)

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
                side = qx * ty - qy * tx                        # right of the direction
                clamped = np.clip(along, 0, length)
                d2 = (along - clamped) ** 2 + side ** 2
                n = np.copysign(np.sqrt(d2), side)
                s = s0 + clamped
            else:
                # Angle of the point about the arc's centre, measured from the
                # middle of the arc in the driving direction.
                cx, cy = piece["centre"]
                mx, my = piece["mid"]                           # unit vector to the arc's middle
                qx, qy = px - cx, py - cy
                rho = np.sqrt(qx * qx + qy * qy)
                sgn = math.copysign(1.0, kappa)
                rel = _fast_atan2(sgn * (mx * qy - my * qx), mx * qx + my * qy, rho)
                half = piece["half_sweep"]
                inside = np.abs(rel) <= half
                radial = (rho - piece["radius"]) * sgn          # positive outside a left bend
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
        return [p for p in self._pieces
                if math.hypot(x - p["bound"][0], y - p["bound"][1]) <= radius + p["bound"][2]]

    def polyline(self, step=0.05):
        s = np.arange(0, self.length, step)
        return np.array([self.point(v)[:2] for v in s])


def _fast_atan2(y, x, r):
    """atan2(y, x) for r = hypot(x, y), through two half-angle steps and a
    polynomial (numpy's arctan2 is slow); error below 1e-4 rad."""
    t = y / np.maximum(r + x, 1e-12)                    # tan(angle / 2)
    t = t / (1 + np.sqrt(1 + t * t))                    # tan(angle / 4), within [-1, 1]
    return 4 * t * _atan_unit(t)


def _advance(x, y, h, length, kappa):
    if kappa == 0:
        return x + length * math.cos(h), y + length * math.sin(h), h
    h1 = h + kappa * length
    return (x + (math.sin(h1) - math.sin(h)) / kappa,
            y - (math.cos(h1) - math.cos(h)) / kappa, h1)


@functools.lru_cache(maxsize=1)
def evaluation_track():
    """The evaluation track: a bean-shaped loop with a right-hand S-bend in
    its top side, straights of different lengths and radii from 1.8 to 2.2 m.
    The two straights' lengths are solved so that the loop closes."""
    q = math.pi / 2
    e = math.pi / 4

    def pieces(bottom, left):
        return [(bottom, 0.0), (2.0 * q, 1 / 2.0), (1.2, 0.0), (1.8 * q, 1 / 1.8),
                (0.6, 0.0), (2.2 * e, 1 / 2.2), (1.8 * q, -1 / 1.8), (2.2 * e, 1 / 2.2),
                (0.6, 0.0), (2.0 * q, 1 / 2.0), (left, 0.0), (1.9 * q, 1 / 1.9)]

    # The end point is linear in the two straights (one runs east, one south).
    x0, y0 = _end(pieces(0.0, 0.0))
    return Track(pieces(-x0, y0))


def _end(pieces):
    x = y = h = 0.0
    for length, kappa in pieces:
        x, y, h = _advance(x, y, h, length, kappa)
    return x, y


# -- the closed-loop drive ----------------------------------------------------------------
def _drive_style(seed):
    """The look of the evaluation floor: drawn like a training scene, with
    the track's lane width, no long missing stretches of line and at most
    half the training set's sensor noise."""
    rng = np.random.default_rng([seed, 11])
    st = _sample_styles(rng, 1)
    st["lane_width"][:] = TRACK_LANE_WIDTH
    st["gap_freq"][:] = 0.0
    st["gap_duty"][:] = 2.0
    texture = _sample_textures(rng, 1)
    texture["noise"] = texture["noise"] * 0.5        # a cleaner camera than the worst in training
    return st, texture


def render_track_view(track, x, y, heading, style, texture, noise):
    """The camera frame (120, 160, 3) uint8 from world pose (x, y, heading):
    the floor texture is fixed to the floor, ``noise`` (3, 120, 160) is added."""
    cam = _camera()
    c, s = math.cos(heading), math.sin(heading)
    wx = x + cam["ahead"] * c + cam["right"] * s
    wy = y + cam["ahead"] * s - cam["right"] * c
    n, arc = track.locate(wx, wy, near=(x, y, cam["reach"] + 0.5))
    f = np.float32
    extra = noise.astype(f, copy=True)                       # (3, H, W)
    extra[:, cam["first"]:] += _texture(texture, wx.astype(f)[None], wy.astype(f)[None], cam)
    out = np.empty((1,) + FRAME_SHAPE, np.uint8)
    _shade(n.astype(f)[None], arc.astype(f)[None], style, [extra], cam, out)
    return out[0]


def _ground_truth_angle(track, x, y, heading, s):
    tx, ty, _ = track.point(s + LOOKAHEAD)
    dx, dy = tx - x, ty - y
    c, sn = math.cos(heading), math.sin(heading)
    return float(steer_towards(dx * sn - dy * c, dx * c + dy * sn))


def _run(steer, *, seed, seconds, record, render):
    if not seconds > 0:
        raise ValueError(f"drive: seconds must be > 0, got {seconds}")
    track = evaluation_track()
    dt = 1.0 / STEP_HZ
    steps = max(1, int(round(seconds * STEP_HZ)))
    style, texture = _drive_style(seed)
    rng = np.random.default_rng([seed, 13])
    s0 = float(rng.uniform(0, track.length))
    x, y, heading = track.point(s0)
    half = track.lane_width / 2
    interventions, offsets, path, resets, frames = 0, [], [], [], []
    drawer = _MapDrawer(track) if record else None
    for step in range(steps):
        n, s = track.locate(x, y)
        n, s = float(n), float(s)
        if abs(n) > half:
            interventions += 1
            resets.append((x, y))
            path.append(None)                              # the map's path breaks here
            x, y, heading = track.point(s)
            n = 0.0
        offsets.append(abs(n))
        path.append((x, y))
        frame = None
        if render:
            noise = rng.standard_normal((3,) + FRAME_SHAPE[:2], dtype=np.float32)
            noise *= np.float32(texture["noise"][0])
            frame = render_track_view(track, x, y, heading, style, texture, noise)
        angle = steer(frame, (track, x, y, heading, s))
        angle = float(np.clip(np.nan_to_num(angle, nan=0.0), -1, 1))
        if record and step % RECORD_EVERY == 0:
            frames.append(drawer.compose(frame, path, resets, heading, angle))
        # Kinematic bicycle on the rear axle, integrated exactly along its arc.
        kappa = -math.tan(angle * MAX_STEER) / WHEELBASE     # positive angle turns right
        x, y, heading = _advance(x, y, heading, SPEED * dt, kappa)
    elapsed = steps * dt
    result = {
        "autonomy": (1 - interventions * PENALTY_SECONDS / elapsed) * 100,
        "interventions": interventions,
        "mean_abs_offset": float(np.mean(offsets)) if offsets else float("nan"),
        "distance": SPEED * elapsed,
        "sim_seconds": elapsed,
    }
    if record:
        result["frames"] = frames
    return result


def drive(predict, *, seed=1, seconds=60.0, record=True):
    """Let ``predict`` drive the evaluation track for ``seconds`` of simulated time.

    predict: a callable taking a uint8 batch (1, 120, 160, 3) and returning
    one steering angle in [-1, 1] (an array of shape (1,) or (1, 1) is fine;
    values outside are clipped, NaN counts as 0).  For a Keras model pass
    ``lambda b: model(b, training=False)``: ``model.predict`` is far slower
    for one frame at a time.

    ``seed`` picks the floor's look and the start point on the track (the
    references with the same seed start at the same place).

    Returns {"autonomy": %, "interventions": int, "mean_abs_offset": metres
    from the centre line, "distance": metres driven, "sim_seconds": s} plus
    "frames" (camera view beside a top-down map, uint8 RGB, every
    RECORD_EVERY-th step) when ``record``.
    """
    def steer(frame, pose):
        out = np.asarray(predict(frame[None]), dtype=np.float64).reshape(-1)
        if out.size < 1:
            raise ValueError("drive: the predictor returned no steering angle")
        return out[0]

    return _run(steer, seed=seed, seconds=seconds, record=record, render=True)


def drive_references(*, seed=1, seconds=60.0):
    """The same drive with no steering (always 0) and with the ground-truth
    controller that labels the training frames, from the true pose."""
    gt = lambda frame, pose: _ground_truth_angle(*pose)  # noqa: E731
    zero = lambda frame, pose: 0.0                        # noqa: E731
    return {
        "no_steering": _run(zero, seed=seed, seconds=seconds, record=False, render=False),
        "ground_truth": _run(gt, seed=seed, seconds=seconds, record=False, render=False),
    }


# -- the GIF ------------------------------------------------------------------------------
class _MapDrawer:
    """Camera view beside a top-down map of the track with the car's path."""

    def __init__(self, track, height=FRAME_SHAPE[0]):
        pts = track.polyline(0.05)
        half = track.lane_width / 2
        lo = pts.min(axis=0) - 0.6
        hi = pts.max(axis=0) + 0.6
        self.scale = (height - 4) / (hi[1] - lo[1])
        width = int(math.ceil((hi[0] - lo[0]) * self.scale)) + 4
        self.lo, self.height = lo, height
        img = Image.new("RGB", (width, height), (51, 51, 51))
        draw = ImageDraw.Draw(img)
        tangent = np.gradient(pts, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
        for sign in (-1, 1):
            line = [self.px(p) for p in pts + sign * half * normal]
            draw.line(line + line[:1], fill=(200, 200, 200), width=1)
        self.trail = img
        self.drawn = 0

    def px(self, p):
        return (2 + (p[0] - self.lo[0]) * self.scale,
                self.height - 2 - (p[1] - self.lo[1]) * self.scale)

    def compose(self, frame, path, resets, heading, angle):
        # The path so far is drawn onto a kept trail image, a piece at a time.
        tdraw = ImageDraw.Draw(self.trail)
        for a, b in zip(path[max(self.drawn - 1, 0):-1], path[max(self.drawn, 1):]):
            if a is not None and b is not None:
                tdraw.line((self.px(a), self.px(b)), fill=(60, 200, 90), width=1)
        self.drawn = len(path)
        img = self.trail.copy()
        draw = ImageDraw.Draw(img)
        for p in resets:
            cx, cy = self.px(p)
            draw.ellipse((cx - 2, cy - 2, cx + 2, cy + 2), outline=(230, 60, 50))
        cx, cy = self.px(path[-1])
        draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=(255, 220, 0))
        draw.line((cx, cy, cx + 8 * math.cos(heading), cy - 8 * math.sin(heading)), fill=(255, 220, 0))
        h, w = FRAME_SHAPE[:2]
        cam = Image.fromarray(frame) if frame is not None else Image.new("RGB", (w, h))
        cdraw = ImageDraw.Draw(cam)
        # The steering command as a bar along the bottom of the camera view.
        mid = w // 2
        cdraw.rectangle((min(mid, mid + angle * mid), h - 5, max(mid, mid + angle * mid), h - 2),
                        fill=(255, 220, 0))
        out = Image.new("RGB", (w + 2 + img.width, h), (0, 0, 0))
        out.paste(cam, (0, 0))
        out.paste(img, (w + 2, 0))
        return np.asarray(out)


_LEVELS = 6                          # a 6x6x6 colour cube ...
_GREYS = 39                          # ... and 39 greys: 255 palette entries


def _palette_indices(frame):
    """Map an RGB image to a fixed palette: a 6x6x6 colour cube, and a finer
    grey ramp for nearly grey pixels (floors are mostly grey).  No dithering
    and one palette for all frames: the GIF stays small and does not flicker."""
    f = frame.astype(np.int16)
    q = (f * (_LEVELS - 1) + 127) // 255
    cube = q[..., 0] * _LEVELS * _LEVELS + q[..., 1] * _LEVELS + q[..., 2]
    luma = (f[..., 0] * 77 + f[..., 1] * 150 + f[..., 2] * 29) >> 8
    grey = _LEVELS ** 3 + (luma * (_GREYS - 1) + 127) // 255
    greyish = f.max(axis=-1) - f.min(axis=-1) < 28
    return np.where(greyish, grey, cube).astype(np.uint8)


def _palette():
    levels = np.round(np.linspace(0, 255, _LEVELS)).astype(int)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    greys = np.round(np.linspace(0, 255, _GREYS)).astype(int)
    colours = np.concatenate([np.stack([r, g, b], axis=-1).reshape(-1, 3),
                              np.repeat(greys[:, None], 3, axis=1)])
    return colours.reshape(-1).tolist()


def save_gif(frames, path, fps=None):
    """Write frames (uint8 RGB images, all one size) as a looping animated
    GIF, atomically; ``fps`` defaults to real time for the drive's frames."""
    if len(frames) == 0:
        raise ValueError(f"save_gif: no frames to write to {path}")
    fps = fps or STEP_HZ / RECORD_EVERY
    palette = _palette()
    images = []
    for frame in frames:
        img = Image.fromarray(_palette_indices(np.asarray(frame, np.uint8)[..., :3]), "P")
        img.putpalette(palette)
        images.append(img)
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0, optimize=False)
    return path

"""Rendering camera frames: lane coordinates of every floor pixel, then colours.

Training frames (``render_scenes``) see a lane of constant curvature; the
drive's frames (``render_track_view``) see the closed track from the car's
pose, with the track's gaps in the lines and shadows on the floor.  Both
go through ``shade``.  Frames render in chunks of 16 on a few threads
(numpy releases the GIL), one colour plane at a time.
"""

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from chapter2.data.frames import FRAME_SHAPE

from .camera import floor_geometry
from .numerics import atan_unit, per_scene
from .textures import floor_texture, texture_bank

_CHUNK = 16  # frames rendered per numpy pass


def lane_coordinates(st, cam, want_arc):
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
    c, sn = per_scene(np.cos(st["heading"])), per_scene(np.sin(st["heading"]))
    k = per_scene(st["curvature"])
    x = right * c
    x += ahead * sn + per_scene(st["offset"])
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
    q += 1  # 1 + sqrt(1 + z^2)
    z /= q  # tan(angle / 4), within [-1, 1]
    den *= q
    s = atan_unit(z)
    s *= y
    s *= 4
    s /= den
    return n, s


def shade(n, s, st, extras, cam, out, *, visible=None, shadow=None):
    """Colour B frames from the lane coordinates of their floor pixels.

    n, s: (B, Hf, W) signed distance from the centre line and arc length
    (s may be None when no line in these scenes has dashes or gaps);
    st: the B scenes' styles; extras: B images (3, H, W) of texture and
    noise added to the colours; out: (B, H, W, 3) uint8, filled.
    visible: None or (B, 2, Hf, W), 0 where the left/right line is missing;
    shadow: None or (B, Hf, W), the light reaching the floor (1: no shadow).
    Colours are computed one channel plane at a time: numpy is slow at
    broadcasting over a trailing axis of length 3.
    """
    f = np.float32
    first = cam["first"]
    inv_fp = cam["keep"] / cam["footprint"]  # (Hf, 1), 0 where hazed
    half_fp = cam["footprint"] / 2
    floor = st["floor"].T.astype(f)[:, :, None, None]  # (3, B, 1, 1)
    b = len(extras)
    rgb = np.empty((3,) + n.shape, f)
    rgb[...] = floor
    half_lane = per_scene(st["lane_width"]) / 2
    e = np.empty_like(n)
    for side, centre, name in ((0, -half_lane, "line_left"), (1, half_lane, "line_right")):
        np.subtract(n, centre, out=e)
        np.abs(e, out=e)
        hw = per_scene(st["line_width"][:, side]) / 2
        # Fraction of the pixel's lateral footprint covered by the line (anti-aliased),
        # faded by the haze: keep * clip((hw + fp/2 - e) / fp, 0, min(1, 2hw/fp)).
        top = (hw + half_fp) * inv_fp  # (B, Hf, 1)
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
                ph = s * per_scene(freq)
                ph += per_scene(st[kind + "_phase"][:, side])
                ph -= np.floor(ph)
                e *= ph < per_scene(st[kind + "_duty"][:, side])
        if visible is not None:
            e *= visible[:, side]
        diff = st[name].T.astype(f)[:, :, None, None] - floor  # (3, B, 1, 1)
        for ch in range(3):
            rgb[ch] += e * diff[ch]
    for j, extra in enumerate(extras):
        rgb[:, j] += extra[:, first:]
    light = per_scene(st["bright"] * 255) * (
        1
        + per_scene(st["grad_x"]) * cam["col"][None, None, :]
        + per_scene(st["grad_y"]) * cam["row"][None, :, None]
    )
    rgb *= light[:, first:]
    if shadow is not None:
        rgb *= shadow
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


def render_scenes(scenes, seed=0, threads=None, *, log=None, progress_every=10.0):
    """Camera frames (N, 120, 160, 3) uint8 of constant-curvature lane scenes.

    ``seed`` picks the bank of floor textures and sensor noise.  Rendered in
    chunks, grouped so that chunks without dashed lines skip the arc length,
    on a few threads (numpy releases the GIL in its loops).  ``log`` (if
    given) gets a line every ``progress_every`` seconds.
    """
    n = len(scenes["offset"])
    out = np.empty((n,) + FRAME_SHAPE, np.uint8)
    bank = texture_bank(seed)
    cam = floor_geometry()
    broken = ((scenes["dash_freq"] > 0) | (scenes["gap_freq"] > 0)) @ np.array([1, 2])
    order = np.argsort(broken, kind="stable")
    progress = {"done": 0, "started": time.perf_counter(), "said": time.perf_counter()}
    lock = threading.Lock()

    def work(start):
        idx = np.sort(order[start : start + _CHUNK])
        st = {k: v[idx] for k, v in scenes.items()}
        nn, ss = lane_coordinates(st, cam, want_arc=bool(broken[idx].any()))
        buf = np.empty((len(idx),) + FRAME_SHAPE, np.uint8)
        shade(nn, ss, st, [bank[i] for i in st["texture_index"]], cam, buf)
        out[idx] = buf
        if log:
            with lock:
                progress["done"] += len(idx)
                now = time.perf_counter()
                if now - progress["said"] >= progress_every and progress["done"] < n:
                    progress["said"] = now
                    log(
                        f"rendered {progress['done']:,}/{n:,} frames ({now - progress['started']:.0f} s)"
                    )

    starts = range(0, n, _CHUNK)
    threads = threads or min(4, os.cpu_count() or 1)
    if threads <= 1 or n <= _CHUNK:
        for start in starts:
            work(start)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, starts))
    return out


def render_track_view(track, x, y, heading, style, texture, noise):
    """The camera frame (120, 160, 3) uint8 of a camera at world pose
    (x, y, heading) over ``track``: the floor texture is fixed to the floor,
    the track's gaps and shadows are drawn, ``noise`` (3, 120, 160) is added."""
    cam = floor_geometry()
    c, s = math.cos(heading), math.sin(heading)
    wx = x + cam["ahead"] * c + cam["right"] * s
    wy = y + cam["ahead"] * s - cam["right"] * c
    n, arc = track.locate(wx, wy, near=(x, y, cam["reach"] + 0.5))
    f = np.float32
    extra = noise.astype(f, copy=True)  # (3, H, W)
    extra[:, cam["first"] :] += floor_texture(texture, wx.astype(f)[None], wy.astype(f)[None], cam)
    out = np.empty((1,) + FRAME_SHAPE, np.uint8)
    shade(
        n.astype(f)[None],
        arc.astype(f)[None],
        style,
        [extra],
        cam,
        out,
        visible=track.lines_visible(arc)[None],
        shadow=track.light(wx, wy)[None],
    )
    return out[0]

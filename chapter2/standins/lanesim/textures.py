"""Floor textures and sensor noise, added to the colours of a frame.

A texture is two plane waves fixed to the floor (grain, tiles, carpet),
seen through the camera and faded where a pixel covers more than a
wavelength, so it does not alias into moire.  Training frames take their
texture and noise from a bank of images per seed, whose second half is the
first half mirrored, so that mirrored scenes get mirrored texture and noise.
"""

import functools

import numpy as np

from chapter2.data.frames import FRAME_SHAPE

from .camera import floor_geometry
from .numerics import per_scene

TEXTURE_BANK = 48  # floor-texture and noise images per data set (plus mirrors)


def sample_textures(rng, n):
    """n floor textures: two plane waves each, and a sensor-noise level."""
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


def floor_texture(tx, x, y, cam):
    """Floor texture (B, Hf, W) at floor points x, y (metres)."""
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), np.float32)
    for i in (1, 2):
        kx, ky = tx[f"kx{i}"], tx[f"ky{i}"]
        k = np.hypot(kx, ky)[:, None, None]
        amp = per_scene(tx[f"amp{i}"]) * np.exp(-0.5 * (k * cam["along"]) ** 2).astype(np.float32)
        w = x * per_scene(kx)
        w += y * per_scene(ky)
        w += per_scene(tx[f"phase{i}"])
        np.sin(w, out=w)
        w *= amp
        out += w
    return out


@functools.lru_cache(maxsize=2)
def texture_bank(seed):
    """Floor texture plus sensor noise (2 * TEXTURE_BANK, 3, 120, 160), read-only.

    Entry i + TEXTURE_BANK is entry i mirrored.  Each texture is seen from
    a random pose, through the same camera as the frames.
    """
    rng = np.random.default_rng([seed, 7])
    cam = floor_geometry()
    n, first = TEXTURE_BANK, cam["first"]
    tx = sample_textures(rng, n)
    bank = rng.standard_normal((n, 3) + FRAME_SHAPE[:2], dtype=np.float32)  # planar
    bank *= per_scene(tx["noise"])[..., None]
    heading = per_scene(rng.uniform(-np.pi, np.pi, n))
    c, s = np.cos(heading), np.sin(heading)
    x = cam["right"] * c + cam["ahead"] * s + per_scene(rng.uniform(-5, 5, n))
    y = cam["ahead"] * c - cam["right"] * s + per_scene(rng.uniform(-5, 5, n))
    bank[:, :, first:] += floor_texture(tx, x, y, cam)[:, None]
    bank = np.concatenate([bank, bank[..., ::-1]])
    bank.setflags(write=False)
    return bank

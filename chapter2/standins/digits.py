"""Handwriting-like digits, generated: the offline stand-in for MNIST.

Each digit class has a few stroke skeletons (how people commonly write it: a
7 with or without a crossbar, an open or a closed 4, ...). A skeleton is a
handful of waypoints joined by smooth Catmull-Rom curves. Every sample moves
the waypoints at random, slants, rotates and stretches the result, picks a
pen width that varies along the stroke, then fits the digit into a 20x20 box
centred in 28x28, the way MNIST was prepared. The strokes are drawn as
anti-aliased white ink on black (0 background, up to 255), from a distance
field computed with numpy over whole batches of samples.

The images are generated, not collected: they are never MNIST, and a model
trained on them should be reported as such.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SIZE = 28  # image side, pixels
BOX = 20.0  # the digit (ink included) fits a BOX x BOX square, as in MNIST
SPACING = 0.8  # pixels between the pen positions sampled along a stroke
PX_PER_UNIT = 24.0  # skeletons are about 1 unit tall; used to size the sampling


def _ellipse(cx, cy, rx, ry, start, turns, n):
    """Points on an ellipse (y down), from angle `start` (degrees, 0 = right,
    90 = top) going counter-clockwise on screen for `turns` turns."""
    angles = np.radians(start) + np.linspace(0.0, 2 * np.pi * turns, n, endpoint=False)
    return [(cx + rx * np.cos(a), cy - ry * np.sin(a)) for a in angles]


def _variant(weight, *strokes, closed=()):
    """A skeleton: strokes as lists of (x, y) waypoints in a unit-high box, y
    down. Strokes that share a waypoint (same coordinates) share its jitter,
    so corners stay joined. Indices in `closed` are closed loops."""
    points, index, lines = [], {}, []
    for s, stroke in enumerate(strokes):
        ids = []
        for p in stroke:
            key = (round(float(p[0]), 4), round(float(p[1]), 4))
            if key not in index:
                index[key] = len(points)
                points.append(key)
            ids.append(index[key])
        lines.append((ids, s in closed))
    return {"weight": weight, "points": np.array(points, dtype=np.float64), "strokes": lines}


def _skeletons():
    """The stroke skeletons of each class, 0 to 9."""
    V = _variant
    zero = [
        V(0.6, _ellipse(0.3, 0.5, 0.27, 0.49, 90, 1, 8), closed=(0,)),
        # Open at the top: the pen starts top right and overshoots its start.
        V(0.4, _ellipse(0.3, 0.5, 0.27, 0.49, 60, 1.12, 10)),
    ]
    one = [
        V(0.7, [(0.32, 0.0), (0.3, 0.5), (0.28, 1.0)]),
        # With a short flag at the top.
        V(0.3, [(0.17, 0.15), (0.32, 0.0)], [(0.32, 0.0), (0.3, 0.5), (0.28, 1.0)]),
    ]
    two = [
        V(
            0.6,
            [
                (0.04, 0.22),
                (0.2, 0.03),
                (0.42, 0.02),
                (0.55, 0.2),
                (0.48, 0.42),
                (0.25, 0.7),
                (0.02, 0.97),
            ],
            [(0.02, 0.97), (0.3, 0.95), (0.6, 0.97)],
        ),
        # A curl where the diagonal meets the base.
        V(
            0.4,
            [
                (0.04, 0.22),
                (0.2, 0.03),
                (0.42, 0.02),
                (0.55, 0.2),
                (0.48, 0.42),
                (0.25, 0.7),
                (0.06, 0.93),
                (0.12, 0.8),
                (0.24, 0.9),
                (0.42, 0.97),
                (0.62, 0.95),
            ],
        ),
    ]
    three = [
        V(
            0.75,
            [(0.04, 0.12), (0.25, 0.0), (0.48, 0.08), (0.5, 0.27), (0.24, 0.46)],
            [(0.24, 0.46), (0.5, 0.58), (0.55, 0.8), (0.35, 0.98), (0.02, 0.88)],
        ),
        # Flat top, like a Z that ends in a belly.
        V(
            0.25,
            [(0.04, 0.02), (0.52, 0.02)],
            [(0.52, 0.02), (0.22, 0.4)],
            [(0.22, 0.4), (0.48, 0.52), (0.56, 0.76), (0.36, 0.97), (0.03, 0.88)],
        ),
    ]
    four = [
        V(
            0.45,
            [(0.38, 0.0), (0.03, 0.64)],
            [(0.03, 0.64), (0.6, 0.62)],
            [(0.46, 0.28), (0.44, 1.0)],
        ),
        V(
            0.35,
            [(0.06, 0.0), (0.05, 0.56)],
            [(0.05, 0.56), (0.6, 0.54)],
            [(0.5, 0.0), (0.48, 1.0)],
        ),
        # The first stroke rounded into the bar.
        V(0.2, [(0.08, 0.0), (0.06, 0.4), (0.2, 0.56), (0.6, 0.52)], [(0.48, 0.04), (0.46, 1.0)]),
    ]
    five = [
        V(
            0.6,
            [(0.56, 0.02), (0.12, 0.03)],
            [(0.12, 0.03), (0.08, 0.44)],
            [
                (0.08, 0.44),
                (0.3, 0.36),
                (0.52, 0.48),
                (0.56, 0.72),
                (0.38, 0.95),
                (0.15, 0.97),
                (0.02, 0.86),
            ],
        ),
        # Bar written last, not quite touching.
        V(
            0.4,
            [
                (0.14, 0.05),
                (0.08, 0.46),
                (0.3, 0.38),
                (0.52, 0.5),
                (0.55, 0.74),
                (0.36, 0.96),
                (0.02, 0.85),
            ],
            [(0.18, 0.0), (0.6, -0.02)],
        ),
    ]
    six = [
        V(
            1.0,
            [
                (0.5, 0.02),
                (0.26, 0.18),
                (0.1, 0.45),
                (0.08, 0.72),
                (0.22, 0.95),
                (0.45, 0.93),
                (0.53, 0.72),
                (0.38, 0.55),
                (0.16, 0.6),
                (0.09, 0.72),
            ],
        ),
    ]
    seven = [
        V(0.6, [(0.03, 0.04), (0.58, 0.03)], [(0.58, 0.03), (0.42, 0.45), (0.28, 1.0)]),
        V(
            0.2,
            [(0.03, 0.04), (0.58, 0.03)],
            [(0.58, 0.03), (0.42, 0.45), (0.28, 1.0)],
            [(0.2, 0.52), (0.56, 0.5)],
        ),
        V(
            0.2,
            [(0.03, 0.17), (0.03, 0.04)],
            [(0.03, 0.04), (0.58, 0.03)],
            [(0.58, 0.03), (0.42, 0.45), (0.28, 1.0)],
        ),
    ]
    eight = [
        # One stroke that crosses itself at the waist.
        V(
            0.7,
            [
                (0.5, 0.12),
                (0.3, 0.0),
                (0.1, 0.1),
                (0.12, 0.3),
                (0.3, 0.48),
                (0.5, 0.68),
                (0.48, 0.92),
                (0.28, 1.0),
                (0.08, 0.9),
                (0.1, 0.68),
                (0.3, 0.481),
                (0.47, 0.3),
            ],
            closed=(0,),
        ),
        # Two loops, one on the other.
        V(
            0.3,
            _ellipse(0.3, 0.24, 0.2, 0.24, 90, 1, 8),
            _ellipse(0.3, 0.74, 0.27, 0.26, 90, 1, 8),
            closed=(0, 1),
        ),
    ]
    nine = [
        V(
            0.5,
            _ellipse(0.3, 0.24, 0.24, 0.24, 20, 1, 8),
            [(0.53, 0.2), (0.52, 0.6), (0.45, 1.0)],
            closed=(0,),
        ),
        # Round the loop, back up, then straight down.
        V(
            0.3,
            [
                (0.52, 0.1),
                (0.3, 0.0),
                (0.08, 0.15),
                (0.12, 0.38),
                (0.35, 0.45),
                (0.52, 0.3),
                (0.55, 0.06),
            ],
            [(0.55, 0.06), (0.53, 0.5), (0.44, 1.0)],
        ),
        # Curved tail.
        V(
            0.2,
            _ellipse(0.32, 0.24, 0.23, 0.24, 20, 1, 8),
            [(0.55, 0.2), (0.53, 0.6), (0.38, 0.95), (0.16, 0.95)],
            closed=(0,),
        ),
    ]
    return [zero, one, two, three, four, five, six, seven, eight, nine]


def _sampling(variant):
    """The linear map from a skeleton's waypoints to its pen positions.

    Catmull-Rom curves are linear in their waypoints, so jittered waypoints
    (B, K, 2) become pen positions (B, P, 2) with one matrix product. Returns
    the (P, K) matrix and each position's place along its stroke (0 to 1)."""
    pts = variant["points"]
    k = len(pts)
    rows, along = [], []
    for ids, closed in variant["strokes"]:
        n = len(ids)
        spans = n if closed else n - 1
        pos = []
        for i in range(spans):

            def weight(j):
                """One-hot weights of waypoint j of this stroke; phantom ends
                are reflections (2*P1 - P2), which keeps the ends straight."""
                w = np.zeros(k)
                if closed:
                    w[ids[j % n]] = 1.0
                elif j < 0:
                    w[ids[0]] += 2.0
                    w[ids[1]] -= 1.0
                elif j >= n:
                    w[ids[n - 1]] += 2.0
                    w[ids[n - 2]] -= 1.0
                else:
                    w[ids[j]] = 1.0
                return w

            w0, w1, w2, w3 = weight(i - 1), weight(i), weight(i + 1), weight(i + 2)
            chord = np.linalg.norm((w2 - w1) @ pts)
            m = max(2, int(np.ceil(chord * PX_PER_UNIT / SPACING)))
            last = (i == spans - 1) and not closed
            ts = np.linspace(0.0, 1.0, m + 1)[: m + 1 if last else m]
            for t in ts:
                rows.append(
                    0.5
                    * (
                        2 * w1
                        + (w2 - w0) * t
                        + (2 * w0 - 5 * w1 + 4 * w2 - w3) * t * t
                        + (3 * w1 - w0 - 3 * w2 + w3) * t**3
                    )
                )
                pos.append(i + t)
        along.extend(np.asarray(pos) / spans)
    return np.array(rows), np.array(along)


_TABLES = None


def _tables():
    """The skeletons with their sampling matrices, built once."""
    global _TABLES
    if _TABLES is None:
        tables = []
        for label, variants in enumerate(_skeletons()):
            for v in variants:
                matrix, along = _sampling(v)
                tables.append(
                    {
                        "label": label,
                        "weight": v["weight"],
                        "points": v["points"],
                        "matrix": matrix,
                        "along": along,
                    }
                )
        _TABLES = tables
    return _TABLES


def synthetic_digits(n, seed=0):
    """`n` generated digit images and their labels, the same for the same seed.

    Returns x, uint8 (n, 28, 28), white ink (up to 255) on black (0), and y,
    uint8 (n,), with the ten classes as equally often as `n` allows, shuffled.
    `seed` is an int or a sequence of ints (as numpy's default_rng takes)."""
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    tables = _tables()
    y = rng.permutation(np.arange(n) % 10).astype(np.uint8)

    # Which skeleton each sample uses, among its class's variants.
    variant = np.empty(n, dtype=np.int64)
    for label in range(10):
        ids = [i for i, t in enumerate(tables) if t["label"] == label]
        w = np.array([tables[i]["weight"] for i in ids])
        where = np.flatnonzero(y == label)
        variant[where] = rng.choice(ids, size=len(where), p=w / w.sum())

    # Per-sample style, drawn for all samples up front so the result does not
    # depend on how the rendering is split into batches.
    style = {
        "slant": np.clip(rng.normal(0.15, 0.2, n), -0.3, 0.6),  # x += slant * (0.5 - y)
        "rotate": rng.normal(0.0, 0.1, n),  # radians
        "aspect": np.exp(rng.normal(0.0, 0.15, n)),  # width stretch
        "wave_amp": rng.normal(0.0, 0.025, (n, 2)),  # a slow wobble of the whole digit
        "wave_phase": rng.uniform(0, 2 * np.pi, (n, 2)),
        "radius": rng.uniform(0.85, 1.9, n),  # half pen width, pixels
        "pressure": rng.uniform(0.0, 0.3, n),  # how much the width varies
        "pressure_phase": rng.uniform(0, 2 * np.pi, n),
        "soft": rng.uniform(0.7, 1.3, n),  # edge blur, pixels
        "ink": rng.uniform(0.9, 1.0, n),  # darkest ink (1 = 255)
        "size": rng.uniform(0.85, 1.0, n),  # fraction of the 20-pixel box
        "shift": rng.normal(0.0, 0.5, (n, 2)),  # centre offset, pixels
    }
    jitter_seed = rng.integers(0, 2**63, len(tables))

    x = np.zeros((n, SIZE, SIZE), dtype=np.uint8)
    jobs = []
    for v, table in enumerate(tables):
        where = np.flatnonzero(variant == v)
        if len(where) == 0:
            continue
        jrng = np.random.default_rng(jitter_seed[v])
        jitter = jrng.normal(0.0, 0.04, (len(where), len(table["points"]), 2))
        pen = _place(table, where, jitter, style)
        for start in range(0, len(where), _BATCH):
            sl = slice(start, start + _BATCH)
            jobs.append(
                (
                    where[sl],
                    pen[0][sl],
                    pen[1][sl],
                    style["soft"][where[sl]],
                    style["ink"][where[sl]],
                )
            )
    _render_all(jobs, x)
    return x, y


_BATCH = 4  # samples per rendering batch: keeps each batch's arrays in cache


def _place(table, where, jitter, style):
    """Pen positions (B, P, 2) in pixel coordinates (x, y) and pen radii (B, P)."""
    pts = table["points"][None] + jitter  # (B, K, 2)
    pen = np.matmul(table["matrix"][None], pts)  # (B, P, 2)
    s = {k: v[where] for k, v in style.items()}
    x, y = pen[..., 0] - 0.3, pen[..., 1] - 0.5
    # A slow wobble, then slant, stretch and rotate around the middle.
    x = x + s["wave_amp"][:, :1] * np.sin(2 * np.pi * y + s["wave_phase"][:, :1])
    y = y + s["wave_amp"][:, 1:] * np.sin(2 * np.pi * x + s["wave_phase"][:, 1:])
    x = (x + s["slant"][:, None] * (-y)) * s["aspect"][:, None]
    c, sn = np.cos(s["rotate"])[:, None], np.sin(s["rotate"])[:, None]
    x, y = c * x - sn * y, sn * x + c * y

    along = table["along"][None]
    radius = s["radius"][:, None] * (
        1 + s["pressure"][:, None] * np.sin(2 * np.pi * along + s["pressure_phase"][:, None])
    )

    # Fit the ink into the box (keeping the aspect ratio), then put the
    # centre of the ink at the middle of the image, as MNIST did.
    lo_x, hi_x = x.min(1), x.max(1)
    lo_y, hi_y = y.min(1), y.max(1)
    extent = np.maximum(hi_x - lo_x, hi_y - lo_y)
    target = BOX * s["size"] - 2 * s["radius"]
    scale = (target / np.maximum(extent, 1e-6))[:, None]
    x, y = x * scale, y * scale
    cx, cy = x.mean(1), y.mean(1)
    mid = (SIZE - 1) / 2
    dx = mid + s["shift"][:, 0] - cx
    dy = mid + s["shift"][:, 1] - cy
    # Keep the whole digit on the canvas.
    margin = s["radius"] + 0.5
    dx = np.clip(dx, margin - x.min(1), SIZE - 1 - margin - x.max(1))
    dy = np.clip(dy, margin - y.min(1), SIZE - 1 - margin - y.max(1))
    xy = np.stack([x + dx[:, None], y + dy[:, None]], axis=-1)
    return xy.astype(np.float32), radius.astype(np.float32)


def _render(pen, radius, soft, ink, grid_x, grid_y):
    """Anti-aliased images (B, W, W) in [0, 1] from pen positions and radii,
    over the pixel columns grid_x (B, W) and rows grid_y (B, W).

    For each pixel, g = min over pen positions of (distance^2 - radius^2) is
    0 exactly on the ink's edge; sqrt(g + r^2) - r turns it back into an
    approximate signed distance (negative inside), which a linear ramp
    `soft` pixels wide turns into ink."""
    gx = grid_x[:, None, :] - pen[..., 0:1]  # (B, P, W)
    gy = grid_y[:, None, :] - pen[..., 1:2]
    qx = gx * gx - (radius * radius)[..., None]
    qy = gy * gy
    g = (qy[:, :, :, None] + qx[:, :, None, :]).min(axis=1)  # (B, W, W)
    r = radius.mean(axis=1)[:, None, None]
    d = np.sqrt(np.maximum(g + r * r, 0.0)) - r
    v = np.clip(0.5 - d / soft[:, None, None], 0.0, 1.0)
    return v * ink[:, None, None]


_WINDOW = 24  # each digit's ink fits a 24x24 window: only that part is computed


def _render_all(jobs, out):
    span = np.arange(_WINDOW)

    def work(job):
        where, pen, radius, soft, ink = job
        # The window around the pen positions, kept on the canvas.
        lo = (pen.min(axis=1) + pen.max(axis=1) - _WINDOW) / 2  # (B, 2)
        lo = np.clip(np.rint(lo), 0, SIZE - _WINDOW).astype(np.int64)
        grid_x = (lo[:, 0:1] + span).astype(np.float32)
        grid_y = (lo[:, 1:2] + span).astype(np.float32)
        img = _render(pen, radius, soft.astype(np.float32), ink.astype(np.float32), grid_x, grid_y)
        img = np.rint(img * 255).astype(np.uint8)
        for i, k in enumerate(where):
            out[k, lo[i, 1] : lo[i, 1] + _WINDOW, lo[i, 0] : lo[i, 0] + _WINDOW] = img[i]

    workers = max(1, min(4, os.cpu_count() or 1))
    if workers == 1 or len(jobs) < 8:
        for job in jobs:
            work(job)
        return
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(work, jobs):  # numpy releases the GIL while it computes
            pass


def synthetic_mnist(seed=7, n_train=60000, n_test=10000):
    """A generated stand-in with MNIST's layout: (x_train, y_train), (x_test, y_test).

    The train and test sets come from two independent random streams of the
    same seed."""
    train = synthetic_digits(n_train, seed=(int(seed), 0))
    test = synthetic_digits(n_test, seed=(int(seed), 1))
    return train, test

"""drive.gif: what the camera saw beside a map of the course, with the score so far.

Each frame: the camera view (what the model saw), a top-down map of the
course with the car's path, its interventions and the car, and under them
a strip with the steering command as a bar, the simulated time, the
autonomy so far, the interventions so far and a legend.  The overlay's
colours are from the Okabe-Ito palette (readable with any common colour
blindness) and are drawn on the map and the strip only, never over the
camera view, so they cannot be mistaken for the scene's tape and paint.
"""

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from chapter2.data.frames import FRAME_SHAPE
from chapter2.run.files import atomic_path

PATH_COLOUR = (86, 180, 233)  # Okabe-Ito sky blue: the path driven
CAR_COLOUR = (230, 159, 0)  # orange: the car, and the steering bar
INTERVENTION_COLOUR = (213, 94, 0)  # vermillion crosses: where the car was put back
MAP_BACKGROUND = (40, 40, 40)
COURSE_LINES = (150, 150, 150)
TEXT_COLOUR = (235, 235, 235)
STRIP_HEIGHT = 40  # pixels under the camera view and the map
GIF_FPS = 5  # GIF frames per simulated second (played in real time)
GIF_SCALE = 2  # each pixel drawn 2x2, so that the text reads at a glance


class DriveFigure:
    """Composes the GIF's frames for one drive on ``track``."""

    def __init__(self, track, height=FRAME_SHAPE[0]):
        pts = track.polyline(0.05)
        half = track.lane_width / 2
        lo = pts.min(axis=0) - 0.6
        hi = pts.max(axis=0) + 0.6
        self.scale = (height - 4) / (hi[1] - lo[1])
        width = int(math.ceil((hi[0] - lo[0]) * self.scale)) + 4
        self.lo, self.height = lo, height
        img = Image.new("RGB", (width, height), MAP_BACKGROUND)
        draw = ImageDraw.Draw(img)
        tangent = np.gradient(pts, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
        for sign in (-1, 1):
            line = [self.px(p) for p in pts + sign * half * normal]
            draw.line(line + line[:1], fill=COURSE_LINES, width=1)
        self.trail = img
        self.drawn = 0
        self.font = ImageFont.load_default()

    def px(self, p):
        return (
            2 + (p[0] - self.lo[0]) * self.scale,
            self.height - 2 - (p[1] - self.lo[1]) * self.scale,
        )

    def compose(self, frame, path, resets, heading, angle, *, seconds, autonomy, interventions):
        """One GIF frame (uint8 RGB): ``frame`` the camera view (None: black),
        ``path`` the car's positions so far (None where it was put back),
        ``resets`` where it was, ``angle`` the steering command in [-1, 1];
        ``seconds``, ``autonomy`` (%, None before MIN_SCORED_SECONDS: shown as n/a) and
        ``interventions`` so far are written under the map."""
        # The path so far is drawn onto a kept trail image, a piece at a time.
        tdraw = ImageDraw.Draw(self.trail)
        for a, b in zip(path[max(self.drawn - 1, 0) : -1], path[max(self.drawn, 1) :]):
            if a is not None and b is not None:
                tdraw.line((self.px(a), self.px(b)), fill=PATH_COLOUR, width=1)
        self.drawn = len(path)
        img = self.trail.copy()
        draw = ImageDraw.Draw(img)
        for p in resets:
            _cross(draw, self.px(p), 3, INTERVENTION_COLOUR)
        cx, cy = self.px(path[-1])
        draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=CAR_COLOUR)
        draw.line((cx, cy, cx + 8 * math.cos(heading), cy - 8 * math.sin(heading)), fill=CAR_COLOUR)
        h, w = FRAME_SHAPE[:2]
        cam = Image.fromarray(frame) if frame is not None else Image.new("RGB", (w, h))
        out = Image.new("RGB", (w + 2 + img.width, h + STRIP_HEIGHT), (0, 0, 0))
        out.paste(cam, (0, 0))
        out.paste(img, (w + 2, 0))
        self._strip(ImageDraw.Draw(out), h, w, angle, seconds, autonomy, interventions)
        return np.asarray(out)

    def _strip(self, draw, top, width, angle, seconds, autonomy, interventions):
        """Under the camera view the steering bar; below it the time, the
        score so far and a legend, across the whole frame."""
        mid, y = width // 2, top + 2
        draw.text((1, y - 3), "L", fill=TEXT_COLOUR, font=self.font)
        draw.text((width - 7, y - 3), "R", fill=TEXT_COLOUR, font=self.font)
        draw.rectangle(
            (min(mid, mid + angle * (mid - 10)), y + 1, max(mid, mid + angle * (mid - 10)), y + 5),
            fill=CAR_COLOUR,
        )
        draw.line((mid, y - 1, mid, y + 7), fill=TEXT_COLOUR)  # straight ahead
        score = "n/a" if autonomy is None else f"{autonomy:.0f}%"
        draw.text(
            (4, top + 11),
            f"{seconds:4.1f} s    autonomy: {score}    interventions: {interventions}",
            fill=TEXT_COLOUR,
            font=self.font,
        )
        x, y = 4, top + 25
        for label, mark in (
            ("steering", "bar"),
            ("path", "line"),
            ("put back", "cross"),
            ("car", "dot"),
        ):
            if mark == "bar":
                draw.rectangle((x, y + 4, x + 10, y + 8), fill=CAR_COLOUR)
            elif mark == "line":
                draw.line((x, y + 6, x + 10, y + 6), fill=PATH_COLOUR, width=2)
            elif mark == "cross":
                _cross(draw, (x + 5, y + 6), 3, INTERVENTION_COLOUR)
            else:
                draw.ellipse((x + 2, y + 3, x + 8, y + 9), fill=CAR_COLOUR)
            draw.text((x + 13, y), label, fill=TEXT_COLOUR, font=self.font)
            x += 13 + int(self.font.getlength(label)) + 10


def _cross(draw, centre, r, colour):
    cx, cy = centre
    draw.line((cx - r, cy - r, cx + r, cy + r), fill=colour, width=1)
    draw.line((cx - r, cy + r, cx + r, cy - r), fill=colour, width=1)


_LEVELS = 6  # a 6x6x6 colour cube ...
_GREYS = 39  # ... and 39 greys: 255 palette entries


def _palette_indices(frame):
    """Map an RGB image to a fixed palette: a 6x6x6 colour cube, and a finer
    grey ramp for nearly grey pixels (floors are mostly grey).  No dithering
    and one palette for all frames: the GIF stays small and does not flicker."""
    f = frame.astype(np.int16)
    q = (f * (_LEVELS - 1) + 127) // 255
    cube = q[..., 0] * _LEVELS * _LEVELS + q[..., 1] * _LEVELS + q[..., 2]
    luma = (f[..., 0] * 77 + f[..., 1] * 150 + f[..., 2] * 29) >> 8
    grey = _LEVELS**3 + (luma * (_GREYS - 1) + 127) // 255
    greyish = f.max(axis=-1) - f.min(axis=-1) < 28
    return np.where(greyish, grey, cube).astype(np.uint8)


def _palette():
    levels = np.round(np.linspace(0, 255, _LEVELS)).astype(int)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    greys = np.round(np.linspace(0, 255, _GREYS)).astype(int)
    colours = np.concatenate(
        [np.stack([r, g, b], axis=-1).reshape(-1, 3), np.repeat(greys[:, None], 3, axis=1)]
    )
    return colours.reshape(-1).tolist()


def save_gif(frames, path, fps=GIF_FPS, *, scale=GIF_SCALE, log=None):
    """Write frames (uint8 RGB images, all one size) as a looping animated
    GIF, each pixel drawn `scale` x `scale`, atomically; ``fps`` defaults to
    real time for the drive's frames.
    ``log`` (optional) gets one line before a long write."""
    if len(frames) == 0:
        raise ValueError(f"save_gif: no frames to write to {path}")
    if log and len(frames) > 50:
        log(f"writing {path} ({len(frames)} frames)")
    palette = _palette()
    images = []
    for frame in frames:
        img = Image.fromarray(_palette_indices(np.asarray(frame, np.uint8)[..., :3]), "P")
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        img.putpalette(palette)
        images.append(img)
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=int(round(1000 / fps)),
            loop=0,
            optimize=False,
        )
    return path

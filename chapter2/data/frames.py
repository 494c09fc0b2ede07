"""Camera frames as the steering network takes them: 120x160 RGB uint8.

The one place that knows the frame size (``FRAME_SHAPE``), how frames of
another size or type are brought to it, and how an image file is read
without trusting its header.
"""

import re
import warnings

import numpy as np

from chapter2.run.errors import InputError, brief

from .memory import require_memory
from .records import is_file, shown

FRAME_SHAPE = (120, 160, 3)  # rows, columns, RGB: the Donkey Car camera frame
MAX_IMAGE_PIXELS = 25_000_000  # an image file claiming more pixels is refused (a 5000x5000 photo)


def read_image(path, where=None):
    """One image file as a uint8 (120, 160, 3) frame, resized if needed.

    ``where`` names the record that refers to the file (``<file>: line N``)
    for the message when the image is missing. The header's size is checked
    before any pixel is decoded, so a file that claims 30000x30000 pixels
    is refused in one line instead of filling memory."""
    from PIL import Image, UnidentifiedImageError

    if not is_file(path, where or path, "its image"):
        raise InputError(f"{where or path}: its image {shown(str(path), None)} is missing")
    try:
        with (
            warnings.catch_warnings()
        ):  # PIL warns of large images itself; the check below says it once
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InputError(_too_large(path, width, height))
            if img.format == "JPEG":
                # decode at a reduced scale: faster
                img.draft("RGB", (FRAME_SHAPE[1], FRAME_SHAPE[0]))
            img = _eight_bit(img, path).convert("RGB")
            if img.size != (FRAME_SHAPE[1], FRAME_SHAPE[0]):
                img = img.resize((FRAME_SHAPE[1], FRAME_SHAPE[0]), Image.BILINEAR)
            return np.asarray(img)
    except Image.DecompressionBombError as err:
        claimed = re.search(r"\d+", str(err))  # PIL says "Image size (N pixels) exceeds ..."
        claimed = f"{int(claimed.group()):,}" if claimed else "too many"
        raise InputError(
            f"{path}: the image header claims {claimed} pixels, more than the "
            f"{MAX_IMAGE_PIXELS:,} this reader accepts"
        ) from None
    except (UnidentifiedImageError, ValueError, SyntaxError) as err:
        why = brief(err, 120)
        raise InputError(f"{shown(str(path), None)}: not a readable image ({why})") from None
    except OSError as err:  # PIL reports damaged image data as OSError too
        why = err.strerror or brief(err, 120)
        raise InputError(f"{shown(str(path), None)}: not a readable image ({why})") from None


def _eight_bit(img, path):
    """A 16-bit or floating-point image as 8-bit grey, scaled (PIL's own convert
    clips: a 16-bit PNG would come out nearly all white). 16-bit pixels are
    scaled by 65535; 32-bit integer ones as they are when 0-255, else as 16-bit;
    floating-point ones in [0, 1] times 255, in [0, 255] as they are."""
    from PIL import Image

    if not (img.mode.startswith("I;16") or img.mode in ("I", "F")):
        return img
    pixels = np.asarray(img, dtype=np.float64)
    low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
    if img.mode.startswith("I;16"):
        top = 65535
    elif img.mode == "I" and low >= 0 and high <= 65535:
        top = 255 if high <= 255 else 65535
    elif img.mode == "F" and low >= 0 and high <= 255:
        top = 1 if high <= 1 else 255
    else:
        raise InputError(
            f"{shown(str(path), None)}: pixels of mode {img.mode} from {low:g} to "
            f"{high:g}; expected 0-255 or 0-65535 (0-1 for floating point)"
        )
    return Image.fromarray(np.rint(pixels * (255 / top)).astype(np.uint8), "L")


def _too_large(path, width, height):
    return (
        f"{path}: the image header claims {width}x{height} pixels, more than the "
        f"{MAX_IMAGE_PIXELS:,} this reader accepts (frames are {FRAME_SHAPE[1]}x{FRAME_SHAPE[0]})"
    )


def frame_array(count, what):
    """An empty uint8 array for `count` frames, refused in one line when it would not fit."""
    size = f"{FRAME_SHAPE[0]}x{FRAME_SHAPE[1]}"
    require_memory(count * int(np.prod(FRAME_SHAPE)), f"{what} as {size} frames")
    return np.empty((count,) + FRAME_SHAPE, dtype=np.uint8)


def resize_frames(X):
    """uint8 frames of any size, resized (bilinear) to 120x160, one at a time."""
    from PIL import Image

    out = frame_array(len(X), "the resized frames")
    for i, frame in enumerate(X):
        out[i] = np.asarray(
            Image.fromarray(frame).resize((FRAME_SHAPE[1], FRAME_SHAPE[0]), Image.BILINEAR)
        )
    return out


def validate(X, Y, name, *, log=print):
    """Check a pair loaded from `name` and return it as (uint8 frames, float32 angles).

    Raises InputError naming `name` for anything a model cannot train on;
    warns (one line) about angles outside Donkey Car's [-1, 1]; resizes frames
    of another size to 120x160 (one line)."""
    for label, arr in (("X", X), ("Y", Y)):
        if not isinstance(arr, np.ndarray):
            raise InputError(f"{name}: {label} is a {type(arr).__name__}, expected a numpy array")
        if arr.dtype.kind not in "buif":
            raise InputError(f"{name}: {label} has dtype {arr.dtype}, expected numbers")
    if X.ndim != 4 or X.shape[-1] != 3:
        raise InputError(
            f"{name}: frames X have shape {X.shape}, expected (N, height, width, 3) colour frames"
        )
    if Y.ndim == 2 and Y.shape[1] == 1:
        Y = Y[:, 0]
    if Y.ndim != 1:
        raise InputError(f"{name}: angles Y have shape {Y.shape}, expected (N,) steering angles")
    if len(X) != len(Y):
        raise InputError(
            f"{name}: {len(X)} frames but {len(Y)} angles; X and Y must have the same length"
        )
    if len(X) == 0:
        raise InputError(f"{name}: holds no frames")
    if X.shape[1] < 8 or X.shape[2] < 8:
        raise InputError(
            f"{name}: frames of {X.shape[1]}x{X.shape[2]} pixels are too small, expected 120x160"
        )
    Y = np.asarray(Y, dtype=np.float32)
    bad = ~np.isfinite(Y)
    if bad.any():
        raise InputError(
            f"{name}: {int(bad.sum())} angles are not finite (first at index {int(np.argmax(bad))})"
        )
    low, high = float(Y.min()), float(Y.max())
    if low < -1 or high > 1:
        log(
            f"warning: {name}: angles range from {low:.3g} to {high:.3g}, outside Donkey Car's [-1, 1]; "
            "training on them as they are"
        )
    if X.dtype != np.uint8:
        X = _to_uint8(X, name, log)
    X = X.view(np.uint8)  # uint8 spelled '<u1' by a pickle is uint8 all the same, but not to PIL
    if X.shape[1:] != FRAME_SHAPE:
        log(
            f"note: {name}: resizing {len(X)} frames from {X.shape[1]}x{X.shape[2]} to "
            f"{FRAME_SHAPE[0]}x{FRAME_SHAPE[1]}"
        )
        X = resize_frames(X)
    return X, Y


def _to_uint8(X, name, log):
    """Frames of another type as uint8 0-255, scaled, never clipped:

    - bool: False 0, True 255;
    - floats: in [0, 1] times 255, in [0, 255] as they are; other ranges refused;
    - unsigned integers (uint16, uint32, uint64): scaled by the type's range
      (uint16 65535 becomes 255), as 16-bit camera frames are stored; refused
      when every value is 0-255, which is 8-bit data in a wider type that
      scaling would turn black;
    - signed integers: 0-255 as they are (``np.array`` of Python ints gives
      int64); beyond 255 scaled by their largest value, since a signed type's
      range (9.2e18 for int64) says nothing about the pixels'; negative
      values refused.
    """
    kind, dtype = X.dtype.kind, X.dtype
    if kind == "f" and not np.isfinite(X).all():
        raise InputError(f"{name}: frames X hold values that are not finite")
    low, high = (X.min().item(), X.max().item()) if X.size else (0, 0)
    found = f"{name}: frames X are {dtype} from {low:g} to {high:g}"
    if kind == "b":
        scale, how = 255.0, "False becomes 0, True 255"
    elif kind == "f":
        if low < 0 or high > 255:
            raise InputError(f"{found}; expected 0-1 or 0-255 (scale them to one of these first)")
        if high <= 1:
            scale, how = 255.0, "in [0, 1], multiplied by 255"
        else:
            scale, how = 1.0, "in [0, 255], rounded"
    elif low < 0:
        raise InputError(
            f"{found}; negative pixel values have no meaning here (expected 0-255, "
            "or an unsigned type's full range)"
        )
    elif kind == "u":
        top = np.iinfo(dtype).max
        if high <= 255:
            raise InputError(
                f"{name}: frames X are {dtype} but every value is 0-255 (the largest "
                f"{high}): 8-bit values, which scaling from 0-{top} would turn black; "
                f"save them as uint8, or as {dtype} spanning 0-{top}"
            )
        scale = 255.0 / top
        how = f"scaled from the type's range 0-{top} to 0-255 (largest value {high})"
    elif high <= 255:
        scale, how = 1.0, "with values 0-255, kept as they are"
    else:
        scale = 255.0 / high
        how = (
            f"with values up to {high}, scaled by that largest value to 0-255 "
            "(a signed type's range says nothing of the pixels')"
        )
    log(f"note: {name}: frames are {dtype} {how}, as uint8")
    require_memory(X.size, f"{name}: the frames as uint8")
    out = np.empty(X.shape, dtype=np.uint8)
    for start in range(0, len(X), 256):  # in chunks: no float copy of the whole set
        chunk = X[start : start + 256].astype(np.float64) * scale
        # every value is in range already; the minimum only keeps rounding there
        out[start : start + 256] = np.minimum(np.rint(chunk), 255)
    return out


def read_images(records, *, log=print, what="images", progress_every=10.0):
    """Read the image files of ``records`` ((path, where) pairs) into one
    uint8 (N, 120, 160, 3) array, resizing each as it is read; ``log`` gets
    a line before a long read and one every ``progress_every`` seconds."""
    import time

    X = frame_array(len(records), f"{len(records):,} {what}")
    started = last = time.perf_counter()
    if len(records) >= 2000:
        log(f"reading {len(records):,} {what}")
    for i, (path, where) in enumerate(records):
        X[i] = read_image(path, where)
        now = time.perf_counter()
        if now - last >= progress_every:
            last = now
            log(f"read {i + 1:,}/{len(records):,} {what} ({now - started:.0f} s)")
    return X

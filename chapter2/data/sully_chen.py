"""Sully Chen's driving dataset: a folder of dash-camera JPEGs and data.txt.

Each line of ``data.txt`` is ``N.jpg <angle>``: an image beside the file
and the steering-wheel angle in degrees (positive: turning right).  Later
releases add fields after the angle (``0.jpg 0.000000,2018-07-01
17:09:44:912``); they are ignored.  The frames are 256x455 pixels.

Degrees become Donkey Car's [-1, 1] by dividing by ``MAX_ANGLE_DEGREES``
and clipping: a steering wheel turns through far more than a Donkey Car's
front wheels, and half a turn of the wheel (180 degrees) is taken as full
lock.  The number of clipped angles is reported.
"""

import numpy as np

from chapter2.run.errors import InputError

from .frames import read_images
from .records import is_file, lines, number, read_text, short, shown

LIST_NAME = "data.txt"
MAX_ANGLE_DEGREES = 180.0  # steering-wheel degrees mapped to +-1 (beyond: clipped)


def is_recording(path):
    """Whether `path` is a Sully Chen folder (it holds data.txt) or a data.txt file."""
    return (path.is_dir() and (path / LIST_NAME).is_file()) or (
        path.is_file() and path.suffix.lower() == ".txt"
    )


def load_recording(path, *, log=print):
    """(X, Y, info) of a Sully Chen folder (or its data.txt)."""
    listing = path / LIST_NAME if path.is_dir() else path
    records, degrees = [], []
    for line_number, line in lines(read_text(listing, "image list")):
        if not line.strip():
            continue
        where = f"{listing}: line {line_number}"
        fields = line.split()
        if len(fields) < 2:
            raise InputError(
                f"{where}: expected '<image>.jpg <angle in degrees>', found {short(line.strip())}"
            )
        name, angle = fields[0], fields[1].split(",")[0]
        degrees.append(number(angle, where, "the angle"))
        image = listing.parent / name
        if not is_file(image, where, "image", name):
            raise InputError(f"{where}: image {shown(name)} not found in {listing.parent}")
        records.append((image, where))
    if not records:
        raise InputError(
            f"{listing}: lists no images (expected '<image>.jpg <angle in degrees>' per line)"
        )
    degrees = np.asarray(degrees, np.float64)
    clipped = int(np.sum(np.abs(degrees) > MAX_ANGLE_DEGREES))
    if clipped:
        log(
            f"{listing}: {clipped} of {len(degrees)} angles beyond +-{MAX_ANGLE_DEGREES:g} degrees clipped to full lock"
        )
    X = read_images(records, log=log, what="camera images")
    Y = np.clip(degrees / MAX_ANGLE_DEGREES, -1, 1).astype(np.float32)
    return (
        X,
        Y,
        {"format": "sully chen", "max_angle_degrees": MAX_ANGLE_DEGREES, "clipped": clipped},
    )

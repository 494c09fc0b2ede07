"""Recordings of the Udacity self-driving-car simulator (its training mode).

A recording is a folder holding ``driving_log.csv`` and ``IMG/``.  Each CSV
row is ``center,left,right,steering,throttle,brake,speed`` (a header row
with those names may come first, after blank lines if any; extra columns
after them are ignored):
three camera images of 160x320 pixels and the steering angle in [-1, 1]
(negative: left, as in Donkey Car).  The simulator writes image paths as
absolute paths of the machine that recorded (``C:\\Users\\...\\IMG\\center_...jpg``
on Windows), so each image is found by its file name in the ``IMG/`` folder
beside the CSV; a relative path, or an absolute one that exists here, is
used when ``IMG/`` does not hold the name.

The centre camera is read by default.  With ``SIDE_CAMERAS = True`` the left
and right images are added too, their angles corrected by
``SIDE_CORRECTION`` (the left camera sees the road as a car further left
would, so its label steers more to the right: angle + correction).
"""

import csv
import io
import re
from pathlib import Path

import numpy as np

from chapter2.run.errors import InputError, brief

from .frames import read_images
from .records import is_file, number, read_text, shown

LOG_NAME = "driving_log.csv"
COLUMNS = ("center", "left", "right", "steering", "throttle", "brake", "speed")
SIDE_CAMERAS = False  # also train on the left and right cameras
SIDE_CORRECTION = 0.2  # steering added for the left camera, taken away for the right


def is_recording(path):
    """Whether `path` is a Udacity recording: a folder with driving_log.csv, or a .csv file."""
    return (path.is_dir() and (path / LOG_NAME).is_file()) or (
        path.is_file() and path.suffix.lower() == ".csv"
    )


def find_image(field, csv_path, where=None):
    """The image file a CSV field names, looked for by file name in IMG/ beside the CSV first.

    A name the system cannot look up (a component longer than 255 bytes) is
    an InputError at `where`."""
    where = where or csv_path
    text = field.strip()
    name = re.split(r"[\\/]", text)[-1]
    beside = csv_path.parent / "IMG" / name
    if is_file(beside, where, "the image", name):
        return beside
    given = Path(text.replace("\\", "/")) if not re.match(r"^[A-Za-z]:[\\/]", text) else None
    if given is not None:
        candidate = given if given.is_absolute() else csv_path.parent / given
        if is_file(candidate, where, "the image", text):
            return candidate
    return beside


def _csv_problem(err):
    """What Python's csv reader found wrong, in words that name the limit."""
    text = str(err)
    if "field larger than field limit" in text:
        return (
            f"a field longer than {csv.field_size_limit():,} characters "
            "(image paths and numbers are short)"
        )
    return f"not a readable CSV row ({brief(err, 120)})"


def load_recording(path, *, log=print, side_cameras=None, correction=None):
    """(X, Y, info) of a Udacity simulator recording (its folder or its CSV)."""
    side = SIDE_CAMERAS if side_cameras is None else side_cameras
    correction = SIDE_CORRECTION if correction is None else correction
    csv_path = path / LOG_NAME if path.is_dir() else path
    text = read_text(csv_path, "driving log")
    records, angles, header = [], [], None
    cameras = ((0, 0.0), (1, correction), (2, -correction)) if side else ((0, 0.0),)
    # Lines end at \n (a \r before it is the csv reader's to drop), as the simulator writes them.
    reader = csv.reader(io.StringIO(text))
    while True:
        try:
            row = next(reader, None)
        except csv.Error as err:
            raise InputError(
                f"{csv_path}: line {reader.line_num}: {_csv_problem(err)}; expected "
                f"{','.join(COLUMNS)}"
            ) from None
        if row is None:
            break
        if not row or not "".join(row).strip():
            continue
        where = f"{csv_path}: line {reader.line_num}"
        if header is None:  # the first row that is not blank may be a header
            header = row[0].strip().lower() == "center"
            if header:
                continue
        if len(row) < 4:
            raise InputError(
                f"{where}: {len(row)} columns, expected {len(COLUMNS)}: {','.join(COLUMNS)}"
            )
        steering = number(row[3].strip(), where, "the steering column")
        for column, shift in cameras:
            if not row[column].strip():
                if column == 0:
                    raise InputError(f"{where}: the center image column is empty")
                continue
            image = find_image(row[column], csv_path, where)
            if not is_file(image, where, "the image", row[column].strip()):
                raise InputError(f"{where}: image {shown(image.name)} not found in {image.parent}")
            records.append((image, where))
            angles.append(steering + shift)
    if not records:
        raise InputError(f"{csv_path}: holds no rows (expected {','.join(COLUMNS)} per line)")
    X = read_images(records, log=log, what="camera images")
    info = {"format": "udacity", "header": bool(header), "side_cameras": bool(side)}
    if side:
        info["side_correction"] = correction
    Y = np.asarray(angles, np.float32)
    if side:
        Y = np.clip(Y, -1, 1)  # a correction must not push an angle past full lock
    return X, Y, info

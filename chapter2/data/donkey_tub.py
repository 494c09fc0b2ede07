"""Donkey Car tubs: the folders a Donkey Car records while a person drives.

Tub v2 (Donkey Car 4 and later): ``manifest.json`` is five JSON lines
(inputs, types, metadata, manifest metadata, and the catalog metadata with
``paths``, the catalog files, and ``deleted_indexes``); each
``catalog_N.catalog`` holds one JSON record per line whose
``cam/image_array`` names a file in ``images/`` and whose ``user/angle`` is
the steering angle.  Tub v1 (older): ``meta.json`` and one
``record_N.json`` per frame beside its image; record numbers listed in
``exclude.json`` are skipped as deleted.  Every field is checked before it
is used: a damaged tub ends in one line naming the file.
"""

import re

import numpy as np

from chapter2.run.errors import InputError

from .frames import read_images
from .records import (
    is_file,
    lines,
    number,
    parse_json_line,
    read_json,
    read_text,
    short,
    shown,
    whole_numbers,
)


def is_tub(path):
    """The tub version of the folder `path` (2, 1), or None."""
    if (path / "manifest.json").is_file():
        return 2
    if (path / "meta.json").is_file() or any(path.glob("record_*.json")):
        return 1
    return None


def _angle(record, where):
    if "user/angle" not in record:
        keys = shown(", ".join(sorted(record))) or "none"
        raise InputError(f"{where}: the record has no user/angle (keys: {keys})")
    return number(record["user/angle"], where, "user/angle")


def _image(folder, record, where):
    """The image file a record names, in `folder`; a name the system cannot look up is one line."""
    name = record.get("cam/image_array")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: the record has no cam/image_array image file name")
    is_file(folder / name, where, "its image", name)
    return folder / name


def _catalog_list(manifest):
    """(catalog file names, deleted indexes) from a tub v2 manifest."""
    meta = where = None
    for line_number, line in lines(read_text(manifest, "tub manifest")):
        if line.strip():
            entry = parse_json_line(
                line, f"{manifest}: line {line_number}", "manifest line", any_value=True
            )
            if isinstance(entry, dict) and "paths" in entry:
                meta, where = entry, f"{manifest}: line {line_number}"
    if meta is None:
        raise InputError(
            f'{manifest}: no catalog list (a JSON line with "paths"); not a tub v2 manifest'
        )
    paths = meta["paths"]
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise InputError(
            f'{where}: "paths" is {short(paths)}, expected a list of catalog file names'
        )
    return paths, whole_numbers(meta.get("deleted_indexes"), where, '"deleted_indexes"')


def load_tub_v2(path, *, log=print):
    """(X, Y, info) of a tub v2 folder, records marked deleted skipped."""
    catalogs, deleted = _catalog_list(path / "manifest.json")
    records, angles, skipped, position = [], [], 0, 0
    for catalog_name in catalogs:
        catalog = path / catalog_name
        if not is_file(catalog, path / "manifest.json", "the catalog"):
            raise InputError(
                f"{path / 'manifest.json'}: lists the catalog "
                f"{shown(catalog_name)}, which is missing"
            )
        for line_number, line in lines(read_text(catalog, "tub catalog")):
            if not line.strip():
                continue
            where = f"{catalog}: line {line_number}"
            record = parse_json_line(line, where, "catalog line")
            index = record.get("_index", position)
            if isinstance(index, bool) or not isinstance(index, int):
                raise InputError(f'{where}: "_index" is {short(index)}, expected a whole number')
            position += 1
            if index in deleted:
                skipped += 1
                continue
            angles.append(_angle(record, where))
            records.append((_image(path / "images", record, where), where))
    return _frames(
        path, records, angles, skipped, "tub v2", "records marked deleted in the manifest", log
    )


def load_tub_v1(path, *, log=print):
    """(X, Y, info) of a tub v1 folder, records listed in exclude.json skipped."""
    if (path / "meta.json").is_file() and not isinstance(
        read_json(path / "meta.json", "tub meta.json"), dict
    ):
        raise InputError(f"{path / 'meta.json'}: expected a JSON object with inputs and types")
    excluded = set()
    if (path / "exclude.json").is_file():
        exclude = path / "exclude.json"
        excluded = whole_numbers(
            read_json(exclude, "tub exclude list"), exclude, "the exclude list"
        )
    numbered = []
    for record_path in path.glob("record_*.json"):
        match = re.fullmatch(r"record_(\d+)\.json", record_path.name)
        if match:
            numbered.append((int(match.group(1)), record_path))
    numbered.sort()
    records, angles, skipped = [], [], 0
    for index, record_path in numbered:
        if index in excluded:
            skipped += 1
            continue
        record = read_json(record_path, "tub record")
        if not isinstance(record, dict):
            raise InputError(f"{record_path}: a tub record must be a JSON object")
        angles.append(_angle(record, record_path))
        records.append((_image(path, record, record_path), record_path))
    return _frames(path, records, angles, skipped, "tub v1", "records listed in exclude.json", log)


def _frames(path, records, angles, skipped, version, deleted, log):
    """(X, Y, info) of a tub once its records are known: the images read."""
    if not records:
        raise InputError(f"{path}: the tub holds no (undeleted) records")
    if skipped:
        log(f"{path}: skipped {skipped} {deleted}")
    X = read_images(records, log=log, what="tub images")
    return X, np.asarray(angles, np.float32), {"format": version, "deleted_skipped": skipped}

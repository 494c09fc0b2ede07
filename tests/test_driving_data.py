"""The driving data loaders: safe pickles, .npz, Donkey Car tubs, Udacity and Sully Chen
recordings, which source load() picks and why, and bad input of every kind."""

import json
import os
import pickle
import struct
import zlib

import numpy as np
import pytest
from conftest import ROOT  # noqa: F401  (importing conftest puts the repository on sys.path)
from PIL import Image

from chapter2.data import driving, sully_chen, udacity
from chapter2.run.errors import InputError


def frames(n, h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def angles(n):
    return np.linspace(-0.9, 0.9, n).astype(np.float32)


def write_pickle(path, obj, protocol=4):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def quiet(*args):
    pass


# --- pickles ----------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_unpickler_loads_an_x_y_pair(tmp_path, protocol):
    X, Y = frames(4), angles(4)
    x, y, info = driving.load_path(write_pickle(tmp_path / "d.pkl", (X, Y), protocol), log=quiet)
    assert x.dtype == np.uint8 and x.shape == (4, 120, 160, 3) and np.array_equal(x, X)
    assert y.dtype == np.float32 and np.array_equal(y, Y)
    assert info["source"] == "--data" and info["format"] == "pickle"


def test_unpickler_loads_pickles_written_by_numpy_1(tmp_path):
    # numpy 1 names its core module numpy.core; numpy 2 numpy._core.
    data = pickle.dumps((frames(2), angles(2)), protocol=2)
    data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in data
    (tmp_path / "old.pkl").write_bytes(data)
    x, y = driving.load_pickle(tmp_path / "old.pkl")
    assert x.shape == (2, 120, 160, 3) and y.shape == (2,)


class RunsACommand:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class OpensAFile:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


@pytest.mark.parametrize("payload", [RunsACommand, OpensAFile])
def test_unpickler_refuses_code_and_never_runs_it(tmp_path, payload):
    target = tmp_path / "created_by_the_pickle"
    bad = write_pickle(tmp_path / "evil.pkl", (frames(2), payload(target)))
    # The same bytes do run code under plain pickle: the test is not vacuous.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(payload(control)))
    assert control.exists()
    with pytest.raises(InputError) as err:
        driving.load_path(bad, log=quiet)
    assert not target.exists()
    assert str(bad) in str(err.value) and "refused" in str(err.value)


# --- .npz -------------------------------------------------------------------


def test_npz_loads_and_other_frame_sizes_are_resized(tmp_path):
    path = tmp_path / "d.npz"
    X = np.zeros((3, 60, 80, 3), np.uint8)
    X[:, :, 40:] = 200  # right half bright: stays right after resizing
    np.savez(path, X=X, Y=np.array([[0.1], [0.2], [-0.3]], np.float32))
    notes = []
    x, y, info = driving.load_path(path, log=notes.append)
    assert x.shape == (3, 120, 160, 3) and x.dtype == np.uint8
    assert x[:, :, :70].max() == 0 and x[:, :, 90:].min() == 200
    assert np.allclose(y, [0.1, 0.2, -0.3]) and info["format"] == "npz"
    assert len(notes) == 1 and "resizing 3 frames from 60x80 to 120x160" in notes[0]


def test_float_frames_in_0_1_become_uint8(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, X=np.full((2, 120, 160, 3), 0.5, np.float32), Y=angles(2))
    x, _, _ = driving.load_path(path, log=quiet)
    assert x.dtype == np.uint8 and int(x.max()) == 128


def test_angles_outside_minus_1_1_warn_in_one_line(tmp_path):
    path = write_pickle(tmp_path / "wide.pkl", (frames(3), np.array([-2.0, 0.0, 1.5], np.float32)))
    notes = []
    _, y, _ = driving.load_path(path, log=notes.append)
    assert y.tolist() == [-2.0, 0.0, 1.5]
    assert len(notes) == 1 and "warning" in notes[0] and "-2" in notes[0] and "1.5" in notes[0]


# --- Donkey Car tubs ----------------------------------------------------------


def solid(value, h=120, w=160):
    return np.full((h, w, 3), value, np.uint8)


def write_tub_v2(
    path, n=7, deleted=(2, 5), per_catalog=4, broken_line=None, drop_angle=None, drop_image=None
):
    """A tub v2 as Donkey Car writes it: five-line manifest.json, catalogs of
    JSON lines, PNG/JPG files in images/."""
    (path / "images").mkdir(parents=True)
    catalogs = []
    for start in range(0, n, per_catalog):
        name = f"catalog_{len(catalogs)}.catalog"
        catalogs.append(name)
        lines = []
        for i in range(start, min(n, start + per_catalog)):
            record = {
                "_index": i,
                "_session_id": "s0",
                "_timestamp_ms": 1000 + i,
                "cam/image_array": f"{i}_cam_image_array_.png",
                "user/angle": round(i / 10 - 0.3, 3),
                "user/throttle": 0.3,
                "user/mode": "user",
            }
            if i == drop_angle:
                del record["user/angle"]
            lines.append("{not json" if i == broken_line else json.dumps(record))
            if i != drop_image:
                Image.fromarray(solid(10 * i)).save(path / "images" / record["cam/image_array"])
        (path / name).write_text("\n".join(lines) + "\n")
    manifest = [
        ["cam/image_array", "user/angle", "user/throttle", "user/mode"],
        ["image_array", "float", "float", "str"],
        {},
        {"created_at": 0.0},
        {
            "paths": catalogs,
            "current_index": n,
            "max_len": per_catalog,
            "deleted_indexes": list(deleted),
        },
    ]
    (path / "manifest.json").write_text("\n".join(json.dumps(m) for m in manifest) + "\n")
    return path


def write_tub_v1(path, n=5, excluded=(1,), drop_image=None):
    path.mkdir(parents=True)
    (path / "meta.json").write_text(
        json.dumps(
            {
                "inputs": ["cam/image_array", "user/angle", "user/throttle"],
                "types": ["image_array", "float", "float"],
            }
        )
    )
    for i in range(n):
        name = f"{i}_cam-image_array_.png"
        (path / f"record_{i}.json").write_text(
            json.dumps({"cam/image_array": name, "user/angle": -0.5 + i / 4, "user/throttle": 0.2})
        )
        if i != drop_image:
            Image.fromarray(solid(20 * i, 60, 80)).save(path / name)
    if excluded:
        (path / "exclude.json").write_text(json.dumps(list(excluded)))
    return path


def test_tub_v2_skips_deleted_records(tmp_path):
    notes = []
    x, y, info = driving.load_path(write_tub_v2(tmp_path / "tub"), log=notes.append)
    kept = [0, 1, 3, 4, 6]
    assert x.shape == (5, 120, 160, 3)
    assert np.allclose(y, [i / 10 - 0.3 for i in kept])
    assert [int(f[0, 0, 0]) for f in x] == [10 * i for i in kept]
    assert info["format"] == "tub v2" and info["deleted_skipped"] == 2
    assert any("skipped 2 records" in n for n in notes)


def test_tub_v1_reads_records_in_order_and_skips_excluded(tmp_path):
    x, y, info = driving.load_path(write_tub_v1(tmp_path / "tub"), log=quiet)
    assert x.shape == (4, 120, 160, 3)  # 60x80 images resized
    assert np.allclose(y, [-0.5, 0.0, 0.25, 0.5])
    assert [int(f[5, 5, 0]) for f in x] == [0, 40, 60, 80]
    assert info["format"] == "tub v1" and info["deleted_skipped"] == 1


# --- Udacity simulator recordings --------------------------------------------------

WINDOWS_FOLDER = "C:\\Users\\learner\\Desktop\\track1\\IMG\\"


def jpeg(path, value, h, w):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(solid(value, h, w)).save(path, quality=95)


def write_udacity(path, n=24, header=False, windows=True, drop_image=None, rows=None):
    """A recording as the simulator writes it: IMG/ with 160x320 centre, left and
    right JPEGs, driving_log.csv with absolute paths of the recording machine."""
    lines = ["center,left,right,steering,throttle,brake,speed"] if header else []
    for i in range(n):
        names = [f"{cam}_2016_12_01_13_30_48_{i:03d}.jpg" for cam in ("center", "left", "right")]
        for cam, name in enumerate(names):
            if not (i == drop_image and cam == 0):
                jpeg(path / "IMG" / name, 8 * i + 2 * cam, 160, 320)
        where = [WINDOWS_FOLDER + name if windows else f" IMG/{name}" for name in names]
        lines.append(",".join(where + [f"{round(i / 12 - 1, 4)}", "0.5", "0", "30.19"]))
    lines += rows or []
    (path / "driving_log.csv").write_text("\n".join(lines) + "\n")
    return path


def test_udacity_folder_with_absolute_windows_paths(tmp_path):
    x, y, info = driving.load_path(write_udacity(tmp_path / "rec"), log=quiet)
    assert x.shape == (24, 120, 160, 3) and x.dtype == np.uint8  # 160x320 frames resized
    assert np.allclose(y, [round(i / 12 - 1, 4) for i in range(24)])
    # the centre camera, in order
    assert np.all(np.abs(x[:, 60, 80, 0].astype(int) - 8 * np.arange(24)) <= 2)
    assert info["format"] == "udacity" and info["header"] is False and info["side_cameras"] is False


def test_udacity_csv_with_header_and_relative_paths(tmp_path):
    rec = write_udacity(tmp_path / "rec", n=6, header=True, windows=False)
    x, y, info = driving.load_path(rec / "driving_log.csv", log=quiet)
    assert x.shape == (6, 120, 160, 3) and info["header"] is True
    assert y[0] == pytest.approx(-1) and y[-1] == pytest.approx(5 / 12 - 1, abs=1e-4)


def test_udacity_side_cameras_get_the_steering_correction(tmp_path, monkeypatch):
    monkeypatch.setattr(udacity, "SIDE_CAMERAS", True)
    x, y, info = driving.load_path(write_udacity(tmp_path / "rec", n=4), log=quiet)
    steering = np.array([i / 12 - 1 for i in range(4)])
    c = udacity.SIDE_CORRECTION
    expected = np.stack([steering, steering + c, steering - c], axis=1).reshape(-1)
    assert x.shape == (12, 120, 160, 3) and np.allclose(y, np.clip(expected, -1, 1), atol=1e-4)
    # centre, left, right of row 1
    assert np.all(np.abs(x[:3, 60, 80, 0].astype(int) - [0, 2, 4]) <= 2)
    assert info["side_cameras"] is True and info["side_correction"] == c


# --- Sully Chen's dataset ----------------------------------------------------------


def write_sully_chen(path, n=20, drop_image=None, lines=None):
    """A folder of 256x455 JPEGs and data.txt lines 'N.jpg degrees', some with a timestamp after."""
    rows = []
    for i in range(n):
        degrees = -90 + 10 * i
        if i != drop_image:
            jpeg(path / f"{i}.jpg", 10 * i, 256, 455)
        rows.append(f"{i}.jpg {degrees:.6f}" + (f",2018-07-01 17:09:{i:02d}:912" if i % 2 else ""))
    (path / "data.txt").write_text("\n".join(rows + (lines or [])) + "\n")
    return path


def test_sully_chen_folder_maps_degrees_to_minus_1_1(tmp_path):
    x, y, info = driving.load_path(write_sully_chen(tmp_path / "ds"), log=quiet)
    degrees = np.array([-90 + 10 * i for i in range(20)])
    assert x.shape == (20, 120, 160, 3)
    assert np.allclose(y, degrees / sully_chen.MAX_ANGLE_DEGREES)
    assert np.all(np.abs(x[:, 60, 80, 0].astype(int) - 10 * np.arange(20)) <= 2)
    assert info["format"] == "sully chen" and info["clipped"] == 0


def test_sully_chen_clips_angles_beyond_full_lock_and_says_so(tmp_path):
    ds = write_sully_chen(tmp_path / "ds", n=3)
    jpeg(ds / "3.jpg", 200, 256, 455)
    with (ds / "data.txt").open("a") as fh:
        fh.write("3.jpg -400.5\n")
    notes = []
    _, y, info = driving.load_path(ds / "data.txt", log=notes.append)
    assert y[-1] == -1 and info["clipped"] == 1
    assert any("1 of 4 angles" in n and "clipped" in n for n in notes)


# --- bad input: one line naming the file and the problem -------------------------


def truncated(tmp_path, name, writer):
    path = tmp_path / name
    writer(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD = {
    "missing file": (lambda d: d / "nowhere.pkl", "no such file"),
    "truncated pickle": (
        lambda d: truncated(d, "t.pkl", lambda p: write_pickle(p, (frames(3), angles(3)))),
        "truncated",
    ),
    "truncated npz": (
        lambda d: truncated(d, "t.npz", lambda p: np.savez(p, X=frames(3), Y=angles(3))),
        "truncated",
    ),
    "npz without Y": (
        lambda d: (np.savez(d / "noy.npz", X=frames(2)), d / "noy.npz")[1],
        "expected X",
    ),
    "npz of objects": (
        lambda d: (
            np.savez(d / "obj.npz", X=np.array([None, 1], dtype=object), Y=angles(2)),
            d / "obj.npz",
        )[1],
        "object arrays",
    ),
    "lengths differ": (
        lambda d: write_pickle(d / "len.pkl", (frames(3), angles(2))),
        "3 frames but 2 angles",
    ),
    "wrong rank": (
        lambda d: write_pickle(d / "rank.pkl", (frames(3)[..., 0], angles(3))),
        "expected (N, height",
    ),
    "wrong channels": (
        lambda d: write_pickle(d / "ch.pkl", (frames(3)[..., :2], angles(3))),
        "expected (N, height",
    ),
    "nan angle": (
        lambda d: write_pickle(d / "nan.pkl", (frames(3), np.array([0, np.nan, 0], np.float32))),
        "not finite",
    ),
    "not arrays": (
        lambda d: write_pickle(d / "list.pkl", ([1, 2], [3, 4])),
        "expected a numpy array",
    ),
    "a string": (lambda d: write_pickle(d / "str.pkl", "hello"), "expected a pair"),
    "a folder that is no recording": (
        lambda d: (d / "empty").mkdir() or d / "empty",
        "none of the recordings",
    ),
    "tub image missing": (lambda d: write_tub_v2(d / "tub", drop_image=3), "missing"),
    "tub malformed line": (
        lambda d: write_tub_v2(d / "tub", broken_line=4),
        "malformed catalog line",
    ),
    "tub without user/angle": (lambda d: write_tub_v2(d / "tub", drop_angle=1), "no user/angle"),
    "tub v1 image missing": (lambda d: write_tub_v1(d / "tub", drop_image=2), "missing"),
    "manifest deleted_indexes 5": (
        lambda d: edit_manifest(write_tub_v2(d / "tub"), deleted_indexes=5),
        '"deleted_indexes" is 5, expected a list of whole numbers',
    ),
    "manifest paths 5": (
        lambda d: edit_manifest(write_tub_v2(d / "tub"), paths=5),
        '"paths" is 5, expected a list of catalog file names',
    ),
    "catalog _index [1]": (
        lambda d: edit_catalog(write_tub_v2(d / "tub"), _index=[1]),
        'line 1: "_index" is [1], expected a whole number',
    ),
    "catalog angle a string": (
        lambda d: edit_catalog(write_tub_v2(d / "tub"), **{"user/angle": "left"}),
        "user/angle is 'left', expected a number",
    ),
    "exclude.json 5": (
        lambda d: (
            (write_tub_v1(d / "tub", excluded=()) / "exclude.json").write_text("5") and d / "tub"
        ),
        "the exclude list is 5, expected a list of whole numbers",
    ),
    "tub image 30000x30000": (
        lambda d: tub_with_huge_image(d, 30000, 30000),
        "claims 900,000,000 pixels, more than the 25,000,000 this reader accepts",
    ),
    "tub image 6000x5000": (
        lambda d: tub_with_huge_image(d, 6000, 5000),
        "claims 6000x5000 pixels, more than the 25,000,000",
    ),
    "udacity empty csv": (
        lambda d: (d / "driving_log.csv").write_text("\n") and d / "driving_log.csv",
        "holds no rows",
    ),
    "udacity csv not utf-8": (
        lambda d: (d / "log.csv").write_bytes(b"\xff\xfe\xfa,1\n") and d / "log.csv",
        "not UTF-8",
    ),
    "udacity image 30000x30000": (
        lambda d: (
            huge_png(
                write_udacity(d / "rec", n=2) / "IMG" / "center_2016_12_01_13_30_48_001.jpg",
                30000,
                30000,
            )
            and d / "rec"
        ),
        "this reader accepts",
    ),
    "tub image not an image": (
        lambda d: (
            (write_tub_v2(d / "tub", deleted=()) / "images" / "1_cam_image_array_.png").write_bytes(
                b"GIF89a"
            )
            and d / "tub"
        ),
        "not a readable image",
    ),
}


# Damaged recordings: what each writer is asked to get wrong, and the line that must say so.
RECORDING_FLAWS = {
    (write_udacity, "rec", "driving_log.csv"): {
        "image missing": (
            {"drop_image": 5},
            "line 6: image center_2016_12_01_13_30_48_005.jpg not found in",
        ),
        "two columns": ({"n": 2, "rows": ["a.jpg,b.jpg"]}, "line 3: 2 columns, expected 7"),
        "steering not a number": (
            {"n": 2, "rows": ["x.jpg,y.jpg,z.jpg,left,0,0,0"]},
            "line 3: the steering column is 'left', expected a number",
        ),
    },
    (write_sully_chen, "ds", "data.txt"): {
        "image missing": ({"drop_image": 4}, "line 5: image 4.jpg not found in"),
        "one field": (
            {"n": 2, "lines": ["7.jpg"]},
            "line 3: expected '<image>.jpg <angle in degrees>'",
        ),
        "angle not a number": (
            {"n": 2, "lines": ["1.jpg nan"]},
            "line 3: the angle is 'nan', expected a finite number",
        ),
    },
}
for (writer, folder, listing), flaws in RECORDING_FLAWS.items():
    for flaw, (kwargs, expected) in flaws.items():
        BAD[f"{folder} {flaw}"] = (
            lambda d, w=writer, f=folder, k=kwargs: w(d / f, **k),
            f"{listing}: {expected}",
        )


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_naming_the_file(tmp_path, case):
    make, expected = BAD[case]
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        driving.load_path(path, log=quiet)
    message = str(err.value)
    assert "\n" not in message and expected in message, message
    assert str(path) in message


def edit_manifest(tub, **changes):
    manifest = tub / "manifest.json"
    lines = manifest.read_text().splitlines()
    meta = json.loads(lines[4])
    meta.update(changes)
    lines[4] = json.dumps(meta)
    manifest.write_text("\n".join(lines) + "\n")
    return tub


def edit_catalog(tub, **changes):
    catalog = tub / "catalog_0.catalog"
    lines = catalog.read_text().splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), **changes})
    catalog.write_text("\n".join(lines) + "\n")
    return tub


def tub_with_huge_image(folder, width, height):
    huge_png(
        write_tub_v2(folder / "tub", deleted=()) / "images" / "0_cam_image_array_.png",
        width,
        height,
    )
    return folder / "tub"


def huge_png(path, width, height):
    """A PNG file whose header claims width x height pixels (its pixel data is never there)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


def test_bad_data_through_the_script_exits_2_and_writes_no_run_folder(tmp_path, capsys):
    import Chapter_2_2
    from chapter2.run import flags

    bad = truncated(tmp_path, "t.pkl", lambda p: write_pickle(p, (frames(3), angles(3))))
    status = flags.run(Chapter_2_2.main, ["--data", str(bad), "--run-dir", str(tmp_path / "run")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert (
        status == 2
        and lines[-1].startswith("error: ")
        and str(bad) in lines[-1]
        and "truncated" in lines[-1]
    )
    assert not (tmp_path / "run").exists()


# --- which data load() uses, and why ----------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("load() tried to use the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def fake_simulator(monkeypatch):
    from chapter2.standins import lanesim

    monkeypatch.setattr(
        lanesim, "make_dataset", lambda n, seed=0, log=None: (frames(n, seed=seed), angles(n))
    )


def test_without_data_or_a_kept_copy_it_says_the_chapter_set_is_gone_and_simulates(
    tmp_path, no_network, fake_simulator
):
    notes = []
    X, Y, info = driving.load(cache_dir=tmp_path, sim_frames=5, sim_seed=3, log=notes.append)
    assert info["source"] == "simulator" and X.shape == (5, 120, 160, 3) and info["seed"] == 3
    assert "no longer published" in info["why"] and driving.CHAPTER_DATA_REPORT in info["why"]
    assert str(tmp_path / "datasets" / "indoor_lanes.pkl") in info["why"]
    assert len(notes) == 1 and notes[0].startswith("data: the lane SIMULATOR") and "404" in notes[0]
    assert not (tmp_path / "datasets").exists()  # nothing downloaded, nothing created


def test_a_kept_copy_of_indoor_lanes_is_used(tmp_path, no_network):
    kept = tmp_path / "datasets" / "indoor_lanes.pkl"
    kept.parent.mkdir()
    write_pickle(kept, (frames(4), angles(4)), protocol=2)
    notes = []
    X, Y, info = driving.load(cache_dir=tmp_path, log=notes.append)
    assert info["source"] == "indoor_lanes.pkl" and info["path"] == str(kept) and len(X) == 4
    assert "kept in the Keras cache" in info["why"] and "no longer published" in info["why"]
    assert notes == [f"data: the chapter's indoor_lanes.pkl, kept at {kept}: {info['why']}"]


def test_a_damaged_kept_copy_is_one_line_with_what_to_do(tmp_path):
    kept = tmp_path / "datasets" / "indoor_lanes.pkl"
    kept.parent.mkdir()
    kept.write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(InputError, match="move the file away"):
        driving.load(cache_dir=tmp_path, log=quiet)
    assert kept.read_bytes() == b"\x80\x04not a pickle"  # left as it was


def test_data_wins_over_a_kept_copy(tmp_path, no_network):
    kept = tmp_path / "datasets" / "indoor_lanes.pkl"
    kept.parent.mkdir()
    write_pickle(kept, (frames(4), angles(4)))
    rec = write_sully_chen(tmp_path / "ds", n=3)
    X, Y, info = driving.load(str(rec), cache_dir=tmp_path, log=quiet)
    assert info["source"] == "--data" and info["format"] == "sully chen" and len(X) == 3
    assert (
        info["why"] == "given with --data"
        and info["frames"] == 3
        and info["frame_shape"] == [120, 160, 3]
    )

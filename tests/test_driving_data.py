"""The driving data loaders: safe pickles, .npz, Donkey Car tubs, the download cache, bad input."""

import json
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT  # noqa: F401  (importing conftest puts the repository on sys.path)
from chapter2.data import driving
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


def write_tub_v2(path, n=7, deleted=(2, 5), per_catalog=4, broken_line=None, drop_angle=None, drop_image=None):
    """A tub v2 as Donkey Car writes it: five-line manifest.json, catalogs of
    JSON lines, PNG/JPG files in images/."""
    (path / "images").mkdir(parents=True)
    catalogs = []
    for start in range(0, n, per_catalog):
        name = f"catalog_{len(catalogs)}.catalog"
        catalogs.append(name)
        lines = []
        for i in range(start, min(n, start + per_catalog)):
            record = {"_index": i, "_session_id": "s0", "_timestamp_ms": 1000 + i,
                      "cam/image_array": f"{i}_cam_image_array_.png", "user/angle": round(i / 10 - 0.3, 3),
                      "user/throttle": 0.3, "user/mode": "user"}
            if i == drop_angle:
                del record["user/angle"]
            lines.append("{not json" if i == broken_line else json.dumps(record))
            if i != drop_image:
                Image.fromarray(solid(10 * i)).save(path / "images" / record["cam/image_array"])
        (path / name).write_text("\n".join(lines) + "\n")
    manifest = [["cam/image_array", "user/angle", "user/throttle", "user/mode"],
                ["image_array", "float", "float", "str"], {}, {"created_at": 0.0},
                {"paths": catalogs, "current_index": n, "max_len": per_catalog, "deleted_indexes": list(deleted)}]
    (path / "manifest.json").write_text("\n".join(json.dumps(m) for m in manifest) + "\n")
    return path


def write_tub_v1(path, n=5, excluded=(1,), drop_image=None):
    path.mkdir(parents=True)
    (path / "meta.json").write_text(json.dumps({"inputs": ["cam/image_array", "user/angle", "user/throttle"],
                                                "types": ["image_array", "float", "float"]}))
    for i in range(n):
        name = f"{i}_cam-image_array_.png"
        (path / f"record_{i}.json").write_text(json.dumps(
            {"cam/image_array": name, "user/angle": -0.5 + i / 4, "user/throttle": 0.2}))
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


# --- bad input: one line naming the file and the problem -------------------------

def truncated(tmp_path, name, writer):
    path = tmp_path / name
    writer(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD = {
    "missing file": (lambda d: d / "nowhere.pkl", "no such file"),
    "truncated pickle": (lambda d: truncated(d, "t.pkl", lambda p: write_pickle(p, (frames(3), angles(3)))),
                         "truncated"),
    "truncated npz": (lambda d: truncated(d, "t.npz", lambda p: np.savez(p, X=frames(3), Y=angles(3))), "truncated"),
    "npz without Y": (lambda d: (np.savez(d / "noy.npz", X=frames(2)), d / "noy.npz")[1], "expected X"),
    "npz of objects": (lambda d: (np.savez(d / "obj.npz", X=np.array([None, 1], dtype=object), Y=angles(2)),
                                  d / "obj.npz")[1], "object arrays"),
    "lengths differ": (lambda d: write_pickle(d / "len.pkl", (frames(3), angles(2))), "3 frames but 2 angles"),
    "wrong rank": (lambda d: write_pickle(d / "rank.pkl", (frames(3)[..., 0], angles(3))), "expected (N, height"),
    "wrong channels": (lambda d: write_pickle(d / "ch.pkl", (frames(3)[..., :2], angles(3))), "expected (N, height"),
    "nan angle": (lambda d: write_pickle(d / "nan.pkl", (frames(3), np.array([0, np.nan, 0], np.float32))),
                  "not finite"),
    "not arrays": (lambda d: write_pickle(d / "list.pkl", ([1, 2], [3, 4])), "expected a numpy array"),
    "a string": (lambda d: write_pickle(d / "str.pkl", "hello"), "expected a pair"),
    "a folder that is not a tub": (lambda d: (d / "empty").mkdir() or d / "empty", "not a Donkey Car tub"),
    "tub image missing": (lambda d: write_tub_v2(d / "tub", drop_image=3), "missing"),
    "tub malformed line": (lambda d: write_tub_v2(d / "tub", broken_line=4), "malformed catalog line"),
    "tub without user/angle": (lambda d: write_tub_v2(d / "tub", drop_angle=1), "no user/angle"),
    "tub v1 image missing": (lambda d: write_tub_v1(d / "tub", drop_image=2), "missing"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_naming_the_file(tmp_path, case):
    make, expected = BAD[case]
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        driving.load_path(path, log=quiet)
    message = str(err.value)
    assert "\n" not in message and expected in message
    assert path.name in message


# --- the chapter's download, into a cache ----------------------------------------

def test_download_is_cached_checked_and_reused(tmp_path):
    source = write_pickle(tmp_path / "served.pkl", (frames(3), angles(3)))
    cache = tmp_path / "keras"
    x, y, info = driving.download(source.as_uri(), cache, log=quiet)
    cached = cache / "datasets" / driving.FILE_NAME
    assert cached.is_file() and not (cache / "datasets" / (driving.FILE_NAME + ".part")).exists()
    assert info["source"] == driving.FILE_NAME and x.shape == (3, 120, 160, 3)
    source.unlink()  # a second run must not need the network
    notes = []
    x2, _, _ = driving.download(source.as_uri(), cache, log=notes.append)
    assert np.array_equal(x, x2) and any("cached" in n for n in notes)


def test_a_bad_download_leaves_nothing_in_the_cache(tmp_path):
    served = tmp_path / "page.html"
    served.write_text("<html>Access denied</html>")
    cache = tmp_path / "keras"
    with pytest.raises(InputError):
        driving.download(served.as_uri(), cache, log=quiet)
    assert list((cache / "datasets").iterdir()) == []


def test_no_network_falls_back_to_the_simulator(tmp_path, monkeypatch):
    from chapter2.standins import lanesim

    monkeypatch.setattr(lanesim, "make_dataset", lambda n, seed=0: (frames(n, seed=seed), angles(n)))
    notes = []
    X, Y, info = driving.load(url="http://127.0.0.1:9/indoor_lanes.pkl", cache_dir=tmp_path, sim_frames=5,
                              log=notes.append)
    assert info["source"] == "simulator" and X.shape == (5, 120, 160, 3)
    assert any("could not download" in n for n in notes) and any("SIMULATOR" in n for n in notes)
    assert not any((tmp_path / "datasets").glob("*"))


def test_bad_data_through_the_script_exits_2_and_writes_no_run_folder(tmp_path, capsys):
    import Chapter_2_2
    from chapter2.run import flags

    bad = truncated(tmp_path, "t.pkl", lambda p: write_pickle(p, (frames(3), angles(3))))
    status = flags.run(Chapter_2_2.main, ["--data", str(bad), "--run-dir", str(tmp_path / "run")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and lines[-1].startswith("error: ") and str(bad) in lines[-1] and "truncated" in lines[-1]
    assert not (tmp_path / "run").exists()

"""The data loaders against hostile input: names too long for the file system,
files that claim more memory than there is, frames of other integer types,
odd line breaks, pipes, link loops, crafted pickles. Every case ends in one
InputError line naming the file, or loads what it should; none in a traceback."""

import gzip
import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ROOT  # importing conftest also puts the repository on sys.path
from PIL import Image

from chapter2.data import driving, memory, mnist
from chapter2.run.errors import InputError

LONG = "n" * 300  # one path component longer than the 255 bytes Linux allows


def quiet(*args):
    pass


def one_line(call, *words):
    """The InputError message `call` raises, checked to be one line holding `words`."""
    with pytest.raises(InputError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and "\r" not in message and "\x00" not in message, repr(message)
    for word in words:
        assert word in message, message
    return message


def image(path, value=90, h=120, w=160):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)
    return path


@pytest.fixture
def alarm():
    """Fail a test that blocks (reading a pipe) instead of hanging the suite."""

    def ring(*args):
        raise TimeoutError("the loader blocked")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- names too long for the file system -------------------------------------------------


def test_data_path_with_a_component_too_long(tmp_path):
    for data in (tmp_path / LONG, tmp_path / LONG / "rec.npz"):
        one_line(
            lambda d=data: driving.load_path(d, log=quiet), f"--data {data}", "File name too long"
        )
        one_line(lambda d=data: mnist.load_local(d), str(data), "File name too long")


def write_recording(kind, folder, name):
    """A one-frame recording of `kind` whose only record names the image `name`."""
    folder.mkdir(parents=True)
    if kind == "udacity":
        (folder / "driving_log.csv").write_text(f"{name},,,0.1,0.5,0,30\n")
        return folder, folder / "driving_log.csv"
    if kind == "sully chen":
        (folder / "data.txt").write_text(f"{name} 12.5\n")
        return folder, folder / "data.txt"
    if kind == "tub v2":
        (folder / "images").mkdir()
        (folder / "manifest.json").write_text(json.dumps({"paths": ["catalog_0.catalog"]}) + "\n")
        (folder / "catalog_0.catalog").write_text(
            json.dumps({"cam/image_array": name, "user/angle": 0.1}) + "\n"
        )
        return folder, folder / "catalog_0.catalog"
    (folder / "record_0.json").write_text(json.dumps({"cam/image_array": name, "user/angle": 0.1}))
    return folder, folder / "record_0.json"


@pytest.mark.parametrize("kind", ["udacity", "sully chen", "tub v2", "tub v1"])
def test_an_image_name_too_long_in_a_record_is_one_line_at_its_line(tmp_path, kind):
    folder, record = write_recording(kind, tmp_path / "rec", LONG + ".jpg")
    message = one_line(
        lambda: driving.load_path(folder, log=quiet),
        str(record),
        "File name too long",
        "nnnnnnnnnnnn.jpg (304 characters)",
    )
    assert kind.startswith("tub v1") or f"{record}: line 1:" in message


def test_a_tub_catalog_name_too_long(tmp_path):
    tub = tmp_path / "tub"
    tub.mkdir()
    (tub / "manifest.json").write_text(json.dumps({"paths": [LONG]}) + "\n")
    one_line(
        lambda: driving.load_path(tub, log=quiet),
        str(tub / "manifest.json"),
        "the catalog",
        "File name too long",
    )


# --- Udacity CSV: field size, blank first line, carriage returns, names on two lines ------


def test_a_csv_field_over_the_csv_module_limit(tmp_path):
    (tmp_path / "driving_log.csv").write_text(
        "center,left,right,steering\n" + "x" * 200_000 + ",,,0.2\n"
    )
    one_line(
        lambda: driving.load_path(tmp_path, log=quiet),
        "driving_log.csv: line 2:",
        "a field longer than 131,072 characters",
    )


def test_a_blank_first_line_before_the_header(tmp_path):
    image(tmp_path / "IMG" / "c0.jpg", 40)
    image(tmp_path / "IMG" / "c1.jpg", 80)
    (tmp_path / "driving_log.csv").write_text(
        "\n center,left,right,steering,throttle,brake,speed\n"
        "IMG/c0.jpg,,,0.25,0.5,0,30\nIMG/c1.jpg,,,-0.5,0.5,0,30\n"
    )
    X, Y, info = driving.load_path(tmp_path, log=quiet)
    assert info["header"] is True and Y.tolist() == [0.25, -0.5] and X.shape == (2, 120, 160, 3)


def test_a_carriage_return_inside_a_field_ends_the_row_on_the_same_line(tmp_path):
    (tmp_path / "driving_log.csv").write_text("IMG/a\r.jpg,,,0.1\n", newline="")
    one_line(
        lambda: driving.load_path(tmp_path, log=quiet),
        "driving_log.csv: line 1: 1 columns, expected 7",
    )


def test_an_image_name_with_a_line_break_or_a_nul_is_shown_escaped(tmp_path):
    (tmp_path / "driving_log.csv").write_text('"IMG/two\nlines.jpg",,,0.1\nIMG/nul\x00.jpg,,,0.2\n')
    message = one_line(
        lambda: driving.load_path(tmp_path, log=quiet), "line 2: image two\\nlines.jpg not found"
    )
    (tmp_path / "driving_log.csv").write_text("IMG/nul\x00.jpg,,,0.2\n")
    message = one_line(
        lambda: driving.load_path(tmp_path, log=quiet), "image nul\\x00.jpg not found"
    )
    assert message


# --- line breaks: \n (and \r\n) only --------------------------------------------------------


def test_sully_chen_counts_only_newlines_as_line_breaks(tmp_path):
    image(tmp_path / "0.jpg")
    image(tmp_path / "1.jpg")
    (tmp_path / "data.txt").write_text(
        "0.jpg 10\f\u2028\v\r\n1.jpg 20\x85\n2.jpg left\n", newline=""
    )
    one_line(
        lambda: driving.load_path(tmp_path, log=quiet), "data.txt: line 3: the angle is 'left'"
    )
    (tmp_path / "data.txt").write_text("0.jpg 10\f\u2028\v\r\n1.jpg -20\x85\n", newline="")
    _, Y, _ = driving.load_path(tmp_path, log=quiet)
    assert np.allclose(Y, [10 / 180, -20 / 180])


def test_a_tub_catalog_string_holding_u2028_is_one_record(tmp_path):
    tub = tmp_path / "tub"
    image(tub / "images" / "0.jpg")
    (tub / "manifest.json").write_text(json.dumps({"paths": ["c.catalog"]}) + "\n")
    record = {"cam/image_array": "0.jpg", "user/angle": 0.5, "user/mode": "user\u2028pilot"}
    (tub / "c.catalog").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    _, Y, _ = driving.load_path(tub, log=quiet)
    assert Y.tolist() == [0.5]


# --- what a file claims, checked against memory before anything is allocated -----------------


def npz_claiming(path, shape, arrays=None, data=b"\0" * 16):
    """An .npz whose X.npy header claims `shape` of uint8 (`data` after it), plus `arrays`."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header.getvalue() + data)
        for name, array in (arrays or {}).items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return path


@pytest.fixture
def eight_gb(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 8_000_000_000)


def test_an_npz_header_claiming_536_gib_is_refused_before_allocating(tmp_path, eight_gb):
    path = npz_claiming(tmp_path / "d.npz", (10**7, 120, 160, 3), {"Y": np.zeros(3, np.float32)})
    one_line(
        lambda: driving.load_path(path, log=quiet),
        f"{path}: array X (shape (10000000, 120, 160, 3), uint8)",
        "needs about 576.0 GB of memory; 8.0 GB is available",
    )


def test_an_npz_header_claiming_more_than_the_archive_holds(tmp_path, eight_gb):
    path = npz_claiming(tmp_path / "d.npz", (1000, 120, 160, 3), {"Y": np.zeros(1000, np.float32)})
    one_line(
        lambda: driving.load_path(path, log=quiet),
        "array X",
        "claims 57,600,000 bytes but the archive holds 16",
    )


def test_an_mnist_npz_claiming_too_much_memory(tmp_path, eight_gb):
    path = tmp_path / "mnist.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)}
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", header.getvalue())
    one_line(lambda: mnist.load_local(path), str(path), "array x_train", "784.0 GB of memory")


def test_a_gzipped_idx_header_claiming_more_than_memory(tmp_path, eight_gb):
    """A gzip stream can expand far beyond its file: the header's count is checked first."""
    folder = tmp_path / "idx"
    folder.mkdir()
    header = (2051).to_bytes(4, "big") + b"".join(
        n.to_bytes(4, "big") for n in (20_000_000, 28, 28)
    )
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(784)))
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(b"")
    one_line(
        lambda: mnist.load_local(folder),
        str(path),
        "20,000,000 images",
        "needs about 15.7 GB of memory; 8.0 GB is available",
    )


def test_a_catalog_of_more_frames_than_memory_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 100_000)
    folder, _ = write_recording("sully chen", tmp_path / "rec", "0.jpg")
    image(folder / "0.jpg")
    with (folder / "data.txt").open("a") as fh:
        fh.write("0.jpg 1\n" * 4)
    one_line(
        lambda: driving.load_path(folder, log=quiet),
        "5 camera images as 120x160 frames",
        "needs about 288.0 kB of memory; 100.0 kB is available",
    )


def test_a_text_record_larger_than_memory(tmp_path, monkeypatch):
    folder, record = write_recording("udacity", tmp_path / "rec", "a.jpg")
    monkeypatch.setattr(memory, "available_memory", lambda: 100)
    one_line(lambda: driving.load_path(folder, log=quiet), str(record), "needs about")


def test_require_memory_refuses_beyond_80_percent(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 10_000_000_000)
    memory.require_memory(7_900_000_000, "this")
    with pytest.raises(
        InputError, match="^that needs about 8.1 GB of memory; 10.0 GB is available$"
    ):
        memory.require_memory(8_100_000_000, "that")


def test_available_memory_reads_the_machine():
    assert 0 < memory.available_memory() < 2**50


# --- frames of other types: scaled, never clipped ----------------------------------------------


def load_frames(tmp_path, X):
    path = tmp_path / "f.npz"
    np.savez(path, X=X, Y=np.zeros(len(X), np.float32))
    notes = []
    x, _, _ = driving.load_path(path, log=notes.append)
    return x, notes


def ramp(dtype, top):
    X = np.zeros((2, 120, 160, 3), dtype)
    X[0] = top // 4
    X[1] = top
    return X


def test_uint16_frames_are_scaled_by_their_range(tmp_path):
    x, notes = load_frames(tmp_path, ramp(np.uint16, 65535))
    assert x[0].max() == round(65535 // 4 * 255 / 65535) == 64 and x[1].min() == 255
    assert len(notes) == 1 and "uint16 scaled from the type's range 0-65535 to 0-255" in notes[0]


def test_int64_frames_beyond_255_are_scaled_by_their_largest_value(tmp_path):
    x, notes = load_frames(tmp_path, ramp(np.int64, 4000))
    assert x[0].max() == 64 and x[1].min() == 255
    assert "int64 with values up to 4000, scaled by that largest value" in notes[0]


def test_int64_frames_of_8_bit_values_are_kept(tmp_path):
    x, notes = load_frames(tmp_path, ramp(np.int64, 200))
    assert x[0].max() == 50 and x[1].min() == 200 and "values 0-255, kept as they are" in notes[0]


def test_bool_frames_become_0_and_255(tmp_path):
    x, _ = load_frames(tmp_path, ramp(np.bool_, 1))
    assert x[0].max() == 0 and x[1].min() == 255


@pytest.mark.parametrize(
    "X, words",
    [
        (ramp(np.uint16, 255), "uint16 but every value is 0-255"),
        (
            np.concatenate([ramp(np.int32, 255), -ramp(np.int32, 4)]),
            "int32 from -4 to 255; negative pixel values",
        ),
        (ramp(np.float32, 300.0), "float32 from 75 to 300; expected 0-1 or 0-255"),
        (ramp(np.float32, 1.0) - 0.5, "float32 from -0.5 to 0.5"),
    ],
)
def test_frames_no_scale_fits_are_refused(tmp_path, X, words):
    one_line(lambda: load_frames(tmp_path, X), "f.npz: frames X are", words)


@pytest.mark.parametrize(
    "pixels, mode, expected",
    [
        (np.full((60, 80), 32768, np.uint16), None, 128),  # 16-bit PNG: I;16, scaled by 65535
        (np.full((60, 80), 200, np.int32), "I", 200),  # 32-bit integers 0-255: as they are
        (np.full((60, 80), 0.5, np.float32), "F", 128),  # floating point in [0, 1]: times 255
    ],
)
def test_16_bit_and_float_images_in_a_recording_are_scaled_not_clipped(
    tmp_path, pixels, mode, expected
):
    folder, _ = write_recording(
        "sully chen", tmp_path / "rec", "0.png" if mode is None else "0.tiff"
    )
    Image.fromarray(pixels, mode).save(folder / ("0.png" if mode is None else "0.tiff"))
    X, _, _ = driving.load_path(folder, log=quiet)
    assert X.shape == (1, 120, 160, 3) and X.min() == X.max() == expected


def test_an_image_of_negative_pixels_is_refused(tmp_path):
    folder, _ = write_recording("sully chen", tmp_path / "rec", "0.tiff")
    Image.fromarray(np.full((60, 80), -3.0, np.float32), "F").save(folder / "0.tiff")
    one_line(lambda: driving.load_path(folder, log=quiet), "0.tiff: pixels of mode F from -3 to -3")


# --- pickles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"\x80\x04P0\n.", b"\x80\x04\x8c\x01xQ."], ids=["PERSID", "BINPERSID"]
)
def test_a_persistent_id_is_refused_in_one_line(tmp_path, data):
    path = tmp_path / "p.pkl"
    path.write_bytes(data)
    one_line(lambda: driving.load_path(path, log=quiet), str(path), "refused", "persistent id")


def test_an_array_of_python_objects_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "o.pkl"
    path.write_bytes(
        pickle.dumps((np.array([1, "x", None], object), np.zeros(3, np.float32)), protocol=2)
    )
    one_line(lambda: driving.load_path(path, log=quiet), "refused", "an array of Python objects")


def test_an_array_larger_than_the_pickle_is_refused(tmp_path):
    path = tmp_path / "big.pkl"  # numpy.ndarray((2**32,), "u1"): 4 GB from a 35-byte file
    path.write_bytes(
        b"\x80\x02cnumpy\nndarray\n\x8a\x05\x00\x00\x00\x00\x01\x85X\x02\x00\x00\x00u1\x86R."
    )
    one_line(
        lambda: driving.load_path(path, log=quiet),
        "refused",
        "shape [4294967296] (4,294,967,296 bytes)",
        "larger than the whole file (35 bytes)",
    )


def test_a_frame_longer_than_the_pickle_is_refused(tmp_path):
    path = tmp_path / "f.pkl"
    path.write_bytes(b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N.")
    one_line(
        lambda: driving.load_path(path, log=quiet), "refused", "a frame of 1,099,511,627,776 bytes"
    )


CRASHERS = {
    # LONG_BINPUT 4294967280: a memo index the C unpickler allocates and fills 34 GB for
    "memo index": b"\x80\x02K\x01r" + struct.pack("<I", 0xFFFFFFF0) + b".",
    # an object array whose pickled list is shorter than its shape: numpy's __setstate__ crashes
    "object array": pickle.dumps((np.array([1, "x", None], object), 1), protocol=2).replace(
        b"K\x03\x85", b"K\n\x85"
    ),
}


@pytest.mark.parametrize("case", sorted(CRASHERS))
def test_pickles_that_crash_or_exhaust_other_unpicklers(tmp_path, case):
    """In a child process with 3 GB of address space: a crash or a 34 GB memo cannot harm
    the suite."""
    path = tmp_path / "c.pkl"
    path.write_bytes(CRASHERS[case])
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
        "from chapter2.data import driving; from chapter2.run.errors import InputError\n"
        "try:\n    driving.load_path(sys.argv[1], log=print)\n"
        "except InputError as err:\n    print(err)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # one BLAS thread: a many-core machine's per-thread buffers stay well inside the limit
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0 and done.stderr == "", (done.returncode, done.stderr[-500:])
    out = done.stdout.strip()
    assert "\n" not in out and str(path) in out and "MemoryError" not in out, out


def test_the_unpickler_is_the_pure_python_one():
    # Its memo is a dict (see the comment above ArrayUnpickler): a named private class of the
    # standard library, checked here so that a Python without it fails this test, not a user.
    from chapter2.data.array_files import ArrayUnpickler

    assert ArrayUnpickler.__mro__[1] is pickle._Unpickler


# --- pipes, link loops, folders, empty files -----------------------------------------------


def test_a_pipe_as_data_is_refused_without_blocking(tmp_path, alarm):
    fifo = tmp_path / "d.pkl"
    os.mkfifo(fifo)
    one_line(
        lambda: driving.load_path(fifo, log=quiet), f"--data {fifo}: neither a file nor a folder"
    )
    one_line(lambda: mnist.load_local(fifo), str(fifo), "neither a file nor a folder")


def test_a_pipe_as_a_tub_record_is_refused_without_blocking(tmp_path, alarm):
    tub = tmp_path / "tub"
    tub.mkdir()
    os.mkfifo(tub / "record_0.json")
    one_line(
        lambda: driving.load_path(tub, log=quiet),
        "record_0.json: the tub record is not a regular file",
    )


def test_a_symbolic_link_loop(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    one_line(lambda: driving.load_path(loop, log=quiet), f"--data {loop}", "symbolic links")
    one_line(lambda: mnist.load_local(loop), str(loop), "symbolic links")


def test_an_empty_pickle(tmp_path):
    path = tmp_path / "e.pkl"
    path.write_bytes(b"")
    one_line(lambda: driving.load_path(path, log=quiet), f"{path}: an empty file")


@pytest.mark.parametrize(
    "text, words",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"cam/image_array": "a.jpg", "user/angle": ' + "9" * 5000 + "}", "4300 digits"),
    ],
)
def test_catalog_lines_json_cannot_parse(tmp_path, text, words):
    tub = tmp_path / "tub"
    tub.mkdir()
    (tub / "manifest.json").write_text(json.dumps({"paths": ["c.catalog"]}) + "\n")
    (tub / "c.catalog").write_text(text + "\n")
    one_line(
        lambda: driving.load_path(tub, log=quiet),
        "c.catalog: line 1: malformed catalog line",
        words,
    )


def test_offline_is_no_longer_a_parameter_of_load():
    import inspect

    assert "offline" not in inspect.signature(driving.load).parameters

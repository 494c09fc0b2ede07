"""The MNIST loaders (npz, IDX, plain and gzipped) and the generated stand-in digits."""

import gzip
import zipfile

import numpy as np
import pytest

from chapter2.data import mnist
from chapter2.run.errors import InputError
from chapter2.standins import digits

N_TRAIN, N_TEST = 12, 5


def fake_mnist(seed=0):
    """Small arrays in MNIST's layout with known content."""
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8)
    y_train = (np.arange(N_TRAIN) % 10).astype(np.uint8)
    x_test = rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8)
    y_test = (np.arange(N_TEST)[::-1] % 10).astype(np.uint8)
    return x_train, y_train, x_test, y_test


def idx_bytes(array, magic=None, count=None):
    """An IDX file's bytes (images if 3-D, labels if 1-D)."""
    if magic is None:
        magic = 2051 if array.ndim == 3 else 2049
    dims = list(array.shape)
    if count is not None:
        dims[0] = count
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + array.astype(np.uint8).tobytes()


NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def write_idx_folder(folder, arrays, gz=False, dotted=False):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, array in zip(NAMES, arrays):
        if dotted:
            name = name.replace("-idx", ".idx")
        data = idx_bytes(array)
        path = folder / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
        paths.append(path)
    return paths


def assert_same(d, arrays):
    for got, want in zip((d.x_train, d.y_train, d.x_test, d.y_test), arrays):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


# --- loaders on good files ------------------------------------------------------


def test_npz_in_keras_layout_loads(tmp_path):
    arrays = fake_mnist()
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, **dict(zip(mnist.NPZ_KEYS, arrays)))
    d = mnist.load_local(path)
    assert_same(d, arrays)
    assert d.name == "MNIST" and d.source == f"local:{path}"
    # load(data=...) takes the local copy, not the download.
    assert mnist.load(path).source == f"local:{path}"


def test_npz_with_flat_images_and_int64_labels_loads(tmp_path):
    x_train, y_train, x_test, y_test = fake_mnist()
    path = tmp_path / "flat.npz"
    np.savez(
        path,
        x_train=x_train.reshape(N_TRAIN, 784),
        y_train=y_train.astype(np.int64),
        x_test=x_test[..., None],
        y_test=y_test.astype(np.int64),
    )
    assert_same(mnist.load_local(path), (x_train, y_train, x_test, y_test))


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (False, True)])
def test_idx_folder_loads(tmp_path, gz, dotted):
    arrays = fake_mnist(1)
    write_idx_folder(tmp_path / "idx", arrays, gz=gz, dotted=dotted)
    d = mnist.load_local(tmp_path / "idx")
    assert_same(d, arrays)
    assert d.source == f"local:{tmp_path / 'idx'}"


# --- loaders on bad files: one InputError naming the file -----------------------


def rejects(path, *words, named=None):
    with pytest.raises(InputError) as info:
        mnist.load_local(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(named or path) in message, message
    for word in words:
        assert word in message, message
    return message


def test_missing_path(tmp_path):
    rejects(tmp_path / "nowhere.npz", "no such file")


def test_not_a_zip(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not an npz archive")
    rejects(path, "not an .npz")


def test_npz_missing_keys(tmp_path):
    x_train, y_train, _, _ = fake_mnist()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train)
    rejects(path, "x_test", "y_test", "missing")


def test_npz_with_pickled_objects_is_not_unpickled(tmp_path):
    arrays = dict(zip(mnist.NPZ_KEYS, fake_mnist()))
    arrays["y_test"] = np.array([{"label": 1}] * N_TEST, dtype=object)
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    rejects(path, "damaged or unreadable")


def test_npz_truncated(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, **dict(zip(mnist.NPZ_KEYS, fake_mnist())))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    rejects(path)


def test_npz_corrupt_member(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, **dict(zip(mnist.NPZ_KEYS, fake_mnist())))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("x_train.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 10, start + 60):  # scramble the compressed stream
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    rejects(path, "damaged or unreadable")


@pytest.mark.parametrize(
    "change,words",
    [
        (lambda a: {**a, "x_train": a["x_train"][:, :20, :20]}, ("x_train", "(N, 28, 28)")),
        (lambda a: {**a, "y_test": a["y_test"][:-1]}, ("x_test", "y_test", "same count")),
        (
            lambda a: {**a, "x_test": a["x_test"].astype(np.float32) / 255},
            ("x_test", "dtype float32"),
        ),
        (lambda a: {**a, "y_train": a["y_train"].astype(np.int64) + 5}, ("y_train", "labels 0-9")),
        (lambda a: {**a, "y_train": a["y_train"].reshape(-1, 1)[:, [0, 0]]}, ("y_train", "(N,)")),
    ],
    ids=["shape", "counts", "dtype", "label-range", "label-shape"],
)
def test_npz_wrong_arrays(tmp_path, change, words):
    path = tmp_path / "mnist.npz"
    np.savez(path, **change(dict(zip(mnist.NPZ_KEYS, fake_mnist()))))
    rejects(path, *words)


def damage_truncate(data):
    return data[:-100]


def damage_extra(data):
    return data + b"\0" * 784


def damage_magic(data):
    return (2049).to_bytes(4, "big") + data[4:]


def damage_header(data):
    return data[:10]


def damage_size(data):
    return data[:8] + (20).to_bytes(4, "big") + (20).to_bytes(4, "big") + data[16:]


@pytest.mark.parametrize(
    "damage,words",
    [
        (damage_truncate, ("truncated", "header says")),
        (damage_extra, ("more data",)),
        (damage_magic, ("bad magic number 2049", "expected 2051")),
        (damage_header, ("truncated", "header")),
        (damage_size, ("20x20", "expected 28x28")),
    ],
    ids=["truncated", "trailing-bytes", "bad-magic", "short-header", "not-28x28"],
)
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_idx_damaged_images_file(tmp_path, damage, words, gz):
    paths = write_idx_folder(tmp_path / "idx", fake_mnist(), gz=gz)
    target = paths[0]  # train images
    data = idx_bytes(fake_mnist()[0])
    damaged = damage(data)
    target.write_bytes(gzip.compress(damaged) if gz else damaged)
    rejects(tmp_path / "idx", *words, named=target)


def test_idx_labels_bad_magic(tmp_path):
    paths = write_idx_folder(tmp_path / "idx", fake_mnist())
    paths[3].write_bytes(idx_bytes(fake_mnist()[3], magic=2051))
    rejects(tmp_path / "idx", "bad magic number 2051", "expected 2049", named=paths[3])


def test_idx_label_count_differs_from_images(tmp_path):
    x_train, y_train, x_test, y_test = fake_mnist()
    paths = write_idx_folder(tmp_path / "idx", (x_train, y_train[:-2], x_test, y_test))
    rejects(tmp_path / "idx", f"{N_TRAIN - 2} labels", f"{N_TRAIN} images", named=paths[1])


def test_idx_header_count_larger_than_data(tmp_path):
    paths = write_idx_folder(tmp_path / "idx", fake_mnist())
    paths[1].write_bytes(idx_bytes(fake_mnist()[1], count=10**9))
    rejects(tmp_path / "idx", "truncated", "1000000000", named=paths[1])


def test_idx_corrupt_gzip(tmp_path):
    paths = write_idx_folder(tmp_path / "idx", fake_mnist(), gz=True)
    data = bytearray(paths[2].read_bytes())
    data[20:40] = bytes(b ^ 0xFF for b in data[20:40])
    paths[2].write_bytes(bytes(data))
    rejects(tmp_path / "idx", "corrupt gzip", named=paths[2])


def test_idx_gzip_that_is_not_gzip(tmp_path):
    paths = write_idx_folder(tmp_path / "idx", fake_mnist(), gz=True)
    paths[0].write_bytes(idx_bytes(fake_mnist()[0]))  # plain bytes under a .gz name
    rejects(tmp_path / "idx", "corrupt gzip", named=paths[0])


def test_idx_truncated_gzip_stream(tmp_path):
    paths = write_idx_folder(tmp_path / "idx", fake_mnist(), gz=True)
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[: len(data) - 30])
    rejects(tmp_path / "idx", "corrupt gzip", named=paths[0])


def test_idx_missing_file(tmp_path):
    paths = write_idx_folder(tmp_path / "idx", fake_mnist())
    paths[2].unlink()
    rejects(tmp_path / "idx", "not found", "t10k-images-idx3-ubyte", named=tmp_path / "idx")


def test_empty_folder(tmp_path):
    rejects(tmp_path, "not found", "train-images-idx3-ubyte")


# --- load(): the order of sources -------------------------------------------------


def test_load_offline_gives_synthetic(capsys):
    d = mnist.load(offline=True, seed=3, sizes=(2048, 512))
    assert d.source == "synthetic" and d.name == "synthetic digits"
    assert (len(d.x_train), len(d.x_test)) == (2048, 512)
    assert d.x_train.shape[1:] == (28, 28) and d.x_train.dtype == np.uint8
    assert "not MNIST" in d.note
    out = capsys.readouterr().out
    assert "--data" in out and "mnist.npz" in out


def test_load_falls_back_when_download_fails(monkeypatch, capsys):
    def no_network():
        raise OSError("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(mnist, "_download", no_network)
    d = mnist.load(seed=3, sizes=(2048, 512))
    assert d.source == "synthetic"
    assert "Name or service not known" in d.note
    out = capsys.readouterr().out
    assert "Name or service not known" in out and "--data" in out
    # Same seed, same stand-in, whichever way it was reached.
    np.testing.assert_array_equal(
        d.x_test, mnist.load(offline=True, seed=3, sizes=(2048, 512)).x_test
    )


def test_load_uses_keras_when_download_works(monkeypatch):
    arrays = fake_mnist()
    monkeypatch.setattr(mnist, "_download", lambda: (arrays[:2], arrays[2:]))
    d = mnist.load(sizes=(2048, 512))  # real data: the first digits of each set
    assert d.source == "keras" and d.name == "MNIST"
    assert_same(d, arrays)


# --- the generated digits ----------------------------------------------------------


def test_synthetic_shapes_dtype_range_and_classes():
    x, y = digits.synthetic_digits(300, seed=0)
    assert x.shape == (300, 28, 28) and x.dtype == np.uint8
    assert y.shape == (300,) and y.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))
    assert np.bincount(y, minlength=10).min() == 30  # balanced
    # White strokes on black: a dark background, bright anti-aliased ink.
    assert (x[:, 0, :] == 0).all() and (x[:, :, -1] == 0).all()
    assert x.max(axis=(1, 2)).min() >= 200  # every image has ink
    ink = (x > 0).mean(axis=(1, 2))
    assert 0.05 < ink.min() and ink.max() < 0.45
    mid = ((x > 0) & (x < 255)).sum() / (x > 0).sum()  # soft edges, not a binary font
    assert mid > 0.2
    # Centred like MNIST: the ink's centre of mass near the middle.
    rows = (x.sum(axis=2) * np.arange(28)).sum(1) / x.sum(axis=(1, 2))
    cols = (x.sum(axis=1) * np.arange(28)).sum(1) / x.sum(axis=(1, 2))
    assert abs(rows.mean() - 13.5) < 1 and abs(cols.mean() - 13.5) < 1


def test_synthetic_is_deterministic_per_seed():
    a = digits.synthetic_digits(50, seed=11)
    b = digits.synthetic_digits(50, seed=11)
    c = digits.synthetic_digits(50, seed=12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_synthetic_mnist_splits_differ_and_classes_are_learnable():
    (x_train, y_train), (x_test, y_test) = digits.synthetic_mnist(seed=5, n_train=2000, n_test=500)
    assert x_train.shape == (2000, 28, 28) and x_test.shape == (500, 28, 28)
    assert not np.array_equal(x_train[:500], x_test)
    # Each class has its own look: a nearest-class-mean classifier, far from
    # perfect on real handwriting, still beats chance (10%) by a wide margin.
    f_train = x_train.reshape(len(x_train), -1).astype(np.float32) / 255
    f_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 255
    means = np.stack([f_train[y_train == c].mean(0) for c in range(10)])
    dist = ((f_test[:, None, :] - means[None]) ** 2).sum(-1)
    accuracy = (dist.argmin(1) == y_test).mean()
    assert accuracy > 0.6, accuracy

"""scratchnet.data: reading MNIST (.npz and IDX), refusing broken files, finding and downloading it.

Nothing here touches the internet: downloads come from an http.server on 127.0.0.1.
"""

import ctypes
import gzip
import hashlib
import io
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from crafted import deflated_zeros, npy_header, raw_zip
from scratchnet import cengine, data
from scratchnet.errors import ScratchnetError

REPO_MNIST = Path(__file__).resolve().parents[1] / "data" / "mnist"  # the original IDX .gz files
FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist

# checked facts about MNIST: the class counts and the first labels of LeCun's files
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FIRST_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def fails(path, *fragments, load=data.load_dataset):
    """load(path) raises a one-line ScratchnetError naming the file and containing each fragment."""
    with pytest.raises(ScratchnetError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert Path(path).name in message
    for fragment in fragments:
        assert fragment in message
    return message


# -----------------------------------------------------------------------------
# small synthetic data, so the broken-file tests run in milliseconds

def idx_bytes(a: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def tiny() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x_train": rng.integers(0, 256, (6, 4, 4), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 6, dtype=np.uint8),
            "x_test": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 3, dtype=np.uint8)}


def write_idx_dir(folder: Path, arrays: dict, gz: bool = True) -> Path:
    folder.mkdir(exist_ok=True)
    for name, a in zip(data.IDX_NAMES, arrays.values()):
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(idx_bytes(a)))
        else:
            (folder / name).write_bytes(idx_bytes(a))
    return folder


def write_npz(path: Path, drop: str | None = None, **changes) -> Path:
    arrays = tiny() | changes
    arrays.pop(drop, None)
    np.savez(path, **arrays)
    return path


# -----------------------------------------------------------------------------
# the real data

@pytest.fixture(scope="module")
def mnist() -> data.Dataset:
    return data.load_dataset(REPO_MNIST)


def assert_same(a: data.Dataset, b: data.Dataset):
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_real_data_matches_the_readme(mnist):
    assert mnist.source == str(REPO_MNIST)
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.test_images.shape == (10000, 28, 28)
    assert all(a.dtype == np.uint8 for a in (mnist.train_images, mnist.train_labels,
                                              mnist.test_images, mnist.test_labels))
    assert mnist.n_inputs == 784
    assert np.bincount(mnist.train_labels).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.test_labels).tolist() == TEST_COUNTS
    assert mnist.train_labels[:10].tolist() == FIRST_LABELS


def test_the_shipped_files_match_their_checksums():
    sums = dict(reversed(line.split()) for line in (REPO_MNIST / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == sorted(name + ".gz" for name in data.IDX_NAMES)
    for name, digest in sums.items():
        assert hashlib.sha256((REPO_MNIST / name).read_bytes()).hexdigest() == digest, name


def test_real_data_as_keras_npz_reads_the_same(tmp_path, mnist):
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, x_train=mnist.train_images, y_train=mnist.train_labels,
                        x_test=mnist.test_images, y_test=mnist.test_labels)
    assert_same(data.load_dataset(path), mnist)


def test_raw_idx_files_and_kaggle_names(tmp_path, mnist):
    for name in data.IDX_NAMES:
        # the labels under Kaggle's spelling "train-labels.idx1-ubyte", the images under the standard one
        target = name.replace("-idx1", ".idx1")
        (tmp_path / target).write_bytes(gzip.decompress((REPO_MNIST / (name + ".gz")).read_bytes()))
    assert_same(data.load_dataset(tmp_path), mnist)


@pytest.mark.skipif(not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist to run this")
def test_fashion_mnist_from_debian():
    fashion = data.load_dataset(FASHION)
    assert fashion.train_images.shape == (60000, 28, 28) and fashion.test_images.shape == (10000, 28, 28)
    assert np.bincount(fashion.train_labels).tolist() == [6000] * 10
    assert np.bincount(fashion.test_labels).tolist() == [1000] * 10
    assert fashion.train_labels[:4].tolist() == [9, 0, 0, 3]  # ankle boot, T-shirt, T-shirt, dress


# -----------------------------------------------------------------------------
# IDX files

def test_read_idx_images_and_labels(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(a))
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(a[0, 0])))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a"), a)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "b.gz"), a[0, 0])
    assert data.read_idx(tmp_path / "a").flags.writeable


def test_tiny_idx_dir_round_trips(tmp_path):
    arrays = tiny()
    ds = data.load_dataset(write_idx_dir(tmp_path / "gz", arrays))
    raw = data.load_dataset(write_idx_dir(tmp_path / "raw", arrays, gz=False))
    for got in (ds, raw):
        np.testing.assert_array_equal(got.train_images, arrays["x_train"])
        np.testing.assert_array_equal(got.test_labels, arrays["y_test"])
    assert ds.n_inputs == 16


@pytest.mark.parametrize("damage, fragment", [
    (lambda raw: raw[:-5], "truncated"),
    (lambda raw: raw + b"\0", "trailing"),
    (lambda raw: raw[:6], "truncated IDX header"),
    (lambda raw: b"\0\0\x0d\x01" + raw[4:], "magic number 00000d01"),  # IDX of floats
    (lambda raw: b"GIF89a" + raw, "magic number 47494638"),
    (lambda raw: b"", "magic number missing"),
])
def test_damaged_idx_file(tmp_path, damage, fragment):
    folder = write_idx_dir(tmp_path, tiny(), gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    fails(folder / "train-images-idx3-ubyte", fragment, load=lambda _: data.load_dataset(folder))


def test_truncated_gz(tmp_path):
    folder = write_idx_dir(tmp_path, tiny())
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    fails(path, "corrupt gzip data (unexpected end of file)", load=lambda _: data.load_dataset(folder))


def test_corrupt_gz(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(1000, np.uint8)))[:-8] + b"garbage!")  # CRC, length wrong
    fails(path, "corrupt gzip data (incorrect data check)", load=data.read_idx)


def test_dir_missing_an_idx_file(tmp_path):
    folder = write_idx_dir(tmp_path, tiny())
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    message = fails(folder, "t10k-labels-idx1-ubyte")
    assert "train-images-idx3-ubyte" in message  # says what the folder should hold


def test_idx_counts_must_match(tmp_path):
    folder = write_idx_dir(tmp_path, tiny() | {"y_train": np.zeros(5, np.uint8)})
    fails(folder / "train-labels-idx1-ubyte.gz", "6 images", "5 labels", load=lambda _: data.load_dataset(folder))


# -----------------------------------------------------------------------------
# IDX files that would cost more than they declare, and files that are not files: both engines

SCRATCHNET_C = Path(__file__).resolve().parents[1] / "csrc" / "scratchnet-c"


def idx_header(*dims: int) -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def gzip_bomb(head: bytes, zeros: int = 200 << 20) -> bytes:
    """head then 200 MB of zeros, gzipped a MiB at a time: 0.9 MB on disk."""
    z = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    return b"".join([z.compress(head)] + [z.compress(chunk) for _ in range(zeros >> 20)] + [z.flush()])


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
GOOD_GZ = gzip.compress(GOOD, mtime=0)
BAD_IDX = {  # file name: (bytes, what the one-line error says)
    "magic": (b"GIF89a" + GOOD, "not an IDX file of unsigned bytes (magic number 47494638"),
    "floats": (b"\0\0\x0d\x03" + GOOD[4:], "magic number 00000d03"),
    "empty": (b"", "magic number missing"),
    "dims-0": (bytes([0, 0, 8, 0]), "IDX file with 0 dimensions: expected 1 (labels) or 3 (images)"),
    "dims-2": (idx_bytes(np.zeros((2, 3), np.uint8)), "IDX file with 2 dimensions"),
    "dims-255": (idx_header(*[1] * 255) + b"\0", "IDX file with 255 dimensions"),
    "short-header": (GOOD[:10], "truncated IDX header"),
    "zero-dim": (idx_header(0, 28, 28), "header says 0x28x28: no data"),
    "over-limit": (idx_header(2048, 1024, 1024), "header says 2048x1024x1024 = more than 1073741824 bytes"),
    "overflow": (idx_header(2**32 - 1, 2**32 - 1, 2**32 - 1), "4294967295x4294967295x4294967295 = more than"),
    "raw-short": (GOOD[:-1], "header says 2x3x4 = 24 bytes of data but the file holds 23 (truncated)"),
    "raw-long": (GOOD + b"\0", "header says 2x3x4 = 24 bytes of data but the file holds 25 (trailing bytes)"),
    "gz-short": (gzip.compress(GOOD[:-1]), "24 bytes of data but the file holds 23 (truncated)"),
    "gz-long": (gzip.compress(GOOD + b"\0"), "24 bytes of data but the file holds more (trailing bytes)"),
    "gz-header-only": (GOOD_GZ[:10], "corrupt gzip data (unexpected end of file)"),
    "gz-cut": (GOOD_GZ[:-4], "corrupt gzip data (unexpected end of file)"),
    "gz-crc": (GOOD_GZ[:-8] + bytes([GOOD_GZ[-8] ^ 1]) + GOOD_GZ[-7:], "corrupt gzip data (incorrect data check)"),
    "gz-garbage": (GOOD_GZ + b"junk", "trailing garbage after the gzip data"),
    "gz-zeros": (GOOD_GZ + bytes(8), "trailing garbage after the gzip data"),
    "gz-1f": (GOOD_GZ + b"\x1f", "trailing garbage after the gzip data"),
    "gz-deflate": (GOOD_GZ[:10] + b"\xff" + GOOD_GZ[11:], "corrupt gzip data (invalid block type)"),
}
GOOD_IDX = {"raw": GOOD, "gz": GOOD_GZ, "gz-members": gzip.compress(GOOD[:7]) + gzip.compress(GOOD[7:]),
            "gz-empty-member": GOOD_GZ + gzip.compress(b"")}


@pytest.mark.parametrize("name", BAD_IDX)
def test_bad_idx_refused_in_one_line(tmp_path, name):
    content, fragment = BAD_IDX[name]
    (tmp_path / name).write_bytes(content)
    fails(tmp_path / name, fragment, load=data.read_idx)


@pytest.mark.parametrize("name", GOOD_IDX)
def test_idx_members_and_empty_members(tmp_path, name):
    (tmp_path / name).write_bytes(GOOD_IDX[name])
    np.testing.assert_array_equal(data.read_idx(tmp_path / name), np.arange(24).reshape(2, 3, 4))


def c_read_idx(path: Path) -> np.ndarray | str:
    """csrc's sn_read_idx through the library: the array, or the error message."""
    try:
        lib = cengine.library(np.float64)[0]
    except ScratchnetError:
        if os.environ.get("SCRATCHNET_REQUIRE_C"):
            raise
        pytest.skip("the C library is not built (make -C csrc)")
    pixels, ndim, dims = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_int(), (ctypes.c_int64 * 3)()
    if lib.sn_read_idx(str(path).encode(), ctypes.byref(pixels), ctypes.byref(ndim), dims):
        return lib.sn_error().decode()
    shape = tuple(dims[:ndim.value])
    array = np.ctypeslib.as_array(pixels, (math.prod(shape),)).reshape(shape).copy()
    lib.sn_free(pixels)
    return array


def test_c_and_python_read_the_same_idx_files(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gz")
    for name, content in [(n, c) for n, (c, _) in BAD_IDX.items()] + list(GOOD_IDX.items()):
        (tmp_path / name).write_bytes(content)
    for path in sorted(tmp_path.iterdir()):
        try:
            python = data.read_idx(path)
        except ScratchnetError as e:
            python = str(e)
        c = c_read_idx(path)
        if isinstance(python, str):
            assert c == python
        else:
            np.testing.assert_array_equal(c, python)


# runs a command with 2 GiB of address space and a minute at most; prints its exit status and peak memory (KiB).
# A small process in between: a child's peak starts at its parent's size (pytest's, holding MNIST)
MEASURE = """import resource, subprocess, sys
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
status = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, preexec_fn=limit, timeout=60).returncode
print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"""


def run_bounded(argv: list) -> tuple[int, str, int]:
    """Run argv in 2 GiB of address space for at most a minute: its exit status, stderr and peak memory (MB)."""
    result = subprocess.run([sys.executable, "-c", MEASURE, *map(str, argv)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr  # no time-out
    status, peak_kib = map(int, result.stdout.split())
    return status, result.stderr, peak_kib // 1024


def reads_data(engine: str, path: Path, tmp_path: Path) -> list:
    """A command line of `engine` that reads --data path and nothing else of note."""
    if engine == "python":
        return [sys.executable, "-m", "scratchnet.cli", "show", "0", "--data", path]
    if not SCRATCHNET_C.exists():
        pytest.skip("csrc/scratchnet-c is not built (make -C csrc)")
    return [SCRATCHNET_C, "train", "--data", path, "--params", tmp_path / "new.txt"]


def one_error_line(err: str, engine: str) -> str:
    prefix = "scratchnet: error: " if engine == "python" else "scratchnet-c: error: "
    assert err.startswith(prefix) and err.count("\n") == 1, err
    return err[len(prefix):-1]


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(idx_header(6, 4, 4))


@pytest.mark.parametrize("engine", ["python", "c"])
def test_gzip_bomb_refused_quickly_in_bounded_memory(tmp_path, engine, bomb):
    folder = write_idx_dir(tmp_path / "data", tiny())
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(bomb)
    start = time.monotonic()
    status, err, peak_mb = run_bounded(reads_data(engine, folder, tmp_path))
    assert peak_mb < 100  # python alone is 40 MB; inflating the 200 MB took 250 or more
    assert time.monotonic() - start < 20
    assert status == 1
    assert one_error_line(err, engine) == (f"{path}: header says 6x4x4 = 96 bytes of data but the file holds more "
                                           f"(trailing bytes)")


@pytest.mark.parametrize("engine", ["python", "c"])
@pytest.mark.parametrize("where", ["--data", "in the folder"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_refused_without_hanging(tmp_path, engine, where, special):
    target = Path(special)
    if special == "fifo":
        target = tmp_path / "fifo"
        os.mkfifo(target)  # no writer: opening it would block
    path = target
    if where == "in the folder":
        folder = write_idx_dir(tmp_path / "data", tiny())
        path = folder / "train-labels-idx1-ubyte.gz"
        path.unlink()
        path.symlink_to(target)
    status, err, _ = run_bounded(reads_data(engine, folder if where == "in the folder" else path, tmp_path))
    assert status == 1
    kind = "a named pipe" if special == "fifo" else "a character device"
    if engine == "c" and where == "--data":  # it reads a folder of IDX files, nothing else
        assert one_error_line(err, engine) == f"{path} is {kind}, not a folder of MNIST IDX files"
    else:
        assert one_error_line(err, engine) == f"{path}: is {kind}, not a regular file"


def test_symlinks_to_idx_files_are_fine(tmp_path):
    real = write_idx_dir(tmp_path / "real", tiny())
    (tmp_path / "links").mkdir()
    for f in real.iterdir():
        (tmp_path / "links" / f.name).symlink_to(f)
    assert_same(data.load_dataset(tmp_path / "links"), data.load_dataset(real))


def test_mnist_as_gzipped_idx_loads_in_about_its_size(tmp_path, mnist):
    folder = tmp_path / "mnist"
    folder.mkdir()
    arrays = [mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels]
    for name, a in zip(data.IDX_NAMES, arrays):
        (folder / (name + ".gz")).write_bytes(gzip.compress(idx_bytes(a), compresslevel=1))
    assert_same(data.load_dataset(folder), mnist)
    tiny_folder = write_idx_dir(tmp_path / "tiny", tiny())
    peaks = [run_bounded(reads_data("python", f, tmp_path))[2] for f in (tiny_folder, folder)]
    size_mb = sum(a.nbytes for a in arrays) / 1e6  # 55 MB
    assert peaks[1] - peaks[0] < 1.25 * size_mb  # reading, then inflating, then copying took twice that


# -----------------------------------------------------------------------------
# .npz files

def test_tiny_npz_loads(tmp_path):
    ds = data.load_dataset(write_npz(tmp_path / "tiny.npz"))
    np.testing.assert_array_equal(ds.train_labels, tiny()["y_train"])


@pytest.mark.parametrize("changes, fragments", [
    ({"drop": "y_test"}, ["missing array 'y_test'"]),
    ({"x_train": np.zeros((6, 4, 4), np.float32)}, ["[x_train]", "dtype is float32"]),
    ({"y_train": np.zeros(6, np.int64)}, ["[y_train]", "dtype is int64"]),
    ({"x_train": np.zeros((6, 16), np.uint8)}, ["[x_train]", "shape is (6, 16)"]),
    ({"y_test": np.zeros((3, 1), np.uint8)}, ["[y_test]", "shape is (3, 1)"]),
    ({"x_test": np.zeros((0, 4, 4), np.uint8), "y_test": np.zeros(0, np.uint8)}, ["[x_test]", "non-empty"]),
    ({"y_train": np.array([0, 1, 2, 10, 4, 5], np.uint8)}, ["[y_train]", "label 10"]),
    ({"y_test": np.zeros(4, np.uint8)}, ["[x_test] has 3 images", "[y_test] has 4 labels"]),
    ({"x_test": np.zeros((3, 5, 5), np.uint8)}, ["[x_test]", "5x5", "4x4"]),
])
def test_bad_npz(tmp_path, changes, fragments):
    fails(write_npz(tmp_path / "bad.npz", **changes), *fragments)


def test_text_file_named_npz(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_text("<html>404 Not Found</html>\n")
    fails(path, "not an .npz")


def test_truncated_npz(tmp_path):
    path = tmp_path / "cut.npz"
    path.write_bytes(PAYLOAD[: len(PAYLOAD) // 2])  # the zip's directory, at its end, is cut off
    fails(path, "not an .npz")


def test_corrupt_npz_member(tmp_path):
    path = write_npz(tmp_path / "flipped.npz")
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF  # inside x_train's data: the zip CRC no longer matches
    path.write_bytes(bytes(raw))
    fails(path, "array x_train cannot be read", "CRC")


def test_pickled_npz_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # unpickling would call open(marker, "w")
            return open, (str(marker), "w")

    path = write_npz(tmp_path / "evil.npz", x_train=np.array([Payload()], dtype=object))
    fails(path, "array x_train holds pickled Python objects; refused")
    assert not marker.exists()
    np.load(path, allow_pickle=True)["x_train"][0].close()  # the payload is live: pickle would have run it
    assert marker.exists()


def test_missing_path(tmp_path):
    fails(tmp_path / "nope.npz", "no such file")


def npz_members(arrays: dict) -> list:
    """(name, bytes, declared size, deflated?) of each array as np.save writes it, for raw_zip."""
    members = []
    for name, a in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, a)
        members.append((name + ".npy", buffer.getvalue(), len(buffer.getvalue()), False))
    return members


def test_an_array_larger_than_the_budget_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.npz"
    shape = (2 << 20, 32, 32)
    bomb, size = deflated_zeros(shape, "|u1")  # 2 GiB of images in 2 MB

    def write(*member):
        raw_zip(path, [m if m[0] != "x_train.npy" else member for m in npz_members(tiny())])

    write("x_train.npy", bomb, size, True)
    fails(path, "array x_train takes 2,147,483,776 bytes, more than the 1,073,741,824 it may")
    # a directory that understates the size, with the right CRC for what it says: the header tells
    header = npy_header(shape, "|u1")
    write("x_train.npy", bomb, 1000, True, zlib.crc32(bytes(1000 - len(header)), zlib.crc32(header)))
    fails(path, "array x_train is uint8 (2097152, 32, 32): 2,147,483,648 bytes, more than the 1,073,741,824 it may")


def test_a_directory_that_lies_about_a_size_is_refused(tmp_path):
    path = tmp_path / "lies.npz"
    raw_zip(path, [(n, p, d if n != "y_test.npy" else 3 * 10**9, f) for n, p, d, f in npz_members(tiny())])
    fails(path, "array y_test takes 3,000,000,000 bytes, more than the")


def test_fortran_and_big_endian_arrays_are_read(tmp_path):
    arrays = tiny()
    path = write_npz(tmp_path / "odd.npz", x_train=np.asfortranarray(arrays["x_train"]),
                     x_test=np.asfortranarray(arrays["x_test"]).astype(">u1"))
    ds = data.load_dataset(path)
    assert ds.train_images.flags.c_contiguous and ds.test_images.flags.c_contiguous
    np.testing.assert_array_equal(ds.train_images, arrays["x_train"])


def test_a_member_that_is_not_npy(tmp_path):
    path = tmp_path / "raw.npz"
    with zipfile.ZipFile(path, "w") as z:
        for name, payload, _, _ in npz_members(tiny()):
            z.writestr(name if name != "y_train.npy" else "y_train", payload)
    fails(path, "missing array 'y_train'")
    with zipfile.ZipFile(path, "w") as z:
        for name, payload, _, _ in npz_members(tiny()):
            z.writestr(name, payload if name != "y_train.npy" else b"6 labels, honest")
    fails(path, "array y_train cannot be read", "magic")


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_special_files_are_refused(tmp_path, kind):
    path = tmp_path / "pipe.npz" if kind == "fifo" else Path("/dev/zero")
    if kind == "fifo":
        os.mkfifo(path)  # a writer comes after 5 s, so a failure is no hang
        threading.Thread(target=lambda: time.sleep(5) or open(path, "wb").close(), daemon=True).start()
    fails(path, "not a regular file", "a named pipe" if kind == "fifo" else "a character device")


# -----------------------------------------------------------------------------
# network inputs and targets

def test_inputs():
    images = np.array([[[0, 255], [51, 102]], [[255, 255], [0, 0]]], np.uint8)
    x = data.inputs(images[:, ::-1], np.float32)  # a non-contiguous view must still give a C array
    assert x.dtype == np.float32 and x.shape == (2, 4) and x.flags.c_contiguous
    np.testing.assert_allclose(x[0], [0.2, 0.4, 0.0, 1.0])
    assert data.inputs(images).dtype == np.float64
    assert images[0, 0, 1] == 255  # input untouched


def test_one_hot():
    y = data.one_hot(np.array([3, 0, 9], np.uint8))
    assert y.shape == (3, 10) and y.dtype == np.float64 and y.flags.c_contiguous
    assert y.argmax(axis=1).tolist() == [3, 0, 9] and y.sum() == 3
    assert data.one_hot(np.array([1]), n_classes=3, dtype=np.float32).tolist() == [[0, 1, 0]]


# -----------------------------------------------------------------------------
# finding the data

@pytest.fixture
def places(tmp_path, monkeypatch):
    """A clean environment: no SCRATCHNET_* variables, a fake HOME, cache and repository."""
    for var in ("SCRATCHNET_DATA", "SCRATCHNET_DATA_URL", "SCRATCHNET_DATA_SHA256", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo" / "data" / "mnist")
    monkeypatch.setattr(data, "BUNDLED_DATA", tmp_path / "site-packages" / "scratchnet" / "_data" / "mnist")
    monkeypatch.setenv("no_proxy", "*")  # the test server is local; never go through a proxy
    return tmp_path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def test_resolve_order(places, monkeypatch):
    downloads = []

    def fake_download(*args, **kwargs):
        downloads.append((args, kwargs))
        return args[1]

    monkeypatch.setattr(data, "download", fake_download)

    explicit, env = touch(places / "explicit.npz"), touch(places / "env.npz")
    repo, bundled = data.REPO_DATA, data.BUNDLED_DATA  # IDX folders
    repo.mkdir(parents=True)
    bundled.mkdir(parents=True)
    xdg_cache = touch(places / "xdg" / "scratchnet" / "mnist.npz")
    home_cache = touch(places / "home" / ".cache" / "scratchnet" / "mnist.npz")
    monkeypatch.setenv("SCRATCHNET_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(places / "xdg"))

    assert data.resolve_data_path(str(explicit)) == explicit
    assert data.resolve_data_path() == env
    monkeypatch.delenv("SCRATCHNET_DATA")
    assert data.resolve_data_path() == repo
    repo.rmdir()
    assert data.resolve_data_path() == bundled
    bundled.rmdir()
    assert data.resolve_data_path() == xdg_cache
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.resolve_data_path() == home_cache
    assert downloads == []

    home_cache.unlink()
    assert data.resolve_data_path(progress=False) == home_cache
    assert downloads == [((data.DEFAULT_URL, home_cache, data.DEFAULT_SHA256), {"progress": False})]


def test_resolve_explicit_and_env_must_exist(places, monkeypatch):
    data.REPO_DATA.mkdir(parents=True)  # present, but a wrong explicit choice must not silently fall back to it
    fails(places / "typo.npz", "--data", load=lambda p: data.resolve_data_path(str(p)))
    monkeypatch.setenv("SCRATCHNET_DATA", str(places / "typo2"))
    fails(places / "typo2", "SCRATCHNET_DATA", load=lambda _: data.resolve_data_path())


# -----------------------------------------------------------------------------
# downloading, from a real HTTP server on 127.0.0.1

def keras_npz(folder: Path, n_train: int, n_test: int) -> bytes:
    """The first images of an IDX folder as the bytes of a Keras-layout .npz: what a download brings."""
    counts = (n_train, n_train, n_test, n_test)
    arrays = [data.read_idx(folder / (name + ".gz"))[:n] for name, n in zip(data.IDX_NAMES, counts)]
    buffer = io.BytesIO()
    np.savez(buffer, **dict(zip(data.NPZ_KEYS, arrays)))
    return buffer.getvalue()


PAYLOAD = keras_npz(REPO_MNIST, 1000, 500)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path not in ("/mnist.npz", "/cut.npz"):
            return self.send_error(404)
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))  # the full size, even for the cut one
        self.end_headers()
        self.wfile.write(PAYLOAD if self.path == "/mnist.npz" else PAYLOAD[:len(PAYLOAD) // 2])
        # returning closes the connection (HTTP/1.0), cutting /cut.npz short

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_download(server, places):
    dest = places / "new" / "mnist.npz"
    assert data.download(f"{server}/mnist.npz", dest, PAYLOAD_SHA256.upper(), progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["mnist.npz"]  # no temporary file left


@pytest.mark.parametrize("path, sha256, fragments", [
    ("/mnist.npz", "0" * 64, ["checksum", "0" * 64, PAYLOAD_SHA256]),
    ("/cut.npz", PAYLOAD_SHA256, ["stopped after", f"of {len(PAYLOAD)} bytes"]),
    ("/cut.npz", None, ["stopped after"]),  # unchecked downloads are still length-checked
    ("/missing.npz", None, ["HTTP 404"]),
])
def test_failed_download_leaves_nothing(server, places, path, sha256, fragments):
    folder = places / "cache"
    fails(server + path, *fragments, load=lambda url: data.download(url, folder / "mnist.npz", sha256, progress=False))
    assert list(folder.iterdir()) == []


def test_unreachable_server(places):
    with socket.socket() as s:  # a loopback port that nothing listens on: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fails(f"http://127.0.0.1:{port}/mnist.npz", "failed", load=lambda url: data.download(url, places / "m.npz", None))
    assert not (places / "m.npz").exists()


def test_keeps_existing_dest_on_failure(server, places):
    dest = touch(places / "mnist.npz")
    with pytest.raises(ScratchnetError):
        data.download(f"{server}/cut.npz", dest, None, progress=False)
    assert dest.read_bytes() == b""


def test_resolve_falls_through_to_download(server, places, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(places / "xdg"))
    monkeypatch.setenv("SCRATCHNET_DATA_URL", f"{server}/mnist.npz")
    monkeypatch.setenv("SCRATCHNET_DATA_SHA256", PAYLOAD_SHA256)
    path = data.resolve_data_path()
    assert path == places / "xdg" / "scratchnet" / "mnist.npz" and path.read_bytes() == PAYLOAD
    assert "mnist.npz" in capsys.readouterr().err  # the progress bar
    assert data.load_mnist().train_labels[:10].tolist() == FIRST_LABELS  # now found in the cache


def test_custom_url_without_hash_is_unchecked_but_said(server, places, monkeypatch, capsys):
    monkeypatch.setenv("SCRATCHNET_DATA_URL", f"{server}/mnist.npz")
    path = data.resolve_data_path(progress=False)
    assert path.read_bytes() == PAYLOAD
    err = capsys.readouterr().err
    assert "SCRATCHNET_DATA_SHA256" in err and "not checked" in err

"""MNIST on disk -> NumPy arrays: find the data, download it if needed, read it, check it.

Two layouts are read:
  * a Keras-style ``mnist.npz`` with arrays x_train, y_train, x_test, y_test (all uint8);
  * a directory of the original IDX files, raw or gzipped (as LeCun's site, Fashion-MNIST
    and Debian's ``dataset-fashion-mnist`` ship them).
Anything wrong with the files becomes a one-line ScratchnetError naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import math
import os
import struct
import sys
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import DTypeLike
from tqdm import tqdm

from scratchnet import files
from scratchnet.atomic import atomic_write
from scratchnet.errors import ScratchnetError

DEFAULT_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DEFAULT_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # Keras' file_hash
REPO_DATA = Path(__file__).resolve().parents[2] / "data" / "mnist"  # IDX files: in a checkout / editable install
BUNDLED_DATA = Path(__file__).resolve().parent / "_data" / "mnist"  # their copy in a built package (setup.py)

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_NPZ_BYTES = 1 << 30  # the four arrays of an .npz together (MNIST's take 55 MB)
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# what the zlib/gzip/zip/numpy readers raise on damaged or foreign files
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zlib.error, zipfile.BadZipFile)


@dataclass(frozen=True)
class Dataset:
    source: str                 # path it was read from, for messages
    train_images: np.ndarray    # (n_train, rows, cols) uint8
    train_labels: np.ndarray    # (n_train,) uint8, 0-9
    test_images: np.ndarray     # (n_test, rows, cols) uint8
    test_labels: np.ndarray     # (n_test,) uint8

    @property
    def n_inputs(self) -> int:
        """Pixels per image: the width of the network's input layer."""
        return self.train_images.shape[1] * self.train_images.shape[2]

    @functools.cached_property
    def fingerprint(self) -> str:
        """16 hex digits of the SHA-256 of every image and label: checkpoints remember their data by it."""
        digest = hashlib.sha256()
        for array in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()[:16]

    @property
    def top_label(self) -> int:
        """The largest label: the network needs more outputs than that."""
        return int(max(self.train_labels.max(), self.test_labels.max()))


def _why(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError):  # it wraps the real cause, e.g. "Connection refused"
        e = e.reason
    # strerror avoids repeating the path we already print; collapse to one line for the CLI
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(text.split())


# -----------------------------------------------------------------------------
# reading

IDX_MAX_BYTES = 1 << 30  # the most data an IDX file may declare: 1 GiB (EMNIST ByClass, the largest set, has 547 MB)
_CHUNK = 1 << 20  # bytes read, or inflated, at a time
_GZIP_MAGIC = b"\x1f\x8b"


class _Gunzip:
    """The inflated content of a gzip file read from f, at most what each read asks for.

    One or more gzip members (as gzip(1) writes when files are concatenated); anything after the
    last one is an error, as are truncated and damaged members (zlib checks CRC-32 and length).
    """

    def __init__(self, f: BinaryIO, path: Path) -> None:
        self.f, self.path = f, path
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16+: the gzip wrapper
        self.pending = b""  # input not yet given to self.z

    def read(self, n: int) -> bytes:
        """Up to n > 0 bytes: fewer only where the content ends."""
        parts = []
        while n:
            if len(self.pending) < 2:  # two: a next member's magic number
                self.pending += self.f.read(_CHUNK)
            if self.z.eof:
                if not self.pending:
                    break
                if self.pending[:2] != _GZIP_MAGIC:
                    raise ScratchnetError(f"{self.path}: trailing garbage after the gzip data")
                self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            if not self.pending:
                raise ScratchnetError(f"{self.path}: corrupt gzip data (unexpected end of file)")
            try:
                part = self.z.decompress(self.pending, n)
            except zlib.error as e:  # "Error -3 while decompressing data: invalid block type": keep zlib's words
                raise ScratchnetError(f"{self.path}: corrupt gzip data ({str(e).split(': ', 1)[-1]})") from None
            self.pending = self.z.unused_data if self.z.eof else self.z.unconsumed_tail
            parts.append(part)
            n -= len(part)
        return b"".join(parts)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file of unsigned bytes (raw or gzipped) into an array of the shape its header gives.

    IDX is big-endian: two zero bytes, a type byte (0x08 = ubyte), the number of dimensions,
    then each dimension as a uint32, then the data. Images are 0x00000803 (n, rows, cols),
    labels 0x00000801 (n,). The file must hold exactly the bytes the header announces.

    Limits, the same in the C engine (csrc/idx.c): a regular file (or a symlink to one), 1 or 3
    dimensions, none of them 0, at most IDX_MAX_BYTES (1 GiB) of data. The header is checked
    first, then only the data it declares and one byte more (to see that nothing follows) is read
    or inflated, straight into the array: a small gzip file that inflates to gigabytes costs no
    more memory than its header declares.
    """
    path = Path(path)
    try:
        files.require_regular(path, os.stat(path).st_mode)  # before opening it
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:  # NONBLOCK: were a FIFO swapped in since
            st = os.fstat(f.fileno())
            files.require_regular(path, st.st_mode)
            gzipped = f.read(2) == _GZIP_MAGIC  # sniffed rather than trusting the .gz suffix
            f.seek(0)
            return _read_idx_content(_Gunzip(f, path) if gzipped else f, path, None if gzipped else st.st_size)
    except OSError as e:
        raise ScratchnetError(f"{path}: cannot read ({_why(e)})") from None


def _read_idx_content(stream: BinaryIO | _Gunzip, path: Path, raw_size: int | None) -> np.ndarray:
    """The IDX content of stream (raw_size: the file's size, None when gzipped)."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] != 0x08:
        raise ScratchnetError(f"{path}: not an IDX file of unsigned bytes (magic number "
                              f"{magic.hex() or 'missing'}, expected 00000801 or 00000803)")
    if magic[3] not in (1, 3):
        raise ScratchnetError(f"{path}: IDX file with {magic[3]} dimensions: expected 1 (labels) or 3 (images)")
    header = stream.read(4 * magic[3])
    if len(header) < 4 * magic[3]:
        raise ScratchnetError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{magic[3]}I", header)
    shape, size = "x".join(map(str, dims)), math.prod(dims)
    if size == 0:
        raise ScratchnetError(f"{path}: header says {shape}: no data (a dimension is 0)")
    if size > IDX_MAX_BYTES:
        raise ScratchnetError(f"{path}: header says {shape} = more than {IDX_MAX_BYTES} bytes of data, "
                              f"the most an IDX file may hold (1 GiB)")

    def mismatch(holds: int | str) -> ScratchnetError:
        why = "truncated" if isinstance(holds, int) and holds < size else "trailing bytes"
        return ScratchnetError(f"{path}: header says {shape} = {size} bytes of data but the file holds {holds} ({why})")

    if raw_size is not None and raw_size - 4 - len(header) != size:
        raise mismatch(raw_size - 4 - len(header))
    try:
        data = np.empty(size, np.uint8)
    except MemoryError:
        raise ScratchnetError(f"{path}: out of memory for its {size} bytes of data") from None
    got = 0
    while got < size and (part := stream.read(min(_CHUNK, size - got))):
        data[got:got + len(part)] = np.frombuffer(part, np.uint8)
        got += len(part)
    if got < size:
        raise mismatch(got)
    if stream.read(1):
        raise mismatch("more")
    return data.reshape(dims)


def _idx_file(folder: Path, name: str) -> Path:
    # the standard names, raw or .gz; also Kaggle's spelling "train-images.idx3-ubyte"
    dotted = name.replace("-idx", ".idx")
    for candidate in (name, name + ".gz", dotted, dotted + ".gz"):
        if (folder / candidate).exists():  # not is_file(): a FIFO of that name gets read_idx's message
            return folder / candidate
    raise ScratchnetError(f"{folder}: no {name}[.gz] in this folder (an MNIST IDX folder needs "
                          f"{', '.join(IDX_NAMES)}, raw or .gz)")


def _read_npz(path: Path) -> list[np.ndarray]:
    # files.open_npz: regular files only, no pickles, each array's size checked before it is read
    with files.open_npz(path) as npz:
        missing = [k for k in NPZ_KEYS if k not in npz.names]
        if missing:
            raise ScratchnetError(f"{path}: missing array {missing[0]!r} "
                                  f"(has {', '.join(npz.names) or 'none'}; needs {', '.join(NPZ_KEYS)})")
        arrays, budget = [], MAX_NPZ_BYTES
        for key in NPZ_KEYS:  # other members are never read
            arrays.append(npz.read(key, budget))
            budget -= arrays[-1].nbytes
        return arrays


def validate(arrays: Sequence[np.ndarray], names: Sequence[str]) -> None:
    """Check train images, train labels, test images, test labels (in that order) are usable MNIST-like data.

    names are what each array is called in messages (its file, or "file [key]" for an .npz).
    Raises ScratchnetError on the first problem: wrong dtype or shape, empty, labels outside 0-9,
    image and label counts that differ, or train and test images of different sizes.
    """
    for a, name, ndim in zip(arrays, names, (3, 1, 3, 1)):
        if a.dtype != np.uint8:
            raise ScratchnetError(f"{name}: dtype is {a.dtype}, expected uint8")
        if a.ndim != ndim or 0 in a.shape:
            expected = "(n, rows, cols)" if ndim == 3 else "(n,)"
            raise ScratchnetError(f"{name}: shape is {a.shape}, expected non-empty {expected}")
    train_images, train_labels, test_images, test_labels = arrays
    for images, labels, image_name, label_name in ((train_images, train_labels, names[0], names[1]),
                                                   (test_images, test_labels, names[2], names[3])):
        if labels.max() > 9:
            raise ScratchnetError(f"{label_name}: label {labels.max()} is outside 0-9")
        if len(images) != len(labels):
            raise ScratchnetError(f"{image_name} has {len(images)} images but {label_name} has {len(labels)} labels")
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ScratchnetError(f"{names[2]}: test images are {'x'.join(map(str, test_images.shape[1:]))} but "
                              f"training images are {'x'.join(map(str, train_images.shape[1:]))}")


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Read and validate MNIST from a Keras-style .npz file or a directory of IDX files."""
    path = Path(path)
    if path.is_dir():
        idx_files = [_idx_file(path, name) for name in IDX_NAMES]
        arrays, names = [read_idx(f) for f in idx_files], [str(f) for f in idx_files]
    elif path.exists():
        files.require_regular(path, path.stat().st_mode)
        arrays, names = _read_npz(path), [f"{path} [{k}]" for k in NPZ_KEYS]
    else:
        raise ScratchnetError(f"{path}: no such file or directory")
    validate(arrays, names)
    return Dataset(str(path), *arrays)


# -----------------------------------------------------------------------------
# turning arrays into network inputs and targets

def inputs(images: np.ndarray, dtype: DTypeLike = np.float64) -> np.ndarray:
    """Flatten (n, rows, cols) uint8 images to a C-contiguous (n, rows*cols) array in [0, 1].

    Pixels are multiplied by 1/255 rounded to ``dtype``, not divided by 255: a third of the
    cost, and the C engine does the same, so both see the same inputs to the last bit.
    """
    x = images.reshape(len(images), -1).astype(dtype, order="C")  # a fresh copy, so scaling in place is safe
    x *= np.asarray(1 / 255, dtype=dtype)
    return x


def one_hot(labels: np.ndarray, n_classes: int = 10, dtype: DTypeLike = np.float64) -> np.ndarray:
    """(n,) integer labels -> (n, n_classes) rows of zeros with a 1 at the label."""
    return np.eye(n_classes, dtype=dtype)[labels]


# -----------------------------------------------------------------------------
# finding the data, downloading it when nowhere to be found

def cache_path() -> Path:
    """Where a downloaded mnist.npz lives: $XDG_CACHE_HOME/scratchnet/, else ~/.cache/scratchnet/."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "scratchnet" / "mnist.npz"


def _existing(path: str, what: str) -> Path:
    files.check_name(path)
    p = Path(path).expanduser()
    if not p.exists():
        raise ScratchnetError(f"{p}: no such file or directory (given by {what})")
    return p


def found_data_path() -> Path | None:
    """Steps 3 and 4 of resolve_data_path: the first of REPO_DATA, BUNDLED_DATA and the cache that exists."""
    return next((path for path in (REPO_DATA, BUNDLED_DATA, cache_path()) if path.exists()), None)


def resolve_data_path(explicit: str | None = None, *, progress: bool = True) -> Path:
    """Find the dataset (an .npz or IDX folder); the first that applies wins:

    1. ``explicit`` (the command line's --data PATH), which must exist;
    2. the environment variable SCRATCHNET_DATA, which must exist;
    3. the repository's data/mnist (REPO_DATA: in a checkout or editable install), else the copy
       that a regular install or a wheel carries (BUNDLED_DATA);
    4. the user cache, see cache_path();
    5. a download into the cache from SCRATCHNET_DATA_URL (default DEFAULT_URL), checked against
       SCRATCHNET_DATA_SHA256. Without that variable the Keras file is checked against
       DEFAULT_SHA256, while a custom URL is taken unchecked, with a note on stderr saying so.
    """
    if explicit is not None:
        return _existing(explicit, "--data")
    if os.environ.get("SCRATCHNET_DATA"):
        return _existing(os.environ["SCRATCHNET_DATA"], "SCRATCHNET_DATA")
    if found := found_data_path():
        return found
    url = os.environ.get("SCRATCHNET_DATA_URL") or DEFAULT_URL
    sha256 = os.environ.get("SCRATCHNET_DATA_SHA256") or (DEFAULT_SHA256 if url == DEFAULT_URL else None)
    if sha256 is None:
        print(f"scratchnet: note: SCRATCHNET_DATA_SHA256 is not set, so {url} is not checked", file=sys.stderr)
    return download(url, cache_path(), sha256, progress=progress)


def _fetch(url: str, out: BinaryIO, progress: bool, timeout: float) -> str:
    """Stream url into the open file out; return the SHA-256 of what was written."""
    digest, got, total = hashlib.sha256(), 0, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, desc="downloading " + url.rsplit("/", 1)[-1],
                      disable=not progress, file=sys.stderr) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        e.close()  # it holds the error page's open connection
        raise ScratchnetError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as e:  # URLError, timeouts, resets, bad URLs
        where = f"stopped after {got} of {total or 'unknown'} bytes" if got else "failed"
        raise ScratchnetError(f"download of {url} {where}: {_why(e)}") from None
    if total is not None and got != total:
        raise ScratchnetError(f"download of {url} stopped after {got} of {total} bytes")
    return digest.hexdigest()


def download(url: str, dest: Path, sha256: str | None, *, progress: bool = True, timeout: float = 30) -> Path:
    """Download url to dest, checking its length and (unless sha256 is None) its SHA-256.

    The bytes go to a temporary file beside dest that replaces dest only once complete and
    checked, so an interrupted or bad download never leaves a half-written dest behind.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ScratchnetError(f"{dest.parent}: cannot write the download there ({_why(e)})") from None
    with atomic_write(dest) as out:
        actual = _fetch(url, out, progress, timeout)
        if sha256 is not None and actual != sha256.lower():
            raise ScratchnetError(f"download of {url} failed its checksum: "
                                  f"expected sha256 {sha256.lower()}, got {actual}")
    return dest


def load_mnist(explicit: str | None = None) -> Dataset:
    """The dataset the command line uses: found (or downloaded) by resolve_data_path, then loaded."""
    return load_dataset(resolve_data_path(explicit))

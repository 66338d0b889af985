"""Reading untrusted input files within bounds: regular files only, .npz members checked before reading.

np.load trusts its file: it reads any member asked for in full, allocates whatever shape a
member's header declares, and hands back raw bytes for a member that is not .npy. NpzArchive
reads only the arrays asked for, and for each compares the zip directory's declared size and the
.npy header (dtype, shape, order) with what the caller expects and a byte budget BEFORE reading
the data. Fortran-ordered and byte-swapped arrays come back C-contiguous in native byte order.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy

from scratchnet.errors import ScratchnetError

NPY_MAX_HEADER = 10_000  # bytes of a .npy header: NumPy's own limit
CHUNK = 1 << 20  # bytes read at a time into the array
KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device",
         stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def check_name(path: str | os.PathLike) -> None:
    """Refuse a name no file can have (the system calls would raise ValueError): a NUL character."""
    name = os.fsdecode(path)
    if "\0" in name:
        shown = name.replace("\0", "\\0")
        raise ScratchnetError(f"{shown}: a file name cannot hold a NUL character")


def require_regular(path: str | os.PathLike, mode: int) -> None:
    """Refuse what is not a regular file: /dev/zero never ends, a FIFO waits for a writer for ever."""
    if not stat.S_ISREG(mode):
        raise ScratchnetError(f"{path}: is {KINDS.get(stat.S_IFMT(mode), 'a special file')}, not a regular file")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a regular file for reading; anything else (missing, a directory, /dev/zero, a FIFO)
    is a one-line ScratchnetError. A FIFO is opened without blocking, found out, and closed."""
    check_name(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ScratchnetError(f"{path}: no such file") from None
    except OSError as e:
        raise ScratchnetError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        require_regular(path, os.fstat(fd).st_mode)
    except ScratchnetError:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


class NpzArchive:
    """An open .npz file: the names of its .npy members, and read() for one of them."""

    def __init__(self, path: Path, file: BinaryIO):
        self.path = path
        if file.read(4)[:2] != b"PK":
            raise ScratchnetError(f"{path}: not an .npz archive (a zip of .npy arrays)")
        file.seek(0)
        try:
            self.zip = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
            raise ScratchnetError(f"{path}: not an .npz archive ({e})") from None
        twice = [name for name, count in Counter(self.zip.namelist()).items() if count > 1]
        if twice:  # which one would be read is up to the zip reader: refuse the ambiguity
            raise ScratchnetError(f"{path}: holds two members named {twice[0]!r}")
        self.members = {info.filename[:-4]: info for info in self.zip.infolist() if info.filename.endswith(".npy")}
        self.others = set(self.zip.namelist()) - {n + ".npy" for n in self.members}

    @property
    def names(self) -> list[str]:
        """The arrays it holds, in file order."""
        return list(self.members)

    def read(self, name: str, max_bytes: int, shape: tuple[int, ...] | None = None,
             dtype: str | np.dtype | None = None) -> np.ndarray:
        """Array ``name``, if its header has this shape and dtype (when given; byte order aside)
        and its data takes at most max_bytes; checked before the data is read."""
        def bad(problem: str) -> ScratchnetError:
            return ScratchnetError(f"{self.path}: array {name} {problem}")

        info = self.members.get(name)
        if info is None:
            raise bad("is not a .npy member" if name in self.others else "is missing")
        if info.file_size > max_bytes + NPY_MAX_HEADER:
            raise bad(f"takes {info.file_size:,} bytes, more than the {max_bytes:,} it may")
        try:
            with self.zip.open(info) as member:
                version = npy.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise bad(f"has an unsupported .npy version {version}")
                reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                found_shape, fortran, found_dtype = reader(member, max_header_size=NPY_MAX_HEADER)
                header_bytes = member.tell()
                if found_dtype.hasobject:
                    raise bad("holds pickled Python objects; refused, as loading them could run code")
                native = found_dtype.newbyteorder("=")
                if (shape is not None and found_shape != shape) or (dtype is not None and native != np.dtype(dtype)):
                    raise bad(f"is {native} {found_shape}, expected {np.dtype(dtype) if dtype else native} "
                              f"{shape if shape is not None else found_shape}")
                if any(n < 0 for n in found_shape):
                    raise bad(f"has a negative dimension {found_shape}")
                count = math.prod(found_shape)
                nbytes = count * found_dtype.itemsize
                if nbytes > max_bytes:
                    raise bad(f"is {found_dtype} {found_shape}: {nbytes:,} bytes, more than the {max_bytes:,} it may")
                if info.file_size != header_bytes + nbytes:
                    raise bad(f"is {found_dtype} {found_shape} ({nbytes:,} bytes) but its member holds "
                              f"{info.file_size - header_bytes:,} bytes of data")
                array = np.empty(count, found_dtype)
                _read_into(member, array.view(np.uint8) if nbytes else np.empty(0, np.uint8))
        except ScratchnetError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError) as e:  # RuntimeError: an encrypted member
            raise bad(f"cannot be read ({' '.join(str(e).split()) or type(e).__name__})") from None
        array = array.reshape(found_shape[::-1]).T if fortran else array.reshape(found_shape)
        return array.astype(native, order="C", copy=False)  # a copy only when byte-swapped or Fortran-ordered


def _read_into(member: BinaryIO, buffer: np.ndarray) -> None:
    """Fill buffer (uint8) from member in bounded chunks: no second copy of the data."""
    filled = 0
    while filled < len(buffer):
        chunk = member.read(min(CHUNK, len(buffer) - filled))
        if not chunk:
            raise EOFError(f"the data ends after {filled:,} of {len(buffer):,} bytes")
        buffer[filled : filled + len(chunk)] = np.frombuffer(chunk, np.uint8)
        filled += len(chunk)


@contextmanager
def open_npz(path: str | os.PathLike) -> Iterator[NpzArchive]:
    """An .npz archive, read within bounds (NpzArchive); any problem is a one-line ScratchnetError."""
    with open_regular(path) as f:
        archive = NpzArchive(Path(path), f)
        with archive.zip:
            yield archive

"""Writing a file so that it is either all old or all new, whatever happens meanwhile.

The bytes go to a temporary file ``.NAME.PID.RANDOM.tmp`` beside the file, are flushed to disk,
and the temporary file is renamed over the file (docs/FORMAT.md, "How files are written"; the C
engine does the same). A symlink is written through to the file at its end; a device or a FIFO
(``/dev/null``, a pipe) is written directly, as there is nothing to rename over.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from scratchnet import lock
from scratchnet.errors import ScratchnetError
from scratchnet.files import check_name

STDOUT = "-"
NOT_STDOUT = "cannot write to - (standard output) here: this file is read back later, so give a file name"
MAX_LINKS = 40  # as the Linux kernel: more symlinks in a row are a loop
ANY = object()  # atomic_write's only_over: replace whatever is there


class TargetChanged(Exception):
    """atomic_write(only_over=...) found another file at the target: it is left as it is."""


_LIBC = ctypes.CDLL(None, use_errno=True)
_RENAMEAT2 = getattr(_LIBC, "renameat2", None)  # glibc 2.28 and later
_AT_FDCWD, _RENAME_NOREPLACE, _RENAME_EXCHANGE = -100, 1, 2


def _renameat2(source: str, target: str, flags: int) -> bool:
    """renameat2(2); False where this system or file system cannot (the caller falls back to rename)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), target)


def _replace_only_over(temp: str, target: Path, only_over: tuple[int, ...] | None, ours: tuple[int, ...]) -> None:
    """Rename ``temp`` over ``target`` if the file there is ``only_over`` (None: no file), else raise TargetChanged.

    Checking and then renaming would leave a moment in which another program's new file is replaced
    unseen. Swapping the two files (RENAME_EXCHANGE) and then looking at the one taken out removes
    nothing unseen: a stranger's file is swapped back. Where the kernel cannot swap, check then rename.
    """
    if only_over is None:
        try:
            if _renameat2(temp, str(target), _RENAME_NOREPLACE):
                return
        except FileExistsError:
            raise TargetChanged from None
        if os.path.lexists(target):
            raise TargetChanged
        os.replace(temp, target)
        return
    try:
        swapped = _renameat2(temp, str(target), _RENAME_EXCHANGE)
    except FileNotFoundError:  # the file expected is gone
        raise TargetChanged from None
    if not swapped:
        if lock.identity(target) != only_over:
            raise TargetChanged
        os.replace(temp, target)
        return
    if lock.identity(temp) == only_over:  # the file taken out is the one expected
        os.unlink(temp)
        return
    _renameat2(temp, str(target), _RENAME_EXCHANGE)  # the stranger's file back where it was
    if lock.identity(temp) != ours:  # a third writer came in between: what it left at temp is kept, visibly
        os.replace(temp, f"{temp}.kept")
    raise TargetChanged


@contextmanager
def _reported(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError into the one-line error the user sees."""
    try:
        yield
    except BrokenPipeError:
        raise  # the reader of a pipe went away (| head): the command line ends quietly
    except OSError as e:
        raise ScratchnetError(f"cannot write {path}: {e.strerror or e}") from None


def _final_target(path: Path) -> Path:
    """The file behind ``path``: its symlinks followed to the end, even to a file not there yet."""
    for _ in range(MAX_LINKS):
        if not path.is_symlink():
            return path
        path = path.parent / os.readlink(path)  # a relative link is relative to its own folder
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))


def _is_special(path: Path) -> bool:
    """A device, FIFO or socket: there is no file to replace, so it is written directly."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    return True


def _remove_stale_temps(target: Path) -> None:
    """Remove the temporary files that writers of ``target`` killed mid-write left behind: ours by
    their name, and only those whose process is gone (a live or reused pid keeps its file)."""
    ours = re.compile(rf"\.{re.escape(target.name)}\.(\d{{1,9}})\.[A-Za-z0-9_]+\.tmp")
    with suppress(OSError):  # tidying up must never stop the write itself
        for name in os.listdir(target.parent):
            match = ours.fullmatch(name)
            if match and not _alive(int(match[1])):
                (target.parent / name).unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    """The permissions the file keeps (when replacing one) or would get from open() and the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _refuse_no_name(path: str | os.PathLike) -> None:
    if not str(path):  # Path("") would be the current folder
        raise ScratchnetError("the file name is empty: give a file to write")
    check_name(path)


def check_destination(path: str | os.PathLike) -> None:
    """Raise now, before any long work, if a file that must be read back cannot be written to ``path`` later."""
    _refuse_no_name(path)
    if str(path) == STDOUT:
        raise ScratchnetError(NOT_STDOUT)
    with _reported(path):
        target = _final_target(Path(path))
    if target.is_dir():
        raise ScratchnetError(f"cannot write {path}: it is a folder")
    if not target.parent.is_dir():
        raise ScratchnetError(f"cannot write {path}: folder {target.parent} does not exist")


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, stdout_ok: bool = False,
                 before_rename: Callable[[int], None] | None = None,
                 only_over: tuple[int, ...] | None | object = ANY) -> Iterator[IO]:
    """Write to a temporary file beside ``path``'s final target, then rename it over the target.

    A crash or Ctrl-C at any moment leaves either the old file or the new one, never a mix:
    the data is flushed and fsynced before the rename, and rename is atomic on POSIX. A failure
    removes the temporary file and raises a one-line ScratchnetError; a killed writer's temporary
    file is removed by the next write. ``-`` is standard output where ``stdout_ok``, refused elsewhere.
    ``before_rename`` gets the temporary file's descriptor once its data is on disk, right before the
    rename (to look at the file that will be the target); what it raises leaves the target alone.
    ``only_over``: replace the target only if it is the file of this lock.identity (None: only if there is
    none); another file there stays, and TargetChanged is raised.
    """
    _refuse_no_name(path)
    if str(path) == STDOUT:
        if not stdout_ok:
            raise ScratchnetError(NOT_STDOUT)
        sys.stdout.flush()  # what was printed before comes first
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        with _reported("standard output"):
            yield stream
            stream.flush()
        return
    path = Path(path)
    with _reported(path):
        if _is_special(path):
            with open(path, mode) as f:
                yield f
            return
        target = _final_target(path)
        folder = target.parent
        _remove_stale_temps(target)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
        try:
            os.fchmod(fd, _mode_for(target))  # mkstemp makes it 0600; the file should look like any other
            with os.fdopen(fd, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
                if before_rename is not None:
                    before_rename(f.fileno())
                ours = None if only_over is ANY else lock.identity(f.fileno())  # to tell ours from a third writer's
            if only_over is ANY:
                os.replace(temp, target)
            else:
                _replace_only_over(temp, target, only_over, ours)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename has still happened

"""One writer per checkpoint: an exclusive lock held for the whole of a run that writes it, and the
file's identity, to notice a checkpoint that something else changed meanwhile.

The protocol (docs/FORMAT.md, "Locking"), shared with csrc/main.c: the lock file is
``.NAME.lock`` beside the checkpoint's real path (symlinks resolved), held with
``flock(LOCK_EX)``; the holder writes its pid into it and removes it, still holding the lock,
when done. A process that gets the lock checks that the path still names the file it locked and
starts over if not, so removing the file never lets two processes hold the lock at once.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scratchnet.errors import ScratchnetError


def lock_path(path: str | os.PathLike) -> Path:
    real = Path(os.path.realpath(path))
    return real.with_name(f".{real.name}.lock")


def identity(path: str | os.PathLike | int) -> tuple[int, ...] | None:
    """(st_dev, st_ino, st_size, st_mtime_ns) of the file at ``path`` (or open as descriptor ``path``),
    None when there is none: any write or replacement changes it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ScratchnetError(f"{path}: {e.strerror or e}") from None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return f"pid {text}" if text.isdigit() else "another process"


def _still_named(fd: int, lock: Path) -> bool:
    """Whether ``lock`` still names the file open as ``fd``: its last holder removes it."""
    try:
        st = os.stat(lock)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


@contextmanager
def exclusive(path: str | os.PathLike, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock of checkpoint ``path`` for the ``with`` block.

    When another process holds it: with ``on_wait``, call it with the holder ("pid 1234") and wait;
    without, raise a ScratchnetError naming the holder.
    """
    lock = lock_path(path)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            raise ScratchnetError(f"cannot write {path}: folder {lock.parent} does not exist") from None
        except OSError as e:
            raise ScratchnetError(f"cannot lock {path}: {lock}: {e.strerror or e}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                if on_wait is None:
                    raise ScratchnetError(f"{path} is in use by {holder} (lock file {lock}): "
                                          f"wait for it to finish, or pass --wait") from None
                on_wait(holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _still_named(fd, lock):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # locked a file its holder had just removed: start over
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            raise ScratchnetError(f"cannot lock {path}: {lock}: {e.strerror or e}") from None
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still holding it: see the module's docstring
        os.close(fd)

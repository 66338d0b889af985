"""Writing a file so that it is either all old or all new, whatever happens meanwhile."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from scratchnet.errors import ScratchnetError


def _mode_for(path: Path) -> int:
    """The permissions the file keeps (when replacing one) or would get from open() and the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path``, then rename it over ``path``.

    A crash or Ctrl-C at any moment leaves either the old file or the new one, never a mix:
    the data is flushed and fsynced before the rename, and rename is atomic on POSIX.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ScratchnetError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        os.fchmod(fd, _mode_for(path))  # mkstemp makes it 0600; the file should look like any other
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException as e:
        Path(temp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise ScratchnetError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename has still happened

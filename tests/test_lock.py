"""scratchnet.lock: one writer per checkpoint, and the file identity that notices other writers.
The command-line behaviour, across processes, is in test_cli.py."""

import os
import threading

import pytest

from scratchnet import lock
from scratchnet.errors import ScratchnetError


def test_the_lock_excludes_and_names_its_holder(tmp_path):
    path = tmp_path / "net.npz"
    with lock.exclusive(path):
        assert (tmp_path / ".net.npz.lock").read_text() == f"{os.getpid()}\n"
        # flock: two opens of the file exclude each other, even in one process
        with pytest.raises(ScratchnetError, match=f"net.npz is in use by pid {os.getpid()} .*--wait"), \
                lock.exclusive(path):
            pass
    assert not (tmp_path / ".net.npz.lock").exists()
    with lock.exclusive(path):  # free again
        pass


def test_a_waiter_locks_the_file_that_is_there_not_the_one_removed(tmp_path):
    """The holder removes the lock file as it lets go; the waiter, which had opened that file,
    must start over on a new one, or a third process could lock the new file at the same time."""
    path = tmp_path / "net.npz"
    waiting, locked, release = threading.Event(), threading.Event(), threading.Event()

    def second():
        with lock.exclusive(path, on_wait=lambda holder: waiting.set()):
            locked.set()
            release.wait(10)

    thread = threading.Thread(target=second)
    with lock.exclusive(path):
        thread.start()
        assert waiting.wait(10)
    try:
        assert locked.wait(10)
        with pytest.raises(ScratchnetError, match="in use"), lock.exclusive(path):
            pass
    finally:
        release.set()
        thread.join(10)


def test_a_stale_lock_file_is_taken_over(tmp_path):
    (tmp_path / ".net.npz.lock").write_text("999999999\n")  # left by a process that was killed
    with lock.exclusive(tmp_path / "net.npz"):
        assert (tmp_path / ".net.npz.lock").read_text() == f"{os.getpid()}\n"


def test_the_lock_is_beside_the_real_file(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "link.npz").symlink_to(tmp_path / "models" / "net.npz")  # dangling until the first save
    assert lock.lock_path(tmp_path / "link.npz") == tmp_path / "models" / ".net.npz.lock"
    with lock.exclusive(tmp_path / "link.npz"), pytest.raises(ScratchnetError, match="in use"), \
            lock.exclusive(tmp_path / "models" / "net.npz"):
        pass


def test_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(ScratchnetError, match="cannot write .*p.npz: folder .*nowhere does not exist"), \
            lock.exclusive(tmp_path / "nowhere" / "p.npz"):
        pass


def test_identity_changes_with_every_write(tmp_path):
    path = tmp_path / "f"
    assert lock.identity(path) is None
    path.write_bytes(b"one")
    first = lock.identity(path)
    assert lock.identity(path) == first
    path.write_bytes(b"two!")  # in place, another size
    assert lock.identity(path) != first
    second = lock.identity(path)
    (tmp_path / "g").write_bytes(b"two!")
    os.replace(tmp_path / "g", path)  # the same bytes, another file
    assert lock.identity(path) != second

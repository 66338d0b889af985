"""scratchnet.atomic: a written file is whole, old or new, through symlinks, onto devices, after kills
and on full or read-only disks; and nothing of ours is left behind."""

import errno
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from scratchnet import atomic, checkpoint, lock, network
from scratchnet.atomic import atomic_write
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError
from test_cli import one_line_error, run


def write(path, data: bytes = b"new", **options) -> None:
    with atomic_write(path, **options) as f:
        f.write(data)


def temps(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def device(folder, name: str, minor: int):
    """A character device like /dev/null (minor 3) or /dev/full (minor 7), made in ``folder``: a
    test on the real /dev/null would, if the code regressed, turn the machine's into a file."""
    path = folder / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        os.close(os.open(path, os.O_WRONLY))
    except PermissionError:
        pytest.skip("making and opening a device node needs root, on a file system not mounted nodev")
    return path


def is_device(path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "net.npz"
    cfg = TrainConfig(layers=(784, 8, 10))
    net = network.create(cfg.layers, cfg.hidden, cfg.output, cfg.init, cfg.dtype, np.random.default_rng(0))
    checkpoint.save(path, checkpoint.Checkpoint(net, cfg))
    return path


def test_a_symlink_is_written_through_to_its_target(tmp_path):
    (tmp_path / "models").mkdir()
    target = tmp_path / "models" / "ckpt.npz"
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / "link.npz"
    link.symlink_to("models/ckpt.npz")
    write(link)
    assert link.is_symlink() and os.readlink(link) == "models/ckpt.npz"
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o640
    assert temps(tmp_path) == temps(target.parent) == []


def test_a_chain_of_symlinks_is_followed_to_the_end(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    target = tmp_path / "b" / "file.txt"
    target.write_bytes(b"old")
    (tmp_path / "b" / "second").symlink_to("file.txt")
    (tmp_path / "a" / "first").symlink_to(tmp_path / "b" / "second")
    write(tmp_path / "a" / "first")
    assert (tmp_path / "a" / "first").is_symlink() and (tmp_path / "b" / "second").is_symlink()
    assert target.read_bytes() == b"new"


def test_a_dangling_symlink_writes_the_file_it_names(tmp_path):
    (tmp_path / "models").mkdir()
    link = tmp_path / "link.npz"
    link.symlink_to("models/new.npz")
    write(link)
    assert link.is_symlink() and (tmp_path / "models" / "new.npz").read_bytes() == b"new"


def test_a_symlink_loop_is_one_line_and_kept(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(ScratchnetError, match="cannot write .*a: Too many levels of symbolic links"):
        write(tmp_path / "a")
    assert os.readlink(tmp_path / "a") == "b" and os.readlink(tmp_path / "b") == "a"
    assert temps(tmp_path) == []


def test_train_saves_through_a_symlink(tmp_path, small_npz, capsys):
    (tmp_path / "models").mkdir()
    link = tmp_path / "link.npz"
    link.symlink_to("models/ckpt.npz")  # dangling until the first save
    for _ in range(2):  # a new network, then resumed through the link
        code, _, err = run(capsys, "train", "--data", small_npz, "-p", link, "--epochs", "1", "--batch-size", "100")
        assert code == 0, err
    assert link.is_symlink() and checkpoint.load(tmp_path / "models" / "ckpt.npz").epochs_done == 2


def test_null_device_stays_a_device(tmp_path, model, small_npz, capsys):
    null = device(tmp_path, "null", 3)
    code, _, err = run(capsys, "export", "-p", model, "-o", null)
    assert code == 0 and is_device(null), err
    code, _, err = run(capsys, "train", "--fresh", "--data", small_npz, "-p", null, "--epochs", "1",
                       "--batch-size", "100")
    assert code == 0 and is_device(null), err
    assert temps(tmp_path) == []


def test_a_full_device_is_a_one_line_error(tmp_path, model, capsys):
    full = device(tmp_path, "full", 7)
    code, _, err = run(capsys, "export", "-p", model, "-o", full)
    one_line_error(code, err, f"cannot write {full}: No space left on device")
    assert is_device(full) and temps(tmp_path) == []


def test_a_fifo_is_written_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        write(fifo, b"through the pipe")
        out, _ = reader.communicate(timeout=10)
    finally:
        reader.kill()
    assert out == b"through the pipe" and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_link_to_standard_output_writes_there(tmp_path, model):
    """As -o /dev/stdout does (a link to /proc/self/fd/1), with a link of our own to keep /dev safe."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    result = subprocess.run([sys.executable, "-m", "scratchnet.cli", "export", "-p", str(model), "-o", str(link)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("scratchnet-params 1\n") and link.is_symlink()


def test_dash_is_standard_output_where_allowed(tmp_path, model, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "export", "-p", model, "-o", "-")
    assert code == 0, err
    assert out.startswith("scratchnet-params 1\n") and out.endswith("end\n") and "wrote" not in out
    assert os.listdir(tmp_path) == []


def test_dash_is_refused_for_a_checkpoint(tmp_path, model, small_npz, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", "-", "--epochs", "1")
    one_line_error(code, err, "standard output", "read back")
    assert out == ""  # refused before any work
    text = tmp_path / "net.txt"
    assert run(capsys, "export", "-p", model, "-o", text)[0] == 0
    code, _, err = run(capsys, "import", text, "-o", "-")
    one_line_error(code, err, "standard output")
    assert os.listdir(tmp_path) == ["net.txt"]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    path = tmp_path / "c.npz"
    hang_while_writing = ("import sys, time\nfrom scratchnet.atomic import atomic_write\n"
                          "with atomic_write(sys.argv[1]) as f:\n"
                          "    f.write(b'half'); f.flush(); print(flush=True); time.sleep(60)")
    writer = subprocess.Popen([sys.executable, "-c", hang_while_writing, str(path)], stdout=subprocess.PIPE)
    try:
        writer.stdout.readline()  # it is writing now
        left = temps(tmp_path)
        assert len(left) == 1 and left[0].startswith(f".c.npz.{writer.pid}.")  # .NAME.PID.RANDOM.tmp
        write(path, b"ours")
        assert temps(tmp_path) == left  # a live writer keeps its file
    finally:
        writer.kill()  # as kill -9
        writer.wait()
    write(path, b"again")
    assert os.listdir(tmp_path) == ["c.npz"] and path.read_bytes() == b"again"


def dead_pid() -> int:
    """The pid of a process that has ended (and been waited for)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_only_our_stale_temporary_files_are_removed(tmp_path):
    dead, live = dead_pid(), os.getpid()
    stale = f".c.npz.{dead}.abc123.tmp"
    kept = [f".c.npz.{live}.abc123.tmp",  # a live process's
            f".d.npz.{dead}.abc123.tmp",  # another file's
            f".c.npz.x.{dead}.abc123.tmp",  # c.npz.x's
            f".c.npz.{dead}.tmp", f".c.npz.{dead}.a.b.tmp", f"c.npz.{dead}.abc123.tmp", "notes.tmp"]
    for name in [stale, *kept]:
        (tmp_path / name).write_bytes(b"x")
    write(tmp_path / "c.npz")
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, "c.npz"])


def test_a_failed_fsync_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    write(path, b"old")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(ScratchnetError) as info:
        write(path)
    assert str(info.value) == f"cannot write {path}: No space left on device"
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["c.npz"]


def test_a_full_disk_keeps_the_old_file(small_disk):
    path = small_disk / "c.npz"
    write(path, b"o" * 150_000)
    with pytest.raises(ScratchnetError, match=f"cannot write {path}: No space left on device"):
        write(path, b"n" * 150_000)
    assert path.read_bytes() == b"o" * 150_000 and os.listdir(small_disk) == ["c.npz"]


def test_a_read_only_folder_keeps_the_old_file(small_disk):
    path = small_disk / "c.npz"
    write(path, b"old")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(ScratchnetError, match=f"cannot write {path}: Read-only file system"):
        write(path)
    assert path.read_bytes() == b"old" and os.listdir(small_disk) == ["c.npz"]


def test_a_killed_writers_leftover_does_not_fill_the_disk(small_disk):
    path = small_disk / "c.npz"
    write(path, b"o" * 50_000)
    (small_disk / f".c.npz.{dead_pid()}.abc123.tmp").write_bytes(bytes(180_000))  # kill -9 in a save
    write(path, b"n" * 50_000)
    assert path.read_bytes() == b"n" * 50_000 and os.listdir(small_disk) == ["c.npz"]


# only_over: replace a file only if it is still the one this program last saw. The file another program
# writes at the last moment before the rename must survive: the check is made on the file the rename
# took out (a swap, RENAME_EXCHANGE), so there is no moment between a check and a rename.

def hook_renames(monkeypatch, swap: bool = True) -> list:
    """Calls, one per call of atomic's renameat2 wrapper, made right before it; without ``swap``, a system
    without renameat2, where check-then-rename is the fallback (and the moment between them stays)."""
    before = []
    real = atomic._renameat2

    def wrapped(source, target, flags):
        if before:
            before.pop(0)()
        return swap and real(source, target, flags)

    monkeypatch.setattr(atomic, "_renameat2", wrapped)
    return before


@pytest.mark.parametrize("swap", [True, False])
def test_only_over_replaces_the_file_it_names(tmp_path, monkeypatch, swap):
    hook_renames(monkeypatch, swap)
    path = tmp_path / "p.bin"
    path.write_bytes(b"old")
    write(path, only_over=lock.identity(path))
    assert path.read_bytes() == b"new" and temps(tmp_path) == []
    fresh = tmp_path / "fresh.bin"
    write(fresh, only_over=None)  # None: only where there is no file
    assert fresh.read_bytes() == b"new" and temps(tmp_path) == []


@pytest.mark.parametrize("swap", [True, False])
def test_a_file_changed_before_the_rename_is_kept(tmp_path, monkeypatch, swap):
    hook_renames(monkeypatch, swap)
    path = tmp_path / "p.bin"
    path.write_bytes(b"old")
    seen = lock.identity(path)
    path.write_bytes(b"theirs, longer")
    with pytest.raises(atomic.TargetChanged):
        write(path, only_over=seen)
    assert path.read_bytes() == b"theirs, longer" and temps(tmp_path) == []


@pytest.mark.parametrize("change", ["replace", "rewrite", "create"])
def test_a_file_written_at_the_last_moment_is_kept(tmp_path, monkeypatch, change):
    path = tmp_path / "p.bin"
    if change != "create":
        path.write_bytes(b"old")
    seen = lock.identity(path)

    def stranger():
        if change == "replace":
            (tmp_path / "theirs").write_bytes(b"theirs")
            (tmp_path / "theirs").replace(path)
        else:
            path.write_bytes(b"theirs")

    hook_renames(monkeypatch).append(stranger)  # at the rename itself: after any check made before it
    with pytest.raises(atomic.TargetChanged):
        write(path, only_over=seen)
    assert path.read_bytes() == b"theirs" and temps(tmp_path) == []


def test_a_third_writer_between_the_two_swaps_is_kept_too(tmp_path, monkeypatch):
    path = tmp_path / "p.bin"
    path.write_bytes(b"old")
    seen = lock.identity(path)
    hook_renames(monkeypatch).extend([lambda: path.write_bytes(b"second"), lambda: path.write_bytes(b"third")])
    with pytest.raises(atomic.TargetChanged):
        write(path, only_over=seen)
    (kept,) = tmp_path.glob(".p.bin.*.tmp.kept")
    assert path.read_bytes() == b"second" and kept.read_bytes() == b"third" and temps(tmp_path) == []

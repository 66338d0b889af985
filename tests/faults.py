#!/usr/bin/env python3
"""The fault harness of "never lose a file, never trust a file": bad inputs and faults, counted.

It builds a corpus of bad inputs in a temporary folder (from a 2,000/500-image slice of the
repository's data/mnist and a checkpoint it trains from it; nothing is downloaded), runs each
case as a subprocess (`python -m scratchnet.cli ...` and `csrc/scratchnet-c ...` when built) in a
folder of its own, with a timeout and a memory sampler, and classifies the run:

  ok                     exit 0, or a one-line error: a non-zero exit and one stderr line that
                         starts with the program's name (`scratchnet: `, `scratchnet train: ` for
                         usage errors, `scratchnet-c: `), and what the case expects
  traceback              a Python traceback on stderr
  crash                  ended by a signal the harness did not send, or an exit status above 128
  hang                   still running at the case's timeout
  memory above bound     peak RSS above 1 GB (or 4x the data a case legitimately declares); the
                         sampler kills a run 1 GB above its bound to protect the machine
  files lost or changed  a file of the case's folder lost, turned into another kind (a symlink or
                         a device replaced by a regular file), changed by a command that failed or
                         was not asked to write it, or litter left behind (temporary files)
  wrong behaviour        the case's expectation unmet: bad input accepted, an error message of
                         more than one line, JSON output that is not JSON, an interrupted and
                         resumed training that differs from an uninterrupted one, ...

then the fault scenarios: kill -9 at random moments and at the moment a save begins, Ctrl-C then
resume (compared bit for bit with an uninterrupted run), two trainers on one checkpoint, a full
disk (a small tmpfs) and a read-only folder (a read-only bind mount).

    python tests/faults.py [--quick | --long] [--seed N] [--out bench/results/faults.md]

Prints a table (one row per family of cases, one column per kind of failure) and the failing
cases, and writes them as Markdown to --out. Exit status: 0 when every column is 0, 1 when not,
2 when the harness itself cannot run (e.g. the commands cannot build its fixtures).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import fnmatch
import gzip
import hashlib
import io
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet.data import load_dataset

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO / "data" / "mnist"
C_PROGRAM = REPO / "csrc" / "scratchnet-c"
C_LIBRARY = REPO / "src" / "scratchnet" / "_lib" / "libscratchnet64.so"
DEFAULT_OUT = REPO / "bench" / "results" / "faults.md"
PYTHON = [sys.executable, "-m", "scratchnet.cli"]

N_TRAIN, N_TEST = 2_000, 500
MEMORY_BOUND = 10**9  # bytes; a case may declare more legitimate data (4x it is then the bound)
BOMB = 3 << 29  # 1.5 GiB of zeros: deflated, about 1.5 MB
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
COLUMNS = ("tracebacks", "crashes", "hangs", "memory above bound", "files lost or changed", "wrong behaviour")
TRACEBACK, CRASH, HANG, MEMORY, FILES, WRONG = COLUMNS
ONE_LINE = re.compile(r"scratchnet(-c)?( [a-z]+)?: ")  # `scratchnet train: error: ...` is argparse's usage error
UNICODE_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")  # Arabic-Indic: str.isdigit() and float() take them
FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


class HarnessError(Exception):
    """The harness cannot run (its fixtures cannot be built): exit status 2."""


# -----------------------------------------------------------------------------
# what a case is made of


@dataclass(frozen=True)
class File:
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Link:
    target: str


class Empty(Enum):
    """A node made empty, by its own call: os.mkfifo or Path.mkdir."""

    FIFO = "FIFO"
    FOLDER = "folder"


FIFO, FOLDER = Empty.FIFO, Empty.FOLDER


@dataclass(frozen=True)
class Device:
    major: int
    minor: int


@dataclass(frozen=True)
class Sparse:
    """A file of ``size`` bytes that takes no disk: ``head``, zeros (a hole), then ``tail`` at its end."""

    size: int
    head: bytes = b""
    tail: bytes = b""


Spec = bytes | File | Link | Empty | Device | Sparse
# The character devices a private /dev holds, with Linux's numbers (`mknod /dev/null c 1 3`).
DEV_NODES = {"dev/null": Device(1, 3), "dev/zero": Device(1, 5), "dev/full": Device(1, 7),
             "dev/random": Device(1, 8), "dev/urandom": Device(1, 9)}


@dataclass(frozen=True)
class Mount:
    """A sub-folder of the case's folder mounted for the run: ``full``, a tmpfs with ``free``
    bytes left once the case's files are in; ``ro``, a read-only bind mount of itself."""

    kind: str  # "full" or "ro"
    sub: str
    free: int = 16 << 10


@dataclass
class Case:
    family: str
    name: str
    argv: list[str]  # "py" or "c" first: `python -m scratchnet.cli` or csrc/scratchnet-c
    files: dict[str, Spec] = field(default_factory=dict)  # relative to the case's folder
    expect: str = "error"  # "error": a one-line error; "ok": exit 0; "either": one or the other
    writes: tuple[str, ...] = ()  # paths (fnmatch patterns) it may create or replace when it succeeds
    writes_on_error: bool = False  # ... and even when it fails afterwards (export > /dev/full: the file came first)
    stdin: bytes = b""
    stdout_to: str | None = None  # e.g. /dev/full
    check: Callable[[Outcome, Path], str | None] | None = None  # more to check: returns the problem
    timeout: float = 40
    legit_bytes: int = 0  # data the case legitimately declares: the memory bound is 4x it, at least 1 GB
    mount: Mount | None = None

    @property
    def private_dev(self) -> bool:
        """Paths under /dev/ on the command line: run with the case's own dev/ bound on /dev, so a
        bug that replaces /dev/null breaks a copy, never the machine's."""
        return any(a.startswith("/dev/") for a in self.argv[1:])


@dataclass
class Outcome:
    code: int | None  # exit status; None when ended by a signal
    signal: int | None
    sent: int | None  # the signal the harness sent, if it did
    stdout: bytes
    stderr: bytes
    peak_rss: int  # bytes
    seconds: float
    own_peak_rss: int = 0  # bytes, VmHWM as sampled: wait4's peak_rss counts the harness's own at the fork
    hang: bool = False
    memory_killed: bool = False

    @property
    def first_stderr_line(self) -> str:
        lines = self.stderr.decode(errors="replace").strip().splitlines()
        return lines[0] if lines else ""


@dataclass
class Row:
    """One input tried, and what went wrong with it (column -> detail)."""

    family: str
    name: str
    command: str
    problems: dict[str, str] = field(default_factory=dict)


# -----------------------------------------------------------------------------
# the runner


def child_env(work: Path) -> dict[str, str]:
    home = work / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO / "src"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(home / "mpl"),
        "SCRATCHNET_DATA_URL": "http://127.0.0.1:9/nothing-is-downloaded",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "LC_ALL": "C.UTF-8",
    }


ENV: dict[str, str] = {}


def rss(pid: int) -> int:
    """The process's peak resident memory since it started its program (VmHWM): a sample misses no peak."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(argv: list[str], cwd: Path, *, stdin: bytes = b"", stdout_to: str | None = None, timeout: float = 40,
        trigger: Callable[[float, int], bool] | None = None, signum: int = signal.SIGKILL,
        memory_bound: int = MEMORY_BOUND, preexec: Callable[[], None] | None = None) -> Outcome:
    """Run argv in cwd (its own process group) to the end, sampling its memory. ``trigger``
    (seconds so far, bytes on stdout so far) -> True sends ``signum`` once to the group."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        inp.write(stdin)
        inp.seek(0)
        with open(stdout_to, "wb") if stdout_to else contextlib.nullcontext(out) as target:
            # preexec is only given to the mount cases, which run alone: no other thread can hold a lock then
            proc = subprocess.Popen(argv, cwd=cwd, env=ENV, stdin=inp, stdout=target, stderr=err,
                                    start_new_session=True, preexec_fn=preexec)  # noqa: PLW1509
        began = time.monotonic()
        peak, sent, hang, memory_killed = 0, None, False, False
        kill_at = memory_bound + 10**9
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.monotonic() - began
            peak = max(peak, rss(proc.pid))
            if peak > kill_at and not memory_killed:
                memory_killed = True
                os.killpg(proc.pid, signal.SIGKILL)
            elif elapsed > timeout and not hang:
                hang = True
                os.killpg(proc.pid, signal.SIGKILL)
            elif trigger and sent is None and trigger(elapsed, os.fstat(out.fileno()).st_size):
                sent = signum
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signum)
            time.sleep(0.002 if trigger and sent is None else 0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        seconds = time.monotonic() - began
        out.seek(0)
        err.seek(0)
        return Outcome(
            code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            sent=sent, stdout=out.read(), stderr=err.read(), peak_rss=max(peak, usage.ru_maxrss * 1024),
            seconds=seconds, hang=hang, memory_killed=memory_killed, own_peak_rss=peak)


# "api CALL NAME...": the Python API on the names (a NUL, which no argv holds, written \\0); its errors
# printed as the command line prints them, so that anything else is a traceback
API = """import sys
import scratchnet
from scratchnet.errors import ScratchnetError
call, *names = (arg.replace("\\\\0", "\\0") for arg in sys.argv[1:])
calls = {"load": lambda: scratchnet.load(names[0]), "fit": lambda: scratchnet.fit(names[0], params=names[1], epochs=1),
         "predict_digit": lambda: scratchnet.load(names[0]).predict_digit(names[1])}
try:
    print(calls[call]())
except ScratchnetError as e:
    sys.exit(f"scratchnet: error: {e}")
"""
PROGRAMS = {"py": PYTHON, "c": [str(C_PROGRAM)], "api": [sys.executable, "-c", API]}
SHOWN = {"py": "scratchnet", "c": "csrc/scratchnet-c", "api": "python -c API"}


def program(argv: list[str]) -> list[str]:
    return PROGRAMS[argv[0]] + argv[1:]


def shown(argv: list[str], work: Path, stdin: bytes = b"", stdout_to: str | None = None) -> str:
    """The command as a reader would type it, fixtures' paths shortened."""
    words = [SHOWN[argv[0]]] + argv[1:]
    text = shlex.join(w.replace(f"{work}/", "") for w in words)
    if stdin:
        text += f" <<< {stdin.decode(errors='replace')!r}"
    return text + (f" > {stdout_to}" if stdout_to else "")


# -----------------------------------------------------------------------------
# files: making them, snapshotting them, comparing snapshots


def materialise(folder: Path, files: dict[str, Spec]) -> None:
    for name, spec in sorted(files.items()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, bytes):
            spec = File(spec)
        if isinstance(spec, File):
            path.write_bytes(spec.data)
            path.chmod(spec.mode)
        elif isinstance(spec, Link):
            os.symlink(spec.target, path)
        elif spec is FIFO:
            os.mkfifo(path)
        elif isinstance(spec, Device):
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(spec.major, spec.minor))
        elif isinstance(spec, Sparse):
            with open(path, "wb") as f:
                f.write(spec.head)
                f.truncate(spec.size - len(spec.tail))
                f.seek(0, os.SEEK_END)
                f.write(spec.tail)
        else:  # FOLDER
            path.mkdir(exist_ok=True)


KINDS = {stat.S_IFREG: "regular file", stat.S_IFDIR: "folder", stat.S_IFLNK: "symlink", stat.S_IFIFO: "FIFO",
         stat.S_IFCHR: "character device", stat.S_IFBLK: "block device", stat.S_IFSOCK: "socket"}


def file_digest(path: Path) -> str:
    """SHA-256 of a file's size and of its data, extent by extent: a sparse file's holes are not read
    (a 4 GiB one costs nothing), and a change anywhere shows."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest.update(size.to_bytes(8, "little"))
        at = 0
        while at < size:
            try:
                start = os.lseek(f.fileno(), at, os.SEEK_DATA)
            except OSError:  # no data after at: the rest is a hole
                break
            end = os.lseek(f.fileno(), start, os.SEEK_HOLE)
            digest.update(start.to_bytes(8, "little"))
            f.seek(start)
            for offset in range(start, end, 1 << 20):
                digest.update(f.read(min(1 << 20, end - offset)))
            at = end
    return digest.hexdigest()


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every path under folder: (kind, permissions, content) where content is a regular file's
    SHA-256, a symlink's target or a device's numbers. Nothing is followed or opened but files."""
    result = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(root, name)
            st = path.lstat()
            kind = KINDS.get(stat.S_IFMT(st.st_mode), "other")
            if kind == "regular file":
                content = file_digest(path)
            elif kind == "symlink":
                content = os.readlink(path)
            elif kind.endswith("device"):
                content = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                content = None
            result[str(path.relative_to(folder))] = (kind, stat.S_IMODE(st.st_mode), content)
    return result


def file_problems(before: dict, after: dict, writes: tuple[str, ...], succeeded: bool) -> list[str]:
    """A path may be created or replaced by a regular file of the same kind only when the run
    succeeded and the case asked for it; nothing may disappear or change kind."""
    allowed = succeeded and (lambda p: any(fnmatch.fnmatch(p, w) for w in writes))
    problems = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        if new is None:
            problems.append(f"{path} lost")
        elif old is None:
            if not (allowed and allowed(path)):
                problems.append(f"{path} left behind" if succeeded else f"{path} created by a run that failed")
        elif old[0] != new[0]:
            problems.append(f"{path} was a {old[0]}, now a {new[0]}")
        elif old[0] == "symlink":
            problems.append(f"{path} now points to {new[2]}, not {old[2]}")
        elif old[1] != new[1]:
            problems.append(f"{path} permissions {old[1]:o} became {new[1]:o}")
        elif not (allowed and allowed(path)):
            problems.append(f"{path} changed" + ("" if succeeded else " by a failed run"))
    return problems


# -----------------------------------------------------------------------------
# classifying a run


def process_problems(o: Outcome, timeout: float, memory_bound: int) -> dict[str, str]:
    """What is wrong with how a run ended, whatever the case expected."""
    problems = {}
    if o.hang:
        problems[HANG] = f"still running after {timeout:g} s"
    if o.memory_killed or o.peak_rss > memory_bound:
        problems[MEMORY] = (f"peak RSS {o.peak_rss / 1e6:,.0f} MB, bound {memory_bound / 1e6:,.0f} MB"
                            + (" (stopped by the harness)" if o.memory_killed else ""))
    if o.hang or o.memory_killed:
        return problems
    if o.signal is not None and o.signal != o.sent:
        problems[CRASH] = f"killed by {signal.Signals(o.signal).name}"
    elif o.code is not None and o.code > 128 and not (o.sent == signal.SIGINT and o.code == 130):
        problems[CRASH] = f"exit status {o.code}"
    text = o.stderr.decode(errors="replace")
    if "Traceback (most recent call last)" in text:
        lines = [line for line in text.splitlines() if line.strip()]
        problems[TRACEBACK] = lines[-1][:200]
    elif o.signal is None and not problems:
        lines = text.splitlines()
        if o.code == 0:
            stray = [line for line in lines if not ONE_LINE.match(line)]
            if stray:
                problems[WRONG] = f"exit 0 but prints on stderr: {stray[0][:160]!r}"
        elif len(lines) != 1 or not ONE_LINE.match(lines[0]):
            problems[WRONG] = f"not a one-line error ({len(lines)} lines): {(lines or [''])[0][:160]!r}"
    return problems


def classify(case: Case, o: Outcome, before: dict, after: dict, folder: Path) -> dict[str, str]:
    bound = max(MEMORY_BOUND, 4 * case.legit_bytes)
    problems = process_problems(o, case.timeout, bound)
    ended = o.signal is None and not o.hang and not o.memory_killed
    if ended and WRONG not in problems and TRACEBACK not in problems:
        if case.expect == "error" and o.code == 0:
            problems[WRONG] = "accepted: exit 0 where a one-line error was due"
        elif case.expect == "ok" and o.code != 0:
            problems[WRONG] = f"refused a good input: {o.first_stderr_line[:160]!r}"
        elif case.check and (problem := case.check(o, folder)):
            problems[WRONG] = problem
    files = file_problems(before, after, case.writes, ended and (o.code == 0 or case.writes_on_error))
    if files:
        problems[FILES] = "; ".join(files[:3]) + (f" (and {len(files) - 3} more)" if len(files) > 3 else "")
    return problems


# -----------------------------------------------------------------------------
# what the machine allows: mounts, private namespaces, root


@dataclass
class Abilities:
    root: bool = False
    tmpfs: bool = False
    bind_ro: bool = False
    unshare: bool = False
    chattr: bool = False
    c_engine: bool = False
    matplotlib: bool = False
    onnx: bool = False  # the optional onnx package, which .onnx files need


def quiet(*argv: str) -> bool:
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0


def probe(work: Path) -> Abilities:
    can = Abilities(root=os.geteuid() == 0)
    spot = work / "probe"
    spot.mkdir()
    if can.root:
        can.tmpfs = quiet("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(spot)) and quiet("umount", str(spot))
        can.bind_ro = quiet("mount", "--bind", "-o", "ro", str(spot), str(spot))
        if can.bind_ro:
            can.bind_ro = not quiet("touch", str(spot / "x"))
            quiet("umount", str(spot))
        can.unshare = quiet("unshare", "--mount", "--propagation", "private", "true")
        can.chattr = quiet("chattr", "+i", str(spot)) and quiet("chattr", "-i", str(spot))
    spot.rmdir()
    can.c_engine = C_PROGRAM.exists() and C_LIBRARY.exists()
    can.matplotlib = quiet(sys.executable, "-c", "import matplotlib")
    can.onnx = quiet(sys.executable, "-c", "import onnx")
    return can


ACTIVE_MOUNTS: list[Path] = []


def unmount(path: Path) -> None:
    if not quiet("umount", str(path)):
        quiet("umount", "-l", str(path))
    with contextlib.suppress(ValueError):
        ACTIVE_MOUNTS.remove(path)


@contextlib.contextmanager
def mounted(mount: Mount | None, folder: Path, files: dict[str, Spec], can: Abilities) -> Iterator[Callable[[], None] | None]:
    """Make the case's files, under its mount if it has one. Yields the preexec function that
    stands in for the mount when the machine does not allow one (RLIMIT_FSIZE for a full disk)."""
    if mount is None:
        materialise(folder, files)
        yield None
        return
    sub = folder / mount.sub
    sub.mkdir(parents=True)
    preexec = None
    if mount.kind == "full" and can.tmpfs:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=755", "tmpfs", str(sub)], check=True)
        ACTIVE_MOUNTS.append(sub)
    materialise(folder, files)
    if mount.kind == "full" and can.tmpfs:
        fill(sub / ".filler", mount.free)
    elif mount.kind == "full":
        def preexec():  # writes past `free` bytes fail with EFBIG instead of killing the process
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (mount.free, mount.free))
    elif can.bind_ro:
        subprocess.run(["mount", "--bind", str(sub), str(sub)], check=True)
        ACTIVE_MOUNTS.append(sub)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(sub)], check=True)
    else:
        subprocess.run(["chattr", "-R", "+i", str(sub)], check=True)
    try:
        yield preexec
    finally:
        if sub in ACTIVE_MOUNTS:
            unmount(sub)
        elif mount.kind == "ro":
            quiet("chattr", "-R", "-i", str(sub))


def fill(path: Path, free: int) -> None:
    """Fill the file system holding path, then give back ``free`` bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        block = bytes(1 << 16)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, block)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, block[:512])
        os.ftruncate(fd, max(os.fstat(fd).st_size - free, 0))
    finally:
        os.close(fd)


# -----------------------------------------------------------------------------
# bytes of the corpus: IDX, gzip, zip and .npy made by hand, so anything can be malformed


@dataclass(frozen=True)
class Deflated:
    """A zip member already deflated: its raw deflate bytes, CRC-32 and inflated size."""

    raw: bytes
    crc: int
    size: int


def deflate_zeros(head: bytes, zeros: int) -> Deflated:
    """head then ``zeros`` zero bytes, deflated in about a second. After a full flush the
    compressor starts afresh, so every 16 MiB of zeros deflates to the same bytes: made once, repeated."""
    chunk = bytes(1 << 24)
    count, rest = divmod(zeros, len(chunk))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    if count:
        raw += (c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)) * count
        for _ in range(count):
            crc = zlib.crc32(chunk, crc)
    raw += c.compress(bytes(rest)) + c.flush(zlib.Z_FINISH)
    return Deflated(raw, zlib.crc32(bytes(rest), crc), len(head) + zeros)


def gzip_member(d: Deflated) -> bytes:
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + d.raw + struct.pack("<II", d.crc, d.size & 0xFFFFFFFF)


def idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def npy(array: np.ndarray) -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array(f, array, allow_pickle=True)
    return f.getvalue()


def npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue()


def zip_bytes(members: list[tuple[str, bytes | Deflated]]) -> bytes:
    """A zip archive (stored members, or members deflated beforehand), as np.savez writes them."""
    body, central = bytearray(), bytearray()
    for name, data in members:
        if isinstance(data, Deflated):
            method, payload, crc, size = 8, data.raw, data.crc, data.size
        else:
            method, payload, crc, size = 0, data, zlib.crc32(data), len(data)
        encoded = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(payload), size,
                               len(encoded), 0, 0, 0, 0, 0, len(body)) + encoded
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(payload), size,
                            len(encoded), 0) + encoded + payload
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(body), 0)
    return bytes(body + central + end)


# -----------------------------------------------------------------------------
# the fixtures every case starts from


class Corpus:
    """The small dataset (an .npz and a folder of gzipped IDX files, outside every case's folder)
    and a 784-20-10 checkpoint trained for 2 epochs on it by the command line, exported as .txt
    and .json (and drawn as a PNG when matplotlib is there): the good files the cases spoil."""

    def __init__(self, work: Path, can: Abilities, rng: random.Random):
        self.work, self.can, self.rng = work, can, rng
        data = work / "data"
        data.mkdir()
        mnist = load_dataset(MNIST)
        self.arrays = {"x_train": mnist.train_images[:N_TRAIN], "y_train": mnist.train_labels[:N_TRAIN],
                       "x_test": mnist.test_images[:N_TEST], "y_test": mnist.test_labels[:N_TEST]}
        self.small = data / "small.npz"
        np.savez(self.small, **self.arrays)
        self.idx = data / "idx"
        self.idx_files = {name: gzip.compress(idx(array), mtime=0) for name, array in
                          zip(IDX_NAMES, self.arrays.values())}
        materialise(self.idx, {f"{name}.gz": content for name, content in self.idx_files.items()})
        fixtures = work / "fixtures"
        fixtures.mkdir()
        self.fixtures = fixtures
        self.command(fixtures, "py", "train", "--fresh", "-p", "base.npz", "--data", str(self.small), "--epochs", "2")
        self.command(fixtures, "py", "export", "-p", "base.npz", "-o", "base.txt")
        self.command(fixtures, "py", "export", "--format", "json", "-p", "base.npz", "-o", "base.json")
        self.base_npz = fixtures / "base.npz"
        self.base_txt = fixtures / "base.txt"
        self.npz_bytes = self.base_npz.read_bytes()
        self.txt = self.base_txt.read_text()
        self.json = (fixtures / "base.json").read_text()
        self.command(fixtures, "py", "export", "--format", "safetensors", "-p", "base.npz", "-o", "base.safetensors")
        self.safetensors = (fixtures / "base.safetensors").read_bytes()
        self.onnx = b""
        if can.onnx:
            self.command(fixtures, "py", "export", "--format", "onnx", "-p", "base.npz", "-o", "base.onnx")
            self.onnx = (fixtures / "base.onnx").read_bytes()
        self.png = None
        if can.matplotlib:
            self.command(fixtures, "py", "plot", "weights", "-p", "base.npz", "-o", "base.png")
            self.png = (fixtures / "base.png").read_bytes()
        with np.load(self.base_npz, allow_pickle=False) as npz:
            self.tensors = {name: npz[name] for name in npz.files if name != "metadata"}
            self.meta = json.loads(str(npz["metadata"]))
        self.accuracy = json.loads(self.command(fixtures, "py", "evaluate", "--json", "-p", "base.npz", "--data",
                                                str(self.small)))["accuracy"]
        w1, b1 = self.tensors["weights.1"], self.tensors["biases.1"]
        self.five_outputs = self.checkpoint(meta={"sizes": [784, 20, 5]}, config={"layers": [784, 20, 5]},
                                            tensors={"weights.1": w1[:, :5].copy(), "biases.1": b1[:5].copy()})
        self.c_trained: dict[str, np.ndarray] = {}
        if can.c_engine:  # what one epoch of --engine c makes of base.npz: Fortran-ordered weights must give the same
            shutil.copy(self.base_npz, fixtures / "c.npz")
            self.command(fixtures, "py", "train", "--engine", "c", "-p", "c.npz", "--data", str(self.small), "--epochs", "1")
            self.c_trained = {k: v for k, v in tensors(fixtures / "c.npz").items() if not k.startswith("optimizer")}
        self.fingerprint = self.snapshot_data()

    def command(self, cwd: Path, *argv: str) -> str:
        o = run(program(list(argv)), cwd, timeout=300)
        if o.code != 0:
            raise HarnessError(f"cannot build the fixtures: {shown(list(argv), self.work)} failed: "
                               f"{o.stderr.decode(errors='replace').strip()[-800:]}")
        return o.stdout.decode()

    def snapshot_data(self) -> dict:
        return {**snapshot(self.work / "data"), **snapshot(self.fixtures)}

    # checkpoints

    def checkpoint(self, *, meta: dict | None = None, config: dict | None = None, tensors: dict | None = None,
                   drop: tuple[str, ...] = (), metadata: np.ndarray | str | None = None,
                   extra: list[tuple[str, bytes | Deflated]] = ()) -> bytes:
        """base.npz with changes: metadata keys, config keys, tensors replaced or added, members
        dropped, the metadata array itself, extra zip members (any name, any bytes)."""
        values = json.loads(json.dumps(self.meta))
        values.update(meta or {})
        if config:
            values["config"] = {**values["config"], **config}
        arrays = {"metadata": np.array(json.dumps(values)) if metadata is None else np.asarray(metadata),
                  **self.tensors, **(tensors or {})}
        members = [(f"{name}.npy", npy(array)) for name, array in arrays.items() if name not in drop]
        return zip_bytes(members + list(extra))

    def dataset(self, *, extra: list[tuple[str, bytes | Deflated]] = (), drop: tuple[str, ...] = (),
                **arrays: np.ndarray) -> bytes:
        values = {**self.arrays, **arrays}
        return zip_bytes([(f"{k}.npy", npy(v)) for k, v in values.items() if k not in drop] + list(extra))

    def idx_folder(self, replace: dict[str, Spec | None], folder: str = "d") -> dict[str, Spec]:
        """The IDX folder (gzipped files) with some replaced: {file name: content}, the name raw,
        .gz or dotted (Kaggle's train-images.idx3-ubyte); None removes one."""
        files = {f"{name}.gz": content for name, content in self.idx_files.items()}
        for name, spec in replace.items():
            files.pop(name.removesuffix(".gz").replace(".idx", "-idx") + ".gz", None)
            if spec is not None:
                files[name] = spec
        return {f"{folder}/{name}": spec for name, spec in files.items()}


# -----------------------------------------------------------------------------
# the cases, family by family: what to create, what to run, what to expect


def json_stdout(o: Outcome, folder: Path) -> str | None:
    for line in o.stdout.decode(errors="replace").splitlines():
        try:
            json.loads(line)
        except ValueError:
            return f"--json printed a line that is not JSON: {line[:100]!r}"
    return None


def stops_before_training(o: Outcome, folder: Path) -> str | None:
    """The training header (`784-20-10 ..., new network: 1 epoch, lr 0.005, batch 1, ...`) comes just before
    the first epoch: a run that prints it and then fails to save has trained for nothing."""
    started = re.search(r", lr [^,\s]+, batch \d+, ", o.stdout.decode(errors="replace"))
    return "started training, then failed to save: the problem was known before any work" if started else None


def evaluates_to(accuracy: float) -> Callable[[Outcome, Path], str | None]:
    def check(o: Outcome, folder: Path) -> str | None:
        try:
            got = json.loads(o.stdout)["accuracy"]
        except (ValueError, KeyError, TypeError):
            return "evaluate --json printed no accuracy"
        return None if got == accuracy else f"accuracy {got}, but {accuracy} with the same weights in C order"
    return check


def trains_to(path: str, expected: dict[str, np.ndarray]) -> Callable[[Outcome, Path], str | None]:
    def check(o: Outcome, folder: Path) -> str | None:
        got = tensors(folder / path)
        differ = [k for k in expected if k not in got or not np.array_equal(got[k], expected[k])]
        return f"{differ[0]} differs from training the same weights in C order" if differ else None
    return check


def pick(commands: dict[str, tuple[list[str], tuple[str, ...]]], names: tuple[str, ...]) -> dict:
    return {n: commands[n] for n in names if n in commands}


def under_each(family: str, bad: list[tuple[str, Any, str]], commands: dict[str, tuple[list[str], tuple[str, ...]]],
               files: Callable[[Any], dict[str, Spec]]) -> list[Case]:
    """A case for each bad input (name, content, expect) under each command (argv, writes): ``files(content)``
    are the case's files."""
    return [Case(family, f"{name}: {command}", argv, files(content), expect, writes)
            for name, content, expect in bad for command, (argv, writes) in commands.items()]


def as_bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def checkpoint_cases(cx: Corpus, level: int) -> list[Case]:
    """Malformed .npz checkpoints, each run under the commands that use what is broken (its
    focus), and under more commands at higher levels: all must answer with one line."""
    family = "checkpoints (.npz)"
    data = ["--data", str(cx.small)]
    commands = {
        "inspect": (["py", "inspect", "-p", "ck.npz"], ()),
        "evaluate": (["py", "evaluate", "-p", "ck.npz", *data], ()),
        "train": (["py", "train", "-p", "ck.npz", *data], ("ck.npz",)),
        "export": (["py", "export", "-p", "ck.npz", "-o", "out.txt"], ("out.txt",)),
        "predict": (["py", "predict", "-p", "ck.npz", *data, "0"], ()),
        "plot history": (["py", "plot", "history", "-p", "ck.npz", "-o", "h.png"], ("h.png",)),
        "plot weights": (["py", "plot", "weights", "-p", "ck.npz", "-o", "w.png"], ("w.png",)),
        "evaluate --engine c": (["py", "evaluate", "--engine", "c", "-p", "ck.npz", *data], ()),
        "train --engine c": (["py", "train", "--engine", "c", "-p", "ck.npz", *data], ("ck.npz",)),
    }
    if not cx.can.matplotlib:
        commands = {k: v for k, v in commands.items() if not k.startswith("plot")}
    if not cx.can.c_engine:
        commands = {k: v for k, v in commands.items() if "engine" not in k}
    everywhere = [(), ("inspect", "evaluate", "train", "export"), tuple(commands)][level]
    # quick: each file under the first command of its focus; then all of its focus, then more
    ck = cx.checkpoint
    w0 = cx.tensors["weights.0"]
    deep = '{"format": "scratchnet-checkpoint", "version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    nan = w0.copy()
    nan[3, 4] = np.nan
    bomb = deflate_zeros(npy_header("<f8", (BOMB // 8,)), BOMB)
    everything = tuple(commands)
    bad = [  # name, file, focus (commands always run), commands that must refuse it (the others may accept it)
        ("config is a list", ck(meta={"config": [1, 2]}), ("inspect", "train"), ("train",)),
        ("config is null", ck(meta={"config": None}), ("train",), ("train",)),
        ("config is a string", ck(meta={"config": "sgd"}), ("train",), ("train",)),
        ("metadata nested 100,000 deep", ck(metadata=deep), ("inspect",), everything),
        ("metadata not JSON", ck(metadata="{"), ("inspect",), everything),
        ("no metadata", ck(drop=("metadata",)), ("inspect",), everything),
        ("metadata an array of integers", ck(metadata=np.arange(3)), ("inspect",), everything),
        ("format version 2", ck(meta={"version": 2}), ("inspect",), everything),
        ("a member that is not .npy (weights.0)", ck(drop=("weights.0",), extra=[("weights.0", b"not an array")]),
         ("inspect", "evaluate"), everything),
        ("weights.0.npy holding garbage", ck(drop=("weights.0",), extra=[("weights.0.npy", b"\x93NUMPY garbage")]),
         ("inspect",), everything),
        ("an extra member notes.txt", ck(extra=[("notes.txt", b"hello\n")]), ("inspect",), ()),
        ("epochs_done negative", ck(meta={"epochs_done": -3}), ("inspect", "train"), everything),
        ("epochs_done a string", ck(meta={"epochs_done": "two"}), ("inspect",), everything),
        ("epochs_done 10^30", ck(meta={"epochs_done": 10**30}), ("inspect", "train"), ()),
        ("partial_epoch_samples negative", ck(meta={"partial_epoch_samples": -5}), ("train",), ("train",)),
        ("partial_epoch_samples beyond the data", ck(meta={"partial_epoch_samples": 10**9}), ("train",), ("train",)),
        ("config seed negative", ck(config={"seed": -1}), ("train",), ("train",)),
        ("config epochs negative", ck(config={"epochs": -5}), ("train",), ("train",)),
        ("config lr not a number", ck(config={"lr": "fast"}), ("train",), ("train",)),
        ("config lr null", ck(config={"lr": None}), ("train",), ("train",)),
        ("config shuffle a string", ck(config={"shuffle": "no"}), ("train",), ()),
        ("config layers disagree with sizes", ck(config={"layers": [784, 30, 10]}), ("train",), ()),
        ("history entries not objects", ck(meta={"history": [1, "x", None]}), ("export", "plot history"), ()),
        ("history numbers as strings", ck(meta={"history": [{k: "x" for k in cx.meta["history"][0]}]}),
         ("export", "plot history"), ()),
        ("history a string", ck(meta={"history": "abc"}), ("export", "plot history"), ()),
        ("history entries missing keys", ck(meta={"history": [{}, {"epoch": 2}]}), ("plot history", "export"), ()),
        ("weights as integers", ck(tensors={"weights.0": w0.astype(np.int64)}), ("inspect",), everything),
        ("a NaN weight", ck(tensors={"weights.0": nan}), ("inspect",), everything),
        ("weights of the wrong shape", ck(tensors={"weights.0": w0[:100]}), ("inspect",), everything),
        ("biases.1 missing", ck(drop=("biases.1",)), ("inspect",), everything),
        ("weights a pickled object array", ck(tensors={"weights.0": w0.astype(object)}), ("inspect",), everything),
        ("optimizer.steps not a number, adam", ck(config={"optimizer": "adam"},
         tensors={"optimizer.steps": np.array("many")}), ("train",), ()),
        ("optimizer velocity float32, momentum", ck(config={"optimizer": "momentum"}, tensors={
            "optimizer.velocity.weights.0": w0.astype(np.float32)}), ("train",), ()),
        ("an extra member inflating to 1.5 GiB", ck(extra=[("optimizer.junk.npy", bomb)]),
         ("inspect", "evaluate"), ()),
        ("an extra .npy declaring 10^12 numbers", ck(extra=[("optimizer.huge.npy", npy_header("<f8", (10**12,)))]),
         ("inspect",), ()),
        ("cut in half", cx.npz_bytes[: len(cx.npz_bytes) // 2], ("inspect",), everything),
        ("empty", b"", ("inspect", "train"), everything),
        ("text, not a zip", b"hello\n", ("inspect",), everything),
        ("a zip of nothing", zip_bytes([]), ("inspect",), everything),
        ("sizes with a zero", ck(meta={"sizes": [784, 0, 10]}), ("inspect",), everything),
        ("sizes a string", ck(meta={"sizes": "784-20-10"}), ("inspect",), everything),
        ("dtype float16", ck(meta={"dtype": "float16"}), ("inspect",), everything),
        ("hidden activation unknown", ck(meta={"hidden": "swish"}), ("inspect",), everything),
        ("sizes of 100 layers", ck(meta={"sizes": [10] * 100}), ("inspect",), everything),
        # a valid network, which cannot answer labels 5 to 9: what reads the data refuses it
        ("5 outputs for 10 labels", cx.five_outputs, ("evaluate", "plot confusion"),
         ("evaluate", "plot confusion", "predict", "train", "evaluate --engine c", "train --engine c")),
    ]
    commands["plot confusion"] = (["py", "plot", "confusion", "-p", "ck.npz", *data, "-o", "c.png"], ("c.png",))
    if not cx.can.matplotlib:
        commands.pop("plot confusion")
    cases = []
    for name, content, focus, refused in bad:
        chosen = [c for c in focus if c in commands][:1] if level == 0 else list(dict.fromkeys(focus + everywhere))
        for command, (argv, writes) in pick(commands, tuple(chosen)).items():
            cases.append(Case(family, f"{name}: {command}", argv, {"ck.npz": content},
                              "error" if command in refused else "either", writes))
    fortran = ck(tensors={k: np.asfortranarray(v) for k, v in cx.tensors.items() if k.startswith("weights")})
    cases.append(Case(family, "Fortran-ordered weights: evaluate --json", ["py", "evaluate", "--json", "-p", "ck.npz",
                      *data], {"ck.npz": fortran}, "ok", check=evaluates_to(cx.accuracy)))
    if cx.can.c_engine:
        cases.append(Case(family, "Fortran-ordered weights: evaluate --json --engine c",
                          ["py", "evaluate", "--json", "--engine", "c", "-p", "ck.npz", *data], {"ck.npz": fortran},
                          "ok", check=evaluates_to(cx.accuracy)))
        cases.append(Case(family, "Fortran-ordered weights: train --engine c --epochs 1",
                          ["py", "train", "--engine", "c", "-p", "ck.npz", *data, "--epochs", "1"], {"ck.npz": fortran},
                          "ok", ("ck.npz",), check=trains_to("ck.npz", cx.c_trained)))
    return cases


def text_cases(cx: Corpus, level: int) -> list[Case]:
    """Malformed text parameter files (docs/FORMAT.md), read by Python and by scratchnet-c."""
    family = "text parameters (.txt)"
    idx_data, small = str(cx.idx), str(cx.small)
    commands = {
        "import": (["py", "import", "p.txt", "-o", "out.npz"], ("out.npz",)),
        "C predict": (["c", "predict", "--params", "p.txt", "--data", idx_data, "0"], ()),
        "inspect": (["py", "inspect", "-p", "p.txt"], ()),
        "train": (["py", "train", "-p", "p.txt", "--data", small, "--epochs", "1"], ("p.txt",)),
        "C train": (["c", "train", "--params", "p.txt", "--data", idx_data, "--epochs", "1"], ("p.txt",)),
    }
    if not cx.can.c_engine:
        commands = {k: v for k, v in commands.items() if not k.startswith("C ")}
    names = [("import", "C predict"), ("import", "C predict", "inspect"), tuple(commands)][level]
    t = cx.txt
    first = re.search(r"^neuron 0 bias (\S+) weights (\S+) ", t, re.MULTILINE)

    def weight(token: str) -> str:
        return t[: first.start(2)] + token + t[first.end(2):]

    def header(sizes: str, body: str) -> str:
        return f"scratchnet-params 1\nsizes {sizes}\nhidden sigmoid\noutput sigmoid\ndtype float64\n{body}end\n"

    def float32(text: str) -> str:
        return text.replace("\ndtype float64\n", "\ndtype float32\n", 1)

    line = t[first.start(): t.index("\n", first.start())]
    chain = "784 " + "1 " * 298 + "10"
    chain_body = "".join(f"layer {k} inputs {n_in} neurons {n_out}\n" + "".join(
        f"neuron {j} bias 0 weights {' '.join(['0'] * n_in)}\n" for j in range(n_out))
        for k, (n_in, n_out) in enumerate(zip(map(int, chain.split()), map(int, chain.split()[1:])), start=1))
    bad = [  # name, content, expect
        ("Unicode digits in sizes", t.replace("sizes 784 ", "sizes " + "784".translate(UNICODE_DIGITS) + " ", 1), "error"),
        ("Unicode digits in a weight", weight(first.group(2).translate(UNICODE_DIGITS)), "error"),
        ("fullwidth digits in epochs", re.sub(r"^epochs (\d+)", lambda m: "epochs " + m[1].translate(FULLWIDTH_DIGITS),
                                              t, count=1, flags=re.MULTILINE), "error"),
        ("CR-only line breaks", t.replace("\n", "\r"), "error"),
        ("no-break spaces between numbers", t.replace(line, line.replace(" ", "\u00a0")), "error"),
        ("header sizes 100000 100000", header("100000 100000", "layer 1 inputs 100000 neurons 100000\n"
                                                "neuron 0 bias 0 weights 0\n"), "error"),
        ("header sizes 784 1000000 10, one neuron", header("784 1000000 10", "layer 1 inputs 784 neurons 1000000\n"
                                                            "neuron 0 bias 0 weights 0\n"), "error"),
        ("a hex float", weight("0x1p-3"), "error"),
        ("nan", weight("nan"), "error"),
        ("-inf", weight("-inf"), "error"),
        ("1e999", weight("1e999"), "error"),
        ("1_0 with an underscore", weight("1_0"), "error"),
        ("a number of 5,000 digits", weight("0." + "1" * 5000), "either"),
        ("cut short before layer 2", t[: t.index("layer 2")], "error"),
        ("no end line", t.replace("\nend\n", "\n"), "error"),
        ("an extra neuron", t.replace("\nend\n", "\nneuron 10 bias 0 weights " + " ".join(["0"] * 20) + "\nend\n"), "error"),
        ("empty", "", "error"),
        ("binary garbage", cx.rng.randbytes(4096), "error"),
        ("invalid UTF-8 in a comment", t.encode().replace(b"# Every", b"# \xff\xfe Every", 1), "either"),
        ("a NUL byte in a number", weight("0.\x005"), "error"),
        ("a UTF-8 byte-order mark", "\ufeff" + t, "either"),
        ("tabs between tokens", t.replace(line, line.replace(" ", "\t")), "ok"),
        ("CRLF line ends", t.replace("\n", "\r\n"), "ok"),
        ("epochs 10^30", re.sub(r"^epochs \d+", "epochs 1" + "0" * 30, t, count=1, flags=re.MULTILINE), "either"),
        ("epochs -1", re.sub(r"^epochs \d+", "epochs -1", t, count=1, flags=re.MULTILINE), "error"),
        # more than docs/FORMAT.md's bound for 784-20-10 (2 MB): refused before being read
        ("a 5 MB comment line", t.replace("\n", "\n# " + "x" * 5_000_000 + "\n", 1), "error"),
        ("a 0.9 MB comment line", t.replace("\n", "\n# " + "x" * 900_000 + "\n", 1), "ok"),
        ("300 layers", header(chain, chain_body), "either"),
        ("a neuron split over two lines", t.replace(line, line.replace(" ", "\n", 8)), "error"),
        ("sizes twice", t.replace("\nhidden ", "\nsizes 784 20 10\nhidden ", 1), "error"),
        ("float32, a weight of 1e39", float32(weight("1e39")), "error"),
        ("a layer line with 10^30 inputs", t.replace("layer 1 inputs 784", "layer 1 inputs 1" + "0" * 30, 1), "error"),
    ]
    return under_each(family, bad, pick(commands, names), lambda content: {"p.txt": as_bytes(content)})


def json_cases(cx: Corpus, level: int) -> list[Case]:
    """Malformed JSON parameter files: JSON's own traps (strings for numbers, NaN, depth)."""
    family = "JSON parameters (.json)"
    commands = {"import": (["py", "import", "p.json", "-o", "out.npz"], ("out.npz",)),
                "inspect": (["py", "inspect", "-p", "p.json"], ())}
    names = [("import",), ("import", "inspect"), ("import", "inspect")][level]
    j = cx.json
    w = re.search(r'"weights": \[\s*\[([^,\]]+)', j)
    b = re.search(r'"biases": \[([^,\]]+)', j)

    def weight(token: str) -> str:
        return j[: w.start(1)] + token + j[w.end(1):]

    tiny = ('{"format": "scratchnet-params", "version": 1, "sizes": [100000, 100000], "hidden": "sigmoid", '
            '"output": "sigmoid", "dtype": "float64", "layers": [{"biases": [0], "weights": [[0]]}]}')
    bad = [
        ("a weight as a JSON string", weight(f'"{w[1]}"'), "error"),
        ("a bias as a JSON string", j[: b.start(1)] + f'"{b[1]}"' + j[b.end(1):], "error"),
        ("sizes as strings", j.replace('"sizes": [784, 20, 10]', '"sizes": ["784", "20", "10"]'), "error"),
        ("epochs as a string", re.sub(r'"epochs": (\d+)', r'"epochs": "\1"', j, count=1), "error"),
        ("epochs negative", re.sub(r'"epochs": (\d+)', r'"epochs": -5', j, count=1), "error"),
        ("epochs 2.5", re.sub(r'"epochs": (\d+)', r'"epochs": 2.5', j, count=1), "error"),
        ("nested 100,000 deep", "[" * 100_000 + "]" * 100_000, "error"),
        ("a list at the top", "[" + j + "]", "error"),
        ("a NaN weight", weight("NaN"), "error"),
        ("a weight of 1e400", weight("1e400"), "error"),
        ("float32, a weight of 1e39", weight("1e39").replace('"dtype": "float64"', '"dtype": "float32"', 1), "error"),
        ("true as a weight", weight("true"), "error"),
        ("sizes 100000 100000, one weight", tiny, "error"),
        ("invalid UTF-8", j.encode().replace(b'"summary": "', b'"summary": "\xff', 1), "error"),
        ("Unicode digits in a number", weight(w[1].translate(UNICODE_DIGITS)), "error"),
        ("cut short", j[: len(j) // 2], "error"),
        ("empty", "", "error"),
        ("a duplicate key", j.replace("{", '{"epochs": 3, ', 1), "either"),
        ("sizes a string", j.replace('"sizes": [784, 20, 10]', '"sizes": "784"'), "error"),
        ("no format", j.replace('"format": "scratchnet-params", ', ""), "error"),
    ]
    return under_each(family, bad, pick(commands, names), lambda content: {"p.json": as_bytes(content)})


def idx_cases(cx: Corpus, level: int) -> list[Case]:
    """A folder of IDX files with one of them spoilt, read by Python and by scratchnet-c."""
    family = "IDX datasets"
    commands = {
        "evaluate": (["py", "evaluate", "-p", str(cx.base_npz), "--data", "d"], ()),
        "C train": (["c", "train", "--fresh", "--params", "new.txt", "--data", "d", "--epochs", "1"], ("new.txt",)),
        "train": (["py", "train", "--fresh", "-p", "new.npz", "--data", "d", "--epochs", "1"], ("new.npz",)),
    }
    if not cx.can.c_engine:
        commands.pop("C train")
    names = [("evaluate", "C train"), ("evaluate", "C train"), tuple(commands)][level]
    images, labels = cx.arrays["x_train"], cx.arrays["y_train"]
    test_images, test_labels = cx.arrays["x_test"], cx.arrays["y_test"]
    n = BOMB // 784
    bomb = gzip_member(deflate_zeros(bytes([0, 0, 8, 3]) + struct.pack(">3I", n, 28, 28), n * 784))
    gz = cx.idx_files["train-images-idx3-ubyte"]
    bad_crc = gz[:-8] + struct.pack("<I", zlib.crc32(b"x")) + gz[-4:]
    raw = idx(images)
    label10 = test_labels.copy()
    label10[7] = 10
    dotted = {name.replace("-idx", ".idx"): idx(a) for name, a in zip(IDX_NAMES, cx.arrays.values())}
    half = len(raw) // 2
    bad = [  # name, replaced files, expect, timeout
        ("gzip bomb: 1.5 GiB of zeros in 1.5 MB", {TRAIN_IMAGES + ".gz": bomb}, "either"),
        ("255 dimensions", {TRAIN_IMAGES: bytes([0, 0, 8, 255]) + struct.pack(">255I", *[1] * 255) + b"\0"},
         "error"),
        ("images with 4 dimensions", {TRAIN_IMAGES: idx(images[:, :, :, None])}, "error"),
        ("dimensions that overflow", {TRAIN_IMAGES: bytes([0, 0, 8, 3]) + struct.pack(">3I", *[2**32 - 1] * 3)
                                      + bytes(10)}, "error"),
        ("data cut short", {TRAIN_IMAGES: raw[:-100]}, "error"),
        ("trailing bytes", {TRAIN_IMAGES: raw + bytes(10)}, "error"),
        ("header cut short", {TRAIN_IMAGES: raw[:9]}, "error"),
        ("wrong magic number", {TRAIN_IMAGES: b"\x01\x02" + raw[2:]}, "error"),
        ("float data, type 0x0D", {TRAIN_IMAGES: bytes([0, 0, 0x0D]) + raw[3:]}, "error"),
        ("a label of 10", {TEST_LABELS: idx(label10)}, "error"),
        ("one label short", {TRAIN_LABELS: idx(labels[:-1])}, "error"),
        ("no images", {TRAIN_IMAGES: idx(images[:0]), TRAIN_LABELS: idx(labels[:0])}, "error"),
        ("1x1 images", {TRAIN_IMAGES: idx(images[:, :1, :1]),
                        TEST_IMAGES: idx(test_images[:, :1, :1])}, "error"),
        ("test images 27x27", {TEST_IMAGES: idx(np.ascontiguousarray(test_images[:, :27, :27]))}, "error"),
        ("an empty file", {TRAIN_IMAGES: b""}, "error"),
        ("gzip cut short", {TRAIN_IMAGES + ".gz": gz[: len(gz) // 2]}, "error"),
        ("gzip with a bad CRC", {TRAIN_IMAGES + ".gz": bad_crc}, "error"),
        ("gzip with trailing garbage", {TRAIN_IMAGES + ".gz": gz + b"garbage"}, "either"),
        ("two gzip members", {TRAIN_IMAGES + ".gz": gzip.compress(raw[:half], mtime=0)
                              + gzip.compress(raw[half:], mtime=0)}, "either"),
        ("train images missing", {TRAIN_IMAGES + ".gz": None}, "error"),
        ("train images a FIFO", {TRAIN_IMAGES: FIFO}, "error"),
        ("train images a symlink to /dev/zero", {TRAIN_IMAGES: Link("/dev/zero")}, "error"),
        ("train images a folder", {TRAIN_IMAGES: FOLDER}, "error"),
        ("raw and gzipped files mixed", {TRAIN_LABELS: idx(labels)}, "ok"),
        ("Kaggle's dotted names", dotted, "ok"),
    ]
    return under_each(family, bad, pick(commands, names), cx.idx_folder)


def dataset_cases(cx: Corpus, level: int) -> list[Case]:
    """Keras-layout .npz datasets, malformed."""
    family = "npz datasets"
    commands = {
        "evaluate": (["py", "evaluate", "-p", str(cx.base_npz), "--data", "ds.npz"], ()),
        "train": (["py", "train", "--fresh", "-p", "new.npz", "--data", "ds.npz", "--epochs", "1"], ("new.npz",)),
        "show": (["py", "show", "0", "--data", "ds.npz"], ()),
    }
    names = [("evaluate",), ("evaluate", "train"), tuple(commands)][level]
    a, ds = cx.arrays, cx.dataset
    label10 = a["y_train"].copy()
    label10[5] = 10
    n = BOMB // 784
    bomb = deflate_zeros(npy_header("|u1", (n, 28, 28)), n * 784)
    small = cx.small.read_bytes()
    bad = [
        ("y_test missing", ds(drop=("y_test",)), "error"),
        ("float images", ds(x_train=a["x_train"].astype(np.float32)), "error"),
        ("int64 labels", ds(y_train=a["y_train"].astype(np.int64)), "error"),
        ("a label of 10", ds(y_train=label10), "error"),
        ("flat 2-D images", ds(x_train=a["x_train"].reshape(N_TRAIN, -1)), "error"),
        ("a pickled object array", ds(x_train=a["x_train"].astype(object)), "error"),
        ("x_train a member that is not .npy", ds(drop=("x_train",), extra=[("x_train", b"not an array")]), "error"),
        ("x_train declaring 10^12 images", ds(drop=("x_train",), extra=[("x_train.npy", npy_header("|u1", (10**12, 28, 28)))]),
         "error"),
        ("zip bomb: x_train inflating to 1.5 GiB", ds(drop=("x_train",), extra=[("x_train.npy", bomb)]), "either"),
        ("cut in half", small[: len(small) // 2], "error"),
        ("empty", b"", "error"),
        ("text, not a zip", b"x_train\n", "error"),
        ("test images 27x27", ds(x_test=np.ascontiguousarray(a["x_test"][:, :27, :27])), "error"),
        ("no training images", ds(x_train=a["x_train"][:0], y_train=a["y_train"][:0]), "error"),
        ("Fortran-ordered images", ds(x_train=np.asfortranarray(a["x_train"])), "ok"),
        ("more labels than images", ds(y_train=np.concatenate([a["y_train"], a["y_train"][:5]])), "error"),
        ("an extra member", ds(extra=[("notes.txt", b"hello\n")]), "ok"),
        ("big-endian 2-byte labels", ds(y_train=a["y_train"].astype(">u2")), "error"),
    ]
    return under_each(family, bad, pick(commands, names), lambda content: {"ds.npz": content})


def image_cases(cx: Corpus, level: int) -> list[Case]:
    """Pictures for `predict --image`: damaged, empty, blank, huge or not pictures at all."""
    from PIL import Image

    family = "images"

    def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
        out = io.BytesIO()
        image.save(out, fmt, **options)
        return out.getvalue()

    seven = Image.fromarray(255 - cx.arrays["x_test"][0]).resize((200, 200))
    png = encoded(seven)
    bomb = encoded(Image.new("L", (12000, 12000), 255), optimize=True)  # 144 megapixels in a few hundred KB
    commands = {"predict": ["py", "predict", "--image", "pic", "-p", str(cx.base_npz)],
                "predict --json": ["py", "predict", "--json", "--image", "pic", "-p", str(cx.base_npz)]}
    names = [("predict",), ("predict",), tuple(commands)][level]
    bad = [
        ("a good PNG", png, "ok"),
        ("a good JPEG", encoded(seven.convert("RGB"), "JPEG"), "ok"),
        ("an empty file", b"", "error"),
        ("a PNG cut in half", png[: len(png) // 2], "error"),
        ("text, not a picture", b"7\n", "error"),
        ("a blank white page", encoded(Image.new("L", (300, 300), 255)), "error"),
        ("a PNG declaring 20000x20000", png[:16] + (20000).to_bytes(4, "big") * 2 + png[24:], "error"),
        ("a decompression bomb", bomb, "error"),
        ("a 1x1 picture", encoded(Image.new("L", (1, 1), 0)), "either"),
    ]
    return [Case(family, f"{name}: {command}", [name.replace(" ", "_") if a == "pic" else a for a in argv],
                 {name.replace(" ", "_"): content}, expect)
            for name, content, expect in bad for command, argv in pick(commands, names).items()]


def onnx_variants(cx: Corpus) -> list[tuple[str, bytes]]:
    """base.onnx spoilt as a hostile or foreign file could be: (name, bytes); each must be refused."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def changed(change: Callable[[onnx.ModelProto], None]) -> bytes:
        model = onnx.load_model_from_string(cx.onnx)
        change(model)
        return model.SerializeToString()

    def insert(node) -> Callable[[onnx.ModelProto], None]:
        return lambda m: m.graph.node.insert(1, node)

    def replace(name: str, array: np.ndarray) -> Callable[[onnx.ModelProto], None]:
        def change(m: onnx.ModelProto) -> None:
            tensor = next(t for t in m.graph.initializer if t.name == name)
            tensor.CopyFrom(numpy_helper.from_array(array, name))
        return change

    def external(location: str) -> Callable[[onnx.ModelProto], None]:
        def change(m: onnx.ModelProto) -> None:
            tensor = m.graph.initializer[0]
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", location), ("offset", "0"), ("length", str(8 * np.prod(tensor.dims)))):
                tensor.external_data.add(key=key, value=value)
        return change

    w1 = cx.tensors["weights.0"]
    nan = w1.copy()
    nan[5, 5] = np.nan
    loop = helper.make_node("Loop", ["", "", "layer1.z"], ["looped"], name="loop",
                            body=helper.make_graph([], "body", [], []))
    return [
        ("cut in half", cx.onnx[: len(cx.onnx) // 2]),
        ("random bytes", cx.rng.randbytes(len(cx.onnx))),
        ("empty", b""),
        ("a Loop", changed(insert(loop))),
        ("a Conv", changed(insert(helper.make_node("Conv", ["layer1.z", "layer1.weight"], ["c"], name="conv")))),
        ("a cycle", changed(insert(helper.make_node("Add", ["layer1.z", "layer2.z"], ["layer1.q"], name="cycle")))),
        ("shapes that do not chain", changed(replace("layer2.weight", np.zeros((30, 10))))),
        ("a NaN weight", changed(replace("layer1.weight", nan))),
        ("external data at /etc/passwd", changed(external("/etc/passwd"))),
        ("external data at ../../x", changed(external("../../x"))),
        ("a tensor declaring 10^12 numbers", changed(lambda m: m.graph.initializer[0].dims.__setitem__(
            slice(None), [10**6, 10**6]))),
    ]


def bridge_cases(cx: Corpus, level: int) -> list[Case]:
    """Hostile .onnx and .safetensors files, read wherever parameters are read: one line each."""
    family = "ONNX and safetensors"
    data = ["--data", str(cx.small)]
    commands = {
        "evaluate": (["py", "evaluate", "-p", "NAME", *data], ()),
        "import": (["py", "import", "NAME", "-o", "out.npz"], ("out.npz",)),
        "inspect": (["py", "inspect", "-p", "NAME"], ()),
        "train": (["py", "train", "-p", "NAME", *data, "--epochs", "1"], ("NAME",)),
    }
    names = [("evaluate",), ("evaluate", "import"), tuple(commands)][level]
    st = cx.safetensors
    (n,) = struct.unpack("<Q", st[:8])
    header = json.loads(st[8 : 8 + n])
    no_meta = json.dumps({k: v for k, v in header.items() if k != "__metadata__"}).encode()
    huge = json.loads(json.dumps(header))
    huge["weights.0"]["shape"] = [10**6, 10**6]
    nan = bytearray(st)
    at = 8 + n + header["weights.0"]["data_offsets"][0] + 8 * 100  # a weight of pixel 100
    nan[at : at + 8] = struct.pack("<d", float("nan"))
    files = [(f"{name}", "m.safetensors", content) for name, content in (
        ("safetensors cut in half", st[: len(st) // 2]),
        ("safetensors of random bytes", cx.rng.randbytes(len(st))),
        ("safetensors declaring a 100 MB header", struct.pack("<Q", 100 << 20) + st[8:]),
        ("safetensors without metadata", struct.pack("<Q", len(no_meta)) + no_meta + st[8 + n:]),
        ("safetensors declaring 10^12 numbers", struct.pack("<Q", len(json.dumps(huge))) + json.dumps(huge).encode()
         + st[8 + n:]),
        ("safetensors with a NaN weight", bytes(nan)),
    )]
    if cx.can.onnx:
        files += [(f"ONNX {name}", "m.onnx", content) for name, content in onnx_variants(cx)]
    cases = [Case(family, f"{name}: {command}", [file if a == "NAME" else a for a in argv], {file: content}, "error",
                  tuple(file if w == "NAME" else w for w in writes))
             for name, file, content in files for command, (argv, writes) in pick(commands, names).items()]
    for file, content in (("m.safetensors", st), ("m.onnx", cx.onnx)):
        if content:  # the good files give the checkpoint's accuracy
            cases.append(Case(family, f"{file}, exported: evaluate --json", ["py", "evaluate", "--json", "-p", file,
                              *data], {file: content}, "ok", check=evaluates_to(cx.accuracy)))
    return cases


def under_300_mb(o: Outcome, folder: Path) -> str | None:
    """Issue 21's target for a hostile file: a peak RSS under 300 MB."""
    return f"peak RSS {o.own_peak_rss / 1e6:,.0f} MB, more than 300 MB" if o.own_peak_rss > 300e6 else None


def shown_safely(o: Outcome, folder: Path) -> str | None:
    """No control character from a name reaches the terminal raw: no escape, no line that a name began."""
    text = o.stdout + o.stderr
    if b"\x1b" in text or b"\x07" in text:
        return "a name's control characters reached the terminal raw"
    if any(line.startswith(b"fake.png") for line in text.splitlines()):
        return "a newline in a name printed a line of its own"
    return None


def trust_cases(cx: Corpus, level: int) -> list[Case]:
    """Issue 21's hostile inputs: 4 GiB sparse files for every reader, huge comments, names with control
    characters, NUL in the API's paths, floating-point pictures."""
    from PIL import Image

    family = "bounds and names"
    data, base = ["--data", str(cx.small)], str(cx.base_npz)
    big = Sparse(4 << 30)
    header_end = cx.txt.index("layer 1 ")  # a comment after the header, before the layers
    huge_comment = Sparse(600 << 20, (cx.txt[:header_end] + "# ").encode(), ("\n" + cx.txt[header_end:]).encode())
    first_comment = Sparse(600 << 20, b"# ", ("\n" + cx.txt).encode())
    in_bound = (cx.txt[:header_end] + "# " + "x" * (1 << 20) + "\n" + cx.txt[header_end:]).encode()
    seven = Image.fromarray(255 - cx.arrays["x_test"][0]).resize((200, 200))
    png, tiff = io.BytesIO(), io.BytesIO()
    seven.save(png, "PNG")
    Image.fromarray(np.asarray(seven, np.float32) / 255, "F").save(tiff, "TIFF")
    cases = [
        Case(family, "a 4 GiB sparse .txt: inspect", ["py", "inspect", "-p", "big.txt"], {"big.txt": big}),
        Case(family, "a 4 GiB sparse .txt: import", ["py", "import", "big.txt", "-o", "out.npz"], {"big.txt": big}),
        Case(family, "a 4 GiB sparse .json: inspect", ["py", "inspect", "-p", "big.json"], {"big.json": big}),
        Case(family, "a 4 GiB sparse .json: import", ["py", "import", "big.json", "-o", "out.npz"], {"big.json": big}),
        Case(family, "a 4 GiB sparse .npz: evaluate -p", ["py", "evaluate", "-p", "big.npz", *data], {"big.npz": big}),
        Case(family, "a 4 GiB sparse .npz: --data", ["py", "evaluate", "-p", base, "--data", "big.npz"],
             {"big.npz": big}),
        Case(family, "a 4 GiB sparse IDX file: --data", ["py", "evaluate", "-p", base, "--data", "d"],
             cx.idx_folder({TRAIN_IMAGES: big})),
        Case(family, "a 4 GiB sparse picture: predict --image", ["py", "predict", "-p", base, "--image", "big.png"],
             {"big.png": big}),
        Case(family, "a 600 MB comment in the header: inspect", ["py", "inspect", "-p", "c.txt"], {"c.txt": huge_comment}),
        Case(family, "a 600 MB comment first: import", ["py", "import", "c.txt", "-o", "out.npz"],
             {"c.txt": first_comment}),
        Case(family, "a 1 MB comment, within the bound: import", ["py", "import", "c.txt", "-o", "out.npz"],
             {"c.txt": in_bound}, "ok", writes=("out.npz",)),
        Case(family, "a picture named with a newline and a fake result: predict --image",
             ["py", "predict", "-p", base, "--image", "seven\nfake.png: prediction 3 (confidence 1.00)"],
             {"seven\nfake.png: prediction 3 (confidence 1.00)": png.getvalue()}, "ok"),
        Case(family, "a picture named with terminal escapes: predict --image",
             ["py", "predict", "-p", base, "--image", "\x1b[2J\x1b]0;owned\x07.png"],
             {"\x1b[2J\x1b]0;owned\x07.png": png.getvalue()}, "ok"),
        Case(family, "a missing checkpoint named with escapes: evaluate", ["py", "evaluate", "-p", "\x1b[31mnet\n.npz",
                                                                            *data]),
        Case(family, "a float TIFF of 0..1: predict --image", ["py", "predict", "-p", base, "--image", "seven.tiff"],
             {"seven.tiff": tiff.getvalue()}, "ok"),
        Case(family, "NUL in a path: scratchnet.load", ["api", "load", "good\\0.npz"]),
        Case(family, "NUL in a path: scratchnet.load of .txt", ["api", "load", "good\\0.txt"]),
        Case(family, "NUL in params: scratchnet.fit", ["api", "fit", str(cx.small), "x\\0.npz"]),
        Case(family, "NUL in data: scratchnet.fit", ["api", "fit", "d\\0.npz", "x.npz"]),
        Case(family, "NUL in a picture's path: predict_digit", ["api", "predict_digit", base, "seven\\0.png"]),
        Case(family, "a 4 GiB sparse .txt: C predict", ["c", "predict", "--params", "big.txt", "--data", str(cx.idx), "0"],
             {"big.txt": big}),
        Case(family, "a 600 MB comment in the header: C predict", ["c", "predict", "--params", "c.txt", "--data",
                                                                    str(cx.idx), "0"], {"c.txt": huge_comment}),
        Case(family, "a 4 GiB sparse IDX file: C predict", ["c", "predict", "--params", str(cx.base_txt), "--data", "d",
                                                              "0"], cx.idx_folder({"t10k-images-idx3-ubyte": big})),
    ]
    for case in cases:  # every one of them: within 300 MB, names shown safely
        case.check = lambda o, folder: under_300_mb(o, folder) or shown_safely(o, folder)
    return cases


def cli_cases(cx: Corpus, level: int) -> list[Case]:
    """Bad command-line values, output that cannot be written, outputs that do not fit the labels."""
    family = "command-line values"
    data, base, txt = ["--data", str(cx.small)], str(cx.base_npz), str(cx.base_txt)
    train = ["py", "train", "--fresh", "-p", "ck.npz", *data, "--epochs", "1"]
    c_train = ["c", "train", "--fresh", "--params", "ck.txt", "--data", str(cx.idx), "--epochs", "1"]
    wrote = ("ck.npz",)
    ten_five_ten = cx.checkpoint(meta={"sizes": [10, 5, 10]}, config={"layers": [10, 5, 10]}, tensors={
        "weights.0": np.full((10, 5), 0.1), "biases.0": np.zeros(5), "weights.1": np.full((5, 10), 0.1),
        "biases.1": np.zeros(10)})
    cases = [
        Case(family, "train --seed -1", train + ["--seed", "-1"], writes=wrote),
        Case(family, "train --seed 2^64", train + ["--seed", str(2**64)], expect="either", writes=wrote),
        Case(family, "train --shift 1000000", train + ["--shift", "1000000"], writes=wrote),
        Case(family, "train --shift -1", train + ["--shift", "-1"], writes=wrote),
        Case(family, "train --layers 784,1000000000,10", train + ["--layers", "784,1000000000,10"], writes=wrote),
        Case(family, "train --layers 784,0,10", train + ["--layers", "784,0,10"]),
        Case(family, "train --layers 784,,10", train + ["--layers", "784,,10"]),
        Case(family, "train --layers 10", train + ["--layers", "10"]),
        Case(family, "train --layers 784,20,5 (labels up to 9)", train + ["--layers", "784,20,5"]),
        Case(family, "train --layers 100,20,10 (images of 784)", train + ["--layers", "100,20,10"]),
        Case(family, "train --epochs -1", train + ["--epochs", "-1"], writes=wrote),
        Case(family, "train --epochs 0", train + ["--epochs", "0"], expect="either", writes=wrote),
        Case(family, "train --lr nan", train + ["--lr", "nan"]),
        Case(family, "train --lr inf", train + ["--lr", "inf"]),
        Case(family, "train --lr -1", train + ["--lr", "-1"]),
        Case(family, "train --lr abc", train + ["--lr", "abc"]),
        Case(family, "train --batch-size 0", train + ["--batch-size", "0"]),
        Case(family, "train --batch-size 10^12", train + ["--batch-size", str(10**12)], expect="either", writes=wrote),
        Case(family, "train --schedule step --lr-step 0", train + ["--schedule", "step", "--lr-step", "0"]),
        Case(family, "train --dtype float32 --lr 1e30 (diverges)", train + ["--dtype", "float32", "--lr", "1e30"]),
        Case(family, "train --lr 1e300 (diverges)", train + ["--lr", "1e300"]),
        Case(family, "train --preset nonsense", train + ["--preset", "nonsense"]),
        Case(family, "train -p ''", ["py", "train", "-p", "", *data, "--epochs", "1"]),
        Case(family, "train -p a folder", ["py", "train", "-p", "sub", *data, "--epochs", "1"], {"sub": FOLDER}),
        Case(family, "train -p in a missing folder", ["py", "train", "-p", "missing/ck.npz", *data, "--epochs", "1"]),
        Case(family, "train --data ''", ["py", "train", "--fresh", "-p", "ck.npz", "--data", "", "--epochs", "1"]),
        Case(family, "train --data missing.npz", ["py", "train", "--fresh", "-p", "ck.npz", "--data", "missing.npz"]),
        Case(family, "train --data /dev/zero", ["py", "train", "--fresh", "-p", "ck.npz", "--data", "/dev/zero"]),
        Case(family, "train -p /dev/zero", ["py", "train", "-p", "/dev/zero", *data, "--epochs", "1"]),
        Case(family, "train > /dev/full", train, writes=wrote, stdout_to="/dev/full"),
        Case(family, "evaluate > /dev/full", ["py", "evaluate", "-p", base, *data], stdout_to="/dev/full"),
        Case(family, "export > /dev/full", ["py", "export", "-p", base, "-o", "out.txt"], writes=("out.txt",),
             stdout_to="/dev/full", writes_on_error=True),
        Case(family, "--help > /dev/full", ["py", "--help"], stdout_to="/dev/full"),
        Case(family, "evaluate --set bogus", ["py", "evaluate", "-p", base, *data, "--set", "bogus"]),
        Case(family, "predict 10^30", ["py", "predict", "-p", base, *data, str(10**30)]),
        Case(family, "predict -1", ["py", "predict", "-p", base, *data, "-1"]),
        Case(family, "predict abc", ["py", "predict", "-p", base, *data, "abc"]),
        Case(family, "predict 1e3", ["py", "predict", "-p", base, *data, "1e3"]),
        Case(family, "predict --json, indices on stdin", ["py", "predict", "--json", "-p", base, *data],
             stdin=b"0\nq\n", expect="ok", check=json_stdout),
        Case(family, "predict, bad answers on stdin", ["py", "predict", "-p", base, *data],
             stdin=b"abc\n-1\n99999\n\n" + "٣".encode() + b"\n0\nq\n", expect="ok"),
        Case(family, "show -1", ["py", "show", "-1", *data]),
        Case(family, "show abc", ["py", "show", "abc", *data]),
        Case(family, "show 10^30", ["py", "show", str(10**30), *data]),
        Case(family, "export --format svg --input 10^9", ["py", "export", "--format", "svg", "-p", base, *data,
                                                          "--input", str(10**9), "-o", "n.svg"]),
        Case(family, "export --format svg --input -1", ["py", "export", "--format", "svg", "-p", base, *data,
                                                        "--input", "-1", "-o", "n.svg"]),
        Case(family, "export --format svg --max-lines -1", ["py", "export", "--format", "svg", "-p", base,
                                                            "--max-lines", "-1", "-o", "n.svg"], expect="either",
             writes=("n.svg",)),
        Case(family, "export -o ''", ["py", "export", "-p", base, "-o", ""], expect="either",
             writes=("network_params_full.txt",)),
        Case(family, "export -o a folder", ["py", "export", "-p", base, "-o", "sub"], {"sub": FOLDER}),
        Case(family, "export -o in a missing folder", ["py", "export", "-p", base, "-o", "missing/x.txt"]),
        Case(family, "import a .npz", ["py", "import", base, "-o", "x.npz"]),
        Case(family, "import missing.txt", ["py", "import", "missing.txt", "-o", "x.npz"]),
        Case(family, "import FILE.txt without -o, network_params.npz there", ["py", "import", "p.txt"],
             {"p.txt": cx.txt.encode(), "network_params.npz": cx.npz_bytes}, expect="either", writes=("p.npz",)),
        Case(family, "evaluate, 5 outputs for 10 labels", ["py", "evaluate", "-p", "ck.npz", *data],
             {"ck.npz": cx.five_outputs}),
    ]
    if cx.can.matplotlib:
        cases += [
            Case(family, "plot weights of a 10-5-10 network", ["py", "plot", "weights", "-p", "ck.npz", "-o", "w.png"],
                 {"ck.npz": ten_five_ten}),
            Case(family, "plot confusion, 5 outputs for 10 labels", ["py", "plot", "confusion", "-p", "ck.npz", *data,
                                                                     "-o", "c.png"], {"ck.npz": cx.five_outputs}),
            Case(family, "plot misclassified, 5 outputs for 10 labels", ["py", "plot", "misclassified", "-p", "ck.npz",
                                                                         *data, "-o", "m.png"],
                 {"ck.npz": cx.five_outputs}, expect="either", writes=("m.png",)),
        ]
    if cx.can.c_engine:
        idx_data = ["--data", str(cx.idx)]
        cases += [
            Case(family, "evaluate --engine c, 5 outputs for 10 labels",
                 ["py", "evaluate", "--engine", "c", "-p", "ck.npz", *data], {"ck.npz": cx.five_outputs}),
            Case(family, "C train --params ''", ["c", "train", "--params", "", *idx_data, "--epochs", "1"],
                 check=stops_before_training),
            Case(family, "C train --epochs -1", c_train + ["--epochs", "-1"]),
            Case(family, "C train --seed -1", c_train + ["--seed", "-1"]),
            Case(family, "C train --layers 784,1000000000,10", c_train + ["--layers", "784,1000000000,10"]),
            Case(family, "C train --lr nan", c_train + ["--lr", "nan"]),
            Case(family, "C train --batch-size 0", c_train + ["--batch-size", "0"]),
            Case(family, "C train --layers 784,20,5 (labels up to 9)", c_train + ["--layers", "784,20,5"]),
            Case(family, "C train --data /dev/zero", ["c", "train", "--fresh", "--params", "ck.txt", "--data", "/dev/zero"]),
            Case(family, "C train --params /dev/zero", ["c", "train", "--params", "/dev/zero", *idx_data, "--epochs", "1"]),
            Case(family, "C predict --params /dev/zero", ["c", "predict", "--params", "/dev/zero", *idx_data, "0"]),
            Case(family, "C train > /dev/full", c_train, writes=("ck.txt",), stdout_to="/dev/full"),
            Case(family, "C predict > /dev/full", ["c", "predict", "--params", txt, *idx_data, "0"],
                 stdout_to="/dev/full"),
            Case(family, "C predict -1", ["c", "predict", "--params", txt, *idx_data, "-1"]),
            Case(family, "C predict abc", ["c", "predict", "--params", txt, *idx_data, "abc"]),
            Case(family, "C predict 10^20", ["c", "predict", "--params", txt, *idx_data, str(10**20)]),
            Case(family, "C predict, bad answers on stdin", ["c", "predict", "--params", txt, *idx_data],
                 stdin=b"abc\n-1\n99999\n\n" + b"9" * 300 + b"\n0\nq\n", expect="ok"),
            Case(family, "C unknown option", ["c", "train", "--bogus", "1"]),
            Case(family, "C train --optimizer adam (only in scratchnet train --engine c)",
                 c_train + ["--optimizer", "adam"]),
            Case(family, "C predict --epochs 1 (a train option)", ["c", "predict", "--params", txt, *idx_data,
                                                                  "--epochs", "1"]),
            Case(family, "C no command", ["c"]),
            Case(family, "C train --params a folder", ["c", "train", "--params", "sub", *idx_data, "--epochs", "1"],
                 {"sub": FOLDER}),
        ]
    return cases


def special_cases(cx: Corpus, level: int) -> list[Case]:
    """FIFOs, devices and symlinks where files are expected."""
    family = "special files and symlinks"
    data, base, txt = ["--data", str(cx.small)], str(cx.base_npz), str(cx.base_txt)
    idx_data = ["--data", str(cx.idx)]
    cases = [
        Case(family, "evaluate -p a FIFO", ["py", "evaluate", "-p", "ck.npz", *data], {"ck.npz": FIFO}, timeout=8),
        Case(family, "train -p a FIFO", ["py", "train", "-p", "ck.npz", *data, "--epochs", "1"], {"ck.npz": FIFO},
             timeout=8),
        Case(family, "inspect -p a FIFO .txt", ["py", "inspect", "-p", "p.txt"], {"p.txt": FIFO}, timeout=8),
        Case(family, "import a FIFO", ["py", "import", "p.txt", "-o", "x.npz"], {"p.txt": FIFO}, timeout=8),
        Case(family, "train --data a FIFO", ["py", "train", "--fresh", "-p", "ck.npz", "--data", "ds.npz"],
             {"ds.npz": FIFO}, timeout=8),
        Case(family, "export -o /dev/null", ["py", "export", "-p", base, "-o", "/dev/null"], expect="either"),
        Case(family, "import -o /dev/null", ["py", "import", txt, "-o", "/dev/null"], expect="either"),
        Case(family, "train -p /dev/null", ["py", "train", "-p", "/dev/null", *data, "--epochs", "1"], expect="either"),
        Case(family, "export -o a device file here", ["py", "export", "-p", base, "-o", "mydev"],
             {"mydev": Device(1, 3)}, expect="either"),
        Case(family, "train -p a symlink", ["py", "train", "-p", "link.npz", *data, "--epochs", "1"],
             {"real.npz": cx.npz_bytes, "link.npz": Link("real.npz")}, expect="ok", writes=("real.npz",)),
        Case(family, "export -o a symlink", ["py", "export", "-p", base, "-o", "link.txt", "--force"],
             {"real.txt": b"old\n", "link.txt": Link("real.txt")}, expect="ok", writes=("real.txt",)),
        Case(family, "import -o a symlink", ["py", "import", txt, "-o", "link.npz", "--force"],
             {"real.npz": cx.npz_bytes, "link.npz": Link("real.npz")}, expect="ok", writes=("real.npz",)),
        Case(family, "train -p a dangling symlink", ["py", "train", "-p", "link.npz", *data, "--epochs", "1"],
             {"link.npz": Link("missing.npz")}, expect="either", writes=("missing.npz",)),
        Case(family, "evaluate -p a symlink loop", ["py", "evaluate", "-p", "loop.npz", *data],
             {"loop.npz": Link("loop.npz")}),
        Case(family, "train -p a symlink loop", ["py", "train", "-p", "loop.npz", *data, "--epochs", "1"],
             {"loop.npz": Link("loop.npz")}),
        Case(family, "evaluate -p a symlink to a folder", ["py", "evaluate", "-p", "dir.npz", *data],
             {"sub": FOLDER, "dir.npz": Link("sub")}),
        Case(family, "train -p a read-only file (0444)", ["py", "train", "-p", "ck.npz", *data, "--epochs", "1"],
             {"ck.npz": File(cx.npz_bytes, 0o444)}, expect="either", writes=("ck.npz",)),
    ]
    if cx.can.matplotlib:
        cases += [
            Case(family, "plot weights -o /dev/null", ["py", "plot", "weights", "-p", base, "-o", "/dev/null"],
                 expect="either"),
            Case(family, "plot weights -o a symlink", ["py", "plot", "weights", "-p", base, "-o", "link.png"],
                 {"real.png": b"old", "link.png": Link("real.png")}, expect="ok", writes=("real.png",)),
        ]
    if cx.can.c_engine:
        cases += [
            Case(family, "C predict --params a FIFO", ["c", "predict", "--params", "p.txt", *idx_data, "0"],
                 {"p.txt": FIFO}, timeout=8),
            Case(family, "C train --params a FIFO", ["c", "train", "--params", "p.txt", *idx_data, "--epochs", "1"],
                 {"p.txt": FIFO}, timeout=8),
            Case(family, "C train --params /dev/null", ["c", "train", "--params", "/dev/null", *idx_data, "--epochs", "1"],
                 expect="either"),
            Case(family, "C train --params a symlink", ["c", "train", "--params", "link.txt", *idx_data, "--epochs", "1"],
                 {"real.txt": cx.txt.encode(), "link.txt": Link("real.txt")}, expect="ok", writes=("real.txt",)),
        ]
    return cases


def mount_cases(cx: Corpus, level: int) -> list[Case]:
    """Writing to a full disk and to a read-only folder: a one-line error, the old file intact."""
    data, base, txt = ["--data", str(cx.small)], str(cx.base_npz), str(cx.base_txt)
    idx_data = ["--data", str(cx.idx)]
    cases = []
    for family, sub, kind in (("disk full", "full", "full"), ("read-only folder", "ro", "ro")):
        m = Mount(kind, sub)
        where = "on a full disk" if kind == "full" else "in a read-only folder"
        early = stops_before_training if kind == "ro" else None  # a read-only folder can be seen at once
        cases += [
            Case(family, f"export over a file {where}", ["py", "export", "-p", base, "-o", f"{sub}/out.txt"],
                 {f"{sub}/out.txt": b"old\n"}, mount=m),
            Case(family, f"export --format svg {where}", ["py", "export", "--format", "svg", "-p", base, "-o",
                                                          f"{sub}/net.svg"], {f"{sub}/net.svg": b"<svg/>\n"}, mount=m),
            Case(family, f"train over a checkpoint {where}", ["py", "train", "-p", f"{sub}/ck.npz", *data, "--epochs", "1"],
                 {f"{sub}/ck.npz": cx.npz_bytes}, mount=m),
            Case(family, f"train a new network {where}", ["py", "train", "--fresh", "-p", f"{sub}/new.npz", *data,
                                                          "--epochs", "1", "--layers", "784,64,10"], mount=m),
            Case(family, f"import over a checkpoint {where}", ["py", "import", txt, "-o", f"{sub}/ck.npz"],
                 {f"{sub}/ck.npz": cx.npz_bytes}, mount=m),
            Case(family, f"evaluate a checkpoint {where}", ["py", "evaluate", "-p", f"{sub}/ck.npz", *data],
                 {f"{sub}/ck.npz": cx.npz_bytes}, expect="ok", mount=m),
        ]
        if cx.can.matplotlib:
            cases += [Case(family, f"plot {what} over a PNG {where}", ["py", "plot", what, "-p", base, *data, "-o",
                                                                       f"{sub}/{what}.png"],
                           {f"{sub}/{what}.png": b"old png\n"}, mount=m) for what in ("weights", "history", "confusion")]
        if cx.can.c_engine:
            cases.append(Case(family, f"C train over parameters {where}", ["c", "train", "--params", f"{sub}/ck.txt",
                                                                            *idx_data, "--epochs", "1"],
                              {f"{sub}/ck.txt": cx.txt.encode()}, mount=m, check=early))
    return cases


EDGE_VALUES = ["-1", "0", "1", "-0", "1e309", "nan", "-inf", "9" * 30, "٣", "0x10", " 1", "", "1e-320", "2.5", "+3",
               "1_000", "١٠", "\t", "--", "-", "abc", "784,20", "1e3"]
RANDOM_OPTIONS = ["--lr", "--seed", "--shift", "--batch-size", "--epochs", "--momentum", "--lr-step", "--lr-gamma",
                  "--lr-decay", "--weight-decay", "--layers"]
C_RANDOM_OPTIONS = ["--lr", "--seed", "--batch-size", "--epochs", "--layers"]  # scratchnet-c's valued options


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random damage: flipped bits, a cut, inserted or repeated bytes, zeroed bytes."""
    b = bytearray(data)
    how = rng.choice(("flip", "cut", "insert", "repeat", "zero"))
    if how == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif how == "cut":
        del b[rng.randrange(len(b)):]
    elif how == "insert":
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.randbytes(rng.randint(1, 64))
    elif how == "repeat":
        i = rng.randrange(len(b))
        b[i:i] = b[i: i + rng.randint(1, 4096)]
    else:
        i = rng.randrange(len(b))
        n = min(rng.randint(1, 4096), len(b) - i)
        b[i: i + n] = bytes(n)
    return bytes(b)


def retoken(text: str, rng: random.Random) -> bytes:
    """A random token of a text file replaced by one of the edge values."""
    tokens = re.split(r"(\s+)", text)
    i = rng.randrange(0, len(tokens), 2)
    tokens[i] = rng.choice(EDGE_VALUES + ["neuron", "layer", "end", "sizes", "{", "]", '"'])
    return "".join(tokens).encode()


def random_cases(cx: Corpus, count: int, rng: random.Random) -> list[Case]:
    """``count`` random inputs of each kind: damaged files and odd option values. Any clean
    ending will do; tracebacks, crashes, hangs, memory and files are what is looked for."""
    family = "random inputs"
    base, idx_data, data = str(cx.base_npz), ["--data", str(cx.idx)], ["--data", str(cx.small)]
    labels = idx(cx.arrays["y_test"])
    kinds = [
        ("checkpoint", "ck.npz", lambda: mutate(cx.npz_bytes, rng), [["py", "inspect", "-p", "ck.npz"]]),
        ("text", "p.txt", lambda: mutate(cx.txt.encode(), rng) if rng.random() < 0.5 else retoken(cx.txt, rng),
         [["py", "import", "p.txt", "-o", "out.npz"]] + ([["c", "predict", "--params", "p.txt", *idx_data, "0"]]
                                                        if cx.can.c_engine else [])),
        ("JSON", "p.json", lambda: mutate(cx.json.encode(), rng) if rng.random() < 0.5 else retoken(cx.json, rng),
         [["py", "import", "p.json", "-o", "out.npz"]]),
        ("IDX labels", "t10k-labels-idx1-ubyte", lambda: mutate(labels, rng),
         [["py", "evaluate", "-p", base, "--data", "d"]] + ([["c", "predict", "--params", str(cx.base_txt),
                                                               "--data", "d", "0"]] if cx.can.c_engine else [])),
        ("IDX gzip", "t10k-images-idx3-ubyte.gz", lambda: mutate(cx.idx_files["t10k-images-idx3-ubyte"], rng),
         [["py", "evaluate", "-p", base, "--data", "d"]]),
        ("dataset", "ds.npz", lambda: mutate(cx.small.read_bytes(), rng),
         [["py", "evaluate", "-p", base, "--data", "ds.npz"]]),
    ]
    cases = []
    for i in range(count):
        for kind, name, make, commands in kinds:
            content = make()
            if kind.startswith("IDX"):
                files = cx.idx_folder({name: content})
            else:
                files = {name: content}
            argv = rng.choice(commands)
            writes = ("out.npz",) if "import" in argv else ()
            cases.append(Case(family, f"{kind} #{i + 1}", argv, files, "either", writes))
        prog = rng.choice(["py", "c"] if cx.can.c_engine else ["py"])
        option, value = rng.choice(RANDOM_OPTIONS if prog == "py" else C_RANDOM_OPTIONS), rng.choice(EDGE_VALUES)
        argv = (["py", "train", "--fresh", "-p", "ck.npz", *data] if prog == "py" else
                ["c", "train", "--fresh", "--params", "ck.txt", *idx_data]) + ["--epochs", "1", f"{option}={value}"]
        cases.append(Case(family, f"option {option}={value!r}", argv, expect="either", writes=("ck.*",), timeout=60))
    return cases


# -----------------------------------------------------------------------------
# fault scenarios: kill -9, Ctrl-C and resume, two trainers at once


def tensors(path: Path) -> dict[str, np.ndarray | str]:
    """What a saved network is, read without scratchnet: an .npz's arrays (but its metadata),
    or a text file's epochs line and everything from its first layer line on."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files if name != "metadata"}
        text = path.read_text()
        epochs = re.search(r"^epochs .*$", text, re.MULTILINE)
        return {"epochs": epochs[0] if epochs else "", "layers": text[text.index("\nlayer "):]}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return {}


def read_epochs(path: Path) -> int | None:
    """epochs_done of a checkpoint, or a text file's epochs line; None when unreadable."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return int(json.loads(str(npz["metadata"]))["epochs_done"])
        found = re.search(r"^epochs (\d+)\s*$", path.read_text(), re.MULTILINE)
        return int(found[1]) if found else 0
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None


def differences(got: dict, expected: dict) -> str | None:
    """The first tensor that is not bit for bit the expected one, said in a few words."""
    for name in sorted(expected.keys() | got.keys()):
        a, b = got.get(name), expected.get(name)
        if a is None or b is None:
            return f"{name} {'missing' if a is None else 'unexpected'}"
        if isinstance(b, str) or isinstance(a, str):
            if a != b:
                return f"{name} differs"
        elif a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b):
            gap = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape else None
            return f"{name} differs" + (f" (max |difference| {gap:.3g})" if gap is not None else "")
    return None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def clean_end(o: Outcome) -> str | None:
    """After a signal the harness sent: exit 130 (Ctrl-C) or 0 (it ended first) with at most a
    one-line message, or death by that very signal."""
    if o.signal is not None or o.hang or o.memory_killed:
        return None
    lines = o.stderr.decode(errors="replace").splitlines()
    if o.code not in (0, 130) or len(lines) > 1 or (lines and not ONE_LINE.match(lines[0])):
        return f"exit {o.code} after Ctrl-C, stderr {(lines or [''])[0][:120]!r}" + (
            f" and {len(lines) - 1} more lines" if len(lines) > 1 else "")
    return None


@dataclass
class KillTarget:
    """A command killed with SIGKILL again and again in one folder, each run resuming the last."""

    name: str
    argv: list[str]
    file: str  # what it writes
    files: dict[str, Spec]  # the folder at the start
    span: float  # kill at a random moment within this many seconds
    check: list[str] | None = None  # a command that must accept ``file`` after every kill
    accept: tuple[bytes, ...] = ()  # else: the file must be one of these (old or new, never a mix)
    epochs: bool = False  # the file's epochs must never go backwards
    finish: list[str] | None = None  # the run to completion after the kills (default: argv)


def kill_targets(cx: Corpus, level: int) -> list[KillTarget]:
    data, idx_data, base, txt = ["--data", str(cx.small)], ["--data", str(cx.idx)], str(cx.base_npz), str(cx.base_txt)
    train = ["py", "train", "-p", "ck.npz", *data, "--layers", "784,64,10"]
    targets = [KillTarget("scratchnet train", train + ["--epochs", "30"], "ck.npz", {}, 5.0,
                          check=["py", "inspect", "-p", "ck.npz"], epochs=True, finish=train + ["--epochs", "1"])]
    if cx.can.c_engine:
        c_train = ["c", "train", "--params", "ck.txt", *idx_data, "--layers", "784,64,10"]
        targets += [
            KillTarget("scratchnet train --engine c", train + ["--engine", "c", "--epochs", "100"], "ck.npz", {}, 4.0,
                       check=["py", "inspect", "-p", "ck.npz"], epochs=True,
                       finish=train + ["--engine", "c", "--epochs", "1"]),
            KillTarget("scratchnet-c train", c_train + ["--epochs", "1000"], "ck.txt", {}, 2.0,
                       check=["c", "predict", "--params", "ck.txt", *idx_data, "0"], epochs=True,
                       finish=c_train + ["--epochs", "1"]),
        ]
    targets += [
        KillTarget("scratchnet export", ["py", "export", "-p", base, "-o", "out.txt"], "out.txt",
                   {"out.txt": b"old\n"}, 2.0, accept=(b"old\n", cx.txt.encode())),
        KillTarget("scratchnet import", ["py", "import", txt, "-o", "ck.npz"], "ck.npz", {"ck.npz": cx.npz_bytes}, 2.0,
                   check=["py", "inspect", "-p", "ck.npz"]),
    ]
    if cx.can.matplotlib:
        targets.append(KillTarget("scratchnet plot weights", ["py", "plot", "weights", "-p", base, "-o", "w.png"],
                                  "w.png", {"w.png": b"old"}, 4.0, accept=(b"old", cx.png)))
    return targets


def save_begins(folder: Path, file: str) -> Callable[[float, int], bool]:
    """True once the folder gets a new entry (a temporary file) or ``file`` changes (written in place)."""
    def state() -> tuple:
        with contextlib.suppress(OSError):
            st = (folder / file).stat()
            return st.st_size, st.st_mtime_ns
        return ()

    present, before = set(os.listdir(folder)), state()
    return lambda elapsed, out: bool(set(os.listdir(folder)) - present) or state() != before


def kill_scenario(t: KillTarget, work: Path, kills: int, rng: random.Random) -> list[Row]:
    """kill -9 at random moments, and as soon as a save begins (a new file, or the file changing). After
    each: the file loads (or is the old or the new one), its epochs never go back; after a last
    run to the end, no temporary file of any kill is left."""
    family = "kill -9"
    folder = work / "kill" / slug(t.name)
    folder.mkdir(parents=True)
    materialise(folder, t.files)
    keep = {t.file} | set(t.files)
    last_epochs = read_epochs(folder / t.file) or 0 if t.epochs else 0
    litter_of: dict[str, Row] = {}
    rows = []
    for k in range(kills):
        if k % 2:
            when, trigger = "as a save begins", save_begins(folder, t.file)
        else:
            moment = rng.uniform(0.05, t.span)
            when, trigger = f"at {moment:.2f} s", lambda e, n, moment=moment: e >= moment
        existed = (folder / t.file).exists()
        o = run(program(t.argv), folder, trigger=trigger, signum=signal.SIGKILL, timeout=120)
        row = Row(family, f"{t.name}: kill {k + 1} {when}", shown(t.argv, work), process_problems(o, 120, MEMORY_BOUND))
        path = folder / t.file
        if not path.exists():
            if existed:
                row.problems[FILES] = f"{t.file} lost"
        else:
            if t.check:
                c = run(program(t.check), folder, timeout=120)
                if c.code != 0:
                    row.problems[FILES] = f"{t.file} does not load after the kill: {c.first_stderr_line[:150]!r}"
            if t.accept and path.read_bytes() not in t.accept:
                row.problems[FILES] = f"{t.file} is neither the old file nor the new one ({path.stat().st_size} bytes)"
            if t.epochs:
                epochs = read_epochs(path)
                if epochs is None or epochs < last_epochs:
                    row.problems[FILES] = f"{t.file} went back from {last_epochs} to {epochs} epochs"
                last_epochs = max(last_epochs, epochs or 0)
        for name in set(os.listdir(folder)) - keep - set(litter_of):
            litter_of[name] = row
        rows.append(row)
    finish = t.finish or t.argv
    o = run(program(finish), folder, timeout=120)
    last = Row(family, f"{t.name}: the run after the kills", shown(finish, work), process_problems(o, 120, MEMORY_BOUND))
    rows.append(last)
    for name in sorted(set(os.listdir(folder)) - keep):
        row = litter_of.get(name, last)
        row.problems[FILES] = (row.problems.get(FILES, "") + "; " if FILES in row.problems else "") + \
            f"{name} left behind, still there after the next run"
    return rows


@dataclass
class ResumeConfig:
    name: str
    prog: str
    options: list[str]
    epochs: int


def resume_configs(cx: Corpus) -> list[ResumeConfig]:
    configs = [
        ResumeConfig("numpy, batches of 16, momentum, shuffled", "py",
                     ["--layers", "784,32,10", "--batch-size", "16", "--optimizer", "momentum", "--shuffle", "--seed", "3"],
                     10),
        ResumeConfig("numpy, per-sample SGD (the original program's)", "py", ["--layers", "784,32,10"], 6),
    ]
    if cx.can.c_engine:
        configs += [
            ResumeConfig("--engine c, Adam, shuffled and shifted", "py",
                         ["--engine", "c", "--layers", "784,32,10", "--batch-size", "8", "--optimizer", "adam",
                          "--shuffle", "--seed", "5", "--shift", "1"], 10),
            ResumeConfig("scratchnet-c, batches of 8", "c", ["--layers", "784,32,10", "--batch-size", "8", "--seed", "3"],
                         6),
        ]
    return configs


def after_output(delay: float) -> Callable[[float, int], bool]:
    """True ``delay`` seconds after the command's first output (it prints once its data is loaded)."""
    seen: list[float] = []

    def trigger(elapsed: float, out: int) -> bool:
        if out and not seen:
            seen.append(elapsed)
        return bool(seen) and elapsed - seen[0] >= delay
    return trigger


def interrupt_scenario(cfg: ResumeConfig, cx: Corpus, work: Path, trials: int, interrupts: int,
                       rng: random.Random) -> list[Row]:
    """Ctrl-C (SIGINT) at random moments of a training, then train again until the epochs are
    done: the result must be the uninterrupted run's, bit for bit (parameters and optimizer)."""
    family = "Ctrl-C and resume"
    file = "ck.npz" if cfg.prog == "py" else "ck.txt"
    where = ["-p", file, "--data", str(cx.small)] if cfg.prog == "py" else ["--params", file, "--data", str(cx.idx)]

    def argv(epochs: int, fresh: bool) -> list[str]:
        return [cfg.prog, "train", *where, *cfg.options, "--epochs", str(epochs)] + (["--fresh"] if fresh else [])

    root = work / "interrupt" / slug(cfg.name)
    reference = root / "uninterrupted"
    reference.mkdir(parents=True)
    o = run(program(argv(cfg.epochs, True)), reference, timeout=300)
    if o.code != 0:
        return [Row(family, f"{cfg.name}: the uninterrupted run", shown(argv(cfg.epochs, True), work),
                    process_problems(o, 300, MEMORY_BOUND) or {WRONG: f"failed: {o.first_stderr_line[:150]!r}"})]
    expected = tensors(reference / file)
    rows = []
    for trial in range(trials):
        folder = root / f"trial-{trial + 1}"
        folder.mkdir()
        delays = [rng.uniform(0.0, 0.8 * o.seconds) for _ in range(rng.randint(1, interrupts))]
        row = Row(family, f"{cfg.name}: Ctrl-C {' then '.join(f'{d:.2f} s' for d in delays)} after start",
                  shown(argv(cfg.epochs, True), work))
        done = 0
        for k, delay in enumerate(delays):
            broken = run(program(argv(cfg.epochs - done, k == 0)), folder, trigger=after_output(delay),
                         signum=signal.SIGINT, timeout=300)
            for column, detail in process_problems(broken, 300, MEMORY_BOUND).items():
                row.problems.setdefault(column, detail)
            if problem := clean_end(broken):
                row.problems.setdefault(WRONG, problem)
            done = read_epochs(folder / file) or 0
            if done >= cfg.epochs:
                break
        if done < cfg.epochs:
            final = run(program(argv(cfg.epochs - done, False)), folder, timeout=300)
            for column, detail in process_problems(final, 300, MEMORY_BOUND).items():
                row.problems.setdefault(column, detail)
        if (problem := differences(tensors(folder / file), expected)) and TRACEBACK not in row.problems:
            row.problems.setdefault(WRONG, f"interrupted and resumed differs from uninterrupted: {problem}")
        litter = sorted(set(os.listdir(folder)) - {file})
        if litter:
            row.problems.setdefault(FILES, f"{', '.join(litter)} left behind")
        rows.append(row)
    return rows


def two_trainers(prog: str, cx: Corpus, work: Path, rounds: int, rng: random.Random) -> list[Row]:
    """Two `train` runs on one checkpoint at once: its epochs must add up (2 + 5 + 5 = 12), or
    one run must refuse with a one-line error (and the other's 2 + 5 = 7 be there). scratchnet-c: 2 + 10 + 10."""
    family = "two trainers at once"
    if prog == "py":
        file, content, more = "ck.npz", cx.npz_bytes, 5
        argv = ["py", "train", "-p", file, "--data", str(cx.small), "--epochs", str(more)]
    else:
        file, content, more = "ck.txt", cx.txt.encode(), 10
        argv = ["c", "train", "--params", file, "--data", str(cx.idx), "--epochs", str(more)]
    start = cx.meta["epochs_done"]
    rows = []
    for r in range(rounds):
        folder = work / "pairs" / f"{prog}-{r + 1}"
        folder.mkdir(parents=True)
        materialise(folder, {file: content})
        outcomes: list[Outcome] = [None, None]
        offset = rng.uniform(0, 0.3)

        def go(i: int, folder: Path = folder, outcomes: list = outcomes, offset: float = offset) -> None:
            time.sleep(offset * i)
            outcomes[i] = run(program(argv), folder, timeout=300)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        row = Row(family, f"{shown(argv, work).split()[0]} x2, the second {offset:.2f} s later", shown(argv, work))
        for o in outcomes:
            for column, detail in process_problems(o, 300, MEMORY_BOUND).items():
                row.problems.setdefault(column, detail)
        finished = sum(o.code == 0 for o in outcomes)
        epochs = read_epochs(folder / file)
        if finished == 0:
            row.problems.setdefault(WRONG, "both runs refused")
        elif epochs != start + finished * more:
            row.problems.setdefault(FILES, f"epochs lost: {start} + {more} + {more} ended at {epochs}" if finished == 2
                                    else f"one run refused, yet the file holds {epochs} epochs, not {start + more}")
        litter = sorted(set(os.listdir(folder)) - {file})
        if litter:
            row.problems.setdefault(FILES, f"{', '.join(litter)} left behind")
        rows.append(row)
    return rows


# -----------------------------------------------------------------------------
# running the cases, the report


def cannot_run(case: Case, can: Abilities) -> str | None:
    """Why this machine cannot run the case, if it cannot."""
    if case.argv[0] == "c" and not can.c_engine:
        return "csrc is not built"
    needs_root = case.private_dev or case.mount or any(isinstance(s, Device) for s in case.files.values())
    if needs_root and not can.root:
        return "needs root"
    if case.private_dev and not can.unshare:
        return "needs unshare (a private /dev)"
    if case.mount and case.mount.kind == "ro" and not (can.bind_ro or can.chattr):
        return "needs a read-only bind mount or chattr"
    return None


def run_case(case: Case, folder: Path, work: Path, can: Abilities) -> Row:
    folder.mkdir(parents=True)
    argv = program(case.argv)
    files = case.files
    if case.private_dev:
        files = {**DEV_NODES, **files}
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /dev && exec "$@"',
                str(folder / "dev"), *argv]
    with mounted(case.mount, folder, files, can) as preexec:
        before = snapshot(folder)
        o = run(argv, folder, stdin=case.stdin, stdout_to=case.stdout_to, timeout=case.timeout,
                memory_bound=max(MEMORY_BOUND, 4 * case.legit_bytes), preexec=preexec)
        after = snapshot(folder)
        problems = classify(case, o, before, after, folder)
    return Row(case.family, case.name, shown(case.argv, work, case.stdin, case.stdout_to), problems)


def table(rows: list[Row]) -> list[str]:
    families = list(dict.fromkeys(r.family for r in rows))
    lines = ["| scenario family | inputs tried | " + " | ".join(COLUMNS) + " |",
             "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for family in families + ["**total**"]:
        chosen = [r for r in rows if r.family == family or family == "**total**"]
        counts = [sum(column in r.problems for r in chosen) for column in COLUMNS]
        lines.append(f"| {family} | {len(chosen)} | " + " | ".join(map(str, counts)) + " |")
    return lines


def failures(rows: list[Row]) -> list[str]:
    lines = []
    for r in rows:
        if r.problems:
            what = "; ".join(f"**{column}**: {detail}" for column, detail in r.problems.items())
            lines.append(f"- {r.family} / {r.name}: {what}  \n  `{r.command.replace('`', chr(39))}`")
    return lines


def commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(rows: list[Row], mode: str, seed: int, seconds: float, can: Abilities, skipped: dict[str, int]) -> str:
    disk = ("a 4 MiB tmpfs filled to 16 KiB free" if can.tmpfs else
            "RLIMIT_FSIZE of 16 KiB (no tmpfs mount allowed here)") if can.root else "skipped (not root)"
    readonly = ("a read-only bind mount" if can.bind_ro else "chattr +i" if can.chattr else "skipped")
    notes = [
        (f"`python tests/faults.py{'' if mode == 'default' else ' --' + mode} --seed {seed}` on "
         f"{datetime.date.today()}, commit {commit()}, Python {platform.python_version()}, NumPy {np.__version__}, "
         f"{os.cpu_count()} cores; {len(rows)} inputs in {seconds:.0f} s."),
        (f"Data: the first {N_TRAIN:,} training and {N_TEST:,} test images of data/mnist; memory bound "
         f"{MEMORY_BOUND / 1e9:g} GB (or 4x a case's legitimate data). Disk full: {disk}. Read-only folder: "
         f"{readonly}. /dev paths on a command line: a private /dev (`unshare --mount`, the case's own device nodes "
         f"bound on /dev){'' if can.unshare else ': not available, skipped'}."),
        (f"scratchnet-c and --engine c: {'run' if can.c_engine else 'not built, skipped (make -C csrc)'}; plots: "
         f"{'run' if can.matplotlib else 'matplotlib missing, skipped'}. Images: `predict --image`."),
    ]
    if skipped:
        notes.append("Skipped: " + ", ".join(f"{n} ({why})" for why, n in skipped.items()) + ".")
    failing = failures(rows)
    return "\n".join(["# Fault harness results", "", *(f"{n}  " for n in notes), "", *table(rows), "",
                      f"## Failing inputs ({len(failing)})" if failing else "No failing inputs.", "", *failing]) + "\n"


MODES = {  # level of the case tables, random inputs per kind, kills per target, Ctrl-C trials, two-trainer rounds
    "quick": dict(level=0, randoms=0, kills=2, trials=1, interrupts=1, rounds=1),
    "default": dict(level=1, randoms=6, kills=6, trials=3, interrupts=2, rounds=2),
    "long": dict(level=2, randoms=60, kills=30, trials=10, interrupts=3, rounds=5),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_const", dest="mode", const="quick", help="the CI run: under ~3 minutes")
    speed.add_argument("--long", action="store_const", dest="mode", const="long",
                       help="every command on every checkpoint, more kills and random inputs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random moments and inputs (default: 0)")
    parser.add_argument("--out", type=Path, metavar="FILE", help=f"also write the Markdown report to FILE (e.g. "
                        f"{DEFAULT_OUT.relative_to(REPO)}, the committed one); default: print it only")
    parser.add_argument("--only", metavar="TEXT", help="only the cases and scenarios whose family or name contains TEXT")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="cases run at once (default: the number of cores); the fault scenarios run one at a time")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder, to look at the cases")
    args = parser.parse_args(argv)
    mode = args.mode or "default"
    settings = MODES[mode]
    rng = random.Random(args.seed)
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="scratchnet-faults-"))
    global ENV
    ENV = child_env(work)
    rows: list[Row] = []
    skipped: dict[str, int] = {}
    try:
        can = probe(work)
        print(f"building the fixtures in {work} ...", file=sys.stderr)
        cx = Corpus(work, can, rng)
        timings = {"fixtures": time.monotonic() - began}
        level = settings["level"]
        cases = [case for build in (checkpoint_cases, text_cases, json_cases, bridge_cases, idx_cases, dataset_cases,
                                    image_cases, cli_cases, special_cases, mount_cases, trust_cases)
                 for case in build(cx, level)]
        cases += random_cases(cx, settings["randoms"], rng)

        def wanted(*names: str) -> bool:
            return not args.only or any(args.only in n for n in names)

        cases = [c for c in cases if wanted(c.family, c.name)]
        for case in cases:
            if why := cannot_run(case, can):
                skipped[why] = skipped.get(why, 0) + 1
        cases = [c for c in cases if not cannot_run(c, can)]
        done = iter(range(1, len(cases) + 1))

        def one(numbered: tuple[int, Case]) -> Row:
            i, case = numbered
            row = run_case(case, work / "cases" / f"{i:03d}-{slug(case.name)}", work, can)
            print(f"[{next(done):3d}/{len(cases)}] {case.family}: {case.name}: {', '.join(row.problems) or 'ok'}",
                  file=sys.stderr)
            return row

        numbered = list(enumerate(cases, start=1))
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:  # the mount cases run alone, after the rest
            rows += pool.map(one, [n for n in numbered if not n[1].mount])
        rows += map(one, [n for n in numbered if n[1].mount])
        timings["cases"] = time.monotonic() - began - timings["fixtures"]
        for target in kill_targets(cx, level):
            if wanted("kill -9", target.name):
                print(f"kill -9: {target.name} ...", file=sys.stderr)
                rows += kill_scenario(target, work, settings["kills"], rng)
        timings["kill -9"] = time.monotonic() - began - sum(timings.values())
        for cfg in resume_configs(cx):
            if wanted("Ctrl-C and resume", cfg.name):
                print(f"Ctrl-C and resume: {cfg.name} ...", file=sys.stderr)
                rows += interrupt_scenario(cfg, cx, work, settings["trials"], settings["interrupts"], rng)
        timings["Ctrl-C"] = time.monotonic() - began - sum(timings.values())
        for prog in ("py", "c") if can.c_engine else ("py",):
            if wanted("two trainers at once", prog):
                print(f"two trainers at once: {prog} ...", file=sys.stderr)
                rows += two_trainers(prog, cx, work, settings["rounds"], rng)
        timings["two trainers"] = time.monotonic() - began - sum(timings.values())
        changed = file_problems(cx.fingerprint, cx.snapshot_data(), (), False)
        rows.append(Row("the shared fixtures", "the dataset and checkpoints every case reads", "",
                        {FILES: "; ".join(changed)} if changed else {}))
        text = report(rows, mode, args.seed, time.monotonic() - began, can, skipped)
    except HarnessError as e:
        print(f"faults.py: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("faults.py: interrupted", file=sys.stderr)
        return 130
    finally:
        while ACTIVE_MOUNTS:
            unmount(ACTIVE_MOUNTS[-1])
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            quiet("chattr", "-R", "-i", str(work))
            shutil.rmtree(work, ignore_errors=True)
    print(text)
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()), file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 1 if any(r.problems for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

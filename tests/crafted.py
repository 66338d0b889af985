"""For the tests of hostile files: zips whose directory lies, deflate bombs, commands run with
capped memory."""

import io
import math
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np


def raw_zip(path, members):
    """A zip of (name, bytes, declared uncompressed size, deflated?[, CRC-32]) members, whose
    directory may declare another size than the member holds: what a crafted file can do. The
    CRC of a deflated member is 0 unless given: a bomb is refused or skipped before it matters."""
    out, directory = io.BytesIO(), io.BytesIO()
    for name, payload, declared, deflated, *crc in members:
        offset, encoded = out.tell(), name.encode()
        crc = crc[0] if crc else 0 if deflated else zlib.crc32(payload)
        fields = struct.pack("<HHHHHIIIHH", 20, 0, 8 if deflated else 0, 0, 0, crc, len(payload), declared,
                             len(encoded), 0)
        out.write(b"PK\x03\x04" + fields + encoded + payload)
        directory.write(b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHII", 0, 0, 0, 0, offset)
                        + encoded)
    size = directory.tell()
    start = out.tell()
    out.write(directory.getvalue() + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(members), len(members), size,
                                                                  start, 0))
    path.write_bytes(out.getvalue())


def npy_header(shape, dtype="<f8"):
    """What np.save writes before the data of an array of this shape."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def deflated_zeros(shape, dtype="<f8"):
    """(raw deflate stream, its inflated size) of a .npy file of zeros of this shape, whose data
    must be a multiple of 1 MiB; made without deflating it all: the header, then a 1 MiB block of
    zeros deflated on its own and repeated, then an empty final block. 3 GB deflate to 3 MB."""
    header, n_bytes = npy_header(shape, dtype), math.prod(shape) * np.dtype(dtype).itemsize
    head, zeros = zlib.compressobj(9, zlib.DEFLATED, -15), zlib.compressobj(9, zlib.DEFLATED, -15)
    block = zeros.compress(bytes(1 << 20)) + zeros.flush(zlib.Z_FULL_FLUSH)
    stream = head.compress(header) + head.flush(zlib.Z_FULL_FLUSH) + block * (n_bytes >> 20) + b"\x03\x00"
    return stream, len(header) + n_bytes


def run_limited(*argv, limit=1500 << 20):
    """The command in a subprocess that may use at most `limit` bytes of address space."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "scratchnet.cli", *map(str, argv)], check=False, capture_output=True,
                          text=True, preexec_fn=cap, env=env, timeout=120)


def run_measured(*argv, program: list[str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """The command (scratchnet's, or ``program``) in a subprocess, and its own peak resident memory in MB:
    VmHWM, watched until it ends (wait4's figure would count the test process's memory at the fork)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), OPENBLAS_NUM_THREADS="1")
    command = [*(program or [sys.executable, "-m", "scratchnet.cli"]), *map(str, argv)]
    peak = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as status:
                    peak = max([peak] + [int(line.split()[1]) for line in status if line.startswith("VmHWM:")])
            except (OSError, ValueError):
                pass
            time.sleep(0.002)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(command, proc.returncode, out.read().decode(), err.read().decode())
    return done, peak / 1024

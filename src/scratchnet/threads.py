"""How many threads the engines use: NumPy's BLAS, through threadpoolctl, and the C engine's OpenMP.

NumPy's BLAS (OpenBLAS in NumPy's wheels) starts a thread per core and splits every matrix product
over them, its threads spinning while they wait for each other. On the small products of these
networks they spend more time handing work over than working, and whenever another process holds a
core they wait for it a whole time slice at a time: an epoch of 784-64-32-10 at batch 32 took 25 s
instead of 1.15 s. Large products pay for several threads on a quiet machine, but collapse the same
way on a busy one (measured here: `--preset best` 10x slower on 2 BLAS threads than on 1 while
other processes held the cores). The C engine's OpenMP threads wait as libgomp has them (spin a while, then sleep) and its loops only
go parallel on enough work, but they too lose time slices to other processes.

The same seed must give the same bits however busy the machine is. OpenBLAS's sums do not: a
product's bits follow its thread count (it splits and blocks the work by it). The C engine's do:
its threads take whole blocks of columns, each computed as one thread would. So a workload gets:

  * from NumPy's BLAS, one thread, unless ``--threads N`` asks for N on products of at least
    BIG_PRODUCT multiply-adds (smaller ones stay on one): a count fixed by the user and the workload,
    never by the load. One thread costs the large products of `--preset best` the second core on a
    quiet machine, and spares them the collapse of several on a busy one (bench/threads.py);
  * from the C engine, as many threads as there are cores free right now (free_cores: the idle time
    of /proc/stat, this process's own threads counted as free), at most --threads, its loops choosing
    below that.

So the same seed and settings give the same bits on the same machine (the same BLAS and CPU
features) whatever its load; with NumPy, another --threads may give others.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from scratchnet import cengine

# Multiply-adds in one matrix product from which threads may pay: a few milliseconds of work.
# `--preset best` (128 x 784 x 800, 80 million) is above it; batches of 32 on 784-20-10 (0.5 million)
# are far below.
BIG_PRODUCT = 20_000_000
LOOK_SECONDS = 0.1  # how long free_cores watches the machine
REUSE_SECONDS = 5.0  # and how long what it saw holds (an epoch and its evaluation ask twice)

_cap: int | None = None  # --threads
_controller: ThreadpoolController | None = None
_free: tuple[float, int] | None = None  # when free_cores last looked, and what it saw


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_cap(threads: int | None) -> None:
    """``--threads``: at most ``threads`` for the BLAS and the C engine's OpenMP; None: per workload."""
    global _cap
    _cap = threads
    cengine.set_threads(threads or cores())


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all the machine's CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return fields[3] + fields[4], sum(fields)


def free_cores() -> int:
    """The cores no other process is using: over LOOK_SECONDS, the machine's busy time (/proc/stat) less
    this process's own (BLAS threads spinning after a product are ours, not a reason to take fewer);
    every core where there is no /proc/stat; at least one, at most cores(); remembered for REUSE_SECONDS."""
    global _free
    now = time.monotonic()
    if _free is None or now - _free[0] > REUSE_SECONDS:
        try:
            cpus = os.cpu_count() or 1
            idle, total = _cpu_times()
            own, began = time.process_time(), time.monotonic()
            time.sleep(LOOK_SECONDS)
            idle_after, total_after = _cpu_times()
            own_cores = (time.process_time() - own) / max(time.monotonic() - began, 1e-9)
            busy_cores = (1 - (idle_after - idle) / max(total_after - total, 1)) * cpus
            free = round(cpus - max(0.0, busy_cores - own_cores))
        except (OSError, ValueError, IndexError):
            free = cores()
        _free = (time.monotonic(), max(1, min(free, cores())))
    return _free[1]


def blas_threads(rows: int, sizes: Sequence[int]) -> int:
    """BLAS threads for products of ``rows`` samples through layers ``sizes``: --threads when the largest
    is large, else one; never the load's choice, as the bits follow the count."""
    if _cap is None or rows * max(a * b for a, b in itertools.pairwise(sizes)) < BIG_PRODUCT:
        return 1
    return _cap


@contextmanager
def for_products(rows: int, sizes: Sequence[int], engine: str = "numpy") -> Iterator[int]:
    """Run the block with the threads ``engine`` (numpy or c) should use on products of ``rows`` samples
    through layers ``sizes``: blas_threads for NumPy's BLAS; the free cores, at most --threads, for the
    C engine (whose bits do not depend on it). Yields that count."""
    global _controller
    if engine == "c":
        threads = min(_cap or cores(), free_cores())
        cengine.set_threads(threads)
        try:
            yield threads
        finally:
            cengine.set_threads(_cap or cores())
        return
    if _controller is None:  # it looks through the loaded libraries: once, NumPy's BLAS is loaded by now
        _controller = ThreadpoolController()
    threads = blas_threads(rows, sizes)
    with _controller.limit(limits=threads, user_api="blas"):
        yield threads


def blas() -> list[dict]:
    """The BLAS libraries NumPy uses, as threadpoolctl describes them (internal_api, version, num_threads...)."""
    return [info for info in ThreadpoolController().info() if info["user_api"] == "blas"]

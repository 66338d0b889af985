"""How many threads the engines use: NumPy's BLAS, through threadpoolctl, and the C engine's OpenMP.

NumPy's BLAS (OpenBLAS in NumPy's wheels) starts a thread per core and splits every matrix product
over them. The products of these networks are small: the threads spend more time handing work to
each other than working, and when another process holds a core they wait for it a whole time
slice at a time (an epoch of 784-64-32-10 at batch 32 took 25 s instead of 1.15 s). So each
workload gets one BLAS thread unless its largest product is big enough to pay for more
(BIG_PRODUCT), and ``--threads N`` caps both the BLAS and the C engine at N threads.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from scratchnet import cengine

# Multiply-adds in one matrix product from which the BLAS gets every core: a few milliseconds of
# work, long enough that the threads rarely wait on each other even on a busy machine. `--preset best`
# (128 x 784 x 800, 80 million) is above it; batches of 32 on 784-20-10 (0.5 million) are far below.
BIG_PRODUCT = 20_000_000

_cap: int | None = None  # --threads
_controller: ThreadpoolController | None = None


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_cap(threads: int | None) -> None:
    """``--threads``: at most ``threads`` for the BLAS and the C engine's OpenMP; None: per workload."""
    global _cap
    _cap = threads
    cengine.set_threads(threads or cores())


def blas_threads(rows: int, sizes: Sequence[int]) -> int:
    """BLAS threads for products of ``rows`` samples through layers ``sizes``: one for small products,
    else every core (at most --threads)."""
    largest = rows * max(a * b for a, b in itertools.pairwise(sizes))
    return 1 if largest < BIG_PRODUCT else _cap or cores()


@contextmanager
def for_products(rows: int, sizes: Sequence[int]) -> Iterator[int]:
    """Run the block with the BLAS threads that ``blas_threads(rows, sizes)`` gives; yields that count."""
    global _controller
    if _controller is None:  # it looks through the loaded libraries: once, NumPy's BLAS is loaded by now
        _controller = ThreadpoolController()
    threads = blas_threads(rows, sizes)
    with _controller.limit(limits=threads, user_api="blas"):
        yield threads


def blas() -> list[dict]:
    """The BLAS libraries NumPy uses, as threadpoolctl describes them (internal_api, version, num_threads...)."""
    return [info for info in ThreadpoolController().info() if info["user_api"] == "blas"]

#!/usr/bin/env python3
"""The C engine's matrix product (sn_gemm) against NumPy's (OpenBLAS SGEMM), in float32, on the shapes
`--preset best` multiplies in every batch and on the square of issue 12's target 3, on 1 and on 2
threads: how close the products come to the machine's limit, the part of target 3 they decide.

Each product is timed alone, the fastest of RUNS (other processes only ever slow a run down). The first
layer is left out: its inputs are sparse pixels, which neither BLAS nor this product sees. The C engine's
OpenMP threads spin between products here (OMP_WAIT_POLICY=active), as OpenBLAS's do: passive waiting
puts them to sleep after every product, and waking one on this virtual machine costs about as much as
a product of these sizes (half the 2-thread rate, measured), which is not the kernel's. (scratchnet
itself leaves libgomp's default, which spins a while before it sleeps: docs/DESIGN.md, "Threads".)

    python bench/products.py --out bench/results   # about a minute; writes products.md and .json there
    python bench/products.py --quick --threads 1   # a run or two each, no square: checks the script works
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import itertools
import os
import time

import numpy as np
from common import BenchError, add_out, entry_point, machine, machine_line, progress, write_results
from threadpoolctl import threadpool_limits

from scratchnet import cengine
from scratchnet.config import resolve

os.environ.setdefault("OMP_WAIT_POLICY", "active")  # read once, when the C library loads (see above)
RUNS = 20
SQUARE = 2048  # target 3's SGEMM (bench/perf.py)


def shapes(square: bool) -> list[tuple[str, int, int, int, int, int]]:
    """(what, trans_a, trans_b, m, n, k) of best's dense products in one batch, then the square."""
    config = resolve({}, "best")
    batch, sizes = config.batch_size, config.layers
    out = []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes[1:]), start=2):
        out.append((f"layer {layer} forward: a W", 0, 0, batch, n_out, n_in))
        out.append((f"layer {layer} weights' gradient: a^T delta", 1, 0, n_in, n_out, batch))
        out.append((f"layer {layer} error below: delta W^T", 0, 1, batch, n_in, n_out))
    if square:
        out.append((f"{SQUARE}x{SQUARE} square", 0, 0, SQUARE, SQUARE, SQUARE))
    return out


def fastest(product, runs: int) -> float:
    product()  # warm-up: the threads start, the pages are touched
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        product()
        times.append(time.perf_counter() - began)
    return min(times)


def c_product(lib, trans_a: int, trans_b: int, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """c = op(a) op(b) by the C library's sn_gemm, as a function of no arguments."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    return functools.partial(lib.sn_gemm, trans_a, trans_b, m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data,
                             b.shape[1], c.ctypes.data, n, 0)


def measure(threads: int, quick: bool) -> list[dict]:
    """Every product on ``threads`` threads: NumPy's first, then the C engine's, whose spinning threads
    would otherwise take a core from OpenBLAS's."""
    lib = cengine.library(np.float32)[0]
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    lib.sn_gemm.argtypes = [ctypes.c_int, ctypes.c_int, size, size, size, pointer, size, pointer, size, pointer,
                            size, ctypes.c_int]
    cengine.set_threads(threads)
    rng = np.random.default_rng(0)
    products = []
    for what, trans_a, trans_b, m, n, k in shapes(square=not quick):
        a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
        products.append((what, trans_a, trans_b, m, n, k, a, b, np.empty((m, n), np.float32)))
    runs = {what: 1 if quick else 3 if m == SQUARE else RUNS for what, _, _, m, *_ in products}
    numpy_seconds = {}
    with threadpool_limits(limits=threads, user_api="blas"):
        for what, trans_a, trans_b, _, _, _, a, b, theirs in products:
            product = functools.partial(np.matmul, a.T if trans_a else a, b.T if trans_b else b, out=theirs)
            numpy_seconds[what] = fastest(product, runs[what])
    rows = []
    for what, trans_a, trans_b, m, n, k, a, b, theirs in products:
        c = np.empty((m, n), np.float32)
        our_seconds = fastest(c_product(lib, trans_a, trans_b, a, b, c), runs[what])
        worst = float(np.abs(c - theirs).max() / np.abs(theirs).max())
        if worst > 1e-4:  # float32 sums in another order differ by a few ulps, not more
            raise BenchError(f"{what}: the C product differs from NumPy's by {worst:.2g} of its largest value")
        flop = 2 * m * n * k
        rows.append({"product": what, "m": m, "n": n, "k": k, "threads": threads,
                     "numpy_seconds": numpy_seconds[what], "c_seconds": our_seconds,
                     "numpy_gflops": flop / numpy_seconds[what] / 1e9, "c_gflops": flop / our_seconds / 1e9,
                     "relative_difference": worst})
        progress(f"{threads} thread(s), {what}: NumPy {rows[-1]['numpy_gflops']:.0f} GFLOP/s, "
                 f"C {rows[-1]['c_gflops']:.0f} GFLOP/s")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="thread counts to measure, comma-separated (default 1,2)")
    parser.add_argument("--quick", action="store_true", help="one run of each product, no square (checks the script)")
    add_out(parser, "products.md and .json")
    args = parser.parse_args()
    info = machine()
    rows = [row for threads in map(int, args.threads.split(",")) for row in measure(threads, args.quick)]
    lines = ["# The C engine's products against OpenBLAS (float32)", "", machine_line(info), "",
             "| product | m x n x k | threads | NumPy GFLOP/s | C GFLOP/s | C / NumPy |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['product']} | {row['m']}x{row['n']}x{row['k']} | {row['threads']} | "
                     f"{row['numpy_gflops']:.0f} | {row['c_gflops']:.0f} | {row['c_gflops'] / row['numpy_gflops']:.2f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    write_results(args.out, "products", table, {"machine": info, "quick": args.quick, "runs": RUNS, "rows": rows})
    return 0


if __name__ == "__main__":
    entry_point(main, "products.py")

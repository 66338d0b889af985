"""The text parameter format written and read by Python (textformat.py) and by the C engine
(csrc/params.c, scratchnet-c's), side by side on one 784-64-10 network: CPU seconds per number,
the fastest of --runs alternating runs. Issue 22's target 3 (bench/perf.py judges it): C's writer and
reader at least as fast per number as Python's, with the same bytes (checked here too).

    python bench/textio.py                 # about 10 s; prints the table and PASS/FAIL
    python bench/textio.py --callgrind     # also the C side's instructions (valgrind: load-independent)
    python bench/textio.py --out DIR       # also DIR/textio.md and .json
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import BenchError, add_out, entry_point, machine, machine_line, progress, write_results

from scratchnet import cengine, network, textformat

SIZES = (784, 64, 10)
DTYPES = ("float64", "float32")


def make_network(dtype: str) -> network.Network:
    """784-64-10 as `scratchnet train` starts it, then its weights spread as training spreads them."""
    rng = np.random.default_rng(0)
    net = network.create(SIZES, "sigmoid", "sigmoid", "uniform", dtype, rng)
    for w, b in zip(net.weights, net.biases):
        w += rng.normal(0, 0.05, w.shape).astype(dtype)
        b += rng.normal(0, 0.5, b.shape).astype(dtype)
    return net


def c_functions(net: network.Network) -> tuple[Callable[[Path], None], Callable[[Path], None]]:
    """sn_write_params and sn_read_params of the C library for the network's dtype, on a path."""
    lib, Net, _, real = cengine.library(net.dtype)
    c_net = cengine._net(net, Net, real)

    def write(path: Path) -> None:
        if lib.sn_write_params(str(path).encode(), ctypes.byref(c_net), 0) != 0:
            raise BenchError(f"C write: {lib.sn_error().decode()}")

    def read(path: Path) -> None:
        back, epochs = Net(), ctypes.c_int()
        if lib.sn_read_params(str(path).encode(), ctypes.byref(back), ctypes.byref(epochs)) != 0:
            raise BenchError(f"C read: {lib.sn_error().decode()}")
        lib.sn_free_net(ctypes.byref(back))

    return write, read


def python_functions(net: network.Network) -> tuple[Callable[[Path], None], Callable[[Path], None]]:
    """What `scratchnet export` and `import` spend on the text: to_text and its bytes on disk, read."""
    def write(path: Path) -> None:
        path.write_bytes(textformat.to_text(net, 0).encode())

    def read(path: Path) -> None:
        textformat.read(path)

    return write, read


def cpu_seconds(action: Callable[[Path], None], path: Path) -> float:
    began = time.process_time()
    action(path)
    return time.process_time() - began


def measure(dtype: str, runs: int, folder: Path) -> dict:
    net = make_network(dtype)
    numbers = sum(w.size + b.size for w, b in zip(net.weights, net.biases))
    sides = {"python": python_functions(net), "c": c_functions(net)}
    paths = {side: folder / f"{side}-{dtype}.txt" for side in sides}
    seconds: dict[str, list[float]] = {f"{side} {op}": [] for side in sides for op in ("write", "read")}
    for run in range(runs):  # alternating, so that a busy spell of the machine slows both sides alike
        for side in (sides if run % 2 == 0 else reversed(list(sides))):
            write, read = sides[side]
            seconds[f"{side} write"].append(cpu_seconds(write, paths[side]))
            seconds[f"{side} read"].append(cpu_seconds(read, paths[side]))
    if paths["c"].read_bytes() != paths["python"].read_bytes():
        raise BenchError(f"{dtype}: C and Python wrote different bytes ({paths['c']}, {paths['python']})")
    return {"numbers": numbers, "bytes": paths["c"].stat().st_size,
            "us_per_number": {what: min(times) / numbers * 1e6 for what, times in seconds.items()}, "seconds": seconds}


def callgrind(dtype: str, folder: Path) -> dict[str, int]:
    """Instructions executed in the C library's text writer (write_text: formatting and stdio, not the
    file's creation or fsync) and parser (sn_parse_params), inclusive, counted by valgrind."""
    out = folder / f"callgrind-{dtype}.out"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
               "--c-only", dtype, "--out", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"callgrind failed: {done.stderr.strip()[-300:]}")
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out)], capture_output=True, text=True).stdout
    counts = {}
    for op, function in (("write", "write_text"), ("read", "sn_parse_params")):
        found = re.search(rf"^\s*([\d,]+) .*:{function} \[", annotated, re.MULTILINE)
        if not found:
            raise BenchError(f"callgrind_annotate shows no {function}")
        counts[op] = int(found.group(1).replace(",", ""))
    return counts


def c_only(dtype: str, folder: Path) -> None:
    """One C write and read, for callgrind to count."""
    write, read = c_functions(make_network(dtype))
    path = folder / f"callgrind-{dtype}.txt"
    write(path)
    read(path)


def rows(results: dict) -> tuple[list[str], bool]:
    """The Markdown table of ``results`` (dtype -> measure()'s dict), and whether C is at least as fast as
    Python per number at writing and at reading, for every dtype."""
    lines = ["| dtype | numbers | Python write | C write | Python read | C read | C callgrind write | C callgrind read |",
             "|---|---|---|---|---|---|---|---|"]
    passed = True
    for dtype, r in results.items():
        us = r["us_per_number"]
        ir = r.get("callgrind", {})
        per = {op: f"{ir[op] / r['numbers']:.0f} instr/number" if op in ir else "-" for op in ("write", "read")}
        lines.append(f"| {dtype} | {r['numbers']} | {us['python write']:.3f} µs | {us['c write']:.3f} µs | "
                     f"{us['python read']:.3f} µs | {us['c read']:.3f} µs | {per['write']} | {per['read']} |")
        passed &= us["c write"] <= us["python write"] and us["c read"] <= us["python read"]
    return lines, passed


def measure_all(runs: int, callgrind_too: bool = False) -> dict:
    """measure() for each of DTYPES (and callgrind() with ``callgrind_too``) in a temporary folder."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="scratchnet-textio-") as tmp:
        for dtype in DTYPES:
            progress(f"text files, {dtype}: {runs} alternating run{'s' if runs != 1 else ''} of each side")
            results[dtype] = measure(dtype, runs, Path(tmp))
            if callgrind_too:
                progress(f"text files, {dtype}: callgrind")
                results[dtype]["callgrind"] = callgrind(dtype, Path(tmp))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=6, help="alternating runs of each side; the fastest counts (default 6)")
    parser.add_argument("--callgrind", action="store_true", help="also count the C side's instructions with valgrind")
    add_out(parser, "textio.md and textio.json")
    parser.add_argument("--c-only", choices=DTYPES, help=argparse.SUPPRESS)  # callgrind's child
    args = parser.parse_args()
    if args.c_only:
        c_only(args.c_only, args.out)
        return 0
    if args.callgrind and not shutil.which("valgrind"):
        raise BenchError("--callgrind needs valgrind (Debian: apt-get install valgrind)")
    start_load = os.getloadavg()[0]
    results = measure_all(args.runs, args.callgrind)
    load = (start_load, os.getloadavg()[0])
    info = machine()
    lines, passed = rows(results)
    text = "\n".join([f"# Text parameter files: C against Python ({'-'.join(map(str, SIZES))}, CPU time per number)",
                      "", machine_line(info) + f"; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end",
                      "", *lines, "", "C's writer and reader at least as fast per number as Python's, the same bytes: "
                      + ("PASS" if passed else "FAIL"), ""])
    print(text, end="")
    write_results(args.out, "textio", text, {"machine": info, "load": load, "results": results, "passed": passed})
    return 0


if __name__ == "__main__":
    entry_point(main, "textio.py")

"""C against Python on this machine (``scratchnet compare``): the post's last experiment as a command.

Each row trains a network with one engine, one floating-point type, one batch size and one thread count on
a stated number of MNIST training images, straight through the engine's ``train_epoch`` (engines.ENGINES),
as ``scratchnet train`` does, evaluation left out. The rows are timed in several repetitions, alternating
forwards and backwards, and each row keeps its fastest: another process on the machine only ever slows a
repetition down, so it spoils a repetition, not a row. The machine's own SGEMM rate (NumPy's float32
product of two large squares, on one thread and on every core) is measured in the same run as the ceiling
that GFLOP/s figures are read against, and the verdicts are worded from the measured figures.

FLOP count, the same for every row of a network: a training sample costs, per layer of n_in x n_out
weights, 2 n_in n_out for the forward product, 2 n_in n_out for the weights' gradient and, above the first
layer, 2 n_in n_out for the error sent below; activations, biases and updates are left out. Both engines
do less on per-sample steps (they skip the zero pixels, about 80% of MNIST's), which the count ignores.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import itertools
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from scratchnet import cengine, engines, network, threads
from scratchnet.config import TrainConfig, resolve
from scratchnet.data import Dataset
from scratchnet.errors import ScratchnetError
from scratchnet.optim import Optimizer

EPOCH_LINE = re.compile(r"\bepoch\s*(\d+)", re.IGNORECASE)  # what --script's epoch lines must contain


@dataclass(frozen=True)
class Plan:
    """How much a run measures: repetitions of every row, and the samples each row trains in one."""

    repetitions: int
    per_sample_numpy: int  # NumPy per-sample rows: the slowest, timed on a part of the epoch
    original: int  # every other row of the original network
    best: int  # --preset best's rows
    sgemm_size: int
    sgemm_runs: int


DEFAULT = Plan(repetitions=5, per_sample_numpy=10_000, original=60_000, best=6_400, sgemm_size=2048, sgemm_runs=5)
QUICK = Plan(repetitions=2, per_sample_numpy=2_000, original=10_000, best=1_280, sgemm_size=1024, sgemm_runs=3)


@dataclass
class Row:
    name: str  # its key: engine-network-dtype-bBATCH-THREADSt
    engine: str  # numpy, c, torch or script
    network: str  # original (784-20-10 sigmoid, the post's) or best (--preset best's 784-800-800-10)
    dtype: str
    batch: int
    threads: int
    samples: int  # samples trained in each repetition
    flops_per_sample: float
    seconds: list[float] = field(default_factory=list)  # each repetition's time
    note: str = ""

    @property
    def fastest(self) -> float:
        return min(self.seconds)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.fastest

    def epoch_seconds(self, n_train: int) -> float:
        """Seconds an epoch of ``n_train`` samples takes at the fastest repetition's rate."""
        return n_train / self.samples_per_second

    @property
    def gflops(self) -> float:
        return self.flops_per_sample * self.samples_per_second / 1e9

    def label(self) -> str:
        what = {"numpy": "NumPy", "c": "C", "torch": "PyTorch", "script": "script"}[self.engine]
        if self.engine == "script":
            return f"{what} {self.note.split(':')[0]}"
        return (f"{what} {self.dtype}, {'per-sample' if self.batch == 1 else f'batch {self.batch}'}, "
                f"{self.threads} thread{'s' if self.threads > 1 else ''}")


@dataclass
class Comparison:
    machine: dict
    n_train: int  # samples in an epoch
    sgemm: dict  # threads -> GFLOP/s of NumPy's float32 square product
    rows: list[Row]
    verdicts: list[str]
    skipped: list[str]  # rows not run, and why

    def to_dict(self) -> dict:
        rows = [{**dataclasses.asdict(r), "label": r.label(), "fastest_seconds": r.fastest,
                 "epoch_seconds": r.epoch_seconds(self.n_train), "samples_per_second": r.samples_per_second,
                 "gflops": r.gflops, "vs_numpy_per_sample": self.speedup(r)} for r in self.rows]
        return {"machine": self.machine, "n_train": self.n_train, "sgemm_gflops": self.sgemm, "rows": rows,
                "verdicts": self.verdicts, "skipped": self.skipped}

    def find(self, engine: str, network: str = "original", dtype: str = "float64", batch: int = 1,
             threads: int = 1) -> Row | None:
        return next((r for r in self.rows if (r.engine, r.network, r.dtype, r.batch, r.threads) ==
                     (engine, network, dtype, batch, threads)), None)

    def speedup(self, row: Row) -> float | None:
        """``row``'s samples/s over NumPy per-sample's (float64, one thread): the reference row."""
        reference = self.find("numpy")
        return row.samples_per_second / reference.samples_per_second if reference else None


def flops_per_sample(sizes: tuple[int, ...]) -> int:
    """FLOP of one training sample through layers ``sizes`` (the module's count: dense products only)."""
    return sum(2 * n_in * n_out * (2 if layer == 0 else 3)
               for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes)))


def sparse_flops_per_sample(sizes: tuple[int, ...], nonzero_share: float) -> float:
    """flops_per_sample with the first layer's products over the non-zero pixels only (``nonzero_share`` of
    them), as both engines' per-sample steps and the C engine's first layer compute them."""
    first = 4 * sizes[0] * sizes[1]
    return flops_per_sample(sizes) - first + first * nonzero_share


def sgemm_rate(size: int, runs: int, blas_threads: int) -> dict:
    """NumPy's float32 product of two ``size``-square matrices on ``blas_threads`` BLAS threads: the fastest of
    ``runs`` after a warm-up, in FLOP/s (2 size^3 FLOP a product), with every run's seconds."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
    times = []
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        a @ b  # warm-up: the BLAS starts its threads
        for _ in range(runs):
            began = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - began)
    return {"size": size, "threads": blas_threads, "seconds": times, "flops": 2 * size**3 / min(times)}


def machine() -> dict:
    """What the figures were measured on: CPU, cores, Python, NumPy and its BLAS, the date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = ", ".join(f"{b['internal_api']} {b['version']}" for b in threads.blas()) or "none found"
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas": blas, "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()), "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}


def plan_rows(plan: Plan, engines_here: list[str]) -> list[Row]:
    """The rows: the original network per-sample and in batches of 32, in every engine here, float64 and
    float32, on one thread and on every core; then one part of an epoch of --preset best on each engine."""
    original, best = resolve({}), resolve({}, "best")
    cores = threads.cores()
    counts = sorted({1, cores})
    rows = []
    for batch, engine, dtype, count in itertools.product((1, 32), engines_here, ("float64", "float32"), counts):
        samples = plan.per_sample_numpy if (engine, batch) == ("numpy", 1) else plan.original
        rows.append(Row(f"{engine}-original-{dtype}-b{batch}-{count}t", engine, "original", dtype, batch, count,
                        samples, flops_per_sample(original.layers)))
    for engine, count in itertools.product(engines_here, counts):
        rows.append(Row(f"{engine}-best-{best.dtype}-b{best.batch_size}-{count}t", engine, "best", best.dtype,
                        best.batch_size, count, plan.best, flops_per_sample(best.layers)))
    return rows


def row_config(row: Row) -> TrainConfig:
    return resolve({"dtype": row.dtype, "batch_size": row.batch}, "best" if row.network == "best" else None)


class Trainer:
    """One row's network and optimizer, trained on the first ``row.samples`` images a repetition at a time
    (each repetition goes on from the last: the speed does not depend on the values)."""

    def __init__(self, row: Row, dataset: Dataset):
        self.row, self.config = row, row_config(row)
        c = self.config
        self.net = network.create(c.layers, c.hidden, c.output, c.init, c.dtype, np.random.default_rng(c.seed))
        self.optimizer = Optimizer(c, self.net, None)
        self.images, self.labels = dataset.train_images[: row.samples], dataset.train_labels[: row.samples]
        self.order = np.arange(len(self.labels))

    def __call__(self) -> float:
        row = self.row
        with threadpool_limits(limits=row.threads, user_api="blas"):
            if row.engine == "c":
                cengine.set_threads(row.threads)
            try:
                began = time.perf_counter()
                engines.get(row.engine).train_epoch(self.net, self.optimizer, self.config, self.images, self.labels,
                                                    self.order, self.config.lr)
                return time.perf_counter() - began
            finally:
                if row.engine == "c":
                    cengine.set_threads(threads.cores())


def torch_trainer(row: Row, dataset: Dataset) -> Callable[[], float]:
    """The original network's training in PyTorch (optional: only when it is installed), as the NumPy engine's
    batch step does it: sigmoid layers, uniform(-0.5, 0.5) init, bce on sigmoid outputs, plain SGD."""
    import torch

    config = row_config(row)
    dtype = getattr(torch, row.dtype)
    torch.manual_seed(config.seed)
    layers: list = []
    for n_in, n_out in itertools.pairwise(config.layers):
        linear = torch.nn.Linear(n_in, n_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.uniform_(-0.5, 0.5)
            linear.bias.zero_()
        layers += [linear, torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*layers[:-1])  # the output's sigmoid is in the loss
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    x = torch.from_numpy(dataset.train_images[: row.samples].reshape(row.samples, -1).astype(row.dtype) / 255)
    y = torch.nn.functional.one_hot(torch.from_numpy(dataset.train_labels[: row.samples].astype(np.int64)),
                                    config.layers[-1]).to(dtype)

    def train() -> float:
        torch.set_num_threads(row.threads)
        began = time.perf_counter()
        for i in range(0, row.samples, row.batch):
            logits = model(x[i : i + row.batch])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[i : i + row.batch],
                                                                         reduction="sum") / len(logits)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - began

    return train


def time_script(path: str | os.PathLike, n_train: int, timeout: float) -> Row:
    """Run ``path`` with this Python in a temporary folder (what it writes stays there), stdin at end of file,
    and time the gaps between the lines it prints that say "epoch N": its row keeps the fastest gap as the
    seconds of an epoch of ``n_train`` samples. Its own data comes from where the script reads it. A script
    that prints no epoch line (it failed, or it is not a training script) raises ScratchnetError; one that
    fails after its epochs (the post's listing does: its np.savez of a ragged list fails on NumPy >= 1.24)
    keeps its figures, with the failure in the row's note."""
    script = Path(path)
    if not script.is_file():
        raise ScratchnetError(f"--script {path}: no such file")
    stamps: list[float] = []  # when each epoch line came; the first entry, the line before the first epoch
    with tempfile.TemporaryDirectory(prefix="scratchnet-compare-") as folder, \
            tempfile.TemporaryFile("w+") as stderr:
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
        began = last = time.perf_counter()
        try:
            with subprocess.Popen([sys.executable, str(script.resolve())], cwd=folder, env=env, text=True,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr) as proc:
                watchdog = threading.Timer(timeout, proc.kill)  # a script that hangs without printing too
                watchdog.start()
                try:
                    for line in proc.stdout:
                        now = time.perf_counter()
                        if EPOCH_LINE.search(line):
                            stamps += [now] if stamps else [last, now]
                        last = now
                    code = proc.wait()
                finally:
                    watchdog.cancel()
                    proc.kill()
        except OSError as e:
            raise ScratchnetError(f"--script {path}: cannot run it ({e.strerror or e})") from None
        if time.perf_counter() - began >= timeout:
            raise ScratchnetError(f"--script {path}: still running after {timeout:g} s; stopped")
        stderr.seek(0)
        last_error = next((line.strip() for line in reversed(stderr.read().splitlines()) if line.strip()), "")
    if len(stamps) < 2:
        why = f"exited with status {code}" + (f": {last_error}" if last_error else "")
        raise ScratchnetError(f"--script {path}: printed no line saying 'epoch N' ({why})")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    note = f"{script.name}: {len(gaps)} epochs, wall-clock gaps between its epoch lines"
    if code:
        note += f"; it then exited with status {code}" + (f" ({last_error})" if last_error else "")
    return Row(f"script-{script.name}", "script", "original", "?", 0, 0, n_train,
               flops_per_sample(TrainConfig().layers), gaps, note)


def verdicts(comparison: Comparison, nonzero_share: float) -> list[str]:
    """A line per comparison, each saying what the figures show and why, worded from them."""
    find, lines = comparison.find, []
    sgemm_1, sgemm_all = comparison.sgemm[1] * 1e9, max(comparison.sgemm.values()) * 1e9
    numpy_1, c_1 = find("numpy"), find("c")
    if numpy_1 and c_1:
        ratio = c_1.samples_per_second / numpy_1.samples_per_second
        micro = 1e6 / numpy_1.samples_per_second
        work = sparse_flops_per_sample(resolve({}).layers, nonzero_share)
        arithmetic = 1e6 * work / sgemm_1
        lines.append(
            f"One sample at a time, C is {ratio:.0f}x NumPy: NumPy takes {micro:.0f} µs a sample, of which the "
            f"arithmetic ({work / 1e3:.0f} thousand FLOP over the "
            f"{100 * nonzero_share:.0f}% of pixels that are not zero) would take {arithmetic:.2f} µs at this "
            f"machine's SGEMM rate: the rest is the price of a dozen NumPy calls a sample (checking, allocating and "
            f"dispatching arrays of 20 numbers), which compiled C loops do not pay.")
    numpy_32, c_32 = find("numpy", batch=32), find("c", batch=32)
    if numpy_1 and numpy_32 and c_32:
        ratio = c_32.samples_per_second / numpy_32.samples_per_second
        batching = numpy_32.samples_per_second / numpy_1.samples_per_second
        if ratio < 1.5:
            rest = (f"draws level with C ({ratio:.2f}x): each call now does 32 samples' work, so its fixed cost is "
                    f"shared 32 ways, and the products go to BLAS, as fast as C's loops on them")
        else:
            rest = (f"C's lead shrinks to {ratio:.1f}x: each call now does 32 samples' work, so its fixed cost is "
                    f"shared 32 ways; what is left is that cost on products (32x784x20) still too small to hide it")
        lines.append(f"In batches of 32, NumPy is {batching:.0f}x faster than per sample and {rest}.")
    cores = threads.cores()
    best = resolve({}, "best")
    numpy_best, c_best = (find(engine, "best", best.dtype, best.batch_size, cores) for engine in ("numpy", "c"))
    if numpy_best and c_best:
        shares = [100 * r.gflops * 1e9 / sgemm_all for r in (numpy_best, c_best)]
        ratio = c_best.samples_per_second / numpy_best.samples_per_second
        text = (f"On --preset best's 784-800-800-10 in batches of 128 on {cores} thread{'s' if cores > 1 else ''}, C "
                f"is {ratio:.2f}x NumPy, which reaches {shares[0]:.0f}% of the SGEMM ceiling "
                f"({sgemm_all / 1e9:.0f} GFLOP/s) and C {shares[1]:.0f}%")
        if shares[1] > 100:
            text += " (above it: C skips the zero pixels in the first layer, which the count includes)"
        if min(shares) >= 50 and 0.67 <= ratio <= 1.5:
            text += (": nearly all the time is in large matrix products, which both run near the machine's limit, "
                     "so the language around them hardly matters.")
        else:
            slow = numpy_best if ratio > 1 else c_best
            alone = find(slow.engine, "best", best.dtype, best.batch_size, 1)
            text += f": {'NumPy' if slow is numpy_best else 'C'} is far from the machine's limit"
            if alone and cores > 1 and alone.samples_per_second > slow.samples_per_second:
                text += (f", and runs {alone.samples_per_second / slow.samples_per_second:.1f}x faster on one thread "
                         f"than on {cores}: its threads wait for each other while other processes hold cores "
                         f"(load average {comparison.machine['load']})")
            text += "."
        lines.append(text)
    for engine, name in (("numpy", "NumPy"), ("c", "C")):
        pairs = [(find(engine, batch=b), find(engine, dtype="float32", batch=b)) for b in (1, 32)]
        if all(a and b for a, b in pairs):
            ratios = [b.samples_per_second / a.samples_per_second for a, b in pairs]
            if max(ratios) >= 1.2:
                why = ("float32 halves the bytes moved and doubles the numbers per SIMD instruction, which pays where "
                       "the arithmetic is the cost")
            elif min(ratios) >= 0.85:
                why = "the arithmetic is not the cost here, so halving its width changes little"
            else:
                why = ("float32 is slower where the ratio is under 1: the arithmetic's width is not the cost on a "
                       "network this small, and (per sample, as profiled) float32's vectors of 8 fit a layer of 20 "
                       "worse than float64's of 4: 2 vectors and an overlapping third, each a pass over the pixels, "
                       "against 5 in one pass (docs/PERFORMANCE.md)")
            lines.append(f"{name} in float32 against float64: {ratios[0]:.2f}x per sample, {ratios[1]:.2f}x in "
                         f"batches of 32: {why}.")
    if cores > 1:
        for engine, name in (("numpy", "NumPy"), ("c", "C")):
            pairs = [(find(engine, batch=b), find(engine, batch=b, threads=cores)) for b in (1, 32)]
            if all(a and b for a, b in pairs):
                ratios = [b.samples_per_second / a.samples_per_second for a, b in pairs]
                lines.append(
                    f"{name} on {cores} threads against 1, original network: {ratios[0]:.2f}x per sample, "
                    f"{ratios[1]:.2f}x in batches of 32: "
                    + ("a product of 20 neurons is too small to share out between cores: the threads gain little "
                       "or nothing" if max(ratios) < 1.2 else
                       "the batches are large enough to share between cores") + ".")
    return lines


def run(dataset: Dataset, plan: Plan = DEFAULT, script: str | os.PathLike | None = None,
        script_timeout: float = 600.0, progress: Callable[[str], None] | None = None) -> Comparison:
    """Measure every row of plan_rows (the C ones where the C engine is built; a PyTorch row where it is
    installed), the SGEMM ceiling, and ``script`` (time_script) if given; return them with their verdicts."""
    say = progress or (lambda message: None)
    n_train = len(dataset.train_labels)
    if plan.original > n_train or plan.best > n_train:  # the rows time at most one epoch
        plan = dataclasses.replace(plan, per_sample_numpy=min(plan.per_sample_numpy, n_train),
                                   original=min(plan.original, n_train), best=min(plan.best, n_train))
    skipped = []
    engines_here = ["numpy"]
    try:
        for dtype in (np.float64, np.float32):
            cengine.library(dtype)
        engines_here.append("c")
    except ScratchnetError as e:
        skipped.append(f"C rows: {e}")
    rows = plan_rows(plan, engines_here)
    trainers: dict[str, Callable[[], float]] = {row.name: Trainer(row, dataset) for row in rows}
    if importlib.util.find_spec("torch") is not None:
        for count in sorted({1, threads.cores()}):
            row = Row(f"torch-original-float32-b32-{count}t", "torch", "original", "float32", 32, count, plan.original,
                      flops_per_sample(resolve({}).layers))
            rows.append(row)
            trainers[row.name] = torch_trainer(row, dataset)
    else:
        skipped.append("PyTorch row: not installed (pip install torch)")
    script_row = time_script(script, n_train, script_timeout) if script else None  # fails early, before the rows
    sgemm = {}
    for count in sorted({1, threads.cores()}):
        say(f"SGEMM {plan.sgemm_size}x{plan.sgemm_size} float32 on {count} thread(s)")
        sgemm[count] = sgemm_rate(plan.sgemm_size, plan.sgemm_runs, count)["flops"] / 1e9
    for repetition in range(plan.repetitions):
        say(f"repetition {repetition + 1} of {plan.repetitions}")
        for row in rows if repetition % 2 == 0 else rows[::-1]:  # no row always first
            row.seconds.append(trainers[row.name]())
    if script_row:
        rows.append(script_row)
    nonzero = float(np.count_nonzero(dataset.train_images[:1000]) / dataset.train_images[:1000].size)
    comparison = Comparison(machine(), n_train, sgemm, rows, [], skipped)
    comparison.verdicts = verdicts(comparison, nonzero)
    return comparison


def table(comparison: Comparison) -> list[str]:
    """The comparison as Markdown lines: the machine, the ceiling, a row per run, the verdicts."""
    m = comparison.machine
    lines = [f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, NumPy {m['numpy']} ({m['blas']}); load average {m['load']}; {m['date']}",
             "",
             "SGEMM ceiling (NumPy float32, measured in this run): " + ", ".join(
                 f"{gflops:.0f} GFLOP/s on {count} thread{'s' if count > 1 else ''}"
                 for count, gflops in comparison.sgemm.items()),
             "",
             "| network | run | timed samples | s/epoch | samples/s | GFLOP/s | vs NumPy per-sample |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in comparison.rows:
        network_name = {"original": "784-20-10 sigmoid", "best": "--preset best 784-800-800-10"}[row.network]
        speedup = comparison.speedup(row)
        lines.append(f"| {network_name} | {row.label()} | {row.samples:,} | {row.epoch_seconds(comparison.n_train):.3g} "
                     f"| {row.samples_per_second:,.0f} | {row.gflops:.2f} | "
                     f"{'' if speedup is None else f'{speedup:.3g}x'} |")
    lines += ["", (f"s/epoch: the fastest of the repetitions, scaled to an epoch of {comparison.n_train:,} samples; "
                   "GFLOP/s: 6 n_in n_out per sample and layer above the first, 4 n_in n_out for the first (forward, "
                   "weights' gradient, error below; scratchnet.compare)."), ""]
    lines += [f"- {note}" for note in [*(r.note for r in comparison.rows if r.note), *comparison.skipped]]
    lines += ["", *comparison.verdicts]
    return lines

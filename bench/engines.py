#!/usr/bin/env python3
"""The C engine against the NumPy engine, the seed's script and two peers, side by side, in one run.

Two networks:
  * the seed's: 784-20-10 sigmoid/sigmoid, bce, uniform(-0.5, 0.5) init, SGD lr 0.005, file order
    (`scratchnet train`'s defaults), EPOCHS epochs (default 5);
  * `--preset best`: 784-800-800-10 relu/softmax float32, batch 128, Nesterov, BEST_EPOCHS (3):
    enough to time an epoch, not to train it well.

Rows: the seed's nn2.py (per-sample); scratchnet's NumPy engine and C engine (`--engine c`) at
batch 1 and 32; the standalone `csrc/scratchnet-c train` at batch 1; PyTorch (CPU) and
scikit-learn's MLPClassifier at batch 1 and 32; on best, NumPy, C and PyTorch. Every row is a
subprocess under the peak-RSS wrapper of bench/common.py; the PyTorch and scikit-learn rows run
this file as `engines.py peer torch|sklearn seed|best --batch-size N --epochs N`, which prints
JSON epoch lines as `scratchnet train --json` does. A peer that is not installed, or a C
library/program that is not built, gives a row that says so; the run goes on.

Output: the table on stdout and in OUT/engines.md (with PASS/FAIL for the C engine's targets),
the raw numbers in OUT/engines.json, a bar chart OUT/engines.png (needs matplotlib).

    python bench/engines.py            # everything (about 5 minutes on a quiet 2-core machine)
    python bench/engines.py --quick    # 1 epoch, best skipped: checks the script works
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from common import (
    DATA,
    REPO,
    SEED_HELP,
    BenchError,
    Run,
    SeedRun,
    add_out,
    entry_point,
    json_lines,
    judge,
    machine,
    machine_line,
    progress,
    run_measured,
    run_scratchnet,
    run_seed,
    seed_unavailable,
    target_lines,
    temporary_folder,
    write_results,
)

from scratchnet import cengine
from scratchnet.data import load_dataset, read_idx

CSRC = REPO / "csrc"
C_PROGRAM = CSRC / "scratchnet-c"

EPOCHS = 5
BEST_EPOCHS = 3
SEED_SCRIPT_EPOCHS = 5  # nn2.py always runs 5
SEED_LR = 0.005  # TrainConfig().lr: the seed's

# The targets' thresholds: the C engine against the seed's script, NumPy and PyTorch.
SEED_SPEEDUP = 30.0
NUMPY_SPEEDUP = 10.0
BEST_SLOWDOWN = 1.5  # C's seconds per epoch on best at most this many times NumPy's
ACCURACY_POINTS = 0.1  # C and NumPy test accuracy within this many percentage points

# "epoch N  loss X  train A%  test B%  S s  R samples/s", as csrc/scratchnet-c train prints it
C_EPOCH_LINE = re.compile(r"epoch\s+(\d+)\s+loss\s+(\S+)\s+train\s+([\d.]+)%\s+test\s+([\d.]+)%\s+"
                          r"([\d.]+)\s*s\s+([\d.,]+)\s*samples/s")
MNIST_TRAIN = 60_000  # training images: what every row of this benchmark trains on
NETWORKS = {"seed": "seed network 784-20-10 sigmoid", "best": "`--preset best` 784-800-800-10 relu float32"}
PEERS = ("torch", "sklearn")  # the peers' module names, and their rows' kind
INSTALL_PEERS = "pip install torch==2.13.0 scikit-learn"


@dataclass
class Row:
    """One line of the table: what runs, on which network, at which batch size."""

    name: str  # its key in engines.json
    network: str  # "seed" or "best"
    label: str
    batch: int
    kind: str  # how it runs: seed (nn2.py), scratchnet, standalone (csrc/scratchnet-c), torch, sklearn
    options: list[str] = field(default_factory=list)  # `scratchnet train` options
    note: str = ""
    status: str = ""  # why it has no numbers: not installed, not built, skipped, ERROR: ...
    run: Run | SeedRun | None = None
    repeats: list[Run | SeedRun] = field(default_factory=list)  # later rounds of the same run (bench/perf.py)

    @property
    def engine(self) -> str:
        """What computes: seed, numpy, c, torch or sklearn (the name's first word)."""
        return self.name.split("-")[0]

    @staticmethod
    def epoch_seconds(run: Run | SeedRun) -> list[float]:
        """The seconds of each epoch of one run."""
        return run.epoch_seconds if isinstance(run, SeedRun) else [e["seconds"] for e in run.epochs]

    @property
    def seconds(self) -> list[float]:
        """The seconds of every epoch, of every round."""
        return [seconds for run in (self.run, *self.repeats) for seconds in self.epoch_seconds(run)]

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def test_accuracy(self) -> float | None:
        return None if isinstance(self.run, SeedRun) else self.run.test_accuracy

    @property
    def peak_mb(self) -> float | None:
        return self.run.peak_rss_kib * 1024 / 1e6 if self.run.peak_rss_kib else None


def plan() -> list[Row]:
    c = ["--engine", "c"]
    return [
        Row("seed", "seed", "the seed's nn2.py", 1, "seed", note="its own script; it prints training accuracy only"),
        Row("numpy-b1", "seed", "scratchnet NumPy", 1, "scratchnet"),
        Row("numpy-b32", "seed", "scratchnet NumPy", 32, "scratchnet", ["--batch-size", "32"]),
        Row("c-b1", "seed", "scratchnet C (`--engine c`)", 1, "scratchnet", c),
        Row("c-b32", "seed", "scratchnet C (`--engine c`)", 32, "scratchnet", ["--batch-size", "32", *c]),
        Row("c-standalone-b1", "seed", "`csrc/scratchnet-c train`", 1, "standalone", note="IDX files"),
        Row("torch-b1", "seed", "PyTorch CPU", 1, "torch"),
        Row("torch-b32", "seed", "PyTorch CPU", 32, "torch"),
        Row("sklearn-b1", "seed", "scikit-learn MLPClassifier", 1, "sklearn", note="its own Glorot init"),
        Row("sklearn-b32", "seed", "scikit-learn MLPClassifier", 32, "sklearn", note="its own Glorot init"),
        Row("numpy-best", "best", "scratchnet NumPy", 128, "scratchnet", ["--preset", "best"]),
        Row("c-best", "best", "scratchnet C (`--engine c`)", 128, "scratchnet", ["--preset", "best", *c]),
        Row("torch-best", "best", "PyTorch CPU", 128, "torch"),
    ]


def c_library(network: str) -> Path:
    return cengine.folder() / ("libscratchnet32.so" if network == "best" else "libscratchnet64.so")


def unavailable(row: Row, args) -> str:
    """Why ``row`` cannot run here ("" if it can)."""
    if args.only and row.name not in args.only:
        return "not selected (--only)"
    if row.network == "best" and (args.quick or args.skip_best):
        return "skipped (--quick)" if args.quick else "skipped (--skip-best)"
    if row.kind == "seed":
        return seed_unavailable(args.seed_script, args.skip_seed)
    if row.kind == "scratchnet" and row.engine == "c" and not c_library(row.network).exists():
        return f"not built: {cengine.missing(c_library(row.network))}"
    if row.kind == "standalone" and not os.access(args.c_program, os.X_OK):
        return "not built (`make -C csrc`)"
    if row.kind in PEERS and importlib.util.find_spec(row.kind) is None:
        return f"not installed (`{INSTALL_PEERS}`)"
    return ""


def standalone_record(line: str) -> dict | None:
    """An epoch line of csrc/scratchnet-c as the record `scratchnet train --json` prints; None for other lines."""
    match = C_EPOCH_LINE.search(line)
    if not match:
        return None
    epoch, loss, numpy_engine, test, _, rate = match.groups()
    rate = float(rate.replace(",", ""))
    # its seconds are printed to 2 decimals (0.07 s); the rate, to the sample, says it better
    return {"epoch": int(epoch), "loss": float(loss), "train_accuracy": float(numpy_engine) / 100,
            "test_accuracy": float(test) / 100, "seconds": MNIST_TRAIN / rate, "samples_per_second": rate}


def measure(row: Row, args, tmp: Path) -> Run | SeedRun:
    epochs = args.best_epochs if row.network == "best" else args.epochs
    if row.kind == "seed":
        return run_seed(tmp, min(epochs, SEED_SCRIPT_EPOCHS), args.seed_script)
    if row.kind == "scratchnet":
        return run_scratchnet(row.name, [*row.options, "--epochs", str(epochs)], tmp)
    if row.kind == "standalone":
        command = [str(args.c_program), "train", "--data", str(DATA), "--params", str(tmp / f"{row.name}.txt"),
                   "--epochs", str(epochs), "--batch-size", str(row.batch), "--lr", str(SEED_LR), "--fresh"]
        return run_measured(row.name, "scratchnet-c", command, tmp, standalone_record)
    command = [sys.executable, str(Path(__file__).resolve()), "peer", row.kind, row.network,
               "--batch-size", str(row.batch), "--epochs", str(epochs)]
    if args.peer_threads:
        command += ["--threads", str(args.peer_threads)]
    return run_measured(row.name, f"the {row.kind} peer", command, tmp, json_lines(f"the {row.kind} peer"))


# --- the peers: the same training in PyTorch and scikit-learn, run as `engines.py peer ...` ---------------


def peer_config(network: str, batch_size: int, epochs: int):
    """scratchnet's own settings for the network: the peers train what scratchnet trains."""
    from scratchnet.config import resolve

    return resolve({"batch_size": batch_size, "epochs": epochs}, None if network == "seed" else network)


def torch_epochs(config, data, threads: int | None = None) -> Iterator[dict]:
    """The network of ``config`` in PyTorch: the same layers, init, loss, optimizer, learning rates, order and
    image shifts (prepared outside the timed loop, as scratchnet does); inputs converted a chunk at a time.
    ``threads``: torch.set_num_threads, else PyTorch's default (one per core)."""
    import torch
    import torch.nn.functional as F

    from scratchnet.data import inputs
    from scratchnet.numpy_engine import CHUNK, epoch_samples
    from scratchnet.optim import learning_rate

    if threads:
        torch.set_num_threads(threads)
    assert config.optimizer in ("sgd", "momentum", "nesterov") and config.loss in ("bce", "cross_entropy")
    torch.manual_seed(config.seed)
    dtype = getattr(torch, config.dtype)
    activation = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[config.hidden]
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in zip(config.layers, config.layers[1:]):
        linear = torch.nn.Linear(fan_in, fan_out, dtype=dtype)
        with torch.no_grad():
            if config.init == "uniform":  # the seed's
                linear.weight.uniform_(-0.5, 0.5)
            else:  # he
                linear.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            linear.bias.zero_()
        layers += [linear, activation()]
    model = torch.nn.Sequential(*layers[:-1])  # the output activation is in the loss
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    momentum = config.momentum if config.optimizer != "sgd" else 0.0
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": config.weight_decay},
                                 {"params": biases, "weight_decay": 0.0}],
                                lr=config.lr, momentum=momentum, nesterov=config.optimizer == "nesterov")

    def targets_of(labels: np.ndarray):
        """What the loss compares the logits with: one-hot rows (bce) or the labels (cross-entropy)."""
        labels = torch.from_numpy(labels.astype(np.int64))
        return F.one_hot(labels, config.layers[-1]).to(dtype) if config.loss == "bce" else labels

    def loss_of(logits, targets):
        if config.loss == "bce":  # summed over the outputs, mean over the batch: its gradient is (o - l) / batch
            return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / len(targets)
        return F.cross_entropy(logits, targets)

    train_images, train_labels, test_images, test_labels = data
    n, batch = len(train_labels), config.batch_size
    test_x = torch.from_numpy(inputs(test_images, config.dtype))
    for epoch in range(config.epochs):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, epoch, config.epochs)
        order, images = epoch_samples(config, train_images, epoch)
        flat = images.reshape(n, -1)
        chunk_size = batch * max(1, CHUNK // batch)
        began = time.perf_counter()
        for start in range(0, n, chunk_size):
            part = order[start : start + chunk_size]
            x = torch.from_numpy(inputs(flat[part], config.dtype))
            y = targets_of(train_labels[part])
            for i in range(0, len(part), batch):
                loss = loss_of(model(x[i : i + batch]), y[i : i + batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        seconds = time.perf_counter() - began
        with torch.no_grad():
            accuracy = (model(test_x).argmax(dim=1).numpy() == test_labels).mean()
        yield {"epoch": epoch + 1, "seconds": seconds, "test_accuracy": float(accuracy),
               "samples_per_second": n / seconds, "dtype": config.dtype, "threads": torch.get_num_threads()}


def sklearn_epochs(config, data, threads: int | None = None) -> Iterator[dict]:
    """The seed network in MLPClassifier: one partial_fit an epoch over the data in file order. One-hot
    targets make it multi-label, so its outputs are sigmoids with binary log loss: the seed's bce.
    Its initial weights are its own (Glorot uniform): it has no way to take the seed's.
    ``threads``: the BLAS threads it may use (threadpoolctl), else the BLAS's default (one per core)."""
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_info, threadpool_limits

    from scratchnet.data import inputs

    assert config.optimizer == "sgd" and config.loss == "bce" and not config.shuffle and not config.shift
    model = MLPClassifier(
        hidden_layer_sizes=config.layers[1:-1], activation={"sigmoid": "logistic"}.get(config.hidden, config.hidden),
        solver="sgd", learning_rate="constant", learning_rate_init=config.lr, momentum=0.0,
        nesterovs_momentum=False, batch_size=config.batch_size, alpha=0.0, shuffle=False,
        random_state=config.seed,
    )
    train_images, train_labels, test_images, test_labels = data
    x = inputs(train_images, config.dtype)
    targets = np.eye(config.layers[-1])[train_labels]
    test_x = inputs(test_images, config.dtype)
    with threadpool_limits(limits=threads, user_api="blas"):
        blas_threads = max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"),
                           default=1)
        for epoch in range(config.epochs):
            began = time.perf_counter()
            if epoch == 0:
                model.partial_fit(x, targets, classes=np.arange(config.layers[-1]))
            else:
                model.partial_fit(x, targets)
            seconds = time.perf_counter() - began
            accuracy = (model.predict_proba(test_x).argmax(axis=1) == test_labels).mean()
            yield {"epoch": epoch + 1, "seconds": seconds, "test_accuracy": float(accuracy),
                   "samples_per_second": len(x) / seconds, "dtype": str(x.dtype), "threads": blas_threads}


def peer_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="engines.py peer", description="Train one peer; JSON epoch lines.")
    parser.add_argument("kind", choices=PEERS)
    parser.add_argument("network", choices=tuple(NETWORKS))
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, help="PyTorch's threads, or scikit-learn's BLAS threads "
                        "(default: theirs, one per core)")
    args = parser.parse_args(argv)
    config = peer_config(args.network, args.batch_size, args.epochs)
    mnist = load_dataset(DATA)
    data = (mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels)
    for record in (torch_epochs if args.kind == "torch" else sklearn_epochs)(config, data, args.threads):
        print(json.dumps(record), flush=True)
    return 0


# --- judging and reporting -----------------------------------------------------------------------------


def evaluate(rows: dict[str, Row]) -> list[dict]:
    """One line per target of the C engine: what it asks, what was measured, PASS/FAIL (or SKIP/ERROR)."""
    measured = {name for name, row in rows.items() if row.run is not None}
    errors = {name: cell(row.status.removeprefix("ERROR: ")) for name, row in rows.items()
              if row.status.startswith("ERROR")}
    skipped = {name: row.status for name, row in rows.items() if row.run is None and name not in errors}
    targets: list[dict] = []

    def seconds(name: str) -> float:
        return rows[name].median_seconds

    def faster(slow: str, fast: str, label: str, at_least: float | None = None):
        """``fast`` at least ``at_least`` times faster than ``slow``; without it, simply faster."""
        def measure():
            ratio = seconds(slow) / seconds(fast)
            return (f"{ratio:.2f}x ({label} {seconds(slow):.3g} s/epoch, C {seconds(fast):.3g} s/epoch)",
                    {"speedup": ratio, f"{slow}_seconds": seconds(slow), f"{fast}_seconds": seconds(fast)},
                    ratio > 1 if at_least is None else ratio >= at_least)
        return measure

    def versus_seed():
        text, value, ok = faster("seed", "c-b1", "seed", SEED_SPEEDUP)()
        if "c-standalone-b1" in measured:
            alone = seconds("seed") / seconds("c-standalone-b1")
            text += f"; standalone scratchnet-c: {alone:.1f}x"
            value["standalone_speedup"] = alone
        return text, value, ok

    def best_time():
        ratio = seconds("c-best") / seconds("numpy-best")
        text = (f"C takes {ratio:.2f}x NumPy's time (NumPy {seconds('numpy-best'):.3g} s/epoch, "
                f"C {seconds('c-best'):.3g} s/epoch)")
        value = {"ratio": ratio, "numpy_seconds": seconds("numpy-best"), "c_seconds": seconds("c-best")}
        return text, value, ratio <= BEST_SLOWDOWN

    def same_accuracy(numpy_row: str, c_row: str):
        def measure():
            a, b = 100 * rows[numpy_row].test_accuracy, 100 * rows[c_row].test_accuracy
            return (f"{abs(a - b):.2f} points (NumPy {a:.2f}%, C {b:.2f}%)", {"numpy": a, "c": b},
                    abs(a - b) <= ACCURACY_POINTS)
        return measure

    def add(description: str, needs: list[str], measure) -> None:
        targets.append(judge(len(targets) + 1, description, needs, measured.__contains__, skipped, errors, measure))

    add(f"C per-sample (`--engine c`, batch 1): seconds per epoch >= {SEED_SPEEDUP:g}x faster than the seed's "
        f"nn2.py", ["seed", "c-b1"], versus_seed)
    add(f"C per-sample >= {NUMPY_SPEEDUP:g}x faster than NumPy per-sample", ["numpy-b1", "c-b1"],
        faster("numpy-b1", "c-b1", "NumPy", NUMPY_SPEEDUP))
    add("C batch 32 faster than NumPy batch 32", ["numpy-b32", "c-b32"], faster("numpy-b32", "c-b32", "NumPy"))
    add("C batch 32 faster than PyTorch batch 32", ["torch-b32", "c-b32"],
        faster("torch-b32", "c-b32", "PyTorch"))
    add(f"`--preset best`: C's seconds per epoch within {BEST_SLOWDOWN:g}x of NumPy's", ["numpy-best", "c-best"],
        best_time)
    for numpy_row, c_row, what in (("numpy-b1", "c-b1", "batch 1"), ("numpy-b32", "c-b32", "batch 32"),
                                   ("numpy-best", "c-best", "`--preset best`")):
        add(f"{what}: C and NumPy test accuracy within {ACCURACY_POINTS:g} points", [numpy_row, c_row],
            same_accuracy(numpy_row, c_row))
    return targets


def cell(text: str) -> str:
    """Text for a Markdown table cell (error messages may hold '|')."""
    return text.replace("|", "\\|")


def epochs_text(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def note(row: Row) -> str:
    records = row.run.epochs if isinstance(row.run, Run) else []
    if row.kind in PEERS and records:
        threads = records[-1]["threads"]
        unit = "thread" if row.kind == "torch" else "BLAS thread"
        return ", ".join(filter(None, [records[-1]["dtype"], f"{threads} {unit}{'s' if threads != 1 else ''}", row.note]))
    return row.note


def table_row(row: Row, n_train: int, reference: Row | None, best_epochs: int) -> str:
    batch = str(row.batch)
    if row.run is None:
        return f"| {row.label} | {batch} | {cell(row.status)} | | | | | |"
    seconds = row.median_seconds
    if row.test_accuracy is None:  # the seed prints training accuracy only
        accuracy = f"{row.run.accuracies[-1]:.2f}% (train)"
    else:
        accuracy = f"{100 * row.test_accuracy:.2f}%" + (f" ({epochs_text(best_epochs)})" if row.network == "best" else "")
    peak = f"{row.peak_mb:.0f}" if row.peak_mb else "?"
    speedup = f"{reference.median_seconds / seconds:.3g}x" if reference and reference.run else ""
    return (f"| {row.label} | {batch} | {seconds:.3g} | {n_train / seconds:,.0f} | {accuracy} | {peak} | {speedup} "
            f"| {note(row)} |")


def markdown(info: dict, rows: list[Row], targets: list[dict], args, n_train: int) -> str:
    by_name = {row.name: row for row in rows}
    lines = [
        "# scratchnet engines: C against NumPy, the seed and peers",
        "",
        machine_line(info, {"torch": "torch", "sklearn": "scikit-learn"})
        + (f" — **quick mode**: 1 epoch each, best skipped, peers on {args.peer_threads} "
           f"thread{'s' if args.peer_threads != 1 else ''}; thresholds are for the full run" if args.quick else ""),
        "",
        (f"Seconds per epoch: the median of the epochs run (training only, evaluation excluded); samples/s: "
         f"{n_train:,} over that median; test accuracy after the last epoch; peak RSS of the row's process "
         f"(10^6 bytes). Speed-up: the seed's nn2.py's seconds per epoch over the row's on the seed network, "
         f"NumPy's over the row's on best."),
    ]
    titles = {
        "seed": f"{NETWORKS['seed']}/sigmoid, bce, uniform init, SGD lr {SEED_LR:g}, file order, {epochs_text(args.epochs)}",
        "best": f"{NETWORKS['best']}, batch 128, Nesterov, shuffled and shifted, {epochs_text(args.best_epochs)}",
    }
    for network, reference in (("seed", "seed"), ("best", "numpy-best")):
        title = titles[network]
        lines += ["", f"## {title[0].upper()}{title[1:]}", "",
                  "| Implementation | Batch | s/epoch | samples/s | Test accuracy | Peak RSS (MB) | Speed-up | Notes |",
                  "|----------------|------:|--------:|----------:|---------------|--------------:|---------:|-------|"]
        lines += [table_row(row, n_train, by_name[reference], args.best_epochs)
                  for row in rows if row.network == network]
    lines += ["", "## Targets of the C engine", "", *target_lines(targets)]
    return "\n".join(lines) + "\n"


COLORS = {"seed": "#7f7f7f", "numpy": "#1f77b4", "c": "#d62728", "torch": "#9467bd", "sklearn": "#2ca02c"}


def chart(rows: list[Row], path: Path, info: dict) -> str:
    """Horizontal bars of seconds per epoch, log scale, one panel per network; '' or why there is none."""
    if importlib.util.find_spec("matplotlib") is None:
        return "no chart: matplotlib is not installed (pip install matplotlib)"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if not r.status.startswith("not selected")]
    groups = [(network, [r for r in shown if r.network == network]) for network in NETWORKS]
    groups = [(network, group) for network, group in groups if any(r.run for r in group)]
    if not groups:
        return "no chart: nothing was measured"
    fig, axes = plt.subplots(len(groups), 1, sharex=True, squeeze=False,
                             figsize=(9, 1.2 + 0.38 * sum(len(g) for _, g in groups)),
                             gridspec_kw={"height_ratios": [len(g) for _, g in groups]})
    for ax, (network, group) in zip(axes[:, 0], groups):
        labels = [f"{r.label.replace('`', '')}, batch {r.batch}" for r in group]
        values = [r.median_seconds if r.run else 0 for r in group]
        colors = [COLORS[r.engine] for r in group]
        y = range(len(group))
        ax.barh(y, [v or np.nan for v in values], color=colors)
        for i, (row, value) in enumerate(zip(group, values)):
            if value:
                ax.text(value * 1.05, i, f"{value:.3g} s", va="center", fontsize=8)
            else:
                status = row.status.replace("`", "")
                ax.text(0.01, i, status if len(status) < 70 else status[:67] + "...", va="center", fontsize=8,
                        color="gray", transform=ax.get_yaxis_transform())
        ax.set_yticks(list(y), labels, fontsize=8)
        ax.set_ylim(len(group) - 0.5, -0.5)  # top to bottom, rows without a bar included
        ax.set_title(NETWORKS[network].replace("`", ""), fontsize=9, loc="left")
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[-1, 0].set_xscale("log")
    measured = [r.median_seconds for r in rows if r.run]
    axes[-1, 0].set_xlim(min(measured) / 2, max(measured) * 3)
    axes[-1, 0].set_xlabel("seconds per epoch (log scale; shorter is faster)")
    fig.suptitle(f"scratchnet engines — {info['cpu']}, {info['cores']} cores, {info['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return ""


def version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "peer":
        return peer_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description="The C engine against NumPy, the seed and peers (Markdown table).")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs on the seed network (default {EPOCHS})")
    parser.add_argument("--best-epochs", type=int, default=BEST_EPOCHS,
                        help=f"epochs of the best preset (default {BEST_EPOCHS}: enough for timing)")
    parser.add_argument("--quick", action="store_true",
                        help="for development: 1 epoch, no best preset, peers on 1 thread (unless --peer-threads)")
    parser.add_argument("--seed-script", type=Path, metavar="PATH/nn2.py", help=SEED_HELP + " (target 1)")
    parser.add_argument("--skip-seed", action="store_true", help="do not run the seed's nn2.py")
    parser.add_argument("--skip-best", action="store_true", help="do not train --preset best")
    parser.add_argument("--only", type=lambda s: set(s.split(",")), metavar="ROW,...",
                        help=f"run only these rows: {', '.join(r.name for r in plan())}")
    parser.add_argument("--peer-threads", type=int, metavar="N",
                        help="threads of the PyTorch rows (torch.set_num_threads) and of scikit-learn's BLAS "
                        "(threadpoolctl); default: theirs, one per core")
    parser.add_argument("--c-program", type=Path, default=C_PROGRAM, help="the standalone C program "
                        "(default csrc/scratchnet-c)")
    add_out(parser, "engines.md, engines.json and engines.png")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 1
        # With a thread per core, the peers' small steps wait on each other whenever another process holds
        # a core (10-40x slower seen here); one thread keeps the quick run quick on a busy machine.
        args.peer_threads = args.peer_threads or 1
    if args.epochs < 1 or args.best_epochs < 1:
        parser.error("--epochs and --best-epochs must be at least 1")
    if not DATA.exists():
        print(f"engines.py: {DATA} is missing", file=sys.stderr)
        return 1
    if args.only and (unknown := args.only - {r.name for r in plan()}):
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")

    info = machine(torch=version("torch"), sklearn=version("scikit-learn"))
    n_train = len(read_idx(DATA / "train-labels-idx1-ubyte.gz"))
    rows = plan()
    for row in rows:
        row.status = unavailable(row, args)
    steps = [row for row in rows if not row.status]
    with temporary_folder() as tmp:
        for i, row in enumerate(steps, 1):
            progress(f"[{i}/{len(steps)}] {row.name}: {row.label.replace('`', '')}, batch {row.batch}")
            began = time.perf_counter()
            try:
                row.run = measure(row, args, Path(tmp))
            except (BenchError, OSError, KeyError, ValueError) as e:
                row.status = f"ERROR: {e}"
                progress(f"  error: {e}")
            progress(f"  done in {time.perf_counter() - began:.1f} s")

    targets = evaluate({row.name: row for row in rows})
    table = markdown(info, rows, targets, args, n_train)
    chart_note = ""
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        chart_note = chart(rows, args.out / "engines.png", info)
    if chart_note:
        table += f"\n({chart_note})\n"
    print(table, end="")
    raw = {
        "machine": info,
        "quick": args.quick,
        "epochs": args.epochs,
        "best_epochs": args.best_epochs,
        "peer_threads": args.peer_threads,  # None: the peers' defaults
        "n_train": n_train,
        "rows": [{
            "name": row.name, "network": row.network, "label": row.label, "batch": row.batch, "status": row.status,
            **({} if row.run is None else {
                "command": getattr(row.run, "command", [sys.executable, "-u", "nn2.py"]),
                "epoch_seconds": row.seconds, "median_seconds": row.median_seconds,
                "samples_per_second": n_train / row.median_seconds, "test_accuracy": row.test_accuracy,
                "peak_rss_kib": row.run.peak_rss_kib,
                **({"epochs": row.run.epochs, "wall_seconds": row.run.wall_seconds} if isinstance(row.run, Run)
                   else {"train_accuracy": row.run.accuracies, "lines": row.run.lines}),
            }),
        } for row in rows],
        "targets": targets,
        "chart": chart_note or "engines.png",
    }
    write_results(args.out, "engines", table, raw)
    return 1 if any(row.status.startswith("ERROR") for row in rows) else 0


if __name__ == "__main__":
    entry_point(main, "engines.py")

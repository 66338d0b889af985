"""Pictures of a trained network, with matplotlib (the optional ``plot`` extra).

Each function draws one figure and saves it to a file: the first layer's weights as images,
the training history, the confusion matrix, and the test images the network gets wrong.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from scratchnet.atomic import atomic_write
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no window, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ScratchnetError("plots need matplotlib: pip install 'scratchnet[plot]'") from None
    return plt


def check_available() -> None:
    """Raise now, before long work, if matplotlib is missing."""
    _pyplot()


def _save(fig, path: str | os.PathLike) -> None:
    """Save as the suffix says (PNG without one), atomically: a failure leaves the old picture whole."""
    try:
        with atomic_write(path, stdout_ok=True) as f:
            fig.savefig(f, format=Path(path).suffix[1:].lower() or None, dpi=110, bbox_inches="tight")
    except ValueError as e:  # a format matplotlib does not know
        raise ScratchnetError(f"cannot write {path}: {e}") from None
    finally:
        fig.clear()


def _grid(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def weights(net: Network, path: str | os.PathLike, max_tiles: int = 100) -> None:
    """Each first-layer neuron's incoming weights as an image: what that neuron looks for."""
    plt = _pyplot()
    first = net.weights[0].astype(np.float64)  # (n_inputs, n_neurons)
    side = math.isqrt(first.shape[0])
    if side * side != first.shape[0]:
        raise ScratchnetError(f"plot weights needs square images; the network has {first.shape[0]} inputs")
    count = min(first.shape[1], max_tiles)
    rows, cols = _grid(count)
    limit = np.abs(first[:, :count]).max() or 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.6), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < count:
            image = ax.imshow(first[:, k].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"neuron {k}", fontsize=8)
    shown = f"first {count} of {first.shape[1]}" if count < first.shape[1] else f"all {count}"
    fig.suptitle(f"{net.describe()}: incoming weights of layer 1 ({shown} neurons); red +, blue -")
    fig.colorbar(image, ax=axes, shrink=0.6)
    _save(fig, path)


def history(history: list[dict], path: str | os.PathLike) -> None:
    """Loss and accuracies per epoch, from a checkpoint's history."""
    if not history:
        raise ScratchnetError("the checkpoint has no training history to plot: train it first")
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(epochs, [h["loss"] for h in history], marker="o")
    left.set(xlabel="epoch", ylabel="training loss", title="loss")
    for key, name in (("train_accuracy", "train"), ("test_accuracy", "test")):
        right.plot(epochs, [100 * h[key] for h in history], marker="o", label=name)
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    _save(fig, path)


def confusion(matrix: list[list[int]], path: str | os.PathLike, title: str = "") -> None:
    """The confusion matrix: rows the true labels, columns the predictions, counts in the cells."""
    plt = _pyplot()
    counts = np.asarray(matrix)
    n = len(counts)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(np.log1p(counts), cmap="Blues")  # log: the diagonal would drown the mistakes
    for t in range(n):
        for p in range(n):
            colour = "white" if counts[t, p] > counts.max() / 4 else "black"
            ax.text(p, t, str(counts[t, p]), ha="center", va="center", fontsize=8, color=colour)
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true label",
           title=title or "confusion matrix")
    _save(fig, path)


def misclassified(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                  path: str | os.PathLike, count: int = 36) -> None:
    """A grid of the images the network gets wrong, with its answer and the truth."""
    plt = _pyplot()
    wrong = np.flatnonzero(predicted != labels)[:count]
    if len(wrong) == 0:
        raise ScratchnetError("the network gets every image right: nothing to plot")
    rows, cols = _grid(len(wrong))
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(images[i], cmap="gray_r")
        ax.set_title(f"#{i}: {predicted[i]} ({confidence[i]:.2f})\ntrue {labels[i]}", fontsize=7, color="firebrick")
    fig.suptitle(f"{int((predicted != labels).sum())} of {len(labels)} images wrong; the first {len(wrong)}")
    _save(fig, path)


def ladder(rungs: list, path: str | os.PathLike, title: str) -> None:
    """Test accuracy after each epoch of every rung of the ToDo ladder (ladder.RungResult), a line each."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.cm.viridis(np.linspace(0, 0.95, max(len(rungs), 2)))
    for rung, colour in zip(rungs, colours):
        epochs = [h["epoch"] for h in rung.history]
        accuracy = [100 * h["test_accuracy"] for h in rung.history]
        ax.plot(epochs, accuracy, marker="o", color=colour,
                label=f"{rung.rung}. {rung.name}: {accuracy[-1]:.2f}%")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the lines bunch up
    _save(fig, path)


def compare(rows: list[dict], path: str | os.PathLike, title: str) -> None:
    """Samples per second of each row of ``scratchnet compare`` (compare.Comparison.to_dict's rows), a bar
    each, log scale, coloured by engine."""
    plt = _pyplot()
    colours = {"numpy": "tab:blue", "c": "tab:red", "torch": "tab:purple", "script": "tab:gray"}
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * len(rows)))
    names = [("best: " if r["network"] == "best" else "") + r["label"] for r in rows]
    rates = [r["samples_per_second"] for r in rows]
    ax.barh(range(len(rows)), rates, color=[colours[r["engine"]] for r in rows])
    for i, rate in enumerate(rates):
        ax.text(rate * 1.05, i, f"{rate:,.0f}", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first row on top
    ax.set_xscale("log")
    ax.set_xlim(min(rates) / 2, max(rates) * 4)
    ax.set(xlabel="training samples per second (log scale; longer is faster)", title=title)
    ax.grid(axis="x", which="both", alpha=0.3)
    _save(fig, path)

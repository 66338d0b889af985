"""The ToDo ladder (``scratchnet ladder``): the original program, then one change per rung.

The post this project grew from ends with a list of ToDos in its code: Xavier initialisation,
mini-batches with vectorised backpropagation, momentum, learning-rate decay and a real loss. Each rung
of RUNGS makes one change on top of the rung before and trains a new network with the same seed and
the same number of epochs, so the accuracy gained (or lost) from one rung to the next is what that change
buys. The first rung is the original program, bit for bit what ``scratchnet train --fresh`` trains.
Training goes through run.start and run.train, as ``scratchnet train`` does.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchnet import cengine, run
from scratchnet.data import Dataset
from scratchnet.errors import ScratchnetError


@dataclass(frozen=True)
class Rung:
    name: str  # short, for file names and the chart's legend
    change: str  # what this rung changes, in a line
    overrides: dict  # TrainConfig settings changed, on top of the rung before


# One line per rung, each on top of every rung above it. The learning rates: per-sample SGD takes 0.005 (the
# original's); the mini-batch gradient is the mean over the batch, so the batch rung multiplies the rate by the
# batch size (0.005 x 32 = 0.16: one step of the mean moves as far as 32 per-sample steps would, the linear
# scaling rule); momentum 0.9 adds up past steps, multiplying the step by 1 / (1 - 0.9) = 10 in the long run,
# so the momentum rung divides the rate by 10 (0.016) to keep the step size and show what momentum changes
# besides it. With the defaults the C engine climbs all of them in about 15 s on a 2-core machine.
RUNGS: tuple[Rung, ...] = (
    Rung("original", "the original program: 784-20-10 sigmoid, uniform(-0.5, 0.5) init, per-sample SGD at lr "
         "0.005, images in file order", {}),
    Rung("xavier", "Xavier initialisation (ToDo)", {"init": "xavier"}),
    Rung("shuffle", "the images shuffled each epoch", {"shuffle": True}),
    Rung("batch32", "mini-batches of 32, vectorised backprop (ToDo); lr 0.005 x 32 = 0.16, as the batch's "
         "gradient is the mean of 32", {"batch_size": 32, "lr": 0.16}),
    Rung("momentum", "momentum 0.9 (ToDo); lr 0.16 / 10 = 0.016, as momentum makes each step 1 / (1 - 0.9) "
         "= 10 times longer", {"optimizer": "momentum", "momentum": 0.9, "lr": 0.016}),
    Rung("decay", "learning-rate decay (ToDo): lr / (1 + 0.1 epoch)", {"schedule": "inverse", "lr_decay": 0.1}),
    Rung("softmax", "a real loss (ToDo): softmax outputs with cross-entropy", {"output": "softmax",
                                                                                "loss": "cross_entropy"}),
    Rung("relu", "relu hidden layer with He initialisation", {"hidden": "relu", "init": "he"}),
    Rung("wider", "a wider hidden layer: 784-256-10", {"layers": (784, 256, 10)}),
    Rung("regularised", "L2 1e-4 on the weights, images shifted by up to 1 pixel", {"weight_decay": 1e-4,
                                                                                     "shift": 1}),
)


@dataclass
class RungResult:
    rung: int  # 1-based
    name: str
    change: str
    config: dict  # the rung's whole TrainConfig
    history: list[dict]  # run.EpochResult.to_dict() of each epoch
    gain: float | None  # test accuracy less the rung before's (a fraction); None on the first
    checkpoint: str | None  # where it was kept (--keep), else None

    @property
    def test_accuracy(self) -> float:
        return self.history[-1]["test_accuracy"]

    @property
    def loss(self) -> float:
        """The last epoch's training loss (bce for sigmoid outputs, cross-entropy for softmax)."""
        return self.history[-1]["loss"]

    @property
    def seconds(self) -> float:
        """Training time of all its epochs, evaluation excluded."""
        return sum(epoch["seconds"] for epoch in self.history)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "test_accuracy": self.test_accuracy, "loss": self.loss,
                "seconds": self.seconds}


def configs(epochs: int = 5, seed: int = 0, rungs: int | None = None) -> list[tuple[Rung, dict]]:
    """Each rung with its settings: its overrides and every earlier rung's, with ``epochs`` and ``seed``
    (the explicit settings run.start takes). ``rungs``: only the first so many."""
    chosen = RUNGS[: len(RUNGS) if rungs is None else rungs]
    settings, out = {"epochs": epochs, "seed": seed}, []
    for rung in chosen:
        settings = {**settings, **rung.overrides}
        out.append((rung, settings))
    return out


def default_engine() -> str:
    """The C engine where it is built, else NumPy."""
    try:
        cengine.library(np.float64)
        return "c"
    except ScratchnetError:
        return "numpy"


def checkpoint_name(number: int, rung: Rung) -> str:
    return f"{number:02d}-{rung.name}.npz"


def check_keep(folder: str | os.PathLike) -> None:
    """Refuse a --keep folder that holds files already (nothing there is ever overwritten) or that cannot
    be made; a missing one is made, its parent must exist."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ScratchnetError(f"--keep {folder}: not a folder")
    if path.is_dir():
        if any(path.iterdir()):
            raise ScratchnetError(f"--keep {folder}: the folder holds other files; give an empty or new folder")
        return
    try:
        path.mkdir()
    except OSError as e:
        raise ScratchnetError(f"--keep {folder}: cannot make the folder ({e.strerror or e})") from None


def climb(dataset: Dataset, engine: str = "numpy", epochs: int = 5, seed: int = 0, rungs: int | None = None,
          keep: str | os.PathLike | None = None, progress: bool = False,
          on_epoch: Callable[[int, run.EpochResult], None] | None = None) -> Iterator[RungResult]:
    """Train each rung of RUNGS (the first ``rungs``) on ``dataset`` with ``engine``, ``epochs`` epochs
    each from ``seed``, yielding its result as it finishes. ``keep``: a folder (empty or new, checked by
    check_keep) where each rung's checkpoint stays as NN-NAME.npz, for serve, explain or evaluate; else they go
    to a temporary folder. ``on_epoch(rung number, EpochResult)`` after each epoch. Ctrl-C raises
    KeyboardInterrupt after saving the rung in training as train does."""
    if keep is not None:
        check_keep(keep)
    with tempfile.TemporaryDirectory(prefix="scratchnet-ladder-") as scratch:
        folder = Path(keep) if keep is not None else Path(scratch)
        before: float | None = None
        for number, (rung, settings) in enumerate(configs(epochs, seed, rungs), start=1):
            params = folder / checkpoint_name(number, rung)
            ckpt = run.start(params, settings, fresh=True)
            report = (lambda result, number=number: on_epoch(number, result)) if on_epoch else None
            if not run.train(ckpt, dataset, params, report, progress=progress, engine=engine):
                raise KeyboardInterrupt
            result = RungResult(number, rung.name, rung.change, ckpt.config.to_dict(), list(ckpt.history),
                                None if before is None else ckpt.history[-1]["test_accuracy"] - before,
                                str(params) if keep is not None else None)
            before = result.test_accuracy
            yield result


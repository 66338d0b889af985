"""The engines that do the arithmetic, by name, and running a network on one of them.

Each engine is a module with the same two functions, ``train_epoch`` and ``predict``: NumPy's is
``numpy_engine.py``, C's is ``cengine.py`` (csrc/). They give the same results (tests/test_cengine.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from scratchnet import cengine, network, numpy_engine, threads
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network

ENGINES: dict[str, ModuleType] = {"numpy": numpy_engine, "c": cengine}


def get(name: str) -> ModuleType:
    """The engine called ``name``, or a one-line refusal naming the choices."""
    if name not in ENGINES:
        raise ScratchnetError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    return ENGINES[name]


def outputs(net: Network, images: np.ndarray, engine: str = "numpy") -> np.ndarray:
    """Output activations (n, n_out) of uint8 ``images`` from ``engine``, refused if not finite."""
    return network.check_finite(net, get(engine).predict(net, images))


@dataclass
class Evaluation:
    accuracy: float
    per_class: list[float]  # accuracy on the samples of each true class
    confusion: list[list[int]]  # confusion[true][predicted]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def evaluate(net: Network, images: np.ndarray, labels: np.ndarray, engine: str = "numpy") -> Evaluation:
    """Accuracy, accuracy per true class and the confusion matrix of uint8 ``images``."""
    with threads.for_products(min(len(images), numpy_engine.PREDICT_CHUNK), net.sizes, engine):
        predicted = outputs(net, images, engine).argmax(axis=1)
    n_classes = net.sizes[-1]
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    totals = confusion.sum(axis=1)
    per_class = np.divide(confusion.diagonal(), totals, out=np.zeros(n_classes), where=totals > 0)
    return Evaluation(float((predicted == labels).mean()), per_class.tolist(), confusion.tolist())

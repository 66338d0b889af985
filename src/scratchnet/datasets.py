"""Datasets for ``scratchnet.fit`` and ``Model.score``: MNIST, or any data in its format.

A Dataset holds ``train_images``, ``test_images`` (n, rows, cols) uint8 and ``train_labels``,
``test_labels`` (n,) uint8, and where it was read from (``source``).
"""

from __future__ import annotations

import os

from scratchnet.data import Dataset, load_dataset, load_mnist

__all__ = ["Dataset", "load", "mnist"]


def mnist(path: str | os.PathLike | None = None) -> Dataset:
    """MNIST: from ``path`` if given, else found as the command line finds it ($SCRATCHNET_DATA,
    the repository's data/mnist, the user cache), else downloaded once into the cache."""
    return load_mnist(None if path is None else str(path))


def load(path: str | os.PathLike) -> Dataset:
    """Any MNIST-format dataset: a Keras-layout .npz (x_train, y_train, x_test, y_test) or a folder
    of IDX files, raw or gzipped (e.g. Fashion-MNIST)."""
    return load_dataset(path)

"""Shared fixtures: the real MNIST from the repository, and a small slice of it for fast runs."""

from pathlib import Path

import numpy as np
import pytest

from scratchnet import data

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO / "data" / "mnist"  # the original IDX .gz files, as every engine reads them


@pytest.fixture(scope="session")
def mnist() -> data.Dataset:
    return data.load_dataset(MNIST)


@pytest.fixture(scope="session")
def small(mnist) -> data.Dataset:
    """The first 2,000 training and 500 test images: enough to learn something in a second."""
    return data.Dataset("small", mnist.train_images[:2000], mnist.train_labels[:2000],
                        mnist.test_images[:500], mnist.test_labels[:500])


@pytest.fixture(scope="session")
def small_npz(tmp_path_factory, small) -> Path:
    """The small slice as a Keras-layout file, for the command line's --data."""
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(path, x_train=small.train_images, y_train=small.train_labels,
             x_test=small.test_images, y_test=small.test_labels)
    return path

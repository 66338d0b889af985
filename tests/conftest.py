"""Shared fixtures: the real MNIST from the repository, and a small slice of it for fast runs."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from scratchnet import data

REPO = Path(__file__).resolve().parents[1]
MNIST_NPZ = REPO / "data" / "mnist.npz"


@pytest.fixture(scope="session")
def mnist() -> data.Dataset:
    return data.load_dataset(MNIST_NPZ)


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


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 256 kB file system of its own (tmpfs), to fill up or make read-only for real; needs root and a
    sandbox that allows mounting."""
    folder = tmp_path / "disk"
    folder.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True,
                       text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:  # no mount program, or not allowed
        pytest.skip(f"cannot mount a small tmpfs here: {getattr(e, 'stderr', None) or e}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)

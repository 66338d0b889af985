"""Shared fixtures: the real MNIST from the repository, a small slice of it for fast runs, and Ctrl-C
at chosen moments."""

import contextlib
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
def interrupt(monkeypatch):
    """``interrupt(module, [k1, k2, ...])``: the n-th train.run from then on stops as Ctrl-C makes it,
    at the first chunk boundary after it has trained k_n samples (chunks of ``module.CHUNK``); runs
    after the list's end are not stopped. ``module``: the engine, train or cengine."""
    from scratchnet import train

    def setup(module, counts: list[int]) -> None:
        counts = list(counts)
        current = {}

        def stop_on_interrupt():
            current.update(flag=train.StopFlag(), after=counts.pop(0) if counts else None, seen=0)
            return contextlib.nullcontext(current["flag"])

        original = module.train_epoch

        def train_epoch(*args):
            flag, before = current["flag"], current["seen"]

            def progress(done: int) -> None:
                if current["after"] is not None and before + done >= current["after"]:
                    flag.requested = True

            result = original(*args[:7], flag, progress)
            current["seen"] = before + flag.samples_done
            return result

        monkeypatch.setattr(train, "stop_on_interrupt", stop_on_interrupt)
        monkeypatch.setattr(module, "train_epoch", train_epoch)

    return setup

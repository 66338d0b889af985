"""Shared fixtures: the real MNIST from the repository, a small slice of it for fast runs, and Ctrl-C
at chosen moments."""

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from scratchnet import data, run

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


@pytest.fixture(params=[
    dict(layers=(784, 16, 10)),  # the original program's per-sample SGD
    dict(layers=(784, 16, 10), batch_size=32, optimizer="momentum", lr=0.05, schedule="cosine"),
    dict(layers=(784, 16, 10), batch_size=16, optimizer="adam", lr=0.002, shuffle=True, shift=1, hidden="relu",
         output="softmax", init="he", schedule="step", lr_step=1, lr_gamma=0.5),
    dict(layers=(784, 16, 10), batch_size=32, optimizer="nesterov", lr=0.02, shuffle=True, elastic=34.0,
         hidden="relu", output="softmax", init="he"),
], ids=["sgd-per-sample", "momentum-32-cosine", "adam-16-shuffle-shift-step", "nesterov-32-elastic"])
def resumable(request) -> dict:
    """Settings of each kind of update, and the constant, cosine and step schedules, for the tests of stopping
    and resuming."""
    return request.param


@pytest.fixture
def interrupt(monkeypatch):
    """``interrupt(module, [k1, k2, ...])``: the n-th run.train from then on stops as Ctrl-C makes it,
    at the first chunk boundary after it has trained k_n samples (chunks of ``stop.CHUNK``); runs
    after the list's end are not stopped. ``module``: the engine, train or cengine."""

    def setup(module, counts: list[int]) -> None:
        counts = list(counts)
        current = {}

        def stop_on_interrupt(stop=None):
            current.update(flag=run.StopFlag(), after=counts.pop(0) if counts else None, seen=0)
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

        monkeypatch.setattr(run, "stop_on_interrupt", stop_on_interrupt)
        monkeypatch.setattr(module, "train_epoch", train_epoch)

    return setup


@pytest.fixture
def interrupted_run(interrupt):
    """``interrupted_run(path, dataset, explicit, module, stops, engine="numpy")``: train
    ``explicit["epochs"]`` epochs into ``path`` with ``module``'s engine, stopped after each count of
    ``stops`` samples (see interrupt) and resumed by a plain train, as a user would (which finishes the
    run: run.start); returns the checkpoint it ends with."""
    from scratchnet import checkpoint

    def interrupted(path, dataset, explicit: dict, module, stops: list[int], engine: str = "numpy"):
        interrupt(module, stops)
        ckpt = run.start(path, explicit)
        for _ in stops:
            assert not run.train(ckpt, dataset, path, engine=engine)
            ckpt = run.start(path, {})
            assert ckpt.finishes_run and ckpt.planned_epochs == explicit["epochs"]
        assert run.train(ckpt, dataset, path, engine=engine)
        return checkpoint.load(path)

    return interrupted


@pytest.fixture
def assert_same_run():
    """``assert_same_run(a, b)``: two checkpoints hold bit for bit the same parameters and optimizer
    state, and the same history but for times (the loss of an epoch made of two parts, to 1e-12)."""

    def check(a, b) -> None:
        assert a.epochs_done == b.epochs_done and a.partial_epoch_samples == b.partial_epoch_samples == 0
        for x, y in zip(a.network.weights + a.network.biases, b.network.weights + b.network.biases, strict=True):
            assert np.array_equal(x, y)
        assert a.optimizer_state.keys() == b.optimizer_state.keys()
        for name, value in a.optimizer_state.items():
            assert np.array_equal(value, b.optimizer_state[name]), name
        for x, y in zip(a.history, b.history, strict=True):
            assert (x["epoch"], x["train_accuracy"], x["test_accuracy"], x["lr"]) == \
                (y["epoch"], y["train_accuracy"], y["test_accuracy"], y["lr"])
            assert x["loss"] == pytest.approx(y["loss"], rel=1e-12)
            assert x["seconds"] > 0 and y["seconds"] > 0

    return check


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


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """The processes a test starts (it appends them): killed at its end if still running."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

"""A training run: epochs on an engine with evaluation after each, from checkpoint to checkpoint.

``scratchnet train`` calls ``start`` (the checkpoint to begin from) then ``train``, which saves
after every epoch, turns Ctrl-C into a clean stop that a later run resumes bit for bit, and never
overwrites a file another program changed. ``train_epochs`` is the loop over epochs; each epoch is the
engine's ``train_epoch`` (numpy_engine.py for NumPy).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scratchnet import checkpoint, engines, lock, network, threads
from scratchnet.atomic import TargetChanged, check_destination
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import TrainConfig, resolve
from scratchnet.data import Dataset
from scratchnet.engines import evaluate
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network
from scratchnet.numpy_engine import epoch_samples
from scratchnet.optim import Optimizer, learning_rate
from scratchnet.stop import StopFlag


@dataclass
class EpochResult:
    epoch: int  # 1-based count of epochs done, including earlier runs
    loss: float  # mean training loss over the epoch, measured as it went
    train_accuracy: float  # fraction of training samples right as they were seen, before their update
    test_accuracy: float
    seconds: float  # training time of this epoch alone, evaluation excluded
    samples_per_second: float
    lr: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def line(self) -> str:
        """The epoch as train and serve print it."""
        return (f"epoch {self.epoch:3d}  loss {self.loss:.4f}  train {100 * self.train_accuracy:.2f}%  "
                f"test {100 * self.test_accuracy:.2f}%  {self.seconds:6.2f} s  {self.samples_per_second:9,.0f} samples/s")


@dataclass
class PartialEpoch:
    """The part of an epoch done before a stop: where the epoch goes on from, and that part's
    share of the epoch's loss, accuracy and time."""

    samples: int = 0
    loss_sum: float = 0.0  # sum of the per-sample training losses
    correct: int = 0  # samples classified right as they were seen
    seconds: float = 0.0

    @classmethod
    def of(cls, ckpt: Checkpoint) -> PartialEpoch:
        return cls(ckpt.partial_epoch_samples, ckpt.partial_epoch_loss, ckpt.partial_epoch_correct,
                   ckpt.partial_epoch_seconds)

    def keep_in(self, ckpt: Checkpoint) -> None:
        ckpt.partial_epoch_samples, ckpt.partial_epoch_loss = self.samples, self.loss_sum
        ckpt.partial_epoch_correct, ckpt.partial_epoch_seconds = self.correct, self.seconds


def diverged(net: Network, loss: float) -> bool:
    return not math.isfinite(loss) or not all(np.isfinite(p).all() for p in net.weights + net.biases)


class Upcoming:
    """The samples of the coming epochs (numpy_engine.epoch_samples): with shifted or distorted images, the next
    epoch's are made in a thread while this one trains (distortions take as long as an epoch of
    `--preset accurate`'s training; a core of the two is left partly idle by it). Each epoch's images
    depend only on the seed and the epoch, so they are the same as made in turn."""

    def __init__(self, config: TrainConfig, images: np.ndarray, epoch: int):
        self.config, self.images = config, images
        self.ahead = bool(config.shift) or config.distorts()
        self._epoch, self._result, self._thread = None, None, None
        if self.ahead:
            self._start(epoch)

    def _start(self, epoch: int) -> None:
        box: list = []

        def make() -> None:
            with suppress(BaseException):  # made again in turn by take, where the error is raised
                box.append(epoch_samples(self.config, self.images, epoch))

        # a daemon: a run stopped by Ctrl-C exits without waiting for images it will not use
        self._thread = threading.Thread(target=make, daemon=True, name="scratchnet-images")
        self._epoch, self._result = epoch, box
        self._thread.start()

    def take(self, epoch: int, more: bool) -> tuple[np.ndarray, np.ndarray]:
        """Epoch ``epoch``'s (order, images); ``more``: another epoch follows, start making its images."""
        if not self.ahead:
            return epoch_samples(self.config, self.images, epoch)
        self._thread.join()
        if self._epoch != epoch or not self._result:  # not the one made ahead, or it failed: make it here
            samples = epoch_samples(self.config, self.images, epoch)
        else:
            samples = self._result[0]
        if more:
            self._start(epoch + 1)
        return samples


def train_epochs(
    net: Network,
    optimizer: Optimizer,
    config: TrainConfig,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    epochs_done: int = 0,
    stop: StopFlag | None = None,
    progress: Callable[[int], None] | None = None,
    engine: str = "numpy",
    partial: PartialEpoch | None = None,
    total: int | None = None,
):
    """Train from ``epochs_done`` up to ``total`` epochs (``epochs_done + config.epochs`` when None) with
    ``engine``, yielding an EpochResult after each. The schedule's rates are those of a run to ``total``.

    ``partial``: what an interrupted run did of epoch ``epochs_done + 1``, which goes on from
    there (the same order, images and optimizer state) and counts as one of the epochs.
    The generator stops early, without yielding, when ``stop`` is set: inside an epoch, it
    leaves the part done in ``stop.partial``.
    It raises ScratchnetError when the loss or a parameter stops being finite; the network
    then holds the diverged values and must not be saved.
    """
    total = epochs_done + config.epochs if total is None else total
    n = len(train_labels)
    upcoming = Upcoming(config, train_images, epochs_done)
    for epoch in range(epochs_done, total):
        if stop and stop.requested:  # asked between two epochs
            return
        lr = learning_rate(config, epoch, total)
        order, images = upcoming.take(epoch, more=epoch + 1 < total)
        before = partial if partial and epoch == epochs_done else PartialEpoch()
        skip = before.samples
        report = (lambda done, skip=skip: progress(skip + done)) if progress else None
        with threads.for_products(config.batch_size, net.sizes, engine):  # the threads this workload calls for
            began = time.perf_counter()
            loss, accuracy = engines.get(engine).train_epoch(net, optimizer, config, images, train_labels,
                                                            order[skip:], lr, stop, report)
            seconds = time.perf_counter() - began
        done = stop.samples_done if stop else n - skip
        part = PartialEpoch(skip + done, before.loss_sum + loss * done, before.correct + round(accuracy * done),
                            before.seconds + seconds)
        if part.samples < n:
            stop.partial = part
            return
        if skip:  # the whole epoch's figures; an unbroken epoch keeps its own, bit for bit
            loss, accuracy = part.loss_sum / n, part.correct / n
        seconds = part.seconds
        if diverged(net, loss):
            raise ScratchnetError(
                f"training diverged in epoch {epoch + 1}: the loss is {loss}; try a smaller --lr (now {lr:g})"
            )
        test = evaluate(net, test_images, test_labels, engine).accuracy
        yield EpochResult(epoch + 1, loss, accuracy, test, seconds, n / seconds, lr)


def start(
    params: str | os.PathLike, explicit: dict, preset: str | None = None, fresh: bool = False
) -> Checkpoint:
    """The checkpoint a ``train`` run begins from.

    An existing ``params`` file is resumed with its own settings unless
    ``explicit`` or ``preset`` change them; asking for another architecture is refused.
    ``fresh``, or no file, starts a new network. An unreadable file is refused, never replaced.
    A run that Ctrl-C stopped before its planned epochs is finished (``ckpt.finishes_run``): the same
    total, so the same learning rates and bits as unbroken, unless ``explicit`` asks for another
    count of epochs; otherwise the run is ``config.epochs`` more (``ckpt.planned_epochs`` says to where).
    An epoch that Ctrl-C interrupted goes on where it stopped, unless the settings that decide its
    order and images (seed, shuffle, shift, elastic, rotate, scale) changed: then it starts over.
    """
    check_destination(params)  # found out now, not after loading the data and training
    on_disk = lock.identity(params)  # before reading: a change while it is read is noticed too
    saved = checkpoint.load(params) if on_disk and not fresh else None
    config = resolve(explicit, preset, saved.config if saved else None)
    if saved is None:
        net = network.create(config.layers, config.hidden, config.output, config.init, config.dtype,
                             np.random.default_rng(config.seed))
        return Checkpoint(net, config, on_disk=on_disk, planned_epochs=config.epochs)
    net = saved.network
    if (net.sizes, net.hidden, net.output, str(net.dtype)) != (config.layers, config.hidden, config.output, config.dtype):
        asked = network.describe(config.layers, config.hidden, config.output, config.dtype)
        raise ScratchnetError(
            f"{params} holds a {net.describe()} network, not the {asked} asked for: "
            f"pass --fresh to start over in that file, or --params to use another"
        )
    # the settings that decide an epoch's samples
    epoch_images = lambda c: (c.seed, c.shuffle, c.shift, c.elastic, c.rotate, c.scale)
    if epoch_images(saved.config) != epoch_images(config):
        PartialEpoch().keep_in(saved)
    # An interrupted run is finished as planned (the same total epochs, so the same learning rates), unless
    # --epochs asks for another count than that run's: then, as after a completed run, that many more.
    saved.finishes_run = (saved.planned_epochs > saved.epochs_done
                          and explicit.get("epochs") in (None, saved.config.epochs))
    if saved.finishes_run:
        config.epochs = saved.config.epochs
    else:
        saved.planned_epochs = saved.epochs_done + config.epochs
    saved.config = config
    saved.on_disk = on_disk
    return saved


@contextmanager
def stop_on_interrupt(stop: StopFlag | None = None) -> Iterator[StopFlag]:
    """Turn the first Ctrl-C (or SIGTERM, as `kill` and service managers send) into a request to stop
    at the next batch; a second one is immediate. A ``stop`` given by the caller (who sets it from
    another thread) is used as it is."""
    if stop is not None or threading.current_thread() is not threading.main_thread():
        yield stop or StopFlag()
        return
    stop = StopFlag()

    def request(signum, frame):
        stop.requested = True
        restore()

    def restore():
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    previous = {signum: signal.signal(signum, request) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        restore()


def conflict_path(params: str | os.PathLike) -> Path:
    """Where a run whose checkpoint changed under it keeps its network: ``NAME.conflict-PID.SUFFIX``
    beside it, a name no file has yet."""
    path = Path(params)
    for n in itertools.count(1):
        candidate = path.with_name(f"{path.stem}.conflict-{os.getpid()}{f'-{n}' if n > 1 else ''}{path.suffix}")
        if not candidate.exists():
            return candidate


def save(params: str | os.PathLike, ckpt: Checkpoint) -> None:
    """checkpoint.save, unless ``params`` changed on disk since ``ckpt`` was read or last saved
    (``ckpt.on_disk``), as seen at the rename itself (atomic_write's only_over): then nothing overwrites
    it, ``ckpt`` goes to conflict_path and a ScratchnetError says so, so neither its work nor this run's is lost."""
    written = []
    try:  # through a symlink to the file it names: the one locked
        checkpoint.save(os.path.realpath(params), ckpt, lambda fd: written.append(lock.identity(fd)),
                        only_over=ckpt.on_disk)
    except TargetChanged:
        sibling = conflict_path(params)
        checkpoint.save(sibling, ckpt)
        raise ScratchnetError(f"{params} changed on disk while this run was training it (another program wrote it?): "
                              f"left as it is; this run's network ({ckpt.epochs_done} epochs) is saved in {sibling}")
    ckpt.on_disk = written[0] if written else lock.identity(params)  # a device or FIFO is written in place


def _resumable(params: str | os.PathLike, partial: PartialEpoch, n: int, same_data: bool) -> PartialEpoch | None:
    """The interrupted epoch to go on with, checked; None when there is none or it was over
    another, larger training set (``n`` samples now): that epoch then starts over."""
    if partial.samples == 0 or (partial.samples >= n and not same_data):
        return None
    if not (0 < partial.samples < n and 0 <= partial.correct <= partial.samples and 0 <= partial.loss_sum < math.inf
            and 0 <= partial.seconds < math.inf):
        raise ScratchnetError(f"{params}: the record of the interrupted epoch is inconsistent ({partial}): "
                              f"pass --fresh to start over")
    return partial


def train(
    ckpt: Checkpoint,
    dataset: Dataset,
    params: str | os.PathLike,
    on_epoch: Callable[[EpochResult], None] | None = None,
    progress: bool = False,
    engine: str = "numpy",
    new_data: bool = False,
    stop: StopFlag | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> bool:
    """Train ``ckpt`` up to ``ckpt.planned_epochs`` epochs (run.start sets it; 0: ``ckpt.config.epochs``
    more), saving it to ``params`` after each; with none to train, ``ckpt`` is saved as it is (a new
    network untrained, not marked as trained on ``dataset``).

    An epoch that Ctrl-C interrupted before goes on where it stopped and counts as one of them.
    Returns False when stopped (Ctrl-C, or ``stop`` set by another thread): the parameters after
    the last whole batch are saved, with the optimizer state and the part of the unfinished epoch
    done, so the next run goes on from there as if never stopped. A diverging loss raises
    ScratchnetError and leaves the last good checkpoint in ``params``. A ``params`` changed by
    another program meanwhile is never overwritten (see save). A checkpoint trained on other data
    than ``dataset`` is refused unless ``new_data``. ``progress`` shows a progress bar;
    ``on_progress`` gets the samples done in the current epoch after each chunk, in the training
    thread, where the network is whole.
    """
    config, net = ckpt.config, ckpt.network
    check_destination(params)  # found out now, not after the first epoch's work
    if dataset.n_inputs != net.sizes[0]:
        raise ScratchnetError(
            f"{dataset.source}: images have {dataset.n_inputs} pixels but the network takes {net.sizes[0]} inputs"
        )
    if dataset.top_label >= net.sizes[-1]:
        raise ScratchnetError(f"{dataset.source}: label {dataset.top_label} needs more than the network's "
                              f"{net.sizes[-1]} outputs")
    if config.shift >= min(dataset.train_images.shape[1:]):  # the digit would leave the picture
        raise ScratchnetError(f"--shift {config.shift} is too large for images of "
                              f"{'x'.join(map(str, dataset.train_images.shape[1:]))} pixels")
    same_data = ckpt.data is not None and ckpt.data["fingerprint"] == dataset.fingerprint
    if ckpt.data and not same_data and not new_data:
        raise ScratchnetError(f"{params} was trained on {ckpt.data['source']}, not on {dataset.source} (other "
                              f"images): give that one with --data, or pass --new-data to go on with this one")
    ckpt.planned_epochs = ckpt.planned_epochs or ckpt.epochs_done + config.epochs
    if ckpt.planned_epochs == ckpt.epochs_done:  # --epochs 0: the network as it is (untrained, if new), saved
        save(params, ckpt)
        return True
    ckpt.data = {"source": dataset.source, "fingerprint": dataset.fingerprint}
    optimizer = Optimizer(config, net, ckpt.optimizer_state)
    n = len(dataset.train_labels)
    partial = _resumable(params, PartialEpoch.of(ckpt), n, same_data)
    with stop_on_interrupt(stop) as flag, tqdm(total=n, initial=partial.samples if partial else 0, disable=not progress,
                                           leave=False, unit="img", dynamic_ncols=True,
                                           desc=f"epoch {ckpt.epochs_done + 1}") as bar:
        def advance(done: int) -> None:
            bar.update(done - bar.n)
            if on_progress:
                on_progress(done)

        epochs = train_epochs(net, optimizer, config, dataset.train_images, dataset.train_labels, dataset.test_images,
                     dataset.test_labels, ckpt.epochs_done, flag, advance, engine, partial, ckpt.planned_epochs)
        for result in epochs:
            ckpt.epochs_done = result.epoch
            PartialEpoch().keep_in(ckpt)
            ckpt.history.append(result.to_dict())
            ckpt.optimizer_state = optimizer.state()
            save(params, ckpt)
            bar.clear()  # the epoch's line goes where the bar was
            if on_epoch:
                on_epoch(result)
            bar.set_description(f"epoch {result.epoch + 1}", refresh=False)
            bar.reset()
    if flag.requested:
        if flag.partial:  # else the stop came between epochs, or before this run trained anything
            if diverged(net, flag.partial.loss_sum):
                raise ScratchnetError(f"interrupted in epoch {ckpt.epochs_done + 1}, where training had diverged: "
                                      f"not saved, {params} keeps the last good checkpoint; try a smaller --lr")
            flag.partial.keep_in(ckpt)
            if Path(params).suffix.lower() in checkpoint.WHOLE_EPOCHS_ONLY:
                # No room there for a place in an epoch: the file keeps the last whole epoch, from which
                # the next run trains this one again, as an unbroken run would.
                return False
        ckpt.optimizer_state = optimizer.state()
        save(params, ckpt)
        return False
    return True

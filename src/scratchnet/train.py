"""Training: optimizers, learning-rate schedules, the epoch loop, evaluation, and a whole run
from checkpoint to checkpoint."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scratchnet import cengine, checkpoint, lock, network, threads
from scratchnet.atomic import check_destination
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import ADAM_BETAS, ADAM_EPSILON, OPTIMIZER_SLOTS, TrainConfig, resolve
from scratchnet.data import Dataset, inputs
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network

EVAL_CHUNK = 10_000  # samples per forward pass when evaluating: bounds the memory
CHUNK = 2_000  # samples prepared at once in an epoch; the progress bar moves after each chunk


def learning_rate(config: TrainConfig, epoch: int, total_epochs: int) -> float:
    """The rate for 0-based ``epoch`` of a run that will reach ``total_epochs``."""
    if config.schedule == "inverse":  # the seed's ToDo: initial / (1 + decay * epoch)
        return config.lr / (1 + config.lr_decay * epoch)
    if config.schedule == "step":
        return config.lr * config.lr_gamma ** (epoch // config.lr_step)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(total_epochs, 1)))
    return config.lr


class Optimizer:
    """Updates parameters from gradients: SGD, momentum, Nesterov momentum or Adam, with L2.

    Its state (velocities, Adam's moments and step count) is saved in checkpoints, so a resumed
    run continues exactly where it stopped.
    """

    def __init__(self, config: TrainConfig, net: Network, state: dict[str, np.ndarray] | None = None):
        self.kind = config.optimizer
        self.momentum = config.momentum
        self.weight_decay = config.weight_decay
        self.steps = 0
        params = self._params(net)
        self.slots = {s: [np.zeros_like(p) for p in params] for s in OPTIMIZER_SLOTS[self.kind]}
        if state:
            self._load(state, params)

    @staticmethod
    def _params(net: Network) -> list[np.ndarray]:
        return [p for pair in zip(net.weights, net.biases) for p in pair]  # w0, b0, w1, b1, ...

    @staticmethod
    def _name(slot: str, index: int) -> str:
        return f"optimizer.{slot}.{'weights' if index % 2 == 0 else 'biases'}.{index // 2}"

    def state(self) -> dict[str, np.ndarray]:
        state = {self._name(s, i): a for s, arrays in self.slots.items() for i, a in enumerate(arrays)}
        state["optimizer.steps"] = np.array(self.steps, dtype=np.int64)
        return state

    def _load(self, state: dict[str, np.ndarray], params: list[np.ndarray]) -> None:
        for slot, arrays in self.slots.items():
            for i, param in enumerate(params):
                saved = state.get(self._name(slot, i))
                if saved is None or saved.shape != param.shape:
                    return  # another optimizer's state: start this one afresh
                arrays[i] = saved.astype(param.dtype)
        self.steps = int(state.get("optimizer.steps", 0))

    def step(self) -> None:
        """Call once per batch, before its updates: Adam's bias correction counts batches."""
        self.steps += 1

    def update(self, net: Network, layer: int, grad_w: np.ndarray, grad_b: np.ndarray, lr: float,
               rows: np.ndarray | None = None) -> None:
        """Apply one layer's gradients. ``rows``: grad_w holds only these rows of the weights."""
        if rows is not None and self.kind == "sgd" and not self.weight_decay:
            net.weights[layer][rows] -= lr * grad_w  # the other rows' gradient is zero
        else:
            if rows is not None:
                full = np.zeros_like(net.weights[layer])
                full[rows] = grad_w
                grad_w = full
            if self.weight_decay:
                grad_w = grad_w + self.weight_decay * net.weights[layer]
            self._apply(net.weights[layer], grad_w, 2 * layer, lr)
        self._apply(net.biases[layer], grad_b, 2 * layer + 1, lr)

    def _apply(self, param: np.ndarray, grad: np.ndarray, index: int, lr: float) -> None:
        if self.kind == "sgd":
            param -= lr * grad
        elif self.kind in ("momentum", "nesterov"):
            velocity = self.slots["velocity"][index]
            velocity *= self.momentum
            velocity -= lr * grad
            # Nesterov: step as if from the point momentum is about to carry us to.
            param += self.momentum * velocity - lr * grad if self.kind == "nesterov" else velocity
        else:
            beta1, beta2 = ADAM_BETAS
            m, v = self.slots["m"][index], self.slots["v"][index]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            rate = lr * math.sqrt(1 - beta2**self.steps) / (1 - beta1**self.steps)
            param -= rate * m / (np.sqrt(v) + ADAM_EPSILON)


def shift_images(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image (n, rows, cols) by its own random offset in [-max_shift, max_shift]
    pixels on each axis, filling with zeros: the digit moves, its label does not."""
    n, height, width = images.shape
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = dy[:, None] + np.arange(height)  # (n, height): which padded rows each image keeps
    cols = dx[:, None] + np.arange(width)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


@dataclass
class EpochResult:
    epoch: int  # 1-based count of epochs done, including earlier runs
    loss: float  # mean training loss over the epoch, measured as it went
    train_accuracy: float  # fraction of training samples right as they were seen, as the seed counts
    test_accuracy: float
    seconds: float  # training time of this epoch alone, evaluation excluded
    samples_per_second: float
    lr: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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


@dataclass
class StopFlag:
    """Set from a signal handler; the loop stops at the next batch boundary, so the parameters
    are never left half-updated."""

    requested: bool = False
    samples_done: int = 0  # by the last train_epoch call
    partial: PartialEpoch | None = None  # set by fit when it stopped inside an epoch


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    # One stream per epoch: a resumed run shuffles exactly as an uninterrupted one would.
    return np.random.default_rng((seed, epoch))


def sgd_sample_step(net: Network, x: np.ndarray, rows: np.ndarray, y: np.ndarray, lr: float, loss: str) -> np.ndarray:
    """The seed's loop for one sample, any depth: plain SGD, each layer updated as soon as its
    error is known, the error then flowing back through the updated weights.

    The same steps as Network.forward/backward and Optimizer.update with update_first (the tests
    compare them), in half the NumPy calls: per-sample training spends its time on call overhead.
    ``x`` holds the sample's non-zero inputs, ``rows`` their indices. Returns the logits.
    """
    first = net.weights[0][rows]  # (k, n1): the weights the non-zero inputs touch
    activations = [x]
    for layer in range(net.n_layers):
        weights = first if layer == 0 else net.weights[layer]
        z = activations[-1] @ weights + net.biases[layer]
        activations.append(network.activate(net.hidden if layer < net.n_layers - 1 else net.output, z))
    delta = network.output_delta(loss, net.output, activations[-1][None, :], y[None, :])[0]
    for layer in reversed(range(net.n_layers)):
        change = lr * delta
        net.biases[layer] -= change
        if layer == 0:
            net.weights[0][rows] = first - x[:, None] * change
        else:
            net.weights[layer] -= activations[layer][:, None] * change
            delta = (net.weights[layer] @ delta) * network.derivative(net.hidden, activations[layer])
    return z


def epoch_samples(config: TrainConfig, images: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The order in which 0-based ``epoch`` visits the training images, and the images it sees
    (shifted, with ``config.shift``): the same for every engine."""
    rng = epoch_rng(config.seed, epoch)
    order = rng.permutation(len(images)) if config.shuffle else np.arange(len(images))
    return order, shift_images(images, config.shift, rng) if config.shift else images


@np.errstate(over="ignore", invalid="ignore")  # divergence is caught after the epoch, with a message
def train_epoch(
    net: Network,
    optimizer: Optimizer,
    config: TrainConfig,
    images: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    lr: float,
    stop: StopFlag | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[float, float]:
    """One pass over the training samples in ``order`` (from epoch_samples, with the images it gives;
    a resumed epoch passes the rest of its order). Returns (mean loss, accuracy) over the samples
    seen. ``images`` (n, rows, cols) uint8, ``labels`` (n,)."""
    n = len(order)
    flat = images.reshape(len(images), -1)
    targets = np.eye(net.sizes[-1], dtype=net.dtype)[labels[order]]  # one-hot, in the order seen
    logits = np.empty((n, net.sizes[-1]), dtype=net.dtype)  # kept to measure the loss once, at the end
    per_sample = config.batch_size == 1
    fast = per_sample and optimizer.kind == "sgd" and not optimizer.weight_decay

    def step(start: int, x: np.ndarray, rows: np.ndarray | None) -> None:
        y = targets[start : start + len(x)]
        if fast:
            logits[start] = sgd_sample_step(net, x[0], rows, y[0], lr, config.loss)
            return
        activations, logits[start : start + len(x)] = net.forward(x, rows)
        delta = network.output_delta(config.loss, net.output, activations[-1], y)
        optimizer.step()
        for layer, grad_w, grad_b in net.backward(activations, delta, update_first=per_sample):
            optimizer.update(net, layer, grad_w, grad_b, lr, rows if layer == 0 else None)

    done = 0
    chunk_size = config.batch_size * max(1, CHUNK // config.batch_size)  # whole batches
    for chunk_start in range(0, n, chunk_size):
        chunk = flat[order[chunk_start : chunk_start + chunk_size]]
        if per_sample:
            # A zero pixel neither adds to z nor changes its weights: give the first layer the rest.
            which, columns = np.nonzero(chunk)
            values = inputs(chunk[which, columns][None, :], net.dtype)
            ends = np.cumsum(np.count_nonzero(chunk, axis=1)).tolist()
            for i, (begin, end) in enumerate(zip([0] + ends, ends)):
                step(chunk_start + i, values[:, begin:end], columns[begin:end])
                done += 1
                if stop and stop.requested:
                    break
        else:
            for start in range(0, len(chunk), config.batch_size):
                x = inputs(chunk[start : start + config.batch_size], net.dtype)
                step(chunk_start + start, x, None)
                done += len(x)
                if stop and stop.requested:
                    break
        if progress:
            progress(done)
        if stop and stop.requested:
            break
    if stop:
        stop.samples_done = done
    seen = labels[order[:done]]
    outputs = network.activate(net.output, logits[:done])
    loss = network.loss_per_sample(config.loss, logits[:done], outputs, targets[:done]).mean()
    accuracy = (logits[:done].argmax(axis=1) == seen).mean()
    return float(loss), float(accuracy)


ENGINES = ("numpy", "c")


def get_engine(name: str):
    """The module whose ``train_epoch`` and ``predict`` do the work: this one, or the C twin."""
    if name not in ENGINES:
        raise ScratchnetError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    return cengine if name == "c" else sys.modules[__name__]


def predict(net: Network, images: np.ndarray) -> np.ndarray:
    """Output activations (n, n_out) for uint8 images (n, rows, cols), a chunk at a time."""
    with threads.for_products(min(len(images), EVAL_CHUNK), net.sizes):
        return np.concatenate(
            [net.predict(inputs(images[i : i + EVAL_CHUNK], net.dtype)) for i in range(0, len(images), EVAL_CHUNK)]
        ) if len(images) else np.empty((0, net.sizes[-1]), dtype=net.dtype)


@dataclass
class Evaluation:
    accuracy: float
    per_class: list[float]  # accuracy on the samples of each true class
    confusion: list[list[int]]  # confusion[true][predicted]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def outputs(net: Network, images: np.ndarray, engine: str = "numpy") -> np.ndarray:
    """Output activations (n, n_out) of uint8 ``images`` from ``engine``, refused if not finite."""
    return network.check_finite(net, get_engine(engine).predict(net, images))


def evaluate(net: Network, images: np.ndarray, labels: np.ndarray, engine: str = "numpy") -> Evaluation:
    """Accuracy, accuracy per true class and the confusion matrix of uint8 ``images``."""
    with threads.for_products(min(len(images), EVAL_CHUNK), net.sizes, engine):
        predicted = outputs(net, images, engine).argmax(axis=1)
    n_classes = net.sizes[-1]
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    totals = confusion.sum(axis=1)
    per_class = np.divide(confusion.diagonal(), totals, out=np.zeros(n_classes), where=totals > 0)
    return Evaluation(float((predicted == labels).mean()), per_class.tolist(), confusion.tolist())


def diverged(net: Network, loss: float) -> bool:
    return not math.isfinite(loss) or not all(np.isfinite(p).all() for p in net.weights + net.biases)


def fit(
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
):
    """Train ``config.epochs`` more epochs with ``engine``, yielding an EpochResult after each.

    ``partial``: what an interrupted run did of epoch ``epochs_done + 1``, which goes on from
    there (the same order, images and optimizer state) and counts as one of the epochs.
    The generator stops early, without yielding, when ``stop`` is set: inside an epoch, it
    leaves the part done in ``stop.partial``.
    It raises ScratchnetError when the loss or a parameter stops being finite; the network
    then holds the diverged values and must not be saved.
    """
    total = epochs_done + config.epochs
    n = len(train_labels)
    for epoch in range(epochs_done, total):
        if stop and stop.requested:  # asked between two epochs
            return
        lr = learning_rate(config, epoch, total)
        order, images = epoch_samples(config, train_images, epoch)
        before = partial if partial and epoch == epochs_done else PartialEpoch()
        skip = before.samples
        report = (lambda done, skip=skip: progress(skip + done)) if progress else None
        with threads.for_products(config.batch_size, net.sizes, engine):  # the threads this workload calls for
            began = time.perf_counter()
            loss, accuracy = get_engine(engine).train_epoch(net, optimizer, config, images, train_labels,
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

    An existing ``params`` file is resumed, as the seed does, with its own settings unless
    ``explicit`` or ``preset`` change them; asking for another architecture is refused.
    ``fresh``, or no file, starts a new network. An unreadable file is refused, never replaced.
    An epoch that Ctrl-C interrupted goes on where it stopped, unless the settings that decide its
    order and images (seed, shuffle, shift) changed: then it starts over.
    """
    check_destination(params)  # found out now, not after loading the data and training
    on_disk = lock.identity(params)  # before reading: a change while it is read is noticed too
    saved = checkpoint.load(params) if on_disk and not fresh else None
    config = resolve(explicit, preset, saved.config if saved else None)
    if saved is None:
        net = network.create(config.layers, config.hidden, config.output, config.init, config.dtype,
                             np.random.default_rng(config.seed))
        return Checkpoint(net, config, on_disk=on_disk)
    net = saved.network
    if (net.sizes, net.hidden, net.output, str(net.dtype)) != (config.layers, config.hidden, config.output, config.dtype):
        asked = network.describe(config.layers, config.hidden, config.output, config.dtype)
        raise ScratchnetError(
            f"{params} holds a {net.describe()} network, not the {asked} asked for: "
            f"pass --fresh to start over in that file, or --params to use another"
        )
    if (saved.config.seed, saved.config.shuffle, saved.config.shift) != (config.seed, config.shuffle, config.shift):
        PartialEpoch().keep_in(saved)
    saved.config = config
    saved.on_disk = on_disk
    return saved


@contextmanager
def stop_on_interrupt() -> Iterator[StopFlag]:
    """Turn the first Ctrl-C into a request to stop at the next batch; a second one is immediate."""
    stop = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request(signum, frame):
        stop.requested = True
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, request)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


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
    (``ckpt.on_disk``): then nothing overwrites it, ``ckpt`` goes to conflict_path and a
    ScratchnetError says so, so neither its work nor this run's is lost."""
    if lock.identity(params) != ckpt.on_disk:
        sibling = conflict_path(params)
        checkpoint.save(sibling, ckpt)
        raise ScratchnetError(f"{params} changed on disk while this run was training it (another program wrote it?): "
                              f"left as it is; this run's network ({ckpt.epochs_done} epochs) is saved in {sibling}")
    checkpoint.save(os.path.realpath(params), ckpt)  # through a symlink to the file it names: the one locked
    ckpt.on_disk = lock.identity(params)


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


def run(
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
    """Train ``ckpt`` for ``ckpt.config.epochs`` more epochs, saving it to ``params`` after each.

    An epoch that Ctrl-C interrupted before goes on where it stopped and counts as one of them.
    Returns False when Ctrl-C stopped the run: the parameters after the last whole batch are
    saved, with the optimizer state and the part of the unfinished epoch done, so the next run
    goes on from there as if never stopped. A diverging loss raises ScratchnetError and leaves
    the last good checkpoint in ``params``. A ``params`` changed by another program meanwhile is
    never overwritten (see save). A checkpoint trained on other data than ``dataset`` is refused
    unless ``new_data``.

    ``stop``: a flag another thread sets to stop the run as Ctrl-C does (Ctrl-C is then left alone).
    ``on_progress``: called with the samples done of the current epoch after each chunk, in this
    thread, between two batches: the network is consistent then, and may be copied.
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
    ckpt.data = {"source": dataset.source, "fingerprint": dataset.fingerprint}
    optimizer = Optimizer(config, net, ckpt.optimizer_state)
    n = len(dataset.train_labels)
    partial = _resumable(params, PartialEpoch.of(ckpt), n, same_data)
    interrupts = nullcontext(stop) if stop else stop_on_interrupt()
    with interrupts as stop, tqdm(total=n, initial=partial.samples if partial else 0, disable=not progress,
                                           leave=False, unit="img", dynamic_ncols=True,
                                           desc=f"epoch {ckpt.epochs_done + 1}") as bar:
        def advance(done: int) -> None:
            bar.update(done - bar.n)
            if on_progress:
                on_progress(done)

        epochs = fit(net, optimizer, config, dataset.train_images, dataset.train_labels, dataset.test_images,
                     dataset.test_labels, ckpt.epochs_done, stop, advance if progress or on_progress else None, engine,
                     partial)
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
    if stop.requested:
        if stop.partial:  # else the stop came between epochs, or before this run trained anything
            if diverged(net, stop.partial.loss_sum):
                raise ScratchnetError(f"interrupted in epoch {ckpt.epochs_done + 1}, where training had diverged: "
                                      f"not saved, {params} keeps the last good checkpoint; try a smaller --lr")
            stop.partial.keep_in(ckpt)
            if Path(params).suffix.lower() in checkpoint.TEXT_FORMATS:
                # No room there for a place in an epoch: the file keeps the last whole epoch, from which
                # the next run trains this one again, as an unbroken run would.
                return False
        ckpt.optimizer_state = optimizer.state()
        save(params, ckpt)
        return False
    return True

"""Training with NumPy: one step, one epoch. ``scratchnet train`` with the defaults runs
``train_epoch``, which calls ``sgd_sample_step`` for each training image in turn.

There are two steps. ``batch_step`` is the textbook's: forward pass, backpropagation, update.
``sgd_sample_step`` is plain SGD on a single sample in the order of the original program (the post
this project grew from: README), which its defaults reproduce: each layer is updated as soon as
its error is known, and the error then goes back through the *updated* weights. The C
engine (csrc/train.c) has the same functions under the same names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from scratchnet import network, threads
from scratchnet.augment import distort_images, shift_images
from scratchnet.config import TrainConfig
from scratchnet.data import inputs, one_hot
from scratchnet.network import Network
from scratchnet.optim import Optimizer
from scratchnet.stop import StopFlag, train_in_chunks

PREDICT_CHUNK = 10_000  # samples per forward pass when predicting: bounds the memory


def uses_sample_step(config: TrainConfig) -> bool:
    """Whether an epoch runs ``sgd_sample_step`` (else ``batch_step``): the one place it is decided."""
    return config.batch_size == 1 and config.optimizer == "sgd" and not config.weight_decay


def batch_step(net: Network, optimizer: Optimizer, x: np.ndarray, targets: np.ndarray, lr: float,
               loss: str) -> np.ndarray:
    """Forward, backpropagate, update, for a batch x (batch, sizes[0]) with one-hot ``targets``
    (batch, n_out). Returns the logits (batch, n_out)."""
    activations, logits = net.forward(x)
    delta = network.output_delta(loss, net.output, activations[-1], targets)
    grad_weights, grad_biases = net.backward(activations, delta)
    optimizer.update(net, grad_weights, grad_biases, lr)
    return logits


def sgd_sample_step(net: Network, pixels: np.ndarray, rows: np.ndarray, target: np.ndarray, lr: float,
                    loss: str) -> np.ndarray:
    """Plain SGD on one sample, each layer updated as soon as its error is known and the error then
    sent back through the updated weights. Returns the logits (n_out,).

    Optimisation: a zero pixel adds nothing to z and gets a zero gradient, so ``pixels`` holds only
    the sample's non-zero inputs and ``rows`` their indices, and the first layer reads and updates
    only those rows of its weights (about 150 of MNIST's 784).
    """
    first = net.weights[0][rows]  # (k, n1): the rows of the first layer's weights this sample touches
    activations, logits = net.forward(pixels, first)  # one sample: each activation a vector
    delta = network.output_delta(loss, net.output, activations[-1][None, :], target[None, :])[0]  # (n_out,)
    for layer in reversed(range(net.n_layers)):
        change = lr * delta
        net.biases[layer] -= change
        if layer == 0:
            net.weights[0][rows] = first - pixels[:, None] * change
        else:
            a = activations[layer]  # (n_in,)
            net.weights[layer] -= a[:, None] * change
            delta = (net.weights[layer] @ delta) * network.derivative(net.hidden, a)
    return logits


def sparse_samples(images: np.ndarray, dtype: np.dtype) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(values, indices) of each image's non-zero pixels, for sgd_sample_step. ``images`` (n, pixels)."""
    which, columns = np.nonzero(images)
    values = inputs(images[which, columns][None, :], dtype)[0]
    ends = np.cumsum(np.count_nonzero(images, axis=1)).tolist()
    for begin, end in zip([0] + ends, ends):
        yield values[begin:end], columns[begin:end]


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    # One stream per epoch: a resumed run shuffles exactly as an uninterrupted one would.
    return np.random.default_rng((seed, epoch))


def epoch_samples(config: TrainConfig, images: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The order in which 0-based ``epoch`` visits the training images, and the images it sees
    (shifted with ``config.shift``, then distorted with ``config.elastic``, ``rotate`` and ``scale``): the
    same for every engine."""
    rng = epoch_rng(config.seed, epoch)
    order = rng.permutation(len(images)) if config.shuffle else np.arange(len(images))
    if config.shift:
        images = shift_images(images, config.shift, rng)
    if config.distorts():
        images = distort_images(images, rng, config.elastic, config.rotate, config.scale)
    return order, images


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
    seen. ``images`` (n, rows, cols) uint8, ``labels`` (n,). ``progress`` gets the count of samples
    done after each chunk."""
    n = len(order)
    flat = images.reshape(len(images), -1)
    targets = one_hot(labels[order], net.sizes[-1], net.dtype)  # in the order seen
    logits = np.empty((n, net.sizes[-1]), dtype=net.dtype)  # kept to measure the loss once, at the end
    per_sample = uses_sample_step(config)

    def train_chunk(start: int, end: int) -> int:
        chunk = flat[order[start:end]]
        done = start
        if per_sample:
            for pixels, rows in sparse_samples(chunk, net.dtype):
                logits[done] = sgd_sample_step(net, pixels, rows, targets[done], lr, config.loss)
                done += 1
                if stop and stop.requested:
                    break
        else:
            for first in range(0, len(chunk), config.batch_size):
                x = inputs(chunk[first : first + config.batch_size], net.dtype)
                logits[done : done + len(x)] = batch_step(net, optimizer, x, targets[done : done + len(x)], lr,
                                                          config.loss)
                done += len(x)
                if stop and stop.requested:
                    break
        return done - start

    done = train_in_chunks(n, config.batch_size, train_chunk, stop, progress)
    seen = labels[order[:done]]
    outputs = network.activate(net.output, logits[:done])
    loss = network.loss_per_sample(config.loss, logits[:done], outputs, targets[:done]).mean()
    accuracy = (logits[:done].argmax(axis=1) == seen).mean()
    return float(loss), float(accuracy)


def predict(net: Network, images: np.ndarray) -> np.ndarray:
    """Output activations (n, n_out) for uint8 images (n, rows, cols), a chunk at a time."""
    if not len(images):
        return np.empty((0, net.sizes[-1]), dtype=net.dtype)
    with threads.for_products(min(len(images), PREDICT_CHUNK), net.sizes):
        return np.concatenate([net.predict(inputs(images[i : i + PREDICT_CHUNK], net.dtype))
                               for i in range(0, len(images), PREDICT_CHUNK)])

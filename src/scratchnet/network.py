"""A fully connected network: activations, losses, the forward pass and backpropagation.

Shapes: a batch is a row per sample. Layer ``l`` maps ``sizes[l]`` inputs to ``sizes[l+1]`` outputs:

    weights[l]: (sizes[l], sizes[l+1])      biases[l]: (sizes[l+1],)
    z = a @ weights[l] + biases[l]          a' = f(z)

Storing the weights input-major (the transpose of the textbook's ``W a``) lets a batch be a
matrix product, and lets a single sample skip its zero inputs: row ``i`` holds everything that
input ``i`` touches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from scratchnet.errors import ScratchnetError

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")
LOSSES = ("bce", "cross_entropy", "mse")
INITS = ("uniform", "xavier", "he")
DTYPES = ("float64", "float32")

# The largest network any reader or command accepts (the C engine's limits too): a file or an
# option cannot ask for more memory than this.
MAX_LAYERS = 16  # layers of neurons
MAX_LAYER_SIZE = 1_000_000
MAX_PARAMETERS = 1_000_000_000

# The loss whose gradient at the output pre-activation is simply ``output - target``.
NATURAL_LOSS = {"sigmoid": "bce", "softmax": "cross_entropy"}


def sigmoid(z: np.ndarray) -> np.ndarray:
    # Stable as it stands: for z < -709 (-88 in float32) e^-z overflows to inf and 1 / (1 + inf)
    # is 0, as it should be; no NaN can come out. NumPy warns all the same, so the code that runs
    # the network silences overflow warnings once around its work (Network.predict, train_epoch).
    return 1 / (1 + np.exp(-z))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # shift: exp never overflows
    return e / e.sum(axis=-1, keepdims=True)


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "softmax":
        return softmax(z)
    raise ScratchnetError(f"unknown activation {name!r}")


def derivative(name: str, a: np.ndarray) -> np.ndarray:
    """f'(z) written in terms of the activation a = f(z), as backprop has a at hand."""
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return (a > 0).astype(a.dtype)
    raise ScratchnetError(f"unknown activation {name!r}")


def loss_per_sample(loss: str, logits: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The loss of each sample, summed over the outputs. Shapes (batch, n_out) -> (batch,)."""
    if loss == "bce":
        # -[y log s(z) + (1-y) log(1-s(z))] = log(1 + e^z) - y z, which stays finite for any z.
        return (np.logaddexp(0.0, logits) - targets * logits).sum(axis=1)
    if loss == "cross_entropy":
        top = logits.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        return log_norm - (targets * logits).sum(axis=1)
    if loss == "mse":
        return 0.5 * ((outputs - targets) ** 2).sum(axis=1)
    raise ScratchnetError(f"unknown loss {loss!r}")


def output_delta(loss: str, output: str, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """dLoss/dz at the output layer, per sample. Shapes (batch, n_out)."""
    error = outputs - targets
    if loss == NATURAL_LOSS[output]:
        return error  # o - l
    # mse: chain the error through the output activation's Jacobian.
    if output == "sigmoid":
        return error * outputs * (1 - outputs)
    return outputs * (error - (error * outputs).sum(axis=1, keepdims=True))  # softmax


def describe(sizes: tuple[int, ...], hidden: str, output: str, dtype: str) -> str:
    """A network in one phrase, as messages name it: "784-20-10 sigmoid/sigmoid float64"."""
    return f"{'-'.join(map(str, sizes))} {hidden}/{output} {dtype}"


@dataclass
class Network:
    """Layer sizes, activations and the parameters: everything needed to run the network."""

    sizes: tuple[int, ...]
    hidden: str
    output: str
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    def describe(self) -> str:
        return describe(self.sizes, self.hidden, self.output, str(self.dtype))

    def forward(self, inputs: np.ndarray, first_weights: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """Run a batch (batch, sizes[0]), or one sample (sizes[0],), through the network.

        Returns the activations of every layer, inputs first and outputs last, and the
        output pre-activations (logits), from which the loss is computed stably.
        With ``first_weights``, ``inputs`` holds only some input columns and ``first_weights``
        the rows of weights[0] for them: a zero pixel adds nothing to z, so it can be left out.
        """
        activations = [inputs]
        z = inputs
        for layer in range(self.n_layers):
            weights = first_weights if layer == 0 and first_weights is not None else self.weights[layer]
            z = activations[-1] @ weights + self.biases[layer]
            name = self.hidden if layer < self.n_layers - 1 else self.output
            activations.append(activate(name, z))
        return activations, z

    @np.errstate(over="ignore", invalid="ignore")  # see sigmoid; a NaN is caught by the caller
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Output activations for a batch (batch, sizes[0]) -> (batch, sizes[-1])."""
        return self.forward(inputs)[0][-1]

    def errors(self, activations: list[np.ndarray], delta: np.ndarray) -> list[np.ndarray]:
        """Backpropagation's error signal: dL/dz of every layer, first layer first, ``delta`` (the
        output layer's, (batch, n_out)) last. Each is sent back through the weights above it:
        delta_below = (delta @ weights.T) * f'(z_below)."""
        deltas = [delta]
        for layer in range(self.n_layers - 1, 0, -1):  # (batch, n_out) @ (n_out, n_in) * f'(z_below)
            deltas.insert(0, (deltas[0] @ self.weights[layer].T) * derivative(self.hidden, activations[layer]))
        return deltas

    def backward(self, activations: list[np.ndarray], delta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Backpropagation: dL/dweights and dL/dbiases of every layer, changing nothing.

        ``activations`` come from ``forward``; ``delta`` is dL/dz of each sample's loss at the
        output layer (batch, n_out). The gradients are those of the mean loss over the batch.
        """
        delta = delta / len(delta) if len(delta) > 1 else delta  # of the batch-mean loss
        deltas = self.errors(activations, delta)
        grad_weights = [a.T @ d for a, d in zip(activations, deltas)]  # (n_in, n_out): input i's a times j's delta
        grad_biases = [d.sum(axis=0) for d in deltas]  # (n_out,)
        return grad_weights, grad_biases

    @np.errstate(over="ignore", invalid="ignore")
    def gradients(self, inputs: np.ndarray, targets: np.ndarray, loss: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """dL/dweights and dL/dbiases of the batch-mean loss of ``inputs`` (batch, sizes[0])."""
        activations, _ = self.forward(inputs)
        return self.backward(activations, output_delta(loss, self.output, activations[-1], targets))

    @np.errstate(over="ignore", invalid="ignore")
    def loss(self, inputs: np.ndarray, targets: np.ndarray, loss: str) -> float:
        """Mean over the batch of the per-sample loss."""
        activations, logits = self.forward(inputs)
        return float(loss_per_sample(loss, logits, activations[-1], targets).mean())


def check_finite(net: Network, outputs: np.ndarray) -> np.ndarray:
    """``outputs`` (batch, n_out) as they are, or a one-line refusal when the parameters are so large
    that the arithmetic overflows (a NaN or infinite output answers nothing)."""
    bad = ~np.isfinite(outputs).all(axis=1)
    if bad.any():
        largest = max(float(np.abs(w).max()) for w in net.weights)
        raise ScratchnetError(f"the network's outputs are not finite (first on input {int(bad.argmax())}): its "
                              f"parameters (largest weight {largest:g}) overflow {net.dtype}")
    return outputs


def count_parameters(sizes: tuple[int, ...]) -> int:
    """Weights and biases of a network of these layer sizes."""
    return sum((n_in + 1) * n_out for n_in, n_out in itertools.pairwise(sizes))


def check_sizes(sizes: tuple[int, ...]) -> None:
    """Refuse layer sizes that make no network, or one larger than the limits above."""
    shown = "-".join(map(str, sizes))
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise ScratchnetError(f"layer sizes {shown}: need at least two layers of 1 or more neurons")
    if len(sizes) - 1 > MAX_LAYERS:
        raise ScratchnetError(f"layer sizes {shown}: {len(sizes) - 1} layers of neurons; at most {MAX_LAYERS} "
                              "are supported")
    if max(sizes) > MAX_LAYER_SIZE:
        raise ScratchnetError(f"layer sizes {shown}: a layer of {max(sizes)} is more than the {MAX_LAYER_SIZE} allowed")
    if count_parameters(sizes) > MAX_PARAMETERS:
        raise ScratchnetError(f"layer sizes {shown} make {count_parameters(sizes)} parameters, more than the "
                              f"{MAX_PARAMETERS} allowed")


def check_architecture(sizes: tuple[int, ...], hidden: str, output: str, loss: str, dtype: str) -> None:
    """Refuse a description that cannot make a network, with a message naming the value."""
    check_sizes(sizes)
    for value, allowed, what in (
        (hidden, HIDDEN_ACTIVATIONS, "hidden activation"),
        (output, OUTPUT_ACTIVATIONS, "output activation"),
        (loss, LOSSES, "loss"),
        (dtype, DTYPES, "dtype"),
    ):
        if value not in allowed:
            raise ScratchnetError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
    if loss != "mse" and loss != NATURAL_LOSS[output]:
        raise ScratchnetError(f"loss {loss!r} does not fit a {output} output: use {NATURAL_LOSS[output]} or mse")


def create(
    sizes: tuple[int, ...], hidden: str, output: str, init: str, dtype: str, rng: np.random.Generator
) -> Network:
    """A new network with initial weights drawn from ``rng`` and zero biases."""
    if init not in INITS:
        raise ScratchnetError(f"unknown init {init!r}: choose one of {', '.join(INITS)}")
    weights = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        if init == "uniform":  # the original program's
            w = rng.uniform(-0.5, 0.5, (fan_in, fan_out))
        elif init == "xavier":  # Glorot & Bengio 2010: keeps the variance of z and of the gradients
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, (fan_in, fan_out))
        else:  # he: He et al. 2015, for relu, which zeroes half its inputs
            w = rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out))
        weights.append(w.astype(dtype))
    biases = [np.zeros(n, dtype=dtype) for n in sizes[1:]]
    return Network(tuple(sizes), hidden, output, weights, biases)

"""Watch it learn: one training step stage by stage, why the network answered, what it imagines.

``step`` runs one training step on one sample exactly as training runs it, and keeps every number
on the way: the forward pass, the loss, each layer's error, each gradient and the change of every
parameter. ``explain`` splits an output into what each pixel and each hidden neuron gave it.
``dream`` runs the network backwards: gradient ascent on the input until a chosen digit wins.

The explorer page (web/explorer.js) computes the same three in JavaScript and is tested against
these; ``scratchnet step``, ``explain`` and ``dream`` print them. docs/LEARN.md walks through one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from scratchnet import data, network, numpy_engine, optim
from scratchnet.checkpoint import Checkpoint
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network
from scratchnet.optim import Optimizer

DREAM_STEPS = 200
DREAM_RATE = 0.1  # the largest change of a hidden variable in one step
# The dream's regulariser: the picture is a blur of free variables (so neighbours move together and
# strokes come out smooth), clipped to [0, 1] and weighted by a Gaussian window on the centre, where
# MNIST's digits lie. Without it the ascent finds speckles that only this network reads as a digit.
DREAM_BLUR = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16  # binomial, separable, zero outside the picture
DREAM_WINDOW_SIGMA = 7.0  # pixels
MAX_STEP_PARAMETERS = 5_000_000  # a step keeps a few copies of every parameter


def _as_inputs(net: Network, image: np.ndarray) -> np.ndarray:
    """One input (sizes[0],) in [0, 1], float64 or the network's dtype, from a uint8 image (rows, cols)
    as data.inputs scales it, or from numbers in [0, 1]."""
    image = np.asarray(image)
    if image.size != net.sizes[0]:
        raise ScratchnetError(f"the network takes {net.sizes[0]} inputs, not {image.size} ({image.shape})")
    if image.dtype == np.uint8:
        return data.inputs(image.reshape(1, -1), net.dtype)[0]
    if not np.issubdtype(image.dtype, np.floating) and not np.issubdtype(image.dtype, np.integer):
        raise ScratchnetError(f"inputs must be numbers, not {image.dtype}")
    x = image.astype(net.dtype).ravel()
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ScratchnetError("inputs must be finite numbers in [0, 1] (or a uint8 image)")
    return x


def _check_class(net: Network, value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < net.sizes[-1]:
        raise ScratchnetError(f"{what} {value!r} is not a class of this network: give 0 to {net.sizes[-1] - 1}")
    return int(value)


@dataclass(frozen=True, repr=False)
class Step:
    """One training step on one sample, every number of it. Layers are 0-based: ``errors[l]``,
    ``grad_weights[l]`` and the changes are those of weights[l] and biases[l], which feed layer l+1
    of ``activations`` (activations[0] is the input)."""

    order: str  # "per-sample": numpy_engine.sgd_sample_step; "batch": numpy_engine.batch_step on a batch of one
    optimizer: str  # the update rule (config.optimizer); per-sample is always plain SGD
    lr: float  # the learning rate of the step: the checkpoint's next, unless given
    loss_name: str  # the loss trained with: bce, cross_entropy or mse
    label: int  # the true class
    target: np.ndarray  # (n_out,) one-hot
    activations: list[np.ndarray]  # before the step: the input, then each layer's f(z)
    zs: list[np.ndarray]  # each layer's pre-activation z = a @ weights + biases
    loss: float  # of this sample, before the step
    # Per-sample, a layer's error is sent back through the weights above it as already updated
    # (the order the original program trains in); batch, through the old ones.
    errors: list[np.ndarray]  # dL/dz of each layer, "delta": backpropagation's error signal
    grad_weights: list[np.ndarray]  # dL/dw[l][i, j] = activations[l][i] * errors[l][j]
    grad_biases: list[np.ndarray]  # dL/db[l][j] = errors[l][j]
    before: Network  # the checkpoint's network, unchanged
    after: Network  # the network after the step
    optimizer_before: dict[str, np.ndarray]  # the optimizer's state (momentum's velocity, Adam's moments)
    optimizer_after: dict[str, np.ndarray]  # and after the step
    outputs_after: np.ndarray  # the same input through the updated network
    loss_after: float  # of this sample, after the step

    @property
    def outputs(self) -> np.ndarray:
        """The network's outputs for the sample, before the step."""
        return self.activations[-1]

    @property
    def weight_changes(self) -> list[np.ndarray]:
        """What the step did to each layer's weights: after - before."""
        return [a - b for a, b in zip(self.after.weights, self.before.weights)]

    @property
    def bias_changes(self) -> list[np.ndarray]:
        """What the step did to each layer's biases: after - before."""
        return [a - b for a, b in zip(self.after.biases, self.before.biases)]

    def __repr__(self) -> str:
        return (f"<scratchnet.learn.Step {self.order} label {self.label}: loss {self.loss:.6g} -> "
                f"{self.loss_after:.6g}, output {self.label}: {self.outputs[self.label]:.6g} -> "
                f"{self.outputs_after[self.label]:.6g}>")

    def to_dict(self) -> dict:
        """Every number, JSON-ready (``scratchnet step --json``); arrays as nested lists of float64."""
        def lists(arrays: list[np.ndarray]) -> list:
            return [np.asarray(a, dtype=np.float64).tolist() for a in arrays]

        return {
            "order": self.order, "optimizer": self.optimizer, "lr": self.lr, "loss_name": self.loss_name,
            "label": self.label, "sizes": list(self.before.sizes), "hidden": self.before.hidden,
            "output": self.before.output, "dtype": str(self.before.dtype),
            "inputs": lists([self.activations[0]])[0], "zs": lists(self.zs),
            "activations": lists(self.activations[1:]), "loss": self.loss, "errors": lists(self.errors),
            "grad_weights": lists(self.grad_weights), "grad_biases": lists(self.grad_biases),
            "weights_after": lists(self.after.weights), "biases_after": lists(self.after.biases),
            "outputs_after": lists([self.outputs_after])[0], "loss_after": self.loss_after,
            "prediction": int(self.outputs.argmax()), "prediction_after": int(self.outputs_after.argmax()),
        }


def step_learning_rate(ckpt: Checkpoint) -> float:
    """The rate ``scratchnet train`` would use next: that of the epoch after the last one done, in the run it
    would train (the rest of an interrupted one, as run.start decides, or ``config.epochs`` more)."""
    unfinished = ckpt.planned_epochs > ckpt.epochs_done
    total = ckpt.planned_epochs if unfinished else ckpt.epochs_done + ckpt.config.epochs
    return optim.learning_rate(ckpt.config, ckpt.epochs_done, total)


def _sample_loss(net: Network, loss: str, logits: np.ndarray, outputs: np.ndarray, target: np.ndarray) -> float:
    return float(network.loss_per_sample(loss, logits[None], outputs[None], target[None])[0])


@np.errstate(over="ignore", invalid="ignore")  # as training: a diverging step shows as inf or NaN
def step(ckpt: Checkpoint, image: np.ndarray, label: int, lr: float | None = None) -> Step:
    """One training step of ``ckpt``'s network on ``image`` (uint8 (rows, cols), or sizes[0] numbers in
    [0, 1]) with true class ``label``, as its training does it: the checkpoint's loss, learning rate
    (``lr`` overrides) and update (per-sample SGD, or batch_step with its optimizer and state).
    Nothing of ``ckpt`` changes: ``Step.after`` is the updated network."""
    before, config = ckpt.network, ckpt.config
    if network.count_parameters(before.sizes) > MAX_STEP_PARAMETERS:
        raise ScratchnetError(f"a {before.describe()} network is too large to step here: at most "
                              f"{MAX_STEP_PARAMETERS:,} parameters")
    label = _check_class(before, label, "label")
    x = _as_inputs(before, image)
    lr = step_learning_rate(ckpt) if lr is None else float(lr)
    if not np.isfinite(lr) or lr < 0:
        raise ScratchnetError(f"the learning rate must be a finite number >= 0, got {lr}")
    target = data.one_hot(np.array([label]), before.sizes[-1], before.dtype)[0]
    after = copy.deepcopy(before)
    optimizer = Optimizer(config, after, ckpt.optimizer_state)
    state_before = {k: v.copy() for k, v in optimizer.state().items()}
    if numpy_engine.uses_sample_step(config):
        rows = np.flatnonzero(x)  # as numpy_engine.sparse_samples: the step reads only the non-zero inputs
        activations, logits = before.forward(x[rows], before.weights[0][rows])
        activations[0] = x
        numpy_engine.sgd_sample_step(after, x[rows], rows, target, lr, config.loss)
        # its errors, as sgd_sample_step sent them back: through each layer above as updated
        delta = network.output_delta(config.loss, before.output, activations[-1][None], target[None])[0]
        errors = [delta]
        for layer in range(before.n_layers - 1, 0, -1):
            errors.insert(0, (after.weights[layer] @ errors[0]) * network.derivative(before.hidden, activations[layer]))
        order = "per-sample"
    else:
        activations, logits = before.forward(x[None])
        delta = network.output_delta(config.loss, before.output, activations[-1], target[None])
        errors = [e[0] for e in before.errors(activations, delta)]
        numpy_engine.batch_step(after, optimizer, x[None], target[None], lr, config.loss)
        activations = [a[0] for a in activations]
        logits = logits[0]
        order = "batch"
    grad_weights = [np.outer(a, d) for a, d in zip(activations, errors)]  # one sample: backward's a.T @ delta
    zs = [a @ w + b for a, w, b in zip(activations, before.weights, before.biases)]
    zs[-1] = logits
    after_activations, after_logits = after.forward(x)
    return Step(
        order=order, optimizer="sgd" if order == "per-sample" else config.optimizer, lr=lr,
        loss_name=config.loss, label=label, target=target, activations=activations, zs=zs,
        loss=_sample_loss(before, config.loss, logits, activations[-1], target), errors=errors,
        grad_weights=grad_weights, grad_biases=errors, before=before, after=after,
        optimizer_before=state_before, optimizer_after=optimizer.state(),
        outputs_after=after_activations[-1],
        loss_after=_sample_loss(after, config.loss, after_logits, after_activations[-1], target),
    )


def stepped(ckpt: Checkpoint, result: Step) -> Checkpoint:
    """``ckpt`` with the step taken: the updated network and optimizer state, the rest as it was."""
    new = copy.copy(ckpt)
    new.network = result.after
    new.optimizer_state = {k: v.copy() for k, v in result.optimizer_after.items()} if result.order == "batch" \
        else ckpt.optimizer_state
    return new


@dataclass(frozen=True, repr=False)
class Explanation:
    """Why output ``digit`` has the value it has for one input.

    ``pixel_contributions[i]`` is input times gradient, x_i * dz/dx_i, z the output's pre-activation
    (its logit): how much z would lose, to first order, if pixel i went dark. ``hidden_contributions``
    split z exactly: z = sum_j w[j -> digit] * a_j + bias, a_j the last hidden layer's activations
    (the pixels themselves for a network without hidden layers)."""

    digit: int
    prediction: int
    outputs: np.ndarray  # (n_out,) the network's outputs for the input
    logit: float  # z of ``digit``
    inputs: np.ndarray  # (sizes[0],) in [0, 1]
    pixel_contributions: np.ndarray  # (sizes[0],) x * dz/dx
    hidden_activations: np.ndarray  # (sizes[-2],) a: the last layer's inputs
    hidden_weights: np.ndarray  # (sizes[-2],) w: their weights into ``digit``
    bias: float  # the last layer's bias of ``digit``

    @property
    def hidden_contributions(self) -> np.ndarray:
        """w * a of each input of the last layer, (sizes[-2],)."""
        return self.hidden_weights * self.hidden_activations

    @property
    def ranking(self) -> np.ndarray:
        """The last layer's inputs by their contribution, the largest first."""
        return np.argsort(-self.hidden_contributions, kind="stable")

    def __repr__(self) -> str:
        top = ", ".join(f"{j}: {self.hidden_contributions[j]:+.3g}" for j in self.ranking[:3])
        return (f"<scratchnet.learn.Explanation of output {self.digit} (z = {self.logit:.6g}; answer "
                f"{self.prediction}), largest contributions {top}>")

    def to_dict(self) -> dict:
        """Every number, JSON-ready (``scratchnet explain --json``)."""
        return {"digit": self.digit, "prediction": self.prediction, "outputs": self.outputs.tolist(),
                "logit": self.logit, "bias": self.bias, "inputs": self.inputs.tolist(),
                "pixel_contributions": self.pixel_contributions.tolist(),
                "hidden_activations": self.hidden_activations.tolist(),
                "hidden_weights": self.hidden_weights.tolist(),
                "hidden_contributions": self.hidden_contributions.tolist(),
                "ranking": self.ranking.tolist()}


def _float64(net: Network) -> Network:
    return Network(net.sizes, net.hidden, net.output, [w.astype(np.float64) for w in net.weights],
                   [b.astype(np.float64) for b in net.biases])


def _input_gradient(net: Network, activations: list[np.ndarray], delta: np.ndarray) -> np.ndarray:
    """dJ/dx for an output-layer dJ/dz ``delta``: backpropagation carried one layer further, to the input."""
    return net.weights[0] @ net.errors(activations, delta)[0]


@np.errstate(over="ignore", invalid="ignore")
def explain(net: Network, image: np.ndarray, digit: int | None = None) -> Explanation:
    """Why ``net`` gives ``digit`` (default: its answer) the value it does for ``image`` (uint8
    (rows, cols), or sizes[0] numbers in [0, 1]). Computed in float64."""
    net = _float64(net)
    x = _as_inputs(net, image)
    activations, logits = net.forward(x)
    prediction = int(activations[-1].argmax())
    digit = prediction if digit is None else _check_class(net, digit, "digit")
    unit = np.zeros(net.sizes[-1])
    unit[digit] = 1
    gradient = _input_gradient(net, activations, unit)
    return Explanation(digit, prediction, activations[-1], float(logits[digit]), x, x * gradient, activations[-2],
                       net.weights[-1][:, digit].copy(), float(net.biases[-1][digit]))


def _blur(image: np.ndarray) -> np.ndarray:
    """DREAM_BLUR along rows then columns of a square picture (side*side,), zero outside it."""
    side = round(np.sqrt(image.size))
    pad = len(DREAM_BLUR) // 2
    padded = np.pad(image.reshape(side, side), pad)
    rows = sum(k * padded[:, i : i + side] for i, k in enumerate(DREAM_BLUR))
    return sum(k * rows[i : i + side, :] for i, k in enumerate(DREAM_BLUR)).ravel()


def dream_window(n_inputs: int) -> np.ndarray:
    """The dream's centre weighting: a Gaussian of DREAM_WINDOW_SIGMA pixels on a square picture."""
    side = round(np.sqrt(n_inputs))
    centre = (side - 1) / 2
    yy, xx = np.mgrid[0:side, 0:side]
    return np.exp(-((yy - centre) ** 2 + (xx - centre) ** 2) / (2 * DREAM_WINDOW_SIGMA**2)).ravel()


@dataclass(frozen=True, repr=False)
class Dream:
    """What the network imagines ``digit`` looks like: ``frames[-1]``, and each step's picture before it."""

    digit: int
    frames: np.ndarray  # (steps + 1, sizes[0]) pictures in [0, 1], the start first
    scores: np.ndarray  # (steps + 1,) log-probability of ``digit`` (log softmax of the logits) per frame
    outputs: np.ndarray  # (n_out,) the network's outputs for the last frame

    @property
    def image(self) -> np.ndarray:
        """The dream: the last frame, (sizes[0],) in [0, 1]."""
        return self.frames[-1]

    @property
    def prediction(self) -> int:
        """What the network answers for the dream."""
        return int(self.outputs.argmax())

    def __repr__(self) -> str:
        return (f"<scratchnet.learn.Dream of {self.digit}, {len(self.frames) - 1} steps: the network answers "
                f"{self.prediction} ({self.outputs[self.prediction]:.3g})>")

    def to_dict(self) -> dict:
        """The dream and its scores, JSON-ready (``scratchnet dream --json``); not the frames before it."""
        return {"digit": self.digit, "steps": len(self.frames) - 1, "image": self.image.tolist(),
                "scores": self.scores.tolist(), "outputs": self.outputs.tolist(), "prediction": self.prediction}


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def dream(net: Network, digit: int, steps: int = DREAM_STEPS, start: np.ndarray | None = None,
          rate: float = DREAM_RATE) -> Dream:
    """Gradient ascent on the input to make ``digit`` win, from a blank picture or ``start``.

    The objective is log softmax(z)[digit] of the logits z, whatever the output activation: it
    rises only by making ``digit`` beat the others. The picture is x = clip(blur(p), 0, 1) * window,
    and each step moves the free variables p by ``rate`` times the gradient divided by its largest
    entry (the step's size does not depend on how steep the network is there). A pixel held at 0
    or 1 by the clip gets no gradient unless the gradient pulls it back inside. Computed in float64.
    """
    net = _float64(net)
    digit = _check_class(net, digit, "digit")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 0 <= steps <= 100_000:
        raise ScratchnetError(f"steps must be a whole number from 0 to 100000, got {steps!r}")
    if net.sizes[0] != round(np.sqrt(net.sizes[0])) ** 2:
        raise ScratchnetError(f"dreams are square pictures: the network's {net.sizes[0]} inputs are not one")
    window = dream_window(net.sizes[0])
    free = np.zeros(net.sizes[0]) if start is None else _as_inputs(net, start).copy()
    frames, scores = [], []
    for t in range(steps + 1):
        smooth = _blur(free)
        x = np.clip(smooth, 0, 1) * window
        activations, logits = net.forward(x)
        probabilities = network.softmax(logits)
        frames.append(x)
        scores.append(float(np.log(probabilities[digit])))
        if t == steps:
            break
        delta = -probabilities  # d log softmax_digit / dz
        delta[digit] += 1
        gradient = _input_gradient(net, activations, delta) * window
        held = ((smooth <= 0) & (gradient < 0)) | ((smooth >= 1) & (gradient > 0))
        gradient = _blur(np.where(held, 0.0, gradient))  # blur's transpose is itself
        largest = np.abs(gradient).max()
        if largest > 0:
            free = free + rate * gradient / largest
    return Dream(digit, np.array(frames), np.array(scores), activations[-1])

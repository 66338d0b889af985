"""How parameters follow their gradients: the optimizers and the learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np

from scratchnet.config import ADAM_BETAS, ADAM_EPSILON, OPTIMIZER_SLOTS, TrainConfig
from scratchnet.network import Network


def learning_rate(config: TrainConfig, epoch: int, total_epochs: int) -> float:
    """The rate for 0-based ``epoch`` of a run that will reach ``total_epochs``."""
    if config.schedule == "inverse":  # initial / (1 + decay * epoch)
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
        self.steps = 0  # batches so far: Adam's bias correction counts them
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

    def update(self, net: Network, grad_weights: list[np.ndarray], grad_biases: list[np.ndarray], lr: float) -> None:
        """One step of every layer from the gradients of one batch (Network.backward's)."""
        self.steps += 1
        for layer in range(net.n_layers):
            grad_w = grad_weights[layer]
            if self.weight_decay:  # L2 on the weights, not the biases
                grad_w = grad_w + self.weight_decay * net.weights[layer]
            self._apply(net.weights[layer], grad_w, 2 * layer, lr)
            self._apply(net.biases[layer], grad_biases[layer], 2 * layer + 1, lr)

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

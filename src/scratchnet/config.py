"""Every setting of a training run, its default and the presets: the one place they live.

``TrainConfig()`` is the seed's program: 784-20-10 sigmoid, uniform(-0.5, 0.5) weights, per-sample
SGD at lr 0.005 for 5 epochs over the training set in file order. The command line takes its
defaults and its help from here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from scratchnet import network
from scratchnet.errors import ScratchnetError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
SCHEDULES = ("constant", "inverse", "step", "cosine")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8


def setting(default, help: str, choices: tuple[str, ...] | None = None):
    """A field of TrainConfig with the help text and choices the command line shows for it."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    """Everything that decides what training does. The defaults are the seed's."""

    layers: tuple[int, ...] = setting((784, 20, 10), "layer sizes, inputs first, e.g. 784,20,10")
    hidden: str = setting("sigmoid", "activation of the hidden layers", network.HIDDEN_ACTIVATIONS)
    output: str = setting("sigmoid", "activation of the output layer", network.OUTPUT_ACTIVATIONS)
    loss: str = setting("bce", "bce (sigmoid output; its gradient is the seed's o - l), cross_entropy "
                        "(softmax output) or mse", network.LOSSES)
    init: str = setting("uniform", "initial weights: uniform(-0.5, 0.5) as the seed, xavier or he", network.INITS)
    dtype: str = setting("float64", "floating-point type of parameters and arithmetic", network.DTYPES)
    epochs: int = setting(5, "epochs to train in this run (more, when resuming)")
    lr: float = setting(0.005, "learning rate")
    batch_size: int = setting(1, "samples per update; 1 is the seed's per-sample SGD")
    optimizer: str = setting("sgd", "update rule", OPTIMIZERS)
    momentum: float = setting(0.9, "momentum coefficient for momentum and nesterov")
    schedule: str = setting("constant", "learning-rate schedule: constant, inverse lr/(1+decay*epoch), "
                            "step, cosine", SCHEDULES)
    lr_decay: float = setting(0.1, "decay of the inverse schedule")
    lr_step: int = setting(10, "epochs between steps of the step schedule")
    lr_gamma: float = setting(0.1, "factor of each step of the step schedule")
    weight_decay: float = setting(0.0, "L2 penalty on the weights (not the biases)")
    shuffle: bool = setting(False, "shuffle the training set each epoch (the seed keeps file order)")
    shift: int = setting(0, "shift each training image by up to this many pixels, at random")
    seed: int = setting(0, "random seed: the same seed gives the same parameters, bit for bit")

    def check(self) -> None:
        network.check_architecture(self.layers, self.hidden, self.output, self.loss, self.dtype)
        for value, allowed, what in (
            (self.optimizer, OPTIMIZERS, "optimizer"),
            (self.schedule, SCHEDULES, "schedule"),
            (self.init, network.INITS, "init"),
        ):
            if value not in allowed:
                raise ScratchnetError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
        for name in ("epochs", "batch_size", "lr_step"):
            if getattr(self, name) < 1 and not (name == "epochs" and self.epochs == 0):
                raise ScratchnetError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "momentum", "lr_decay", "lr_gamma", "weight_decay"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ScratchnetError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        if self.shift < 0:
            raise ScratchnetError(f"--shift must be >= 0 pixels, got {self.shift}")
        if not 0 <= self.seed < 2**63:
            raise ScratchnetError(f"--seed must be a whole number from 0 to 2^63-1, got {self.seed}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: tuple(v) if k == "layers" else v for k, v in values.items() if k in known}
        return cls(**kwargs)


PRESETS: dict[str, dict] = {
    "seed": {},
    # The seed's 784-20-10, trained well: the ToDos of the seed done. Measured 2026-11-28 on this
    # 2-core machine (OPENBLAS_NUM_THREADS=1): test 97.03% after epoch 60 in 38.6 s of training
    # (seed 1: 97.14%, 33.9 s).
    "tuned": dict(
        hidden="relu", output="softmax", loss="cross_entropy", init="he", batch_size=32,
        optimizer="nesterov", lr=0.02, schedule="cosine", epochs=60, shuffle=True, shift=1,
        weight_decay=1e-4,
    ),
    # The strongest plain MLP found that trains in 3 minutes on 2 cores (bench/targets.py).
    # Measured 2026-11-28 on this 2-core machine (default OpenBLAS threads): test 99.19% after
    # epoch 30 in 102.5 s of training (seed 1: 99.16%, 103.9 s); about 3.4-3.6 s an epoch when
    # the machine is quiet.
    "best": dict(
        layers=(784, 800, 800, 10), hidden="relu", output="softmax", loss="cross_entropy", init="he",
        dtype="float32", batch_size=128, optimizer="nesterov", lr=0.2, schedule="cosine",
        epochs=30, shuffle=True, shift=2, weight_decay=2.5e-4,
    ),
}


def resolve(explicit: dict, preset: str | None = None, saved: TrainConfig | None = None) -> TrainConfig:
    """The settings of a run: what the user gave explicitly, over the preset, over the saved
    checkpoint's settings when resuming, over the defaults."""
    if preset is not None and preset not in PRESETS:
        raise ScratchnetError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    values = saved.to_dict() if saved else {}
    values.update(PRESETS.get(preset, {}) if preset else {})
    values.update({k: v for k, v in explicit.items() if v is not None})
    config = TrainConfig.from_dict(values)
    loss_given = explicit.get("loss") is not None
    if not loss_given and config.loss not in ("mse", network.NATURAL_LOSS.get(config.output)):
        config.loss = network.NATURAL_LOSS.get(config.output, config.loss)  # follow --output
    config.check()
    return config

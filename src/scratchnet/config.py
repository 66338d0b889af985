"""Every setting of a training run, its default and the presets: the one place they live.

``TrainConfig()`` is the original program's training (the post this project grew from: README):
784-20-10 sigmoid, uniform(-0.5, 0.5) weights, per-sample SGD at lr 0.005 for 5 epochs over the
training set in file order. The command line takes its
defaults and its help from here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from scratchnet import network, schema
from scratchnet.errors import ScratchnetError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
# the arrays of state each optimizer keeps per parameter (checkpoints save them)
OPTIMIZER_SLOTS = {"sgd": (), "momentum": ("velocity",), "nesterov": ("velocity",), "adam": ("m", "v")}
SCHEDULES = ("constant", "inverse", "step", "cosine")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
# the range of each whole-number setting (scratchnet-c's options have the same)
INT_RANGES = {"epochs": (0, 1_000_000), "batch_size": (1, 10_000_000), "lr_step": (1, 1_000_000),
              "shift": (0, 100), "seed": (0, 2**63 - 1)}
MAX_ELASTIC = 1000.0  # beyond, the digits leave the picture entirely
MAX_ROTATE = 180.0  # degrees: every angle
MAX_SCALE = 0.9  # a stretch factor of 1 - scale stays positive


def setting(default, help: str, choices: tuple[str, ...] | None = None):
    """A field of TrainConfig with the help text and choices the command line shows for it."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    """Everything that decides what training does. The defaults are the original program's."""

    layers: tuple[int, ...] = setting((784, 20, 10), "layer sizes, inputs first, e.g. 784,20,10")
    hidden: str = setting("sigmoid", "activation of the hidden layers", network.HIDDEN_ACTIVATIONS)
    output: str = setting("sigmoid", "activation of the output layer", network.OUTPUT_ACTIVATIONS)
    loss: str = setting("bce", "bce (sigmoid output; its gradient is o - l), cross_entropy "
                        "(softmax output) or mse", network.LOSSES)
    init: str = setting("uniform", "initial weights: uniform(-0.5, 0.5), xavier or he", network.INITS)
    dtype: str = setting("float64", "floating-point type of parameters and arithmetic", network.DTYPES)
    epochs: int = setting(5, "epochs of this run: more, when --params holds a run that ended; a run Ctrl-C "
                          "stopped is finished without it")
    lr: float = setting(0.005, "learning rate")
    batch_size: int = setting(1, "samples per update; 1 updates after every sample")
    optimizer: str = setting("sgd", "update rule", OPTIMIZERS)
    momentum: float = setting(0.9, "momentum coefficient for momentum and nesterov")
    schedule: str = setting("constant", "learning-rate schedule: constant, inverse lr/(1+decay*epoch), "
                            "step, cosine", SCHEDULES)
    lr_decay: float = setting(0.1, "decay of the inverse schedule")
    lr_step: int = setting(10, "epochs between steps of the step schedule")
    lr_gamma: float = setting(0.1, "factor of each step of the step schedule")
    weight_decay: float = setting(0.0, "L2 penalty on the weights (not the biases)")
    shuffle: bool = setting(False, "shuffle the training set each epoch (else file order)")
    shift: int = setting(0, "shift each training image by up to this many pixels, at random")
    elastic: float = setting(0.0, "elastic distortions of the training images (Simard et al. 2003): the "
                             f"displacements' scale alpha, e.g. 34; 0: none; at most {MAX_ELASTIC:g}")
    rotate: float = setting(0.0, "rotate each training image about its centre by a random angle of up to this "
                            f"many degrees, e.g. 15 (Ciresan et al. 2010); 0: none; at most {MAX_ROTATE:g}")
    scale: float = setting(0.0, "stretch each training image's height and width by random factors in "
                           f"[1 - scale, 1 + scale], e.g. 0.15; 0: none; at most {MAX_SCALE:g}")
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
        for name, (low, high) in INT_RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                bound = f"at least {low}" if value < low else f"at most {high}"
                raise ScratchnetError(f"--{name.replace('_', '-')} must be {bound}, got {value}")
        for name in ("lr", "momentum", "lr_decay", "lr_gamma", "weight_decay", "elastic", "rotate", "scale"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ScratchnetError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        for name, most in (("elastic", MAX_ELASTIC), ("rotate", MAX_ROTATE), ("scale", MAX_SCALE)):
            if getattr(self, name) > most:
                raise ScratchnetError(f"--{name} must be at most {most:g}, got {getattr(self, name)}")

    def distorts(self) -> bool:
        """Whether each epoch's training images are warped (elastic, rotate, scale)."""
        return bool(self.elastic or self.rotate or self.scale)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Settings from a dict, e.g. a checkpoint's JSON: known keys only, each of its field's type
        (ranges are check()'s); a missing key takes its default. Raises schema.Invalid naming the key."""
        if isinstance(values, dict) and isinstance(values.get("layers"), tuple):
            values = {**values, "layers": list(values["layers"])}
        checked = _SCHEMA(values)
        return cls(**{k: tuple(v) if k == "layers" else v for k, v in checked.items()})


def _field_check(f: dataclasses.Field) -> schema.Check:
    if f.name == "layers":
        return schema.list_of(schema.integer(1, network.MAX_LAYER_SIZE), 2, network.MAX_LAYERS + 1)
    if f.metadata["choices"]:
        return schema.choice(f.metadata["choices"])
    return {"int": schema.integer(-(2**63), 2**63 - 1), "float": schema.number(), "bool": schema.boolean}[f.type]


# the type of every setting, from TrainConfig's fields
_SCHEMA = schema.record({f.name: schema.Field(_field_check(f), list(f.default) if f.name == "layers" else f.default)
                         for f in dataclasses.fields(TrainConfig)})


PRESETS: dict[str, dict] = {
    "original": {},  # the original program's settings: the defaults
    # The default 784-20-10, trained well: the original program's ToDos done (its accuracy: README,
    # Results, from bench/perf.py).
    "tuned": dict(
        hidden="relu", output="softmax", loss="cross_entropy", init="he", batch_size=32,
        optimizer="nesterov", lr=0.02, schedule="cosine", epochs=60, shuffle=True, shift=1,
        weight_decay=1e-4,
    ),
    # The strongest plain MLP found that trains in about 3 minutes on 2 cores (its accuracy and
    # time: README, Results, from bench/perf.py).
    "best": dict(
        layers=(784, 800, 800, 10), hidden="relu", output="softmax", loss="cross_entropy", init="he",
        dtype="float32", batch_size=128, optimizer="nesterov", lr=0.2, schedule="cosine",
        epochs=30, shuffle=True, shift=2, weight_decay=2.5e-4,
    ),
    # 99% in under a twentieth of best's NumPy time with --engine c on a quiet machine: 784-300-300-10
    # has 26% of best's weights, and 12 epochs are 40% of best's 30, so 10% of its work. Shifts of 1
    # pixel: in so few epochs the harder images of shift 2 cost more than they teach. Seeds 0-2 (C's
    # bits): 99.05, 99.06, 99.09%, the cheapest of the networks tried with every seed at 99.05% or
    # more (they, and its time: docs/PERFORMANCE.md, Records).
    "fast": dict(
        layers=(784, 300, 300, 10), hidden="relu", output="softmax", loss="cross_entropy", init="he",
        dtype="float32", batch_size=128, optimizer="nesterov", lr=0.2, schedule="cosine",
        epochs=12, shuffle=True, shift=1, weight_decay=2.5e-4,
    ),
    # The most accurate MLP found for 10 minutes of training on 2 cores (--engine c): best's network
    # on elastic distortions (Simard et al. 2003, alpha 34; augment.distort_images) instead of
    # shifts, with less L2 since the distortions regularise. 100 epochs: the curve still climbed
    # after 40 (README, Results, from bench/perf.py).
    "accurate": dict(
        layers=(784, 800, 800, 10), hidden="relu", output="softmax", loss="cross_entropy", init="he",
        dtype="float32", batch_size=128, optimizer="nesterov", lr=0.2, schedule="cosine",
        epochs=100, shuffle=True, elastic=34.0, weight_decay=1e-4,
    ),
    # The most accurate MLP found for 30 minutes of training on 2 cores:
    # accurate's recipe with Ciresan et al. 2010's affine distortions on top of the elastic ones
    # (rotations of up to 15 degrees, stretches of up to 15% on each axis) for 200 epochs: 99.46%,
    # the median of seeds 0-2 (99.52, 99.42, 99.46%), in about 14 minutes of training, short of the
    # 99.5% aimed at. It still misclassifies 2.2% of its distorted training images at the end, so the
    # 400 epochs the budget allows (and milder distortions) are the leads: docs/PERFORMANCE.md, Records.
    "record": dict(
        layers=(784, 800, 800, 10), hidden="relu", output="softmax", loss="cross_entropy", init="he",
        dtype="float32", batch_size=128, optimizer="nesterov", lr=0.2, schedule="cosine",
        epochs=200, shuffle=True, elastic=34.0, rotate=15.0, scale=0.15, weight_decay=1e-4,
    ),
}


PRESET_ALIASES = {"seed": "original"}  # the name it had when "seed" meant the original program too


def resolve(explicit: dict, preset: str | None = None, saved: TrainConfig | None = None) -> TrainConfig:
    """The settings of a run: what the user gave explicitly, over the preset, over the saved
    checkpoint's settings when resuming, over the defaults."""
    preset = PRESET_ALIASES.get(preset, preset)
    if preset is not None and preset not in PRESETS:
        raise ScratchnetError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    values = saved.to_dict() if saved else {}
    values.update(PRESETS.get(preset, {}) if preset else {})
    values.update({k: v for k, v in explicit.items() if v is not None})
    try:
        config = TrainConfig.from_dict(values)
    except schema.Invalid as e:  # a value given on the command line: name its option
        raise ScratchnetError(f"--{e.field.replace('_', '-')} {e.problem}") from None
    loss_given = explicit.get("loss") is not None
    if not loss_given and config.loss not in ("mse", network.NATURAL_LOSS.get(config.output)):
        config.loss = network.NATURAL_LOSS.get(config.output, config.loss)  # follow --output
    config.check()
    return config

#!/usr/bin/env python3
"""Write the reference the C tests check the C engine against (csrc/tests_math.c), as llm.c's
test_gpt2 does: what the NumPy engine computes, tensor by tensor, for every setting.

    PYTHONPATH=src python tests/make_reference.py csrc/reference.txt   (`make -C csrc test` runs it)

For each case (every hidden activation with every output and loss, every optimizer with and
without weight decay, per-sample and mini-batch steps, a first layer wide enough for the C
engine's other gradient path, a network big enough for its threads; each in float64 and float32):
the images, labels and sample order, the initial parameters, every layer's activations and the
logits of a forward pass over all the images, their mean loss and its gradients, and the
parameters, mean loss and accuracy after one epoch of numpy_engine.train_epoch. Then the learning rate of
every schedule (optim.learning_rate) and sums in np.sum's order.

The file is text: one record a line, `NAME COUNT VALUE...`, floats as exact hex (float.hex), except
`case LABEL BITS` opening a case and `end 0` closing it. Settings are the codes of the C enums
(cengine's tables).
"""

from __future__ import annotations

import copy
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from scratchnet import cengine, data, numpy_engine, optim
from scratchnet.config import SCHEDULES, TrainConfig
from scratchnet.network import Network

SIZES = (12, 5, 4, 3)
SAMPLES = 7


def number(x) -> str:
    value = float(x)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else value.hex()


def record(name: str, values) -> str:
    values = np.ravel(np.asarray(values))
    return " ".join([name, str(values.size), *map(number, values)])


def cases() -> Iterator[tuple[str, dict]]:
    """(label, settings): what each case trains; unnamed settings are TrainConfig's."""
    natural = {"sigmoid": "bce", "softmax": "cross_entropy"}
    for hidden in ("sigmoid", "tanh", "relu"):
        for output in ("sigmoid", "softmax"):
            for loss in (natural[output], "mse"):
                yield f"{hidden}-{output}-{loss}", {"hidden": hidden, "output": output, "loss": loss,
                                                    "batch_size": 3, "lr": 0.3}
    for optimizer in ("sgd", "momentum", "nesterov", "adam"):
        for decay in (0.0, 0.01):
            yield f"{optimizer}-decay{decay:g}", {"hidden": "tanh", "output": "softmax", "loss": "cross_entropy",
                                                  "optimizer": optimizer, "weight_decay": decay, "batch_size": 3,
                                                  "lr": 0.01 if optimizer == "adam" else 0.2}
    yield "per-sample-original", {"batch_size": 1, "lr": 0.5}  # the original program's loop: sigmoid, bce, plain SGD
    yield "per-sample-momentum-decay", {"hidden": "relu", "loss": "mse", "optimizer": "momentum",
                                        "weight_decay": 0.01, "batch_size": 1, "lr": 0.1}
    yield "wide-first-layer", {"layers": (12, 160, 3), "hidden": "relu", "output": "softmax",
                               "loss": "cross_entropy", "optimizer": "nesterov", "batch_size": 3, "lr": 0.1}
    yield "threaded", {"layers": (64, 64, 100, 10), "hidden": "relu", "output": "softmax", "loss": "cross_entropy",
                       "optimizer": "momentum", "weight_decay": 1e-3, "batch_size": 50, "lr": 0.05, "samples": 60}


def case_records(label: str, settings: dict, dtype: str, rng: np.random.Generator) -> Iterator[str]:
    samples = settings.pop("samples", SAMPLES)
    cfg = TrainConfig(**{"layers": SIZES, **settings, "dtype": dtype})
    sizes = cfg.layers
    # images with a third of their pixels zero, as MNIST's are mostly: the sparse paths see both
    images = np.where(rng.random((samples, sizes[0])) < 0.35, 0, rng.integers(1, 256, (samples, sizes[0])))
    images = images.astype(np.uint8)
    labels = rng.integers(0, sizes[-1], samples).astype(np.uint8)
    order = rng.permutation(samples)
    weights = [rng.uniform(-0.8, 0.8, (a, b)).astype(dtype) for a, b in itertools.pairwise(sizes)]
    biases = [rng.uniform(-0.4, 0.4, b).astype(dtype) for b in sizes[1:]]
    net = Network(sizes, cfg.hidden, cfg.output, weights, biases)
    codes = [cengine.ACTIVATION_CODES[cfg.hidden], cengine.ACTIVATION_CODES[cfg.output],
             cengine.LOSS_CODES[cfg.loss], cengine.OPTIMIZER_CODES[cfg.optimizer], cfg.momentum, cfg.weight_decay,
             cfg.batch_size, cfg.lr]
    yield f"case {label} {np.dtype(dtype).itemsize * 8}"
    yield record("sizes", sizes)
    yield record("setting", codes)  # hidden output loss optimizer momentum weight_decay batch_size lr
    yield record("images", images)
    yield record("labels", labels)
    yield record("order", order)
    for layer in range(net.n_layers):
        yield record(f"w{layer}", weights[layer])
        yield record(f"b{layer}", biases[layer])
    x = data.inputs(images, dtype)
    targets = data.one_hot(labels, sizes[-1], dtype)
    with np.errstate(over="ignore"):
        activations, logits = net.forward(x)
    for layer in range(1, net.n_layers + 1):
        yield record(f"act{layer}", activations[layer])
    yield record("logits", logits)
    yield record("loss", net.loss(x, targets, cfg.loss))
    grads_w, grads_b = net.gradients(x, targets, cfg.loss)
    for layer in range(net.n_layers):
        yield record(f"grad_w{layer}", grads_w[layer])
        yield record(f"grad_b{layer}", grads_b[layer])
    stepped = copy.deepcopy(net)
    optimizer = optim.Optimizer(cfg, stepped)
    loss, accuracy = numpy_engine.train_epoch(stepped, optimizer, cfg, images, labels, order, cfg.lr)
    for layer in range(net.n_layers):
        yield record(f"step_w{layer}", stepped.weights[layer])
        yield record(f"step_b{layer}", stepped.biases[layer])
    yield record("step_loss", loss)
    yield record("step_accuracy", accuracy)
    yield record("step_steps", optimizer.steps)
    yield "end 0"


def rate_records() -> Iterator[str]:
    """`rate 8 schedule lr decay step gamma epoch total expected`, from optim.learning_rate."""
    for schedule in SCHEDULES:
        for lr, decay, step, gamma in ((0.005, 0.1, 10, 0.1), (0.2, 0.37, 3, 0.5), (0.001, 2.5, 1, 0.9)):
            cfg = TrainConfig(schedule=schedule, lr=lr, lr_decay=decay, lr_step=step, lr_gamma=gamma)
            for epoch, total in ((0, 1), (0, 5), (1, 5), (4, 5), (7, 60), (29, 30), (59, 60), (100, 100), (3, 0)):
                yield record("rate", [cengine.SCHEDULE_CODES[schedule], lr, decay, step, gamma, epoch, total,
                                      optim.learning_rate(cfg, epoch, total)])


def sum_records(rng: np.random.Generator) -> Iterator[str]:
    """`sum COUNT BITS EXPECTED VALUE...`: np.sum of the values, pairwise in blocks of 128."""
    tiny = [1.0] + [1e-16] * 9 + [3.0, -1.0, 2.5e-17, 7.0, 1e-3, -2.0, 0.1, 0.2, 0.3, 1e-16]  # order matters
    for dtype in (np.float64, np.float32):
        for values in [tiny] + [rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n) for n in
                                (1, 7, 8, 9, 127, 128, 129, 300, 1000)]:
            values = np.asarray(values, dtype=dtype)
            yield record("sum", [np.dtype(dtype).itemsize * 8, values.sum(), *values])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUTPUT", file=sys.stderr)
        return 2
    rng = np.random.default_rng(20261128)
    lines = ["scratchnet-reference 1", "# written by tests/make_reference.py from the NumPy engine; do not edit"]
    for dtype in ("float64", "float32"):
        for label, settings in cases():
            lines += case_records(label, settings, dtype, rng)
    lines += rate_records()
    lines += sum_records(rng)
    Path(argv[1]).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

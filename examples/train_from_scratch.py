"""The textbook training loop, once, plainly: read this file first.

    python examples/train_from_scratch.py

MNIST -> forward pass -> output error -> backpropagation -> update, with scratchnet's own pieces:
``Network`` (src/scratchnet/network.py: the forward and backward passes in a page) and ``Optimizer``
(optim.py: SGD with momentum here). A 784-64-10 network in mini-batches of 32 reaches 95% on the
test set after one epoch and about 96.5% after the two it trains (`python examples/train_from_scratch.py 5`
trains five), in well under a minute on a quiet 2-core machine. ``scratchnet train`` runs this same loop with more
around it (checkpoints, resuming, presets, the C engine); its default is the original program's
per-sample order, which docs/LEARN.md follows step by step.
"""

import sys
import time

import numpy as np

import scratchnet
from scratchnet import network
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import TrainConfig
from scratchnet.data import inputs
from scratchnet.optim import Optimizer

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 2

data = scratchnet.datasets.mnist()  # uint8 images (n, 28, 28) and labels (n,)
x_train, x_test = inputs(data.train_images), inputs(data.test_images)  # (n, 784) in [0, 1]
targets = np.eye(10)[data.train_labels]  # one-hot (60000, 10): 1 at the label, 0 elsewhere

config = TrainConfig(layers=(784, 64, 10), hidden="sigmoid", output="softmax", loss="cross_entropy",
                     init="xavier", batch_size=32, optimizer="momentum", momentum=0.9, lr=0.1)
rng = np.random.default_rng(0)
net = network.create(config.layers, config.hidden, config.output, config.init, config.dtype, rng)
optimizer = Optimizer(config, net)

for epoch in range(1, EPOCHS + 1):
    began = time.perf_counter()
    order = rng.permutation(len(x_train))  # a new order every epoch
    for start in range(0, len(order), config.batch_size):
        batch = order[start : start + config.batch_size]
        # forward: every layer's activations, the inputs first and the outputs o last
        activations, logits = net.forward(x_train[batch])
        # output error dL/dz: o - l for softmax with cross-entropy
        delta = network.output_delta(config.loss, net.output, activations[-1], targets[batch])
        # backward: the error sent back layer by layer, and each layer's dL/dw = a.T @ delta, dL/db
        grad_weights, grad_biases = net.backward(activations, delta)
        # update: v <- 0.9 v - lr * g, w <- w + v
        optimizer.update(net, grad_weights, grad_biases, config.lr)
    seconds = time.perf_counter() - began
    accuracy = (net.predict(x_test).argmax(axis=1) == data.test_labels).mean()
    print(f"epoch {epoch}: test accuracy {accuracy:.2%} ({seconds:.1f} s)")

scratchnet.Model(Checkpoint(net, config, epochs_done=EPOCHS)).save("from_scratch.npz")
print("saved from_scratch.npz: scratchnet evaluate -p from_scratch.npz, scratchnet serve -p from_scratch.npz")

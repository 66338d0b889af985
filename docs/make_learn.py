"""Write docs/LEARN.md and its pictures (docs/learn/) from real runs of scratchnet.

    python docs/make_learn.py                 # the step on a new network, the dreams of two trained ones
    python docs/make_learn.py --engine numpy  # train with NumPy where the C engine is not built

Every number in LEARN.md is filled in here from ``scratchnet.learn``. The step is the first one the
original program takes (a new 784-20-10, seed 0, training image 0). The dreams and explanations
come from ``--preset tuned`` (seed 0), judged by ``--preset fast`` trained with seed 1: networks
trained here, a few minutes with the C engine (kept in --cache, so a rerun does not train again).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
import scratchnet
from scratchnet import learn, run
from scratchnet.data import load_dataset

OUTPUT = REPO / "docs" / "LEARN.md"
PICTURES = REPO / "docs" / "learn"
INDEX = 0  # training image 0, a 5: the first the original program learns from
REPEATS = 10


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, name: str) -> str:
    fig.savefig(PICTURES / name, dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return f"learn/{name}"


def _bars(ax, values, title, highlight=None, colour="#3a96f0"):
    colours = [("#f7941d" if v > 0 else "#3a96f0") if highlight is None else
               ("#f7941d" if i == highlight else colour) for i, v in enumerate(values)]
    ax.bar(range(len(values)), values, color=colours)
    ax.set_xticks(range(len(values)))
    ax.set_title(title, fontsize=10)
    ax.axhline(0, color="black", lw=0.5)


def _tile(ax, values, title, diverging=True):
    limit = np.abs(values).max() or 1
    ax.imshow(values.reshape(28, 28), cmap="PuOr_r" if diverging else "gray", vmin=-limit if diverging else 0,
              vmax=limit if diverging else 1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _f(x: float) -> str:
    return f"{x:.5g}"


def step_section(mnist) -> dict:
    plt = _pyplot()
    ckpt = run.start("unused.npz", {})  # the original program's new network: seed 0
    image, label = mnist.train_images[INDEX], int(mnist.train_labels[INDEX])
    s = learn.step(ckpt, image, label)
    net = s.before
    values: dict = {"label": label, "lr": s.lr, "loss": _f(s.loss), "loss_after": _f(s.loss_after)}

    fig, axes = plt.subplots(1, 3, figsize=(11, 2.6), gridspec_kw={"width_ratios": [1, 2.2, 2.2]})
    _tile(axes[0], s.activations[0], f"training image {INDEX}: a {label}", diverging=False)
    _bars(axes[1], s.outputs, "outputs o before the step (target: 1 at the label)", highlight=label)
    _bars(axes[2], s.errors[-1], "output error  delta = o - l")
    values["forward_png"] = _save(fig, "forward.png")

    hidden = s.errors[0]
    top = np.argsort(-np.abs(hidden))[:3]
    fig, axes = plt.subplots(1, 4, figsize=(11, 2.6), gridspec_kw={"width_ratios": [2.4, 1, 1, 1]})
    _bars(axes[0], hidden, "hidden errors delta_j (20 neurons)")
    for ax, j in zip(axes[1:], top):
        _tile(ax, s.grad_weights[0][:, j], f"dL/dw into neuron {j}\n= x * delta_{j}")
    values["backward_png"] = _save(fig, "backward.png")

    j = int(top[0])
    k = int(np.argmax(np.abs(s.errors[-1])))
    values.update(j=j, k=k, delta_k=_f(s.errors[-1][k]), o_k=_f(s.outputs[k]), a_j=_f(s.activations[1][j]),
                  g_jk=_f(s.grad_weights[1][j, k]), w_jk=_f(net.weights[1][j, k]),
                  w_jk_after=_f(s.after.weights[1][j, k]), delta_j=_f(hidden[j]),
                  sent_back=_f(float(s.after.weights[1][j] @ s.errors[-1])),
                  textbook_delta_j=_f(float(net.weights[1][j] @ s.errors[-1]) * s.activations[1][j]
                                      * (1 - s.activations[1][j])),
                  slope=_f(float(s.activations[1][j] * (1 - s.activations[1][j]))),
                  target_k=int(s.target[k]), z_k=_f(s.zs[-1][k]), b_k=_f(net.biases[1][k]),
                  b_k_after=_f(s.after.biases[1][k]))
    pixel = int(np.flatnonzero(s.activations[0])[len(np.flatnonzero(s.activations[0])) // 2])
    values.update(pixel=pixel, x_pixel=_f(s.activations[0][pixel]), g_pixel=_f(s.grad_weights[0][pixel, j]),
                  w_pixel=_f(net.weights[0][pixel, j]), w_pixel_after=_f(s.after.weights[0][pixel, j]),
                  changed=int(sum(np.count_nonzero(c) for c in s.weight_changes)),
                  weights=int(sum(w.size for w in net.weights)), nonzero=int(np.count_nonzero(s.activations[0])))

    model = scratchnet.Model(ckpt)
    climb = [s.outputs[label]] + [model.step(image, label, apply=True).outputs_after[label] for _ in range(REPEATS)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.6))
    _bars(axes[0], s.outputs_after - s.outputs, "what one step did to each output", highlight=label)
    axes[1].plot(range(REPEATS + 1), climb, marker="o", color="#f7941d")
    axes[1].set_title(f"output {label} over {REPEATS} steps on the same image", fontsize=10)
    axes[1].set_xlabel("steps")
    values["after_png"] = _save(fig, "after.png")
    values.update(o_label=_f(s.outputs[label]), o_label_after=_f(s.outputs_after[label]),
                  o_label_10=_f(climb[-1]), prediction=int(s.outputs.argmax()), top_output=_f(s.outputs.max()),
                  prediction_after=int(s.outputs_after.argmax()))
    return values


def _trained(cache: Path, name: str, engine: str, **settings) -> scratchnet.Model:
    path = cache / f"{name}.npz"
    if path.exists():
        return scratchnet.load(path)
    print(f"training {name} ({settings}) ...", flush=True)
    return scratchnet.fit(params=path, engine=engine, **settings)


def dream_section(mnist, cache: Path, engine: str) -> dict:
    plt = _pyplot()
    tuned = _trained(cache, "tuned", engine, preset="tuned")
    judge = _trained(cache, "fast-seed1", engine, preset="fast", seed=1)
    dreams = [tuned.dream(d) for d in range(10)]
    pictures = np.array([np.round(d.image * 255).astype(np.uint8).reshape(28, 28) for d in dreams])
    judged = judge.predict(pictures)
    fig, axes = plt.subplots(1, 10, figsize=(12, 1.9))
    for d, ax in enumerate(axes):
        _tile(ax, dreams[d].image, f"{d}: read as {judged[d]}", diverging=False)
    values = {"dreams_png": _save(fig, "dreams.png"), "recognised": int((judged == np.arange(10)).sum()),
              "misread": ", ".join(f"{d} as {judged[d]}" for d in range(10) if judged[d] != d) or "none",
              "tuned_accuracy": f"{100 * tuned.score(mnist.test_images, mnist.test_labels):.2f}%",
              "judge_accuracy": f"{100 * judge.score(mnist.test_images, mnist.test_labels):.2f}%"}

    index = 0
    e = tuned.explain(mnist.test_images[index])
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), gridspec_kw={"width_ratios": [1, 1, 2.4]})
    _tile(axes[0], e.inputs, f"test image {index}", diverging=False)
    _tile(axes[1], e.pixel_contributions, f"x * dz/dx for output {e.digit}")
    _bars(axes[2], e.hidden_contributions, f"w * a of the 20 hidden neurons into output {e.digit}")
    values.update(explain_png=_save(fig, "explain.png"), e_digit=e.digit, e_logit=_f(e.logit),
                  e_sum=_f(e.hidden_contributions.sum()), e_bias=f"{'+' if e.bias >= 0 else '-'} {_f(abs(e.bias))}",
                  e_top=int(e.ranking[0]),
                  e_top_value=_f(e.hidden_contributions[e.ranking[0]]))
    return values


TEMPLATE = """\
# Watch it learn: one training step, number by number

This page follows one digit through one training step of the network the original program trains
(784 inputs, 20 sigmoid hidden neurons, 10 sigmoid outputs), with the real numbers. It needs no
more than the chain rule. Every number and picture here is made by `python docs/make_learn.py`
from `scratchnet.learn`; `scratchnet step {index}` prints the same step in your terminal, and the
explorer (`scratchnet serve`, the Learn panel) lets you hover every neuron and weight of it.

## 1. Forward: what the network thinks now

The network is new: its weights are drawn from uniform(-0.5, 0.5), its biases are 0 (seed 0). The
image is training image {index}, a {label}: 784 pixels, each divided by 255, so x is in [0, 1].
Each layer computes, for every neuron j, `z_j = sum_i a_i * w[i->j] + b_j` and then
`a_j = sigmoid(z_j) = 1 / (1 + e^-z_j)`; the first layer's a_i are the pixels.

![Forward pass]({forward_png})

A new network knows nothing: its outputs are whatever its random weights make of the picture
(the largest, {top_output}, is output {prediction}, its answer; the label's is {o_label}).

## 2. The loss: how wrong

The target l is 1 for the label and 0 elsewhere. The loss is binary cross-entropy summed over the
outputs, `L = -sum_k [l_k log o_k + (1 - l_k) log(1 - o_k)]`; here L = {loss}. It is small when each
output is near its target.

## 3. The output error

Backpropagation's central quantity is a neuron's **error** `delta = dL/dz`: how much the loss
changes when that neuron's z moves. For a sigmoid output with this loss the calculus collapses to
`delta_k = o_k - l_k` (that is why the two are paired; the right pane above). Output {k} has the
largest error: `delta_{k} = o_{k} - l_{k} = {o_k} - {target_k} = {delta_k}`.

## 4. The error sent back

A hidden neuron j fed every output, so its error collects theirs, each through the weight that
connects them, times the slope of its own sigmoid:
`delta_j = (sum_k w[j->k] * delta_k) * a_j * (1 - a_j)`. For neuron {j}: the sum is {sent_back},
the slope {slope}, so `delta_{j} = {delta_j}`.

One detail of the original program, which scratchnet keeps as its default: it updates the output
layer's weights first and sends the error back through the **updated** weights. The textbook
uses the old ones, which would give `delta_{j} = {textbook_delta_j}` here: with one sample at a time
and a small learning rate the two are close. (`--batch-size` above 1, or another optimizer, takes
the textbook's order.)

## 5. Gradients

A weight's gradient is the error of the neuron it feeds times the activation it carries:
`dL/dw[i->j] = a_i * delta_j`, and a bias's is `delta_j` itself. For the output weight from
hidden neuron {j} to output {k}: `dL/dw = a_{j} * delta_{k} = {a_j} * {delta_k} = {g_jk}`.

So the gradient of all 784 weights into a hidden neuron is the image itself, scaled by that
neuron's error (the tiles below): a dark pixel (x = 0) gets no gradient, and only
{nonzero} of the 784 pixels of this image are lit. That is why the per-sample step reads and
updates only those rows of the first layer.

![Hidden errors and the gradients they make]({backward_png})

## 6. The update

Each parameter moves against its gradient, by the learning rate lr = {lr}:
`w <- w - lr * dL/dw`. The output weight above: `w = {w_jk} - {lr} * {g_jk} = {w_jk_after}`. The bias of
output {k}: `b = {b_k} - {lr} * {delta_k} = {b_k_after}`. A first-layer weight, from pixel {pixel}
(x = {x_pixel}) into neuron {j}: `w = {w_pixel} - {lr} * {g_pixel} = {w_pixel_after}`. In all, this
step changed {changed} of the {weights} weights.

## 7. Forward again

The same image through the updated network: output {label} went from {o_label} to {o_label_after},
and the loss from {loss} to {loss_after}. Each output moved toward its target (left). Repeat the
step on the same image and output {label} keeps climbing: {o_label_10} after {repeats} steps
(right). Training is this step, repeated over 60,000 images for 5 epochs.

![After the step]({after_png})

## Why this answer

`scratchnet explain` (and the explorer's "Why this answer") asks the reverse question of a
trained network (`--preset tuned`, {tuned_accuracy} on the test set): which pixels and which
hidden neurons made output {e_digit} what it is? The last layer splits z exactly:
`z = sum_j w[j->{e_digit}] * a_j + b`; here {e_sum} {e_bias} = {e_logit}, and hidden neuron
{e_top} gives the most ({e_top_value}). For the pixels it shows **input times gradient**,
`x_i * dz/dx_i`: how much z would lose, to first order, if pixel i went dark. Orange pixels raised
z, purple ones lowered it. It is a local, linear reading: it does not say what the network would
do with another picture, and pixels that are dark contribute nothing by definition, even when
ink there would change the answer.

![Why this answer]({explain_png})

## What it imagines

`scratchnet dream D` runs the network backwards: it starts from a blank picture and moves the
pixels, 200 steps of gradient ascent, to raise `log softmax(z)[D]`, so that D wins. Left alone,
the ascent finds speckles that only this network reads as D, so the picture is kept smooth (it
is a blur of free variables), in [0, 1] and near the centre, where MNIST's digits are. The dreams
of the tuned network below were shown to a network trained separately (`--preset fast`, seed 1,
{judge_accuracy}): it read **{recognised} of the 10** as the digit dreamt (misread: {misread}).

![Dreams]({dreams_png})

They are what excites each output most, not typical digits: blobs where the strokes of a D
usually are, and darkness where other digits have ink.

## Next

- [examples/](../examples/) and the [Python API](API.md): `model.step`, `model.explain`, `model.dream`.
- [The explorer](explorer/README.md): the same step on your own drawing, every number under the pointer.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="c", help="engine to train the dreamers with (default: c)")
    parser.add_argument("--cache", default=str(REPO / "build" / "learn"), help="where trained networks are kept")
    args = parser.parse_args()
    PICTURES.mkdir(exist_ok=True)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    mnist = load_dataset(REPO / "data" / "mnist")
    values = {"index": INDEX, "repeats": REPEATS, **step_section(mnist), **dream_section(mnist, cache, args.engine)}
    pictures = {k: v for k, v in values.items() if k.endswith("_png")}
    text = TEMPLATE.format(**values)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT} and {len(pictures)} pictures in {PICTURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

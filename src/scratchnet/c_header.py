"""A network as one self-contained C99 header, for a microcontroller or any C program.

    #include "network.h"                     (in one .c file: it defines the function)
    float input[SCRATCHNET_INPUTS];          pixels scaled to [0, 1], row-major: pixel / 255
    float output[SCRATCHNET_OUTPUTS];
    int digit = scratchnet_predict(input, output);

The weights are ``static const`` arrays (flash on a microcontroller), one row per neuron so that each
neuron's sum reads its weights in order; the function keeps two buffers of the widest hidden layer on
the stack, calls no malloc, and needs libm only for the activations (expf for sigmoid and softmax,
tanhf for tanh; nothing for relu). ``double`` throughout for float64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from scratchnet.errors import ScratchnetError
from scratchnet.network import Network
from scratchnet.version import __version__

C_TYPES = {"float32": "float", "float64": "double"}
PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,30}")  # a C identifier, short enough for any linker
DEFAULT_PREFIX = "scratchnet"


@dataclass(frozen=True)
class Footprint:
    """What the header costs a microcontroller, in bytes (code aside: a few hundred bytes)."""

    flash: int  # the weights and biases, static const
    stack: int  # scratchnet_predict's buffers for the hidden layers' activations
    input: int  # the caller's input array
    output: int  # the caller's output array

    def describe(self) -> str:
        return (f"{self.flash:,} bytes of flash for the weights and biases; {self.stack:,} bytes of stack for the "
                f"hidden layers, plus the caller's input ({self.input:,} bytes) and output ({self.output:,})")


def _buffers(net: Network) -> int:
    """How many hidden-layer buffers the function needs: layer l reads one and writes the other."""
    return min(2, net.n_layers - 1)


def footprint(net: Network, dtype: str = "float32") -> Footprint:
    size = np.dtype(dtype).itemsize
    parameters = sum(w.size + b.size for w, b in zip(net.weights, net.biases))
    widest = max(net.sizes[1:-1], default=0)
    return Footprint(parameters * size, _buffers(net) * widest * size, net.sizes[0] * size, net.sizes[-1] * size)


def _numbers(values: np.ndarray, suffix: str) -> str:
    """Each value as the shortest decimal that the compiler rounds back to the same float or double."""
    return ", ".join(f"{v!s}{suffix}" if "." in str(v) or "e" in str(v) else f"{v!s}.0{suffix}" for v in values)


def header(net: Network, dtype: str = "float32", prefix: str = DEFAULT_PREFIX) -> str:
    """The header's text: ``int PREFIX_predict(const T *input, T *output)``, T float (float32) or double."""
    if dtype not in C_TYPES:
        raise ScratchnetError(f"unknown C dtype {dtype!r}: choose one of {', '.join(C_TYPES)}")
    if not PREFIX.fullmatch(prefix):
        raise ScratchnetError(f"--prefix {prefix[:40]!r} is not a C identifier of at most 31 characters "
                              "(letters, digits and _, not starting with a digit)")
    c_type, suffix = C_TYPES[dtype], "f" if dtype == "float32" else ""
    weights = [w.astype(dtype) for w in net.weights]
    biases = [b.astype(dtype) for b in net.biases]
    if not all(np.isfinite(a).all() for a in weights + biases):
        raise ScratchnetError(f"the network's parameters do not fit {dtype}: export it with --c-dtype float64")
    math = "f" if dtype == "float32" else ""  # expf or exp, tanhf or tanh
    guard = f"{prefix.upper()}_H"
    fp = footprint(net, dtype)
    lines = [
        f"/* {prefix}: a {net.describe()} network as C99 ({c_type}), written by scratchnet {__version__}.",
        f" * {fp.describe()}.",
        f" * Include it in one .c file: it defines {prefix}_predict. Input: {net.sizes[0]} pixels scaled to [0, 1]. */",
        f"#ifndef {guard}", f"#define {guard}", "",
    ]
    activations = {net.output} | ({net.hidden} if net.n_layers > 1 else set())
    if activations & {"sigmoid", "softmax", "tanh"}:
        lines += ["#include <math.h>", ""]
    lines += [f"#define {prefix.upper()}_INPUTS {net.sizes[0]}", f"#define {prefix.upper()}_OUTPUTS {net.sizes[-1]}", ""]
    for layer, (w, b) in enumerate(zip(weights, biases), start=1):
        n_in, n_out = w.shape
        rows = ",\n    ".join("{" + _numbers(w[:, j], suffix) + "}" for j in range(n_out))
        lines += [f"/* layer {layer}: {n_in} inputs, {n_out} neurons; row j holds neuron j's weights */",
                  f"static const {c_type} {prefix}_weights_{layer}[{n_out}][{n_in}] = {{\n    {rows}\n}};",
                  f"static const {c_type} {prefix}_biases_{layer}[{n_out}] = {{{_numbers(b, suffix)}}};", ""]
    lines += [
        "/* out[j] = biases[j] + the sum over i of weights[j][i] * in[i] */",
        f"static void {prefix}_dense_(const {c_type} *in, int n_in, const {c_type} *weights, const {c_type} *biases,",
        f"                            {c_type} *out, int n_out)",
        "{", "    int i, j;", "    for (j = 0; j < n_out; j++) {",
        f"        {c_type} z = 0;",
        "        for (i = 0; i < n_in; i++)", "            z += weights[j * n_in + i] * in[i];",
        "        out[j] = biases[j] + z;", "    }", "}", "",
    ]
    bodies = {
        "sigmoid": [f"        a[i] = 1 / (1 + exp{math}(-a[i]));"],
        "tanh": [f"        a[i] = tanh{math}(a[i]);"],
        "relu": ["        if (!(a[i] > 0))", "            a[i] = 0;"],
    }
    for name in sorted(activations - {"softmax"}):
        lines += [f"static void {prefix}_{name}_({c_type} *a, int n)", "{", "    int i;", "    for (i = 0; i < n; i++)",
                  *bodies[name], "}", ""]
    if "softmax" in activations:
        lines += [f"static void {prefix}_softmax_({c_type} *a, int n)", "{", "    int i;",
                  f"    {c_type} top = a[0], sum = 0;", "    for (i = 1; i < n; i++)", "        if (a[i] > top)",
                  "            top = a[i];", "    for (i = 0; i < n; i++) {", f"        a[i] = exp{math}(a[i] - top);",
                  "        sum += a[i];", "    }", "    for (i = 0; i < n; i++)", "        a[i] /= sum;", "}", ""]
    widest = max(net.sizes[1:-1], default=0)
    body = [f"int {prefix}_predict(const {c_type} *input, {c_type} *output);", "",
            f"/* Fills output with the network's {net.sizes[-1]} outputs and returns the class of the largest. */",
            f"int {prefix}_predict(const {c_type} *input, {c_type} *output)", "{"]
    if _buffers(net):
        body.append(f"    {c_type} hidden[{_buffers(net)}][{widest}];")
    body += ["    int j, best = 0;"]
    for layer in range(1, net.n_layers + 1):
        source = "input" if layer == 1 else f"hidden[{(layer - 2) % 2}]"
        target = "output" if layer == net.n_layers else f"hidden[{(layer - 1) % 2}]"
        n_in, n_out = net.sizes[layer - 1], net.sizes[layer]
        activation = net.output if layer == net.n_layers else net.hidden
        body += [f"    {prefix}_dense_({source}, {n_in}, &{prefix}_weights_{layer}[0][0], {prefix}_biases_{layer}, "
                 f"{target}, {n_out});", f"    {prefix}_{activation}_({target}, {n_out});"]
    body += [f"    for (j = 1; j < {net.sizes[-1]}; j++)", "        if (output[j] > output[best])",
             "            best = j;", "    return best;", "}", "", f"#endif /* {guard} */", ""]
    return "\n".join(lines + body)

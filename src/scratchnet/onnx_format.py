"""ONNX models (https://onnx.ai): a scratchnet network written as one, and fully connected ones read back.

Written: input ``input`` (batch, sizes[0]) of pixels in [0, 1], then per layer a Gemm node ``layerL``
(initializers ``layerL.weight`` (n_in, n_out), ``layerL.bias``) and its activation node, ending at output
``output`` (batch, sizes[-1]); opset 17, float32 or float64, checked by onnx.checker. Read: the shapes
PyTorch's and Keras's exporters give an MLP: an optional leading Flatten or Reshape, then layers of MatMul
(+ Add) or Gemm, each followed by Sigmoid, Tanh, Relu or Softmax; a graph that ends at the last layer's
logits reads as a softmax output, with a note saying so. Anything else is refused naming the first node
it cannot read. Tensors stored outside the file (external data) are refused, never opened.

Needs the ``onnx`` package: pip install 'scratchnet[onnx]'.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchnet import files
from scratchnet.errors import ScratchnetError
from scratchnet.network import HIDDEN_ACTIVATIONS, MAX_PARAMETERS, Network, check_sizes
from scratchnet.textformat import MAX_EPOCHS, WHOLE, Parameters
from scratchnet.version import __version__

OPSET = 17
IR_VERSION = 8  # opset 17's: onnxruntimes from 1.13 on run it
MAX_BYTES = 2**31 - 1  # protobuf's limit on one message: no .onnx file without external data is larger
ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Softmax": "softmax"}
OPERATORS = {name: op for op, name in ACTIVATIONS.items()}
EPOCHS_KEY = "scratchnet.epochs"  # in the model's metadata_props
READS = "MatMul, Add, Gemm, Sigmoid, Tanh, Relu, Softmax, and a leading Flatten or Reshape"


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ScratchnetError(".onnx files need the onnx package: pip install 'scratchnet[onnx]'") from None
    return onnx


def write(net: Network, epochs_done: int = 0, history: list[dict] | None = None) -> bytes:
    """The network as an .onnx file's bytes (``history`` is not kept: a checkpoint's)."""
    onnx = _onnx()
    from onnx import helper, numpy_helper

    elem = helper.np_dtype_to_tensor_dtype(net.dtype)
    nodes, initializers = [], []
    flowing = "input"
    for layer, (weights, biases) in enumerate(zip(net.weights, net.biases), start=1):
        name = f"layer{layer}"
        initializers += [numpy_helper.from_array(weights, f"{name}.weight"),
                         numpy_helper.from_array(biases, f"{name}.bias")]
        nodes.append(helper.make_node("Gemm", [flowing, f"{name}.weight", f"{name}.bias"], [f"{name}.z"], name=name))
        activation = net.output if layer == net.n_layers else net.hidden
        flowing = "output" if layer == net.n_layers else f"{name}.a"
        nodes.append(helper.make_node(OPERATORS[activation], [f"{name}.z"], [flowing], name=f"{name}.{activation}",
                                      **({"axis": -1} if activation == "softmax" else {})))
    graph = helper.make_graph(
        nodes, "scratchnet", [helper.make_tensor_value_info("input", elem, ["batch", net.sizes[0]])],
        [helper.make_tensor_value_info("output", elem, ["batch", net.sizes[-1]])], initializers,
        doc_string=f"scratchnet {net.describe()}: input pixels scaled to [0, 1] (x / 255), row-major")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="scratchnet", producer_version=__version__)
    helper.set_model_props(model, {EPOCHS_KEY: str(epochs_done)})
    if model.ByteSize() > MAX_BYTES:
        raise ScratchnetError(f"a {net.describe()} network takes {model.ByteSize():,} bytes as ONNX, more than the "
                              f"{MAX_BYTES:,} one ONNX file holds: export it as .safetensors or .npz")
    onnx.checker.check_model(model)
    return model.SerializeToString()


@dataclass
class _Layer:
    node: str  # the node that made its weights, as messages name it
    weights: np.ndarray  # (n_in, n_out)
    biases: np.ndarray | None = None
    activation: str | None = None


def read(path: str | os.PathLike) -> Parameters:
    """A fully connected network from an .onnx file; any problem is a one-line ScratchnetError naming it."""
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    path = Path(path)

    def bad(problem: str) -> ScratchnetError:
        return ScratchnetError(f"{path}: {problem}")

    with files.open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_BYTES:
            raise bad(f"{size:,} bytes, more than the {MAX_BYTES:,} an ONNX file can hold")
        data = f.read()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)  # never load_model: it would follow external data's paths
    except (DecodeError, ValueError, RecursionError) as e:
        raise bad(f"not an ONNX model ({str(e).splitlines()[0][:80] if str(e) else type(e).__name__})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise bad("not an ONNX model: it holds no graph of nodes")
    graph = model.graph
    constants = {t.name: t for t in graph.initializer}
    for tensor in graph.initializer:
        _refuse_external(bad, tensor)
    inputs = [v for v in graph.input if v.name not in constants]
    if len(inputs) != 1:
        raise bad(f"has {len(inputs)} inputs ({', '.join(v.name[:30] for v in inputs[:4])}); scratchnet reads "
                  "networks of one input")
    walk = _Walk(bad, constants, inputs[0].name)
    for index, node in enumerate(graph.node):
        walk.step(index, node)
    if len(graph.output) != 1 or graph.output[0].name != walk.flowing:
        names = ", ".join(v.name[:30] for v in graph.output[:4])
        raise bad(f"its output{'s' if len(graph.output) != 1 else ''} ({names}) {'are' if len(graph.output) != 1 else 'is'}"
                  f" not the end of its chain of layers ({walk.flowing[:30]})")
    network = walk.network(path)
    input_type = inputs[0].type.tensor_type
    if input_type.elem_type and input_type.elem_type != onnx.helper.np_dtype_to_tensor_dtype(network.dtype):
        raise bad(f"its input is {onnx.TensorProto.DataType.Name(input_type.elem_type).lower()} but its weights "
                  f"{network.dtype}")
    dims = [d.dim_value for d in input_type.shape.dim[1:]]
    if dims and all(dims) and math.prod(dims) != network.sizes[0]:
        raise bad(f"its input is {'x'.join(map(str, dims))} per sample but its first layer takes {network.sizes[0]}")
    props = {p.key: p.value for p in model.metadata_props}
    epochs = props.get(EPOCHS_KEY, "0")
    valid = WHOLE.fullmatch(epochs.encode()) and len(epochs) <= 10 and int(epochs) <= MAX_EPOCHS
    return Parameters(network, int(epochs) if valid else 0)


def _refuse_external(bad, tensor) -> None:
    if tensor.data_location == tensor.EXTERNAL or tensor.external_data:
        where = next((e.value for e in tensor.external_data if e.key == "location"), "")
        raise bad(f"tensor {tensor.name[:40]!r} is stored outside the file ({where[:60]!r}); scratchnet reads only "
                  "tensors inside the .onnx file")


class _Walk:
    """The graph's nodes in order, read as one chain of layers from the input to the output."""

    def __init__(self, bad, constants: dict, flowing: str):
        self.bad, self.constants, self.flowing = bad, constants, flowing
        self.layers: list[_Layer] = []

    def step(self, index: int, node) -> None:
        op = node.op_type
        who = f"node {index} ({node.name[:40] or 'unnamed'}, {op[:40]})"

        def refuse(problem: str) -> ScratchnetError:
            return self.bad(f"{who}: {problem}")

        if node.domain not in ("", "ai.onnx"):
            raise refuse(f"an operator of domain {node.domain[:40]!r}; scratchnet reads {READS}")
        if op == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
            if value is None or len(node.output) != 1:
                raise refuse("a Constant without a tensor value")
            _refuse_external(self.bad, value)
            self.constants[node.output[0]] = value
            return
        unknown = [name for name in node.input if name and name != self.flowing and name not in self.constants]
        if unknown:
            raise refuse(f"reads {unknown[0][:40]!r}, which neither an earlier node nor an initializer makes (scratchnet "
                         "reads one chain of layers, without loops)")
        if self.flowing not in node.input:
            raise refuse(f"does not take the chain's value {self.flowing[:40]!r}; scratchnet reads one chain of layers")
        if len(node.output) != 1:
            raise refuse(f"has {len(node.output)} outputs; scratchnet reads nodes of one")
        attributes = {a.name: a for a in node.attribute}
        last = self.layers[-1] if self.layers else None
        if op in ("Flatten", "Reshape"):
            if self.layers:
                raise refuse("a reshape between layers; scratchnet reads one only before the first layer")
            if op == "Flatten" and attributes.get("axis", None) is not None and attributes["axis"].i != 1:
                raise refuse(f"Flatten with axis {attributes['axis'].i}; only axis 1 (one row per sample) is read")
            if op == "Reshape":
                shape = self.array(refuse, node.input[1]) if len(node.input) > 1 else None
                if shape is None or shape.ndim != 1 or len(shape) != 2:
                    raise refuse("a Reshape that does not make one row per sample (a shape of two entries)")
        elif op in ("MatMul", "Gemm"):
            if last and last.activation is None:
                raise refuse(f"a layer right after {last.node[:40]}'s, with no activation between; each scratchnet "
                             "layer has one")
            if node.input[0] != self.flowing:
                raise refuse(f"{op} with the weights first; scratchnet reads input @ weights")
            if op == "MatMul" and len(node.input) != 2:
                raise refuse("a MatMul of more than two inputs")
            weights = self.array(refuse, node.input[1], 2)
            biases = None
            if op == "Gemm":
                flags = {name: attributes[name].i if name in attributes else 0 for name in ("transA", "transB")}
                scales = {name: attributes[name].f if name in attributes else 1.0 for name in ("alpha", "beta")}
                if flags["transA"]:
                    raise refuse("Gemm with transA=1 transposes the batch; scratchnet reads transA=0")
                if scales != {"alpha": 1.0, "beta": 1.0}:
                    raise refuse(f"Gemm with alpha {scales['alpha']:g} and beta {scales['beta']:g}; scratchnet reads 1 and 1")
                weights = weights.T if flags["transB"] else weights
                if len(node.input) > 2 and node.input[2]:
                    biases = self.biases(refuse, node.input[2], weights.shape[1])
            if last is not None and weights.shape[0] != last.weights.shape[1]:
                raise refuse(f"its weights take {weights.shape[0]} inputs, but the layer before gives "
                             f"{last.weights.shape[1]}")
            self.layers.append(_Layer(f"node {index} ({node.name[:40] or op})", weights, biases))
        elif op == "Add":
            if last is None or last.activation is not None or last.biases is not None:
                raise refuse("an Add that does not follow a MatMul; scratchnet reads Add as a layer's biases")
            other = next(name for name in node.input if name != self.flowing)
            last.biases = self.biases(refuse, other, last.weights.shape[1])
        elif op in ACTIVATIONS:
            if last is None or last.activation is not None:
                raise refuse("an activation that does not follow a layer's MatMul, Add or Gemm")
            if op == "Softmax" and "axis" in attributes and attributes["axis"].i not in (1, -1):
                raise refuse(f"Softmax over axis {attributes['axis'].i}; scratchnet reads it over each sample's outputs")
            last.activation = ACTIVATIONS[op]
        else:
            raise refuse(f"not an operator scratchnet reads; it reads {READS}")
        self.flowing = node.output[0]

    def array(self, refuse, name: str, ndim: int | None = None) -> np.ndarray:
        """A constant's values: a float32 or float64 (or, for a shape, int64) tensor in the file, checked."""
        from onnx import numpy_helper

        tensor = self.constants.get(name)
        if tensor is None:
            raise refuse(f"its {name[:40]!r} is not a constant; scratchnet reads weights stored in the file")
        if math.prod(tensor.dims) > MAX_PARAMETERS or any(d < 0 for d in tensor.dims):
            raise refuse(f"tensor {name[:40]!r} declares shape {list(tensor.dims)[:6]}, larger than any network read")
        try:
            array = numpy_helper.to_array(tensor)
        except (ValueError, TypeError, KeyError) as e:
            raise refuse(f"tensor {name[:40]!r} cannot be read ({str(e).splitlines()[0][:80] if str(e) else 'bad'})") from None
        if ndim is not None and array.ndim != ndim:
            raise refuse(f"tensor {name[:40]!r} has {array.ndim} dimensions, not {ndim}")
        if ndim is None:  # a shape
            return array
        if array.dtype not in (np.float32, np.float64):
            raise refuse(f"tensor {name[:40]!r} is {array.dtype}; scratchnet reads float32 or float64")
        if not np.isfinite(array).all():
            raise refuse(f"tensor {name[:40]!r} holds NaN or infinite values")
        return array

    def biases(self, refuse, name: str, n_out: int) -> np.ndarray:
        tensor = self.constants.get(name)
        ndim = len(tensor.dims) if tensor is not None else 1
        array = self.array(refuse, name, ndim if ndim in (1, 2) else 1)
        if array.shape not in ((n_out,), (1, n_out)):
            raise refuse(f"biases {name[:40]!r} of shape {array.shape}, not ({n_out},) for its {n_out} neurons")
        return array.reshape(n_out)

    def network(self, path: Path) -> Network:
        """The layers read, as a Network: one hidden activation, a sigmoid or softmax output."""
        if not self.layers:
            raise self.bad(f"holds no layer (MatMul or Gemm); scratchnet reads {READS}")
        hidden = {layer.activation for layer in self.layers[:-1]}
        for layer in self.layers[:-1]:
            if layer.activation not in HIDDEN_ACTIVATIONS:
                raise self.bad(f"the layer of {layer.node} is followed by "
                               f"{layer.activation.title() if layer.activation else 'no activation'}; scratchnet's "
                               f"hidden layers end in {', '.join(HIDDEN_ACTIVATIONS)}")
        if len(hidden) > 1:
            raise self.bad(f"its hidden layers use {' and '.join(sorted(hidden))}; scratchnet's all use one activation")
        output = self.layers[-1].activation
        if output is None:
            print(f"scratchnet: note: {path} ends at its last layer's logits (no Softmax or Sigmoid), as a network "
                  "trained with cross-entropy is exported: read as a softmax output", file=sys.stderr)
            output = "softmax"
        if output not in ("sigmoid", "softmax"):
            raise self.bad(f"its last layer ends in {OPERATORS[output]}; scratchnet's output layer is Sigmoid or Softmax")
        dtypes = {str(layer.weights.dtype) for layer in self.layers} | \
            {str(layer.biases.dtype) for layer in self.layers if layer.biases is not None}
        if len(dtypes) > 1:
            raise self.bad(f"mixes {' and '.join(sorted(dtypes))} tensors; scratchnet networks have one dtype")
        dtype = dtypes.pop()
        # copies: onnx's arrays are views of the file's bytes, read-only, and training changes them in place
        weights = [np.array(layer.weights, order="C") for layer in self.layers]
        biases = [np.zeros(w.shape[1], dtype) if layer.biases is None else np.array(layer.biases, order="C")
                  for w, layer in zip(weights, self.layers)]
        sizes = (weights[0].shape[0], *(w.shape[1] for w in weights))
        try:
            check_sizes(sizes)
        except ScratchnetError as e:
            raise self.bad(str(e)) from None
        return Network(sizes, hidden.pop() if hidden else "sigmoid", output, weights, biases)

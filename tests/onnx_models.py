"""ONNX models of MLPs as other tools write them, built with onnx's helpers (no PyTorch here): PyTorch's
exporter (Flatten, Gemm with transB=1 as nn.Linear stores (out, in), the logits as the output) and
Keras's (tf2onnx: Reshape, MatMul then Add, Softmax), and graphs scratchnet must refuse."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def layers(sizes: tuple[int, ...], dtype: str = "float32", seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weights (n_in, n_out), biases) per layer, random."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)).astype(dtype), rng.normal(0, 0.1, n_out).astype(dtype))
            for n_in, n_out in zip(sizes, sizes[1:])]


def model(nodes: list, initializers: list, input_shape: list, output: str, dtype: str = "float32",
          opset: int = 17) -> onnx.ModelProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", elem, input_shape)],
                              [helper.make_tensor_value_info(output, elem, None)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def pytorch_style(params: list, activation: str = "Relu", last: str | None = None, dtype: str = "float32") -> onnx.ModelProto:
    """torch.onnx.export of nn.Sequential(Flatten, Linear, ReLU, ..., Linear): images (N, 1, 28, 28), weights
    stored (out, in) with Gemm transB=1; ``last`` an activation after the last Linear, if any."""
    nodes = [helper.make_node("Flatten", ["x"], ["/flatten/Flatten_output_0"], name="/flatten/Flatten", axis=1)]
    inits, flowing = [], "/flatten/Flatten_output_0"
    for k, (w, b) in enumerate(params):
        inits += [numpy_helper.from_array(np.ascontiguousarray(w.T), f"fc{k}.weight"),
                  numpy_helper.from_array(b, f"fc{k}.bias")]
        nodes.append(helper.make_node("Gemm", [flowing, f"fc{k}.weight", f"fc{k}.bias"], [f"/fc{k}/Gemm_output_0"],
                                      name=f"/fc{k}/Gemm", alpha=1.0, beta=1.0, transB=1))
        flowing = f"/fc{k}/Gemm_output_0"
        op = activation if k < len(params) - 1 else last
        if op:
            nodes.append(helper.make_node(op, [flowing], [f"/act{k}/{op}_output_0"], name=f"/act{k}/{op}"))
            flowing = f"/act{k}/{op}_output_0"
    return model(nodes, inits, ["batch", 1, 28, 28], flowing, dtype)


def keras_style(params: list, activation: str = "Tanh", last: str = "Softmax", dtype: str = "float32",
                opset: int = 11) -> onnx.ModelProto:
    """tf2onnx of a Keras Sequential(Flatten, Dense, ...): images (N, 28, 28), a Reshape by a constant,
    MatMul then Add, Softmax with opset 11's default axis."""
    shape = numpy_helper.from_array(np.array([-1, 784], np.int64), "const_shape")
    nodes = [helper.make_node("Reshape", ["x", "const_shape"], ["flatten/Reshape:0"], name="flatten/Reshape")]
    inits, flowing = [shape], "flatten/Reshape:0"
    for k, (w, b) in enumerate(params):
        inits += [numpy_helper.from_array(w, f"dense_{k}/MatMul/ReadVariableOp:0"),
                  numpy_helper.from_array(b, f"dense_{k}/BiasAdd/ReadVariableOp:0")]
        nodes += [helper.make_node("MatMul", [flowing, f"dense_{k}/MatMul/ReadVariableOp:0"], [f"dense_{k}/MatMul:0"],
                                   name=f"dense_{k}/MatMul"),
                  helper.make_node("Add", [f"dense_{k}/MatMul:0", f"dense_{k}/BiasAdd/ReadVariableOp:0"],
                                   [f"dense_{k}/BiasAdd:0"], name=f"dense_{k}/BiasAdd")]
        op = activation if k < len(params) - 1 else last
        nodes.append(helper.make_node(op, [f"dense_{k}/BiasAdd:0"], [f"dense_{k}/{op}:0"], name=f"dense_{k}/{op}"))
        flowing = f"dense_{k}/{op}:0"
    return model(nodes, inits, ["unk__6", 28, 28], flowing, dtype, opset)


def with_node(base: onnx.ModelProto, index: int, node, *, output: str | None = None) -> onnx.ModelProto:
    """base with ``node`` inserted before node ``index`` (its input the value flowing there)."""
    m = onnx.ModelProto()
    m.CopyFrom(base)
    m.graph.node.insert(index, node)
    if output:
        m.graph.output[0].name = output
    return m


def external_weights(base: onnx.ModelProto, location: str) -> onnx.ModelProto:
    """base with its first initializer's data said to be in the file ``location``."""
    m = onnx.ModelProto()
    m.CopyFrom(base)
    tensor = m.graph.initializer[0] if m.graph.initializer[0].dims else m.graph.initializer[1]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    tensor.external_data.add(key="offset", value="0")
    tensor.external_data.add(key="length", value=str(4 * int(np.prod(tensor.dims))))
    return m

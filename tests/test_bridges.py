"""The bridges to other tools (docs/FORMAT.md): ONNX and safetensors both ways, and the C header.

onnxruntime is a third engine here: a network exported to ONNX must give NumPy's outputs on the MNIST
test set. The C header is compiled with a tiny driver and must predict NumPy's classes on all of it.
The tests of a format skip when its package is missing (CI installs them: scratchnet[test])."""

import json
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

import scratchnet
from scratchnet import c_header, checkpoint, cli, engines, network, onnx_format, safetensors_format
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import TrainConfig
from scratchnet.data import Dataset
from scratchnet.errors import ScratchnetError

KINDS = [("sigmoid", "sigmoid"), ("relu", "softmax"), ("tanh", "softmax")]


def trained(small: Dataset, dtype: str, hidden: str = "sigmoid", output: str = "softmax",
            layers: tuple[int, ...] = (784, 24, 16, 10)) -> Checkpoint:
    """A network that has learnt something (predictions far from ties), with -0.0 and a subnormal among its weights."""
    model = scratchnet.fit(small, layers=layers, hidden=hidden, output=output, dtype=dtype, epochs=1, batch_size=16,
                           optimizer="adam", lr=0.003, init="he" if hidden == "relu" else "xavier",
                           loss="cross_entropy" if output == "softmax" else "bce")
    ckpt = model.checkpoint
    ckpt.network.weights[0][0, 0] = -0.0  # pixel 0 is always 0: changes no output
    ckpt.network.weights[0][0, 1] = np.finfo(dtype).smallest_subnormal
    return ckpt


def same_parameters(a: network.Network, b: network.Network) -> None:
    assert (a.sizes, a.hidden, a.output, a.dtype) == (b.sizes, b.hidden, b.output, b.dtype)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8))  # bit for bit: -0.0 and subnormals too


def pixels(images: np.ndarray, dtype: str) -> np.ndarray:
    """Images as the network sees them (data.py): flattened, times 1/255 rounded to dtype."""
    return images.reshape(len(images), -1).astype(dtype) * np.asarray(1 / 255, dtype)


# -----------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("suffix", [".onnx", ".safetensors"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden,output", KINDS)
def test_round_trip_is_bit_for_bit(tmp_path, small, suffix, dtype, hidden, output):
    if suffix == ".onnx":
        pytest.importorskip("onnx")
    rng = np.random.default_rng(1)
    net = network.create((784, 7, 5, 3), hidden, output, "xavier", dtype, rng)
    net.weights[0][0, 0], net.weights[1][0, 0] = -0.0, np.finfo(dtype).smallest_subnormal
    net.biases[2][:] = rng.normal(size=3).astype(dtype)
    config = TrainConfig(layers=net.sizes, hidden=hidden, output=output, dtype=dtype,
                         loss=network.NATURAL_LOSS[output])
    path = tmp_path / f"net{suffix}"
    checkpoint.save(path, Checkpoint(net, config, epochs_done=7))
    back = checkpoint.load(path)
    same_parameters(back.network, net)
    assert back.epochs_done == 7
    assert scratchnet.load(path).network.sizes == net.sizes


def test_export_commands_write_files_every_command_reads(tmp_path, small, small_npz, capsys):
    pytest.importorskip("onnx")
    ckpt = trained(small, "float32")
    checkpoint.save(tmp_path / "net.npz", ckpt)
    data = ["--data", str(small_npz)]
    for fmt in ("onnx", "safetensors"):
        out = tmp_path / f"net.{fmt}"
        assert cli.main(["export", "-p", str(tmp_path / "net.npz"), "--format", fmt, "-o", str(out)]) == 0
        assert cli.main(["evaluate", "--json", "-p", str(out), *data]) == 0
        assert cli.main(["import", str(out), "-o", str(tmp_path / f"from-{fmt}.npz")]) == 0
        same_parameters(checkpoint.load(tmp_path / f"from-{fmt}.npz").network, ckpt.network)
        # train it further: the file stays in its format, one epoch more
        assert cli.main(["train", "-p", str(out), *data, "--epochs", "1"]) == 0
        assert checkpoint.load(out).epochs_done == ckpt.epochs_done + 1
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    accuracies = [json.loads(line)["accuracy"] for line in lines]
    assert accuracies[0] == accuracies[1] == engines.evaluate(ckpt.network, small.test_images, small.test_labels).accuracy


def test_a_format_without_its_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    net = network.create((4, 3, 2), "sigmoid", "sigmoid", "xavier", "float64", np.random.default_rng(0))
    with pytest.raises(ScratchnetError, match=r"pip install 'scratchnet\[onnx\]'"):
        onnx_format.write(net)
    (tmp_path / "m.onnx").write_bytes(b"\x08\x08")
    with pytest.raises(ScratchnetError, match=r"pip install 'scratchnet\[onnx\]'"):
        checkpoint.load(tmp_path / "m.onnx")


# -----------------------------------------------------------------------------
# onnxruntime: a third engine


@pytest.mark.parametrize("dtype,tolerance", [("float32", 1e-6), ("float64", 1e-12)])
def test_onnxruntime_gives_numpys_outputs_on_the_test_set(tmp_path, small, mnist, dtype, tolerance):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    for hidden, output in KINDS:
        ckpt = trained(small, dtype, hidden, output)
        model = onnx_format.write(ckpt.network)
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        got = session.run(["output"], {"input": pixels(mnist.test_images, dtype)})[0]
        expected = engines.outputs(ckpt.network, mnist.test_images)
        assert got.dtype == expected.dtype == np.dtype(dtype)
        # relative to each sample's largest output: a sigmoid output near 0 has no relative precision to keep
        scale = np.abs(expected).max(axis=1, keepdims=True)
        assert np.abs(got - expected).max() <= tolerance * scale.max(), (hidden, output)
        assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1)), (hidden, output)


def test_the_onnx_export_passes_the_checker_with_named_input_and_output(small):
    onnx = pytest.importorskip("onnx")
    ckpt = trained(small, "float64", "tanh", "sigmoid", (784, 5, 10))
    model = onnx.load_model_from_string(onnx_format.write(ckpt.network, 3))
    onnx.checker.check_model(model, full_check=True)
    assert [v.name for v in model.graph.input] == ["input"] and [v.name for v in model.graph.output] == ["output"]
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Tanh", "Gemm", "Sigmoid"]


# -----------------------------------------------------------------------------
# ONNX from elsewhere


def test_reads_pytorchs_and_keras_mlps_as_onnxruntime_runs_them(tmp_path, mnist, capsys):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import onnx_models

    images = mnist.test_images[:2000]
    for name, make, dtype in (
        ("pytorch", lambda p: onnx_models.pytorch_style(p, "Relu", None), "float32"),
        ("pytorch-sigmoid", lambda p: onnx_models.pytorch_style(p, "Sigmoid", "Sigmoid", "float64"), "float64"),
        ("keras", lambda p: onnx_models.keras_style(p, "Tanh", "Softmax"), "float32"),
    ):
        params = onnx_models.layers((784, 32, 16, 10), dtype)
        proto = make(params)
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(proto.SerializeToString())
        net = checkpoint.load(path).network
        for (w, b), got_w, got_b in zip(params, net.weights, net.biases, strict=True):
            assert np.array_equal(w, got_w) and np.array_equal(b, got_b)
        shape = [len(images), 1, 28, 28] if name.startswith("pytorch") else [len(images), 28, 28]
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        theirs = session.run(None, {"x": pixels(images, dtype).reshape(shape)})[0]
        ours = engines.outputs(net, images)
        if name == "pytorch":  # logits, read as a softmax output, and said so
            assert net.output == "softmax" and "note" in capsys.readouterr().err
            theirs = network.softmax(theirs)
        assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        assert np.array_equal(ours.argmax(axis=1), theirs.argmax(axis=1))


def test_pytorchs_own_exporter_when_torch_is_installed(tmp_path, mnist):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 30), torch.nn.ReLU(), torch.nn.Linear(30, 10))
    path = tmp_path / "torch.onnx"
    try:
        torch.onnx.export(mlp, torch.zeros(1, 1, 28, 28), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    except Exception as e:  # noqa: BLE001: the exporter's own needs (onnxscript, ...) are not ours to test
        pytest.skip(f"torch.onnx.export cannot run here: {e}")
    net = checkpoint.load(path).network
    x = pixels(mnist.test_images[:500], "float32")
    with torch.no_grad():
        theirs = torch.softmax(mlp(torch.from_numpy(x).reshape(-1, 1, 28, 28)), dim=1).numpy()
    assert np.allclose(engines.outputs(net, mnist.test_images[:500]), theirs, rtol=1e-5, atol=1e-6)


def refused_models():
    """(name, model or bytes, what the one-line error must say)."""
    from onnx import helper, numpy_helper

    import onnx_models

    params = onnx_models.layers((784, 16, 10))
    keras = onnx_models.keras_style(params)
    torch_like = onnx_models.pytorch_style(params, "Relu", "Softmax")
    nan = [(w.copy(), b) for w, b in params]
    nan[1][0][3, 4] = np.nan
    loop_body = helper.make_graph([], "body", [], [])
    loop = helper.make_node("Loop", ["", "", "/flatten/Flatten_output_0"], ["looped"], name="the_loop", body=loop_body)
    cycle = onnx_models.with_node(torch_like, 1, helper.make_node("Add", ["/flatten/Flatten_output_0", "later"],
                                                                  ["sum"], name="reads_later"))
    unchained = onnx_models.pytorch_style([params[0], onnx_models.layers((20, 10))[0]], "Relu", "Softmax")
    mixed = onnx_models.keras_style(onnx_models.layers((784, 8, 8, 10)), "Tanh", "Softmax")
    mixed.graph.node[3].op_type = "Relu"  # Reshape, then MatMul, Add and the activation per layer
    no_activation = onnx_models.keras_style(params, "Tanh", "Softmax")
    del no_activation.graph.node[3]
    no_activation.graph.node[3].input[0] = "dense_0/BiasAdd:0"
    big_dims = onnx_models.keras_style(params)
    big_dims.graph.initializer[1].dims[:] = [10**6, 10**6]
    conv = onnx_models.with_node(torch_like, 0, helper.make_node("Conv", ["x", "fc0.bias"], ["conv"], name="conv1"))
    float16 = onnx_models.keras_style(params)
    float16.graph.initializer[1].CopyFrom(numpy_helper.from_array(params[0][0].astype(np.float16),
                                                                  "dense_0/MatMul/ReadVariableOp:0"))
    good = keras.SerializeToString()
    return [
        ("a Loop", onnx_models.with_node(torch_like, 1, loop), "the_loop, Loop"),
        ("a Conv", conv, "conv1, Conv"),
        ("a cycle", cycle, "reads 'later'"),
        ("shapes that do not chain", unchained, "take 20 inputs, but the layer before gives 16"),
        ("NaN weights", onnx_models.keras_style(nan), "NaN"),
        ("two hidden activations", mixed, "relu and tanh"),
        ("two layers without an activation between", no_activation, "no activation between"),
        ("external data at /etc/passwd", onnx_models.external_weights(keras, "/etc/passwd"), "stored outside the file"),
        ("external data at ../weights.bin", onnx_models.external_weights(keras, "../weights.bin"), "outside the file"),
        ("a tensor declaring 10^12 numbers", big_dims, "declares shape"),
        ("float16 weights", float16, "float16"),
        ("cut short", good[: len(good) // 2], "not an ONNX model"),
        ("random bytes", np.random.default_rng(0).bytes(5000), "not an ONNX model"),
        ("empty", b"", "no graph"),
    ]


def test_refuses_what_it_cannot_read_in_one_line_naming_the_node(tmp_path):
    pytest.importorskip("onnx")
    for name, content, expected in refused_models():
        path = tmp_path / "m.onnx"
        path.write_bytes(content if isinstance(content, bytes) else content.SerializeToString())
        with pytest.raises(ScratchnetError) as caught:
            checkpoint.load(path)
        message = str(caught.value)
        assert expected in message and "\n" not in message and message.startswith(str(path)), (name, message)


# -----------------------------------------------------------------------------
# safetensors


def test_safetensors_the_package_reads_ours_and_we_read_its(tmp_path, small):
    st = pytest.importorskip("safetensors.numpy")
    ckpt = trained(small, "float32", layers=(784, 12, 10))
    path = tmp_path / "net.safetensors"
    checkpoint.save(path, ckpt)
    theirs = st.load_file(str(path))
    assert np.array_equal(theirs["weights.0"], ckpt.network.weights[0]) and set(theirs) == {
        "weights.0", "biases.0", "weights.1", "biases.1"}
    tensors = {f"{kind}.{k}": a for k, (w, b) in enumerate(zip(ckpt.network.weights, ckpt.network.biases))
               for kind, a in (("weights", w), ("biases", b))}
    st.save_file(tensors, str(tmp_path / "theirs.safetensors"),
                 metadata={"sizes": "784,12,10", "hidden": "sigmoid", "output": "softmax", "format": "np"})
    same_parameters(checkpoint.load(tmp_path / "theirs.safetensors").network, ckpt.network)
    st.save_file(tensors, str(tmp_path / "bare.safetensors"))
    with pytest.raises(ScratchnetError, match="lacks sizes, hidden, output"):
        checkpoint.load(tmp_path / "bare.safetensors")


def safetensors_file(header: dict | bytes, data: bytes = b"", length: int | None = None) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def test_safetensors_refuses_hostile_files_in_one_line(tmp_path):
    net = network.create((784, 4, 10), "sigmoid", "sigmoid", "xavier", "float32", np.random.default_rng(0))
    good = safetensors_format.write(net)
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + n])
    nan = network.create((784, 4, 10), "sigmoid", "sigmoid", "xavier", "float32", np.random.default_rng(0))
    nan.biases[1][2] = np.nan
    overlap = json.loads(json.dumps(header))
    overlap["biases.0"]["data_offsets"] = [0, 16]
    cases = [
        ("a header of 100 MB declared", safetensors_file(b"{}", length=100 << 20), "a header of 104,857,600 bytes"),
        ("a header of 2 MB", safetensors_file(b" " * (2 << 20)), "the 1,048,576 allowed"),
        ("a header longer than the file", safetensors_file(b"{}", length=1000), "more than the 2 that follow"),
        ("truncated data", good[:-100], "data_offsets"),
        ("random bytes", np.random.default_rng(0).bytes(3000), "declares a header"),
        ("5 bytes", b"12345", "shorter than the 8"),
        ("a header nested 100,000 deep", safetensors_file(b"[" * 100_000 + b"]" * 100_000) + b"x" * 8, "not JSON"),
        ("no metadata", safetensors_file({k: v for k, v in header.items() if k != "__metadata__"}, good[8 + n:]),
         "lacks sizes, hidden, output"),
        ("sizes that are not numbers", good.replace(b'"784,4,10"', b'"784,4,xx"'), "sizes"),
        ("an extra tensor", safetensors_file({**header, "junk": header["biases.0"]}, good[8 + n:]), "'junk'"),
        ("NaN", safetensors_format.write(nan), "NaN"),
        ("overlapping tensors", safetensors_file(overlap, good[8 + n:]), "overlap"),
        ("F16", good.replace(b'"F32"', b'"F16"', 1), "F16"),
    ]
    for name, content, expected in cases:
        path = tmp_path / "m.safetensors"
        path.write_bytes(content)
        with pytest.raises(ScratchnetError) as caught:
            checkpoint.load(path)
        assert expected in str(caught.value) and "\n" not in str(caught.value), (name, str(caught.value))


# -----------------------------------------------------------------------------
# the C header

DRIVER = r"""
#include <stdio.h>
#include "network.h"

int main(void)
{
    static unsigned char pixels[SCRATCHNET_INPUTS];
    static REAL input[SCRATCHNET_INPUTS], output[SCRATCHNET_OUTPUTS];
    int i;
    while (fread(pixels, 1, sizeof pixels, stdin) == sizeof pixels) {
        for (i = 0; i < SCRATCHNET_INPUTS; i++)
            input[i] = pixels[i] * (REAL)(1.0 / 255.0);
        printf("%d", scratchnet_predict(input, output));
        for (i = 0; i < SCRATCHNET_OUTPUTS; i++)
            printf(" %.17g", (double)output[i]);
        printf("\n");
    }
    return 0;
}
"""


def compiled(tmp_path, text: str, c_type: str):
    compiler = shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (cc)")
    (tmp_path / "network.h").write_text(text)
    (tmp_path / "driver.c").write_text(f"#define REAL {c_type}\n" + DRIVER)
    result = subprocess.run([compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-o",
                             str(tmp_path / "driver"), str(tmp_path / "driver.c"), "-lm"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path / "driver"


@pytest.mark.parametrize("dtype,tolerance", [("float32", 1e-5), ("float64", 1e-12)])
def test_the_c_header_predicts_numpys_classes_on_all_test_images(tmp_path, small, mnist, dtype, tolerance):
    for hidden, output in KINDS:
        ckpt = trained(small, dtype, hidden, output)
        driver = compiled(tmp_path, c_header.header(ckpt.network, dtype), c_header.C_TYPES[dtype])
        run = subprocess.run([str(driver)], input=mnist.test_images.tobytes(), capture_output=True, check=True)
        rows = np.loadtxt(run.stdout.decode().splitlines())
        expected = engines.outputs(ckpt.network, mnist.test_images)
        assert len(rows) == 10_000
        assert np.array_equal(rows[:, 0], expected.argmax(axis=1)), (hidden, output)
        assert np.abs(rows[:, 1:] - expected).max() <= tolerance, (hidden, output)


def test_the_c_header_of_one_layer_with_a_prefix_compiles(tmp_path, small):
    net = network.create((784, 10), "relu", "sigmoid", "uniform", "float64", np.random.default_rng(0))
    text = c_header.header(net, "float32", "digits")
    assert "digits_predict(const float *input, float *output)" in text and "malloc" not in text
    driver = compiled(tmp_path, text.replace("digits", "scratchnet").replace("DIGITS", "SCRATCHNET"), "float")
    assert driver.exists()
    with pytest.raises(ScratchnetError, match="not a C identifier"):
        c_header.header(net, "float32", "9lives")


def test_footprint_of_the_original_network():
    net = network.create((784, 20, 10), "sigmoid", "sigmoid", "uniform", "float64", np.random.default_rng(0))
    fp = c_header.footprint(net)
    assert (fp.flash, fp.stack, fp.input, fp.output) == ((784 * 20 + 20 + 20 * 10 + 10) * 4, 20 * 4, 784 * 4, 40)
    fast = network.create((784, 400, 400, 10), "relu", "softmax", "he", "float32", np.random.default_rng(0))
    assert c_header.footprint(fast, "float64").stack == 2 * 400 * 8

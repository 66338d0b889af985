"""The C writer and reader of the text format (csrc/params.c) against Python's (textformat.py):
the same bytes for every number, the same bits read back. The C writer finds shortest decimals
with Schubfach (its own arithmetic, not printf's), so it is checked on random bit patterns and on
the values where such algorithms go wrong: subnormals, -0, the extremes, powers of ten and of two
and their neighbours, every binary exponent, ties between two shortest decimals, short decimals."""

import ctypes
import os

import numpy as np
import pytest

from scratchnet import cengine, textformat
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network

try:
    cengine.library(np.float64)
    cengine.library(np.float32)
except ScratchnetError:
    if os.environ.get("SCRATCHNET_REQUIRE_C"):  # CI builds it: a missing library is a failure there
        raise
    pytest.skip("the C library is not built (make -C csrc)", allow_module_level=True)

BITS = {"float64": np.uint64, "float32": np.uint32}


def as_network(values: np.ndarray, dtype: str) -> Network:
    """A 1-input network whose weights are the values (one neuron each) and whose biases are their negatives."""
    values = np.asarray(values, dtype=dtype)
    return Network((1, len(values)), "sigmoid", "sigmoid", [values.reshape(1, -1).copy()], [-values])


def c_writes(net: Network, path) -> bytes:
    lib, Net, _, real = cengine.library(net.dtype)
    status = lib.sn_write_params(str(path).encode(), ctypes.byref(cengine._net(net, Net, real)), 7)
    assert status == 0, lib.sn_error()
    return path.read_bytes()


def c_reads(text: bytes, dtype: str) -> list[np.ndarray]:
    """Every tensor sn_parse_params reads from the text, copied out of C's memory."""
    lib, Net, _, real = cengine.library(np.dtype(dtype))
    net, epochs = Net(), ctypes.c_int()
    status = lib.sn_parse_params(text, ctypes.c_size_t(len(text)), b"t", ctypes.byref(net), ctypes.byref(epochs))
    assert status == 0, lib.sn_error()
    try:
        return [np.ctypeslib.as_array(pointer, (net.sizes[layer] * net.sizes[layer + 1] if kind == 0 else
                                                net.sizes[layer + 1],)).copy()
                for layer in range(net.n_layers) for kind, pointer in ((0, net.weights[layer]), (1, net.biases[layer]))]
    finally:
        lib.sn_free_net(ctypes.byref(net))


def neighbours(values: np.ndarray, dtype: str, steps: int = 3) -> np.ndarray:
    """The values and the floats up to `steps` apart from each, finite and positive ones only."""
    bits = np.asarray(values, dtype=dtype).view(BITS[dtype]).astype(np.int64)
    near = (bits[:, None] + np.arange(-steps, steps + 1)).ravel()
    near = near[near >= 0].astype(BITS[dtype]).view(dtype)  # positive: past the largest are inf and nan
    return near[np.isfinite(near)]


def edge_cases(dtype: str, rng: np.random.Generator) -> np.ndarray:
    info = np.finfo(dtype)
    fraction_bits, exponent_fields = info.nmant, 2 ** info.nexp - 1
    top = 2**fraction_bits - 1
    # every exponent field (subnormals' 0 included) with the fractions at either end and a few others
    fractions = np.array([0, 1, 2, 3, 4, top // 2, top // 2 + 1, top - 2, top - 1, top], dtype=np.uint64)
    fields = np.arange(exponent_fields, dtype=np.uint64)
    cases = [((fields[:, None] << np.uint64(fraction_bits)) | fractions).ravel().astype(BITS[dtype]).view(dtype)]
    cases.append(np.array([0.0, info.smallest_subnormal, info.smallest_normal, info.max], dtype=dtype))
    cases.append(neighbours(np.array([info.smallest_subnormal, info.smallest_normal, info.max], dtype=dtype), dtype, 5))
    low, high = int(np.floor(np.log10(float(info.smallest_subnormal)))), int(np.ceil(np.log10(float(info.max))))
    with np.errstate(over="ignore"):
        tens = np.array([float(f"1e{e}") for e in range(low, high + 1)]).astype(dtype)
        twos = np.array([2.0**e for e in range(-1074, 1024)]).astype(dtype)
    for powers in (tens, twos):
        cases.append(neighbours(powers[(powers > 0) & np.isfinite(powers)], dtype))
    # where two shortest decimals are as near: c / 4 and c / 2 just below 2^p (ties to the even digit)
    p = fraction_bits + 1
    cases.append((2.0 ** (p - 3) + np.arange(0, 64) / 4).astype(dtype))
    cases.append((2.0 ** (p - 2) + np.arange(0, 64) / 2).astype(dtype))
    cases.append((2.0 ** (p - 1) + np.arange(0, 64)).astype(dtype))
    # short decimals (the shorter-by-a-digit branch), at every scale
    digits = rng.integers(1, 10 ** rng.integers(1, 10, 20000), dtype=np.int64)
    scales = rng.integers(low, high, 20000)
    with np.errstate(over="ignore", under="ignore"):
        cases.append(np.array([float(f"{d}e{s}") for d, s in zip(digits, scales)]).astype(dtype))
    values = np.concatenate(cases)
    values = values[np.isfinite(values)]
    return np.where(rng.random(len(values)) < 0.5, -values, values)  # -0.0 among them


def random_bits(dtype: str, rng: np.random.Generator, count: int) -> np.ndarray:
    values = rng.integers(0, np.iinfo(BITS[dtype]).max, count, dtype=BITS[dtype], endpoint=True).view(dtype)
    return values[np.isfinite(values)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["edge-cases", "random-bits", "initial-weights"])
def test_c_writes_the_bytes_python_writes_and_reads_them_back(dtype, kind, tmp_path):
    rng = np.random.default_rng(22)
    if kind == "edge-cases":
        values = edge_cases(dtype, rng)
    elif kind == "random-bits":
        values = random_bits(dtype, rng, 100_000)
    else:  # what a file mostly holds: uniform(-0.5, 0.5) weights, and values trained from them
        values = np.concatenate([rng.uniform(-0.5, 0.5, 50_000), rng.normal(0, 3, 50_000)]).astype(dtype)
    net = as_network(values, dtype)
    python = textformat.to_text(net, 7).encode()
    c = c_writes(net, tmp_path / "c.txt")
    if c != python:  # name the first numbers that differ, not a megabyte of text
        pairs = [(a, b) for a, b in zip(c.split(), python.split()) if a != b]
        pytest.fail(f"{len(pairs)} numbers differ (C, Python): {pairs[:5]}")
    weights, biases = c_reads(c, dtype)
    assert weights.tobytes() == net.weights[0].tobytes() and biases.tobytes() == net.biases[0].tobytes()


def test_the_edge_cases_cover_what_they_say():
    for dtype in ("float64", "float32"):
        values = np.abs(edge_cases(dtype, np.random.default_rng(0)))
        info = np.finfo(dtype)
        assert {0.0, info.smallest_subnormal, info.max} <= set(values.tolist())
        assert np.any(np.signbit(edge_cases(dtype, np.random.default_rng(0))) & (values == 0))
        assert len(np.unique(values)) > 10_000

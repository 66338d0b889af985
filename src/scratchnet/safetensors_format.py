"""safetensors files (https://github.com/huggingface/safetensors), written and read by the format's spec.

    8 bytes      N, the header's length, unsigned little-endian
    N bytes      a JSON object: {"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets": [begin, end]}}
    the rest     every tensor's bytes, little-endian, C order, at data_offsets from here, no gaps

scratchnet's tensors are named and shaped as in the .npz checkpoint (``weights.L`` (sizes[L], sizes[L+1]),
``biases.L``); ``__metadata__`` holds ``sizes`` ("784,20,10"), ``hidden``, ``output`` and ``epochs``
(docs/FORMAT.md). The spec is short, so it is read here rather than with the ``safetensors`` package: no
dependency, and every length is checked against the file before anything is allocated (the package's
reader maps the file and accepts headers of up to 100 MB).
"""

from __future__ import annotations

import itertools
import json
import os
import struct
from pathlib import Path

import numpy as np

from scratchnet import files
from scratchnet.errors import ScratchnetError
from scratchnet.network import HIDDEN_ACTIVATIONS, MAX_LAYERS, OUTPUT_ACTIVATIONS, Network, check_sizes
from scratchnet.textformat import MAX_EPOCHS, WHOLE, Parameters

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
NAMES = {str(dtype.newbyteorder("=")): name for name, dtype in DTYPES.items()}  # "float32" -> "F32"
MAX_HEADER = 1 << 20  # bytes: a scratchnet header takes about 2 KB; the length field is read before this is
REQUIRED = ("sizes", "hidden", "output")  # of __metadata__


def write(net: Network, epochs_done: int = 0, history: list[dict] | None = None) -> bytes:
    """The network as a .safetensors file's bytes (``history`` is not kept: a checkpoint's)."""
    tensors = {}
    for layer, (weights, biases) in enumerate(zip(net.weights, net.biases)):
        tensors[f"weights.{layer}"] = weights
        tensors[f"biases.{layer}"] = biases
    header: dict = {"__metadata__": {"sizes": ",".join(map(str, net.sizes)), "hidden": net.hidden,
                                     "output": net.output, "epochs": str(epochs_done)}}
    offset = 0
    for name, array in tensors.items():
        header[name] = {"dtype": NAMES[str(array.dtype)], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the spec allows trailing spaces: tensors start 8-byte aligned
    data = b"".join(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes() for a in tensors.values())
    return struct.pack("<Q", len(text)) + text + data


def read(path: str | os.PathLike) -> Parameters:
    """A .safetensors file holding a scratchnet network; any problem is a one-line ScratchnetError naming it."""
    path = Path(path)

    def bad(problem: str) -> ScratchnetError:
        return ScratchnetError(f"{path}: {problem}")

    with files.open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise bad(f"not a safetensors file: {len(head)} bytes, shorter than the 8 of its header's length")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER, size - 8):
            raise bad(f"not a safetensors file scratchnet reads: it declares a header of {length:,} bytes, more than "
                      + (f"the {size - 8:,} that follow" if length > size - 8 else f"the {MAX_HEADER:,} allowed"))
        header = _header(bad, f.read(length))
        meta = header.pop("__metadata__", None)
        sizes, hidden, output, epochs = _metadata(bad, meta)
        data_size = size - 8 - length
        shapes = [((f"weights.{layer}", (n_in, n_out)), (f"biases.{layer}", (n_out,)))
                  for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes))]
        expected = dict(pair for layer in shapes for pair in layer)
        unknown = sorted(set(header) - set(expected))
        if unknown:
            raise bad(f"holds a tensor {unknown[0]!r} that a {'-'.join(map(str, sizes))} network does not have")
        dtype = None
        arrays = {}
        spans = []
        for name, shape in expected.items():
            entry = header.get(name)
            if entry is None:
                raise bad(f"has no tensor {name!r}, which a {'-'.join(map(str, sizes))} network needs")
            if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
                raise bad(f"tensor {name!r} is not described by exactly dtype, shape and data_offsets")
            if entry["dtype"] not in DTYPES:
                raise bad(f"tensor {name!r} is {str(entry['dtype'])[:20]}; scratchnet reads F32 or F64")
            dtype = dtype or entry["dtype"]
            if entry["dtype"] != dtype:
                raise bad(f"tensor {name!r} is {entry['dtype']} but the tensors before it {dtype}: one dtype for all")
            if entry["shape"] != list(shape):
                raise bad(f"tensor {name!r} has shape {str(entry['shape'])[:40]}, not the {list(shape)} the sizes give")
            offsets = entry["data_offsets"]
            nbytes = int(np.prod(shape)) * DTYPES[dtype].itemsize
            if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                    and 0 <= offsets[0] and offsets[1] - offsets[0] == nbytes and offsets[1] <= data_size):
                raise bad(f"tensor {name!r} has data_offsets {str(offsets)[:40]}, which do not hold its {nbytes:,} "
                          f"bytes within the file's {data_size:,} bytes of data")
            spans.append((offsets[0], offsets[1], name))
            f.seek(8 + length + offsets[0])
            array = np.empty(shape, DTYPES[dtype])
            if f.readinto(memoryview(array.reshape(-1).view(np.uint8))) != nbytes:
                raise bad(f"tensor {name!r} is cut short")
            if not np.isfinite(array).all():
                raise bad(f"tensor {name!r} holds NaN or infinite values")
            arrays[name] = array.astype(array.dtype.newbyteorder("="), copy=False)
    spans.sort()
    for (_, end, first), (begin, _, second) in itertools.pairwise(spans):
        if begin < end:
            raise bad(f"tensors {first!r} and {second!r} overlap")
    network = Network(sizes, hidden, output, [arrays[f"weights.{layer}"] for layer in range(len(sizes) - 1)],
                      [arrays[f"biases.{layer}"] for layer in range(len(sizes) - 1)])
    return Parameters(network, epochs)


def _header(bad, text: bytes) -> dict:
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"not a safetensors file: its header is not JSON ({type(e).__name__})") from None
    if not isinstance(header, dict):
        raise bad("not a safetensors file: its header is not a JSON object")
    return header


def _metadata(bad, meta: object) -> tuple[tuple[int, ...], str, str, int]:
    """sizes, hidden, output and epochs from __metadata__, each checked."""
    missing = [key for key in REQUIRED if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise bad(f"its __metadata__ lacks {', '.join(missing)}: scratchnet needs the layer sizes (\"784,20,10\") and "
                  "the hidden and output activations to read a network, and writes them on export")
    parts = str(meta["sizes"]).split(",")
    if not all(WHOLE.fullmatch(p.encode()) for p in parts) or not 2 <= len(parts) <= MAX_LAYERS + 1:
        raise bad(f"__metadata__ sizes {str(meta['sizes'])[:40]!r} is not 2 to {MAX_LAYERS + 1} comma-separated "
                  "whole numbers, e.g. \"784,20,10\"")
    sizes = tuple(int(p) if len(p) < 10 else 10**10 for p in parts)  # check_sizes refuses 10**10
    try:
        check_sizes(sizes)
    except ScratchnetError as e:
        raise bad(f"__metadata__ {e}") from None
    for key, allowed in (("hidden", HIDDEN_ACTIVATIONS), ("output", OUTPUT_ACTIVATIONS)):
        if meta[key] not in allowed:
            raise bad(f"__metadata__ {key} must be one of {', '.join(allowed)}, not {str(meta[key])[:20]!r}")
    epochs = str(meta.get("epochs", "0"))
    if not WHOLE.fullmatch(epochs.encode()) or len(epochs) > 10 or int(epochs) > MAX_EPOCHS:
        raise bad(f"__metadata__ epochs {epochs[:20]!r} is not a whole number from 0 to {MAX_EPOCHS}")
    return sizes, meta["hidden"], meta["output"], int(epochs)

"""Checkpoints: the network, its training settings, optimizer state and history in one .npz file.

Layout (docs/FORMAT.md): one array per tensor, ``weights.L`` (sizes[L], sizes[L+1]) and
``biases.L`` (sizes[L+1],), the optimizer's arrays under ``optimizer.*``, and ``metadata``: a
JSON string with the format version, the network's description, the settings, epochs done and
per-epoch history. Files are read within bounds (files.open_npz: only the arrays expected, no
pickles), every metadata field checked (METADATA_SCHEMA), and written atomically.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scratchnet import files, onnx_format, safetensors_format, schema, textformat
from scratchnet.atomic import ANY, atomic_write
from scratchnet.config import OPTIMIZER_SLOTS, TrainConfig
from scratchnet.errors import ScratchnetError
from scratchnet.network import (
    DTYPES,
    HIDDEN_ACTIVATIONS,
    MAX_LAYER_SIZE,
    MAX_LAYERS,
    NATURAL_LOSS,
    OUTPUT_ACTIVATIONS,
    Network,
    check_sizes,
    describe,
)
from scratchnet.schema import Field
from scratchnet.version import __version__

FORMAT = "scratchnet-checkpoint"
VERSION = 1
DEFAULT_PATH = "network_params.npz"  # the original program's file name
TEXT_FORMATS = {".txt": textformat.to_text, ".json": textformat.to_json}
# Other tools' formats (docs/FORMAT.md): parameters and epochs, as the text formats; bytes, not text
BRIDGE_FORMATS = {".onnx": onnx_format, ".safetensors": safetensors_format}
WHOLE_EPOCHS_ONLY = (*TEXT_FORMATS, *BRIDGE_FORMATS)  # files with no room for a place inside an epoch
MAX_METADATA_CHARS = 1 << 22  # of JSON: room for the history of some 20,000 epochs
MAX_METADATA_DEPTH = 8  # nesting of its arrays and objects; it needs 3
MAX_EPOCHS = 2**31 - 1  # as in the text format (docs/FORMAT.md)
JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)

HISTORY_ENTRY = schema.record({
    "epoch": Field(schema.integer(1, MAX_EPOCHS)),
    "loss": Field(schema.number(0)),
    "train_accuracy": Field(schema.number(0, 1)),
    "test_accuracy": Field(schema.number(0, 1)),
    "seconds": Field(schema.number(0)),
    "samples_per_second": Field(schema.number(0)),
    "lr": Field(schema.number(0)),
})

# Every field of the metadata: how it is checked, and its default when it may be left out (a
# Field without one is required). A new field is one more line here, and one in _metadata.
METADATA_SCHEMA = schema.record({
    "format": Field(schema.choice((FORMAT,))),
    "version": Field(schema.integer(VERSION, VERSION)),
    "scratchnet": Field(schema.text(100), ""),
    "sizes": Field(schema.list_of(schema.integer(1, MAX_LAYER_SIZE), 2, MAX_LAYERS + 1)),
    "hidden": Field(schema.choice(HIDDEN_ACTIVATIONS)),
    "output": Field(schema.choice(OUTPUT_ACTIVATIONS)),
    "dtype": Field(schema.choice(DTYPES)),
    "epochs_done": Field(schema.integer(0, MAX_EPOCHS), 0),
    "planned_epochs": Field(schema.integer(0, MAX_EPOCHS), 0),
    "partial_epoch_samples": Field(schema.integer(0, 2**63 - 1), 0),
    "partial_epoch_loss": Field(schema.number(0), 0.0),
    "partial_epoch_correct": Field(schema.integer(0, 2**63 - 1), 0),
    "partial_epoch_seconds": Field(schema.number(0), 0.0),
    "data": Field(schema.optional(schema.record({"source": Field(schema.text(4096)),
                                                 "fingerprint": Field(schema.text(64))})), None),
    "config": Field(TrainConfig.from_dict, None),  # None: settings that fit the network, as import makes
    "history": Field(schema.list_of(HISTORY_ENTRY, 0, MAX_EPOCHS), []),
})


@dataclass
class Checkpoint:
    network: Network
    config: TrainConfig
    epochs_done: int = 0
    history: list[dict] = field(default_factory=list)  # one EpochResult.to_dict() per epoch
    optimizer_state: dict[str, np.ndarray] = field(default_factory=dict)
    partial_epoch_samples: int = 0  # > 0 when Ctrl-C stopped an epoch part-way
    partial_epoch_loss: float = 0.0  # that part's sum of per-sample training losses
    partial_epoch_correct: int = 0  # its samples classified right as they were seen
    partial_epoch_seconds: float = 0.0  # its training time
    data: dict[str, str] | None = None  # {"source", "fingerprint"} of the dataset it was trained on
    # the epoch count the run that wrote it is to end at: above epochs_done after Ctrl-C, when the next
    # train finishes that run (run.start); 0 when unknown (text files, and checkpoints before it was kept)
    planned_epochs: int = 0
    # (st_dev, st_ino, st_size, st_mtime_ns) of the file when it was read or last written by this run,
    # None when there was none: a save checks it (run.train), not stored in the file
    on_disk: tuple[int, ...] | None = field(default=None, compare=False, repr=False)
    # set by run.start: this run finishes an interrupted one (else it trains config.epochs more); not stored
    finishes_run: bool = field(default=False, compare=False, repr=False)


def _metadata(ckpt: Checkpoint) -> dict:
    net = ckpt.network
    return {
        "format": FORMAT,
        "version": VERSION,
        "scratchnet": __version__,
        "sizes": list(net.sizes),
        "hidden": net.hidden,
        "output": net.output,
        "dtype": str(net.dtype),
        "epochs_done": ckpt.epochs_done,
        "planned_epochs": ckpt.planned_epochs,
        "partial_epoch_samples": ckpt.partial_epoch_samples,
        "partial_epoch_loss": ckpt.partial_epoch_loss,
        "partial_epoch_correct": ckpt.partial_epoch_correct,
        "partial_epoch_seconds": ckpt.partial_epoch_seconds,
        "data": ckpt.data,
        "config": ckpt.config.to_dict(),
        "history": ckpt.history,
    }


def save(path: str | os.PathLike, ckpt: Checkpoint, before_rename: Callable[[int], None] | None = None,
         only_over: tuple[int, ...] | None | object = ANY) -> None:
    """Write ``ckpt`` atomically: .npz holds everything; .txt, .json, .onnx and .safetensors (docs/FORMAT.md)
    hold the parameters and the epoch count, so a run resumed from them starts its optimizer afresh.
    ``before_rename``, ``only_over``: as atomic_write's."""
    suffix = Path(path).suffix.lower()
    if suffix in TEXT_FORMATS:
        with atomic_write(path, before_rename=before_rename, only_over=only_over) as f:
            f.write(TEXT_FORMATS[suffix](ckpt.network, ckpt.epochs_done, ckpt.history).encode())
        return
    if suffix in BRIDGE_FORMATS:
        if ckpt.partial_epoch_samples:
            # Parameters from inside an epoch, which such a file cannot mark as such: it keeps the last whole
            # epoch, from which the next run trains this one again (as run.train does for the text formats).
            return
        content = BRIDGE_FORMATS[suffix].write(ckpt.network, ckpt.epochs_done, ckpt.history)
        with atomic_write(path, before_rename=before_rename, only_over=only_over) as f:
            f.write(content)
        return
    arrays = {"metadata": np.array(json.dumps(_metadata(ckpt)))}
    for layer, (w, b) in enumerate(zip(ckpt.network.weights, ckpt.network.biases)):
        arrays[f"weights.{layer}"] = w
        arrays[f"biases.{layer}"] = b
    arrays.update(ckpt.optimizer_state)
    with atomic_write(path, before_rename=before_rename, only_over=only_over) as f:
        np.savez(f, **arrays)


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and check a checkpoint (.npz, or a .txt/.json/.onnx/.safetensors parameter file); any problem is a
    one-line ScratchnetError naming the file."""
    path = Path(path)
    files.check_name(path)
    if not path.exists() and not path.is_symlink():  # where it looked, and what makes one
        raise ScratchnetError(f"{path}: no such checkpoint (looked for {path.absolute()}): train one with "
                              f"scratchnet train --params {path}, or name another with --params")
    suffix = path.suffix.lower()
    if suffix in WHOLE_EPOCHS_ONLY:
        params = BRIDGE_FORMATS[suffix].read(path) if suffix in BRIDGE_FORMATS else textformat.read(path)
        net = params.network
        config = TrainConfig(layers=net.sizes, hidden=net.hidden, output=net.output, dtype=str(net.dtype),
                             loss=NATURAL_LOSS[net.output])
        return Checkpoint(net, config, params.epochs_done)
    with files.open_npz(path) as npz:
        return _from_archive(path, npz)


def _read_metadata(path: Path, npz: files.NpzArchive) -> dict:
    """The metadata, every field checked against METADATA."""
    if "metadata" not in npz.names and "metadata" not in npz.others:
        raise ScratchnetError(f"{path}: not a scratchnet checkpoint (no metadata)")
    array = npz.read("metadata", 4 * MAX_METADATA_CHARS, shape=())  # 4 bytes a character
    if array.dtype.kind != "U":
        raise ScratchnetError(f"{path}: metadata is {array.dtype}, not a string")
    text = str(array[()])
    if _json_depth(text) > MAX_METADATA_DEPTH:
        raise ScratchnetError(f"{path}: metadata nests deeper than {MAX_METADATA_DEPTH} levels")
    try:
        meta = json.loads(text)
    except ValueError as e:  # JSONDecodeError, or an integer of more digits than Python converts
        raise ScratchnetError(f"{path}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ScratchnetError(f"{path}: not a scratchnet checkpoint (wrong format name)")
    if type(meta.get("version")) is not int or meta["version"] != VERSION:
        raise ScratchnetError(f"{path}: checkpoint format version {schema.describe(meta.get('version'))} is not "
                              f"supported (this scratchnet reads {VERSION})")
    try:
        return METADATA_SCHEMA(meta)
    except schema.Invalid as e:
        raise ScratchnetError(f"{path}: metadata {f'{e.field} ' if e.field else ''}{e.problem}") from None


def _json_depth(text: str) -> int:
    """How deeply the JSON nests arrays and objects (strings left out), found without parsing it."""
    codes = np.frombuffer(JSON_STRING.sub("", text).encode("utf-32-le"), np.uint32)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int32) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _from_archive(path: Path, npz: files.NpzArchive) -> Checkpoint:
    def bad(problem: str) -> ScratchnetError:
        return ScratchnetError(f"{path}: {problem}")

    meta = _read_metadata(path, npz)
    sizes, hidden, output, dtype = tuple(meta["sizes"]), meta["hidden"], meta["output"], meta["dtype"]
    try:
        check_sizes(sizes)
    except ScratchnetError as e:
        raise bad(f"metadata: {e}") from None
    config = meta["config"] or TrainConfig(layers=sizes, hidden=hidden, output=output, dtype=dtype,
                                           loss=NATURAL_LOSS[output])
    described = (config.layers, config.hidden, config.output, config.dtype)
    if described != (sizes, hidden, output, dtype):
        raise bad(f"metadata config describes a {describe(*described)} network, but sizes, hidden, output and "
                  f"dtype a {describe(sizes, hidden, output, dtype)} one")
    try:
        config.check()
    except ScratchnetError as e:
        raise bad(f"metadata config: {e}") from None

    def parameter(name: str, shape: tuple[int, ...]) -> np.ndarray:
        array = npz.read(name, math.prod(shape) * np.dtype(dtype).itemsize, shape, dtype)
        if not np.isfinite(array).all():
            raise bad(f"array {name} holds NaN or infinite values")
        return array

    shapes = [((n_in, n_out), (n_out,)) for n_in, n_out in itertools.pairwise(sizes)]
    weights = [parameter(f"weights.{layer}", w) for layer, (w, _) in enumerate(shapes)]
    biases = [parameter(f"biases.{layer}", b) for layer, (_, b) in enumerate(shapes)]
    # the state of the optimizer the settings name, where saved (a checkpoint made by import has none)
    optimizer_state = {}
    for slot in OPTIMIZER_SLOTS[config.optimizer]:
        for layer, pair in enumerate(shapes):
            for kind, shape in zip(("weights", "biases"), pair):
                name = f"optimizer.{slot}.{kind}.{layer}"
                if name in npz.names:
                    optimizer_state[name] = parameter(name, shape)
    if "optimizer.steps" in npz.names or "optimizer.steps" in npz.others:
        steps = npz.read("optimizer.steps", 8, (), "int64")
        if steps < 0:
            raise bad(f"array optimizer.steps is {steps}, a count of batches cannot be negative")
        optimizer_state["optimizer.steps"] = steps
    network = Network(sizes, hidden, output, weights, biases)
    return Checkpoint(network, config, meta["epochs_done"], meta["history"], optimizer_state,
                      meta["partial_epoch_samples"], meta["partial_epoch_loss"], meta["partial_epoch_correct"],
                      meta["partial_epoch_seconds"], meta["data"], meta["planned_epochs"])

"""Checkpoints: the network, its training settings, optimizer state and history in one .npz file.

Layout (docs/FORMAT.md): one array per tensor, ``weights.L`` (sizes[L], sizes[L+1]) and
``biases.L`` (sizes[L+1],), the optimizer's arrays under ``optimizer.*``, and ``metadata``: a
JSON string with the format version, the network's description, the settings, epochs done and
per-epoch history. Files are read with ``allow_pickle=False`` and written atomically.
"""

from __future__ import annotations

import itertools
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scratchnet import __version__, textformat
from scratchnet.atomic import atomic_write
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError
from scratchnet.network import DTYPES, HIDDEN_ACTIVATIONS, NATURAL_LOSS, OUTPUT_ACTIVATIONS, Network

FORMAT = "scratchnet-checkpoint"
VERSION = 1
DEFAULT_PATH = "network_params.npz"  # the seed's name
TEXT_FORMATS = {".txt": textformat.to_text, ".json": textformat.to_json}


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
    # (st_dev, st_ino, st_size, st_mtime_ns) of the file when it was read or last written by this run,
    # None when there was none: a save checks it (train.run), not stored in the file
    on_disk: tuple[int, ...] | None = field(default=None, compare=False, repr=False)


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
        "partial_epoch_samples": ckpt.partial_epoch_samples,
        "data": ckpt.data,
        "partial_epoch_loss": ckpt.partial_epoch_loss,
        "partial_epoch_correct": ckpt.partial_epoch_correct,
        "partial_epoch_seconds": ckpt.partial_epoch_seconds,
        "config": ckpt.config.to_dict(),
        "history": ckpt.history,
    }


def save(path: str | os.PathLike, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` atomically: .npz holds everything; .txt and .json (docs/FORMAT.md) hold the
    parameters and the epoch count, so a run resumed from them starts its optimizer afresh."""
    suffix = Path(path).suffix.lower()
    if suffix in TEXT_FORMATS:
        with atomic_write(path) as f:
            f.write(TEXT_FORMATS[suffix](ckpt.network, ckpt.epochs_done, ckpt.history).encode())
        return
    arrays = {"metadata": np.array(json.dumps(_metadata(ckpt)))}
    for layer, (w, b) in enumerate(zip(ckpt.network.weights, ckpt.network.biases)):
        arrays[f"weights.{layer}"] = w
        arrays[f"biases.{layer}"] = b
    arrays.update(ckpt.optimizer_state)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and check a checkpoint (.npz, or a .txt/.json parameter file); any problem is a
    one-line ScratchnetError naming the file."""
    path = Path(path)
    if path.suffix.lower() in TEXT_FORMATS:
        params = textformat.read(path)
        net = params.network
        config = TrainConfig(layers=net.sizes, hidden=net.hidden, output=net.output, dtype=str(net.dtype),
                             loss=NATURAL_LOSS[net.output])
        return Checkpoint(net, config, params.epochs_done)
    try:
        with open(path, "rb") as f:
            if not f.read(4).startswith(b"PK"):  # np.load would take anything else for a pickle
                raise ScratchnetError(f"{path}: not a readable checkpoint (not an .npz file)")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise ScratchnetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScratchnetError(f"{path}: is a directory, not a checkpoint") from None
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ScratchnetError(f"{path}: holds pickled Python objects; refused, as loading them could run code") from None
        raise ScratchnetError(f"{path}: not a readable checkpoint ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ScratchnetError(f"{path}: not a readable checkpoint ({e})") from None
    return _from_arrays(path, arrays)


def _from_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Checkpoint:
    def bad(problem: str) -> ScratchnetError:
        return ScratchnetError(f"{path}: {problem}")

    if "metadata" not in arrays:
        raise bad("not a scratchnet checkpoint (no metadata)")
    try:
        meta = json.loads(str(arrays.pop("metadata")))
    except (json.JSONDecodeError, TypeError) as e:
        raise bad(f"metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad("not a scratchnet checkpoint (wrong format name)")
    if meta.get("version") != VERSION:
        raise bad(f"checkpoint format version {meta.get('version')} is not supported (this scratchnet reads {VERSION})")
    try:
        sizes = tuple(int(n) for n in meta["sizes"])
        hidden, output, dtype = meta["hidden"], meta["output"], meta["dtype"]
        config = TrainConfig.from_dict(meta.get("config", {}))
        epochs_done = int(meta.get("epochs_done", 0))
        partial = int(meta.get("partial_epoch_samples", 0))
        partial_record = (float(meta.get("partial_epoch_loss", 0.0)), int(meta.get("partial_epoch_correct", 0)),
                          float(meta.get("partial_epoch_seconds", 0.0)))
        history = list(meta.get("history", []))
        data = meta.get("data")
        if data is not None and not (isinstance(data, dict) and all(
                isinstance(data.get(key), str) for key in ("source", "fingerprint"))):
            raise TypeError("data must hold the strings source and fingerprint")
    except (KeyError, TypeError, ValueError) as e:
        raise bad(f"metadata is incomplete or malformed ({e})") from None
    if hidden not in HIDDEN_ACTIVATIONS or output not in OUTPUT_ACTIVATIONS or dtype not in DTYPES or len(sizes) < 2:
        raise bad(f"unsupported network description {'-'.join(map(str, sizes))} {hidden}/{output} {dtype}")
    weights, biases = [], []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        for name, shape, into in ((f"weights.{layer}", (n_in, n_out), weights), (f"biases.{layer}", (n_out,), biases)):
            array = arrays.get(name)
            if array is None:
                raise bad(f"missing array {name}")
            if array.shape != shape or array.dtype != np.dtype(dtype):
                raise bad(f"array {name} is {array.dtype} {array.shape}, expected {dtype} {shape}")
            if not np.isfinite(array).all():
                raise bad(f"array {name} holds NaN or infinite values")
            into.append(array)
    optimizer_state = {k: v for k, v in arrays.items() if k.startswith("optimizer.")}
    network = Network(sizes, hidden, output, weights, biases)
    return Checkpoint(network, config, epochs_done, history, optimizer_state, partial, *partial_record, data=data)

"""scratchnet.checkpoint: round trips, atomic writes, and refusal of broken or dangerous files."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

from scratchnet import checkpoint, network, train
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError


def sample(dtype="float64") -> Checkpoint:
    cfg = TrainConfig(layers=(784, 12, 10), hidden="tanh", output="softmax", loss="cross_entropy",
                      dtype=dtype, optimizer="adam")
    net = network.create(cfg.layers, cfg.hidden, cfg.output, "xavier", dtype, np.random.default_rng(3))
    opt = train.Optimizer(cfg, net)
    opt.step()
    opt.update(net, 1, np.ones((12, 10)), np.ones(10), 0.1)
    history = [{"epoch": 1, "loss": 0.5, "test_accuracy": 0.9}]
    return Checkpoint(net, cfg, epochs_done=1, history=history, optimizer_state=opt.state())


def refused(path, *fragments):
    with pytest.raises(ScratchnetError) as info:
        checkpoint.load(path)
    message = str(info.value)
    assert "\n" not in message and os.path.basename(path) in message
    for fragment in fragments:
        assert fragment in message
    return message


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_is_exact(tmp_path, dtype):
    ckpt = sample(dtype)
    checkpoint.save(tmp_path / "c.npz", ckpt)
    back = checkpoint.load(tmp_path / "c.npz")
    assert back.network.sizes == (784, 12, 10) and back.network.hidden == "tanh" and back.network.output == "softmax"
    for a, b in zip(back.network.weights + back.network.biases, ckpt.network.weights + ckpt.network.biases):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert back.config == ckpt.config and back.epochs_done == 1 and back.history == ckpt.history
    assert back.optimizer_state.keys() == ckpt.optimizer_state.keys()
    restored = train.Optimizer(back.config, back.network, back.optimizer_state)
    assert restored.steps == 1 and np.array_equal(restored.slots["m"][2], ckpt.optimizer_state["optimizer.m.weights.1"])


def test_one_named_array_per_tensor_and_json_metadata(tmp_path):
    checkpoint.save(tmp_path / "c.npz", sample())
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert {"weights.0", "biases.0", "weights.1", "biases.1", "metadata"} <= set(npz.files)
        meta = json.loads(str(npz["metadata"]))
    assert meta["format"] == "scratchnet-checkpoint" and meta["version"] == 1
    assert meta["sizes"] == [784, 12, 10] and meta["config"]["optimizer"] == "adam"


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    checkpoint.save(path, sample())
    before = path.read_bytes()

    def half_then_fail(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, sample())
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary file left behind


def test_a_failed_rename_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    checkpoint.save(path, sample())
    before = path.read_bytes()
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(ScratchnetError, match="cannot write .*c.npz: No space left on device"):
        checkpoint.save(path, sample())
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.npz"]


def test_written_files_get_ordinary_permissions(tmp_path):
    path = tmp_path / "c.npz"
    old = os.umask(0o022)
    try:
        checkpoint.save(path, sample())
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o600)  # a replaced file keeps the mode its owner gave it
        checkpoint.save(path, sample())
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_writing_into_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(ScratchnetError, match="cannot write .*nowhere"):
        checkpoint.save(tmp_path / "nowhere" / "c.npz", sample())


class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_objects_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.npz"
    np.savez(path, weights=np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    refused(path, "pickled")
    assert not marker.exists()


def test_the_seeds_broken_file_is_refused(tmp_path):
    # What the seed leaves behind on NumPy >= 1.24: np.savez failed part-way through a ragged list.
    path = tmp_path / "network_params.npz"
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # 22 bytes: an empty zip
    refused(path, "no metadata")


@pytest.mark.parametrize(
    "corrupt,fragment",
    [
        (lambda b: b[: len(b) // 2], "not a readable checkpoint"),
        (lambda b: b"hello", "not a readable checkpoint"),
        (lambda b: b"", "not a readable checkpoint"),
    ],
)
def test_damaged_files_are_refused(tmp_path, corrupt, fragment):
    path = tmp_path / "c.npz"
    checkpoint.save(path, sample())
    path.write_bytes(corrupt(path.read_bytes()))
    refused(path, fragment)


def rewrite(path, **changes):
    """Save the checkpoint at path again with some arrays replaced (None removes one)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k.replace("__", ".")]
        else:
            arrays[k.replace("__", ".")] = v
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    "changes,fragment",
    [
        ({"weights__1": None}, "missing array weights.1"),
        ({"weights__0": np.zeros((784, 13))}, "weights.0 is float64 (784, 13), expected float64 (784, 12)"),
        ({"biases__0": np.zeros(12, dtype=np.float32)}, "biases.0 is float32"),
        ({"biases__1": np.full(10, np.nan)}, "biases.1 holds NaN"),
        ({"metadata": np.array("{not json")}, "not valid JSON"),
        ({"metadata": np.array(json.dumps({"format": "other"}))}, "wrong format name"),
        ({"metadata": np.array(json.dumps({"format": "scratchnet-checkpoint", "version": 99}))}, "version 99"),
        ({"metadata": np.array(json.dumps({"format": "scratchnet-checkpoint", "version": 1}))}, "incomplete"),
    ],
)
def test_inconsistent_contents_are_refused(tmp_path, changes, fragment):
    path = tmp_path / "c.npz"
    checkpoint.save(path, sample())
    rewrite(path, **changes)
    refused(path, fragment)


def test_missing_file_and_directory(tmp_path):
    refused(tmp_path / "absent.npz", "no such file")
    (tmp_path / "folder.npz").mkdir()
    refused(tmp_path / "folder.npz", "directory")


def test_a_zip_of_something_else_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    refused(path)

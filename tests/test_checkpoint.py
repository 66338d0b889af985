"""scratchnet.checkpoint: round trips, atomic writes, and refusal of broken or dangerous files."""

import io
import json
import os
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from crafted import deflated_zeros, npy_header, raw_zip, run_limited
from scratchnet import checkpoint, network, optim
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError


def sample(dtype="float64") -> Checkpoint:
    cfg = TrainConfig(layers=(784, 12, 10), hidden="tanh", output="softmax", loss="cross_entropy",
                      dtype=dtype, optimizer="adam")
    net = network.create(cfg.layers, cfg.hidden, cfg.output, "xavier", dtype, np.random.default_rng(3))
    opt = optim.Optimizer(cfg, net)
    opt.update(net, [np.zeros((784, 12)), np.ones((12, 10))], [np.zeros(12), np.ones(10)], 0.1)
    history = [{"epoch": 1, "loss": 0.5, "train_accuracy": 0.8, "test_accuracy": 0.9, "seconds": 2.0,
                "samples_per_second": 30000.0, "lr": 0.1}]
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
    restored = optim.Optimizer(back.config, back.network, back.optimizer_state)
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


def test_the_original_programs_broken_file_is_refused(tmp_path):
    # What the original program leaves behind on NumPy >= 1.24: np.savez failed part-way through a ragged list.
    path = tmp_path / "network_params.npz"
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # 22 bytes: an empty zip
    refused(path, "no metadata")


@pytest.mark.parametrize(
    "corrupt,fragment",
    [
        (lambda b: b[: len(b) // 2], "not an .npz archive"),
        (lambda b: b"hello", "not an .npz archive"),
        (lambda b: b"", "not an .npz archive"),
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
        ({"weights__1": None}, "array weights.1 is missing"),
        ({"weights__0": np.zeros((784, 13))}, "weights.0 is float64 (784, 13), expected float64 (784, 12)"),
        ({"biases__0": np.zeros(12, dtype=np.float32)}, "biases.0 is float32"),
        ({"biases__1": np.full(10, np.nan)}, "biases.1 holds NaN"),
        ({"metadata": np.array("{not json")}, "not valid JSON"),
        ({"metadata": np.array(json.dumps({"format": "other"}))}, "wrong format name"),
        ({"metadata": np.array(json.dumps({"format": "scratchnet-checkpoint", "version": 99}))}, "version 99"),
        ({"metadata": np.array(json.dumps({"format": "scratchnet-checkpoint", "version": 1}))}, "metadata lacks the field 'sizes'"),
    ],
)
def test_inconsistent_contents_are_refused(tmp_path, changes, fragment):
    path = tmp_path / "c.npz"
    checkpoint.save(path, sample())
    rewrite(path, **changes)
    refused(path, fragment)


def test_missing_file_and_directory(tmp_path):
    refused(tmp_path / "absent.npz", "no such checkpoint")
    (tmp_path / "folder.npz").mkdir()
    refused(tmp_path / "folder.npz", "is a folder")


def test_a_zip_of_something_else_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    refused(path)


# -----------------------------------------------------------------------------
# every field of a checkpoint is checked before use: one-line errors naming the file and the field

def saved(tmp_path, name="c.npz"):
    path = tmp_path / name
    checkpoint.save(path, sample())
    return path


def edit_metadata(path, edit):
    """Rewrite the checkpoint at path with edit(metadata dict) applied to its metadata."""
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["metadata"]))
    edit(meta)
    rewrite(path, metadata=np.array(json.dumps(meta)))


def set_config(**values):
    return lambda meta: meta["config"].update(values)


@pytest.mark.parametrize(
    "edit,fragments",
    [
        (lambda m: m.update(config=[1, 2]), ["metadata config must be an object, not a list"]),
        (lambda m: m.update(config=None), ["metadata config must be an object, not null"]),
        (lambda m: m.update(config="adam"), ["metadata config must be an object, not a string 'adam'"]),
        (set_config(seed=-1), ["metadata config", "--seed must be at least 0, got -1"]),
        (set_config(seed=2**64), ["metadata config.seed must be from"]),
        (set_config(epochs=-3), ["metadata config", "--epochs must be at least 0, got -3"]),
        (set_config(epochs=True), ["metadata config.epochs must be a whole number, not true"]),
        (set_config(batch_size=32.0), ["metadata config.batch_size must be a whole number, not 32.0"]),
        (set_config(lr="fast"), ["metadata config.lr must be a number, not a string 'fast'"]),
        (set_config(lr=float("nan")), ["metadata config.lr must be a finite number, not nan"]),
        (set_config(lr=float("inf")), ["metadata config.lr must be a finite number"]),
        (set_config(lr=-0.5), ["metadata config", "--lr must be a finite number >= 0"]),
        (set_config(shuffle=1), ["metadata config.shuffle must be true or false, not 1"]),
        (set_config(optimizer="rmsprop"), ["metadata config.optimizer must be one of sgd, momentum"]),
        (set_config(layers=[784, "12", 10]), ["metadata config.layers[1] must be a whole number, not a string '12'"]),
        (set_config(layers=[784, 30, 10]), ["metadata config describes a 784-30-10", "784-12-10"]),
        (set_config(colour="blue"), ["metadata config has an unknown field 'colour'"]),
        (lambda m: m.update(colour="blue"), ["metadata has an unknown field 'colour'"]),
        (lambda m: m.update(version=True), ["version true is not supported"]),
        (lambda m: m.update(epochs_done=-1), ["metadata epochs_done must be from 0 to"]),
        (lambda m: m.update(epochs_done=2**31), ["metadata epochs_done must be from 0 to 2147483647"]),
        (lambda m: m.update(epochs_done="5"), ["metadata epochs_done must be a whole number, not a string '5'"]),
        (lambda m: m.update(partial_epoch_samples=-5), ["metadata partial_epoch_samples must be from 0"]),
        (lambda m: m.update(sizes=[784, 12.0, 10]), ["metadata sizes[1] must be a whole number, not 12.0"]),
        (lambda m: m.update(sizes=[784, 10**7, 10]), ["metadata sizes[1] must be from 1 to 1000000"]),
        (lambda m: m.update(sizes=[784] + [1] * 17), ["metadata sizes must have 2 to 17 entries, not 18"]),
        (lambda m: m.update(sizes=[784, 1000000, 1000, 10]), ["metadata: layer sizes 784-1000000-1000-10 make",
                                                              "more than the 1000000000 allowed"]),
        (lambda m: m.update(dtype="float16"), ["metadata dtype must be one of float64, float32"]),
        (lambda m: m.update(history="none"), ["metadata history must be a list, not a string 'none'"]),
        (lambda m: m.update(history=[5]), ["metadata history[0] must be an object, not 5"]),
        (lambda m: m["history"][0].update(loss="low"), ["metadata history[0].loss must be a number"]),
        (lambda m: m["history"][0].update(test_accuracy=1.5), ["metadata history[0].test_accuracy must be from 0 to 1"]),
        (lambda m: m["history"][0].pop("epoch"), ["metadata history[0] lacks the field 'epoch'"]),
        (lambda m: m["history"][0].update(epoch=[1]), ["metadata history[0].epoch must be a whole number, not a list"]),
    ],
)
def test_malformed_metadata_is_refused_naming_the_field(tmp_path, edit, fragments):
    path = saved(tmp_path)
    edit_metadata(path, edit)
    refused(path, *fragments)


def test_deeply_nested_metadata_is_refused(tmp_path):
    path = saved(tmp_path)
    rewrite(path, metadata=np.array('{"format": "scratchnet-checkpoint", "history": ' + "[" * 100_000 + "]" * 100_000
                                    + "}"))
    refused(path, "metadata nests deeper than 8 levels")


def test_metadata_of_another_type_is_refused(tmp_path):
    path = saved(tmp_path)
    rewrite(path, metadata=np.array([1.0, 2.0]))
    refused(path, "array metadata is float64 (2,), expected float64 ()")
    rewrite(path, metadata=np.array(b'{"format": "scratchnet-checkpoint"}'))
    refused(path, "metadata is |S", "not a string")


@pytest.mark.parametrize("steps,fragment", [
    (np.array(-4, np.int64), "optimizer.steps is -4, a count of batches cannot be negative"),
    (np.array(2.5), "array optimizer.steps is float64 (), expected int64 ()"),
    (np.array("many"), "array optimizer.steps is <U4 (), expected int64 ()"),
    (np.array([1, 2], np.int64), "array optimizer.steps is int64 (2,), expected int64 ()"),
])
def test_malformed_optimizer_state_is_refused(tmp_path, steps, fragment):
    path = saved(tmp_path)
    rewrite(path, optimizer__steps=steps)
    refused(path, fragment)


def test_non_finite_optimizer_state_is_refused(tmp_path):
    path = saved(tmp_path)
    rewrite(path, optimizer__m__weights__0=np.full((784, 12), np.inf))
    refused(path, "array optimizer.m.weights.0 holds NaN or infinite values")


def test_fortran_ordered_and_byte_swapped_arrays_are_read_as_native_c_arrays(tmp_path):
    path = saved(tmp_path)
    original = checkpoint.load(path)
    w0, w1 = original.network.weights
    rewrite(path, weights__0=np.asfortranarray(w0), weights__1=w1.astype(">f8"),
            optimizer__m__weights__0=np.asfortranarray(original.optimizer_state["optimizer.m.weights.0"]).astype(">f8"))
    back = checkpoint.load(path)
    for a, b in zip(back.network.weights + [back.optimizer_state["optimizer.m.weights.0"]],
                    [w0, w1, original.optimizer_state["optimizer.m.weights.0"]]):
        assert a.flags.c_contiguous and a.dtype == np.float64 and a.dtype.isnative and np.array_equal(a, b)


def write_zip(path, members):
    """A zip of (name, bytes) members, stored, as np.savez writes them."""
    with zipfile.ZipFile(path, "w") as z:
        for name, payload in members:
            z.writestr(name, payload)


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def members_of(path):
    with zipfile.ZipFile(path) as z:
        return [(name, z.read(name)) for name in z.namelist()]


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_member_that_is_not_npy_is_refused(tmp_path):
    path = saved(tmp_path)
    good = members_of(path)
    write_zip(path, [(n if n != "metadata.npy" else "metadata", p) for n, p in good])
    refused(path, "array metadata is not a .npy member")
    write_zip(path, [(n, p if n != "weights.0.npy" else b"PK\x03\x04 not an array") for n, p in good])
    refused(path, "array weights.0 cannot be read", "magic")
    write_zip(path, [(n, p if n != "biases.1.npy" else p[:-8]) for n, p in good])  # cut short
    refused(path, "array biases.1 is float64 (10,) (80 bytes) but its member holds 72 bytes of data")
    write_zip(path, good + [("biases.1.npy", npy(np.zeros(10)))])
    refused(path, "holds two members named 'biases.1.npy'")


BOMB_BYTES = 3000 << 20  # 3 GiB of float64 zeros, in 3 MB of file


def bomb_checkpoint(tmp_path, member):
    """The sample checkpoint plus (or with weights.0 replaced by) a 3 GiB member deflated to 3 MB."""
    path = saved(tmp_path, "bomb.npz")
    bomb, size = deflated_zeros((BOMB_BYTES // 8,))
    good = [(n, p, len(p), False) for n, p in members_of(path) if n != member + ".npy"]
    raw_zip(path, good + [(member + ".npy", bomb, size, True)])
    return path


def test_a_member_declaring_more_than_its_shape_is_refused_before_reading(tmp_path):
    path = saved(tmp_path)
    good = [(n, p, len(p), False) for n, p in members_of(path)]
    lying = [(n, p, d if n != "biases.0.npy" else 3 * 10**9, f) for n, p, d, f in good]
    raw_zip(path, lying)
    refused(path, "array biases.0 takes 3,000,000,000 bytes, more than the 96 it may")
    header = npy_header((784, 12 * 10**6))  # 75 GB declared by the header, in a member of 128 bytes
    raw_zip(path, [(n, p if n != "weights.0.npy" else header, d if n != "weights.0.npy" else len(header), f)
                   for n, p, d, f in good])
    refused(path, "array weights.0 is float64 (784, 12000000), expected float64 (784, 12)")


def test_an_extra_bomb_member_is_never_read(tmp_path):
    path = bomb_checkpoint(tmp_path, "extra")
    assert path.stat().st_size < 5_000_000
    done = run_limited("inspect", "-p", path)
    assert done.returncode == 0 and "784-12-10 tanh/softmax" in done.stdout, done.stderr


def test_a_bomb_in_place_of_weights_is_one_line_error_within_memory(tmp_path):
    path = bomb_checkpoint(tmp_path, "weights.0")
    done = run_limited("inspect", "-p", path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "bomb.npz: array weights.0 takes 3,145,728,128 bytes, more than the 75,264 it may" in done.stderr


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_special_files_are_refused(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.npz"
        os.mkfifo(path)  # opening it for reading waits for a writer: one comes after 5 s, so a failure is no hang
        threading.Thread(target=lambda: time.sleep(5) or open(path, "wb").close(), daemon=True).start()
    else:
        path = Path("/dev/zero")
    message = refused(path, "not a regular file")
    assert ("a named pipe" if kind == "fifo" else "a character device") in message

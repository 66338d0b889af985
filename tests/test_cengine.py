"""The C engine against the NumPy one, tensor by tensor (in the spirit of llm.c's test_gpt2):
from the same parameters and the same sample order, one epoch in each must agree to 1e-9."""

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from scratchnet import cengine, checkpoint, cli, network, train
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError

CSRC = Path(__file__).resolve().parents[1] / "csrc"


def _built() -> bool:
    try:
        cengine.library(np.float64)
        cengine.library(np.float32)
        return True
    except ScratchnetError:
        return False


if not _built():
    if os.environ.get("SCRATCHNET_REQUIRE_C"):  # CI builds it: a missing library is a failure there
        raise RuntimeError("the C library is not built: make -C csrc")
    pytest.skip("the C library is not built (make -C csrc)", allow_module_level=True)


def fresh(cfg: TrainConfig) -> network.Network:
    return network.create(cfg.layers, cfg.hidden, cfg.output, cfg.init, cfg.dtype, np.random.default_rng(cfg.seed))


def copy(net: network.Network) -> network.Network:
    return dataclasses.replace(net, weights=[w.copy() for w in net.weights], biases=[b.copy() for b in net.biases])


def both_engines(cfg: TrainConfig, images, labels, epochs=1):
    """Train copies of one network with each engine; return (numpy net, C net, their results)."""
    start = fresh(cfg)
    nets, results = {}, {}
    for engine in train.ENGINES:
        net = copy(start)
        optimizer = train.Optimizer(cfg, net)
        results[engine] = []
        for epoch in range(epochs):
            order, shown = train.epoch_samples(cfg, images, epoch)
            lr = train.learning_rate(cfg, epoch, epochs)
            results[engine].append(train.get_engine(engine).train_epoch(net, optimizer, cfg, shown, labels, order, lr))
        nets[engine] = net
    return nets["numpy"], nets["c"], results


def assert_close(a: network.Network, b: network.Network, rtol: float) -> None:
    for name, x, y in zip(["w"] * a.n_layers + ["b"] * a.n_layers, a.weights + a.biases, b.weights + b.biases):
        scale = np.abs(y).max()
        worst = np.abs(x.astype(np.float64) - y).max() / scale
        assert worst <= rtol, f"{name}: max difference {worst:.3g} of the tensor's scale"


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the seed: per-sample SGD, sigmoid, file order
        {"batch_size": 32, "optimizer": "momentum", "lr": 0.1},
        {"batch_size": 32, "optimizer": "nesterov", "lr": 0.05, "hidden": "relu", "output": "softmax",
         "loss": "cross_entropy", "init": "he", "weight_decay": 1e-4, "shuffle": True, "shift": 1},
        {"batch_size": 1, "optimizer": "momentum", "lr": 0.002, "hidden": "tanh", "loss": "mse", "init": "xavier"},
        {"batch_size": 17, "optimizer": "adam", "lr": 0.001, "layers": (784, 30, 20, 10), "output": "softmax",
         "loss": "cross_entropy", "init": "xavier", "schedule": "cosine"},
    ],
    ids=["seed", "momentum-32", "nesterov-relu-softmax-shift", "per-sample-momentum-tanh-mse", "adam-3-layers"],
)
def test_one_epoch_matches_numpy_to_1e9(mnist, settings):
    cfg = TrainConfig(**settings)
    ours, theirs, results = both_engines(cfg, mnist.train_images, mnist.train_labels)
    assert_close(theirs, ours, 1e-9)
    (np_loss, np_acc), (c_loss, c_acc) = results["numpy"][0], results["c"][0]
    assert c_loss == pytest.approx(np_loss, rel=1e-9) and c_acc == np_acc
    predicted = {e: train.get_engine(e).predict(n, mnist.test_images).argmax(axis=1)
                 for e, n in (("numpy", ours), ("c", theirs))}
    assert np.array_equal(predicted["numpy"], predicted["c"])  # all 10,000 test images


def test_predict_matches_numpy(mnist):
    net = fresh(TrainConfig(layers=(784, 40, 10), hidden="tanh", output="softmax", init="xavier"))
    np.testing.assert_allclose(cengine.predict(net, mnist.test_images), train.predict(net, mnist.test_images),
                               rtol=1e-12, atol=1e-15)


def test_float32_agrees_closely(small):
    cfg = TrainConfig(layers=(784, 64, 10), hidden="relu", output="softmax", loss="cross_entropy", init="he",
                      dtype="float32", batch_size=32, optimizer="nesterov", lr=0.05)
    ours, theirs, _ = both_engines(cfg, small.train_images, small.train_labels)
    assert all(w.dtype == np.float32 for w in ours.weights + theirs.weights)
    assert_close(theirs, ours, 1e-4)  # float32 sums in another order: a few ulps per step


def test_models_move_freely_between_engines(small_npz, tmp_path, capsys):
    params = tmp_path / "net.npz"
    assert cli.main(["train", "--engine", "c", "--data", str(small_npz), "-p", str(params), "--epochs", "2",
                     "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert cli.main(["train", "--engine", "numpy", "--data", str(small_npz), "-p", str(params), "--epochs", "1",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epoch"] == 3
    results = {}
    for engine in train.ENGINES:
        assert cli.main(["evaluate", "--engine", engine, "--data", str(small_npz), "-p", str(params), "--json"]) == 0
        results[engine] = json.loads(capsys.readouterr().out)
    assert results["c"] == results["numpy"]
    answers = {}
    for engine in train.ENGINES:
        assert cli.main(["predict", "--engine", engine, "--data", str(small_npz), "-p", str(params), "--json",
                         "0", "7"]) == 0
        answers[engine] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["prediction"] for a in answers["c"]] == [a["prediction"] for a in answers["numpy"]]
    for a, b in zip(answers["c"], answers["numpy"]):
        assert a["confidence"] == pytest.approx(b["confidence"], rel=1e-12)


def test_the_standalone_program_reads_what_python_writes(mnist, tmp_path):
    program = CSRC / "scratchnet-c"
    if not program.exists():
        pytest.skip("scratchnet-c is not built")
    net = fresh(TrainConfig())
    optimizer = train.Optimizer(TrainConfig(), net)
    order, images = train.epoch_samples(TrainConfig(), mnist.train_images, 0)
    train.train_epoch(net, optimizer, TrainConfig(), images, mnist.train_labels, order, 0.005)
    params = tmp_path / "net.txt"
    checkpoint.save(params, checkpoint.Checkpoint(net, TrainConfig(), epochs_done=1))
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHNET_DATA"}
    # no --data, from another folder: it finds the repository's data/mnist from its own path
    result = subprocess.run([str(program), "evaluate", "--params", str(params)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    expected = train.evaluate(net, mnist.test_images, mnist.test_labels).accuracy
    assert f"{100 * expected:.2f}%" in result.stdout


def test_the_standalone_program_away_from_the_repository_asks_for_data(tmp_path):
    program = CSRC / "scratchnet-c"
    if not program.exists():
        pytest.skip("scratchnet-c is not built")
    copy = tmp_path / "bin" / "scratchnet-c"
    copy.parent.mkdir()
    shutil.copy(program, copy)
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHNET_DATA"}
    result = subprocess.run([str(copy), "train", "--params", "p.txt"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1 and not (tmp_path / "p.txt").exists()
    assert result.stderr.count("\n") == 1 and f"{tmp_path}/data/mnist: No such file" in result.stderr
    assert "--data DIR or SCRATCHNET_DATA" in result.stderr


def test_ctrl_c_in_the_c_engine_stops_at_a_chunk(small, tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    ckpt = train.start(path, {"epochs": 2})
    flag = train.StopFlag()
    monkeypatch.setattr(train, "stop_on_interrupt", lambda: __import__("contextlib").nullcontext(flag))

    def progress(done):
        flag.requested = True

    monkeypatch.setattr(cengine, "CHUNK", 500)
    original = cengine.train_epoch
    monkeypatch.setattr(cengine, "train_epoch", lambda *a: original(*a[:7], a[7], progress))
    assert not train.run(ckpt, small, path, engine="c")
    assert checkpoint.load(path).partial_epoch_samples == 500

"""The C engine against the NumPy one, tensor by tensor (in the spirit of llm.c's test_gpt2):
from the same parameters and the same sample order, one epoch in each must agree to 1e-9."""

import dataclasses
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from crafted import run_measured
from scratchnet import cengine, checkpoint, cli, config, engines, network, numpy_engine, optim, run, textformat
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError
from test_atomic import device, is_device, temps

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
    for engine in engines.ENGINES:
        net = copy(start)
        optimizer = optim.Optimizer(cfg, net)
        results[engine] = []
        for epoch in range(epochs):
            order, shown = numpy_engine.epoch_samples(cfg, images, epoch)
            lr = optim.learning_rate(cfg, epoch, epochs)
            results[engine].append(engines.get(engine).train_epoch(net, optimizer, cfg, shown, labels, order, lr))
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
        {},  # the original program: per-sample SGD, sigmoid, file order
        {"batch_size": 32, "optimizer": "momentum", "lr": 0.1},
        {"batch_size": 32, "optimizer": "nesterov", "lr": 0.05, "hidden": "relu", "output": "softmax",
         "loss": "cross_entropy", "init": "he", "weight_decay": 1e-4, "shuffle": True, "shift": 1},
        {"batch_size": 1, "optimizer": "momentum", "lr": 0.002, "hidden": "tanh", "loss": "mse", "init": "xavier"},
        {"batch_size": 17, "optimizer": "adam", "lr": 0.001, "layers": (784, 30, 20, 10), "output": "softmax",
         "loss": "cross_entropy", "init": "xavier", "schedule": "cosine"},
    ],
    ids=["original", "momentum-32", "nesterov-relu-softmax-shift", "per-sample-momentum-tanh-mse", "adam-3-layers"],
)
def test_one_epoch_matches_numpy_to_1e9(mnist, settings):
    cfg = TrainConfig(**settings)
    ours, theirs, results = both_engines(cfg, mnist.train_images, mnist.train_labels)
    assert_close(theirs, ours, 1e-9)
    (np_loss, np_acc), (c_loss, c_acc) = results["numpy"][0], results["c"][0]
    assert c_loss == pytest.approx(np_loss, rel=1e-9) and c_acc == np_acc
    predicted = {e: engines.get(e).predict(n, mnist.test_images).argmax(axis=1)
                 for e, n in (("numpy", ours), ("c", theirs))}
    assert np.array_equal(predicted["numpy"], predicted["c"])  # all 10,000 test images


def test_predict_matches_numpy(mnist):
    net = fresh(TrainConfig(layers=(784, 40, 10), hidden="tanh", output="softmax", init="xavier"))
    np.testing.assert_allclose(cengine.predict(net, mnist.test_images), numpy_engine.predict(net, mnist.test_images),
                               rtol=1e-12, atol=1e-15)


def test_float32_agrees_closely(small):
    cfg = TrainConfig(layers=(784, 64, 10), hidden="relu", output="softmax", loss="cross_entropy", init="he",
                      dtype="float32", batch_size=32, optimizer="nesterov", lr=0.05)
    ours, theirs, _ = both_engines(cfg, small.train_images, small.train_labels)
    assert all(w.dtype == np.float32 for w in ours.weights + theirs.weights)
    assert_close(theirs, ours, 1e-4)  # float32 sums in another order: a few ulps per step


def test_both_engines_train_alike_on_elastic_distortions(small):
    cfg = TrainConfig(layers=(784, 32, 10), hidden="relu", output="softmax", loss="cross_entropy", init="he",
                      batch_size=32, optimizer="nesterov", lr=0.05, shuffle=True, shift=1, elastic=34.0)
    ours, theirs, results = both_engines(cfg, small.train_images, small.train_labels, epochs=2)
    assert_close(theirs, ours, 1e-9)  # each engine made its epochs' images itself: the same ones
    assert results["c"][1][1] == results["numpy"][1][1]


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
    for engine in engines.ENGINES:
        assert cli.main(["evaluate", "--engine", engine, "--data", str(small_npz), "-p", str(params), "--json"]) == 0
        results[engine] = json.loads(capsys.readouterr().out)
    assert results["c"] == results["numpy"]
    answers = {}
    for engine in engines.ENGINES:
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
    optimizer = optim.Optimizer(TrainConfig(), net)
    order, images = numpy_engine.epoch_samples(TrainConfig(), mnist.train_images, 0)
    numpy_engine.train_epoch(net, optimizer, TrainConfig(), images, mnist.train_labels, order, 0.005)
    params = tmp_path / "net.txt"
    checkpoint.save(params, checkpoint.Checkpoint(net, TrainConfig(), epochs_done=1))
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHNET_DATA"}
    # no --data, from another folder: it finds the repository's data/mnist from its own path
    result = subprocess.run([str(program), "predict", "--params", str(params), *map(str, range(30))], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    outputs = engines.outputs(net, mnist.test_images[:30])
    expected = [f"image {i} (test): label {mnist.test_labels[i]}, prediction {o.argmax()} (confidence {o.max():.2f})"
                for i, o in enumerate(outputs)]
    shown = re.findall(r"^image \d+ \(test\): label \d, prediction \d \(confidence [\d.]+\)", result.stdout,
                       re.MULTILINE)
    assert shown == expected


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
    ckpt = run.start(path, {"epochs": 2})
    flag = run.StopFlag()
    monkeypatch.setattr(run, "stop_on_interrupt", lambda stop=None: __import__("contextlib").nullcontext(flag))

    def progress(done):
        flag.requested = True

    monkeypatch.setattr("scratchnet.stop.CHUNK", 500)
    original = cengine.train_epoch
    monkeypatch.setattr(cengine, "train_epoch", lambda *a: original(*a[:7], a[7], progress))
    assert not run.train(ckpt, small, path, engine="c")
    assert checkpoint.load(path).partial_epoch_samples == 500


@pytest.mark.parametrize("stops", [[300], [700, 1300, 900]], ids=["early", "three-times"])
def test_interrupted_and_resumed_equals_uninterrupted(small, tmp_path, interrupted_run, assert_same_run, monkeypatch,
                                                       resumable, stops):
    """As tests/test_numpy_engine.py's, in C: Ctrl-C, train again, the same bits as one straight run."""
    explicit = dict(resumable, epochs=3)
    straight = run.start(tmp_path / "a.npz", explicit)
    assert run.train(straight, small, tmp_path / "a.npz", engine="c")
    monkeypatch.setattr("scratchnet.stop.CHUNK", 300)
    resumed = interrupted_run(tmp_path / "b.npz", small, explicit, cengine, stops, engine="c")
    assert_same_run(checkpoint.load(tmp_path / "a.npz"), resumed)


@pytest.fixture
def program() -> Path:
    path = CSRC / "scratchnet-c"
    if not path.exists():
        if os.environ.get("SCRATCHNET_REQUIRE_C"):
            raise RuntimeError("scratchnet-c is not built: make -C csrc")
        pytest.skip("scratchnet-c is not built (make -C csrc)")
    return path


@pytest.fixture(scope="module")
def small_idx(tmp_path_factory, small) -> Path:
    """The small slice as the folder of IDX files scratchnet-c reads."""
    folder = tmp_path_factory.mktemp("idx")
    for name, array in (("train-images-idx3-ubyte", small.train_images), ("train-labels-idx1-ubyte", small.train_labels),
                        ("t10k-images-idx3-ubyte", small.test_images), ("t10k-labels-idx1-ubyte", small.test_labels)):
        header = struct.pack(f">4B{array.ndim}I", 0, 0, 8, array.ndim, *array.shape)
        (folder / name).write_bytes(header + array.astype(np.uint8).tobytes())
    return folder


@pytest.fixture
def started(processes):
    """``started(args)``: a trainer running in a process of its own, frozen (SIGSTOP) once it has
    saved its first epoch: it holds the lock and does nothing until SIGCONT. Killed at the end of
    the test if still there."""

    def start(args: list) -> subprocess.Popen:
        processes.append(subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        while True:
            line = processes[-1].stdout.readline()
            assert line, processes[-1].communicate()[1]
            if line.startswith(("epoch", "{")):
                break
        processes[-1].send_signal(signal.SIGSTOP)
        return processes[-1]

    return start


def finish(proc: subprocess.Popen, *signals) -> tuple[str, str]:
    for sig in (signal.SIGCONT, *signals):
        proc.send_signal(sig)
    return proc.communicate(timeout=60)


def test_scratchnet_c_and_python_take_the_same_lock(program, small_idx, small_npz, tmp_path, capsys, started):
    params = tmp_path / "net.txt"
    c = started([program, "train", "--data", small_idx, "--params", params, "--epochs", "100000"])
    try:
        code = cli.main(["train", "--data", str(small_npz), "-p", str(params), "--epochs", "1"])
        err = capsys.readouterr().err
        assert code == 1 and err == (f"scratchnet: error: {params} is in use by pid {c.pid} (lock file "
                                     f"{tmp_path / '.net.txt.lock'}): wait for it to finish, or pass --wait\n")
    finally:
        finish(c, signal.SIGINT)
    assert c.returncode == 130 and not (tmp_path / ".net.txt.lock").exists()  # removed as it exited
    epochs = checkpoint.load(params).epochs_done
    python = started([sys.executable, "-m", "scratchnet.cli", "train", "--data", small_npz, "-p", params,
                      "--epochs", "2", "--batch-size", "100", "--json"])
    try:
        refused = subprocess.run([program, "train", "--data", small_idx, "--params", params, "--epochs", "1"],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode == 1 and refused.stderr == (
            f"scratchnet-c: error: {params} is in use by pid {python.pid} (lock file {tmp_path / '.net.txt.lock'}): "
            "wait for it to finish, or pass --wait\n")
        waiting = subprocess.Popen([program, "train", "--data", small_idx, "--params", params, "--epochs", "3", "--wait"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert waiting.stderr.readline() == f"scratchnet-c: {params} is in use by pid {python.pid}: waiting for it to finish\n"
    finally:
        _, err = finish(python)
    assert python.returncode == 0, err
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert f"resuming after {epochs + 2} epochs" in out and checkpoint.load(params).epochs_done == epochs + 5


def test_scratchnet_c_keeps_a_file_changed_under_it(program, small_idx, tmp_path, started):
    params = tmp_path / "net.txt"
    c = started([program, "train", "--data", small_idx, "--params", params, "--epochs", "100000"])
    theirs = fresh(TrainConfig(layers=(784, 5, 10)))

    def write_theirs() -> None:
        checkpoint.save(params, checkpoint.Checkpoint(theirs, TrainConfig(layers=(784, 5, 10)), epochs_done=7))

    write_theirs()
    c.send_signal(signal.SIGCONT)
    for _ in range(60):
        try:
            _, err = c.communicate(timeout=1)
            break
        except subprocess.TimeoutExpired:
            # Frozen between its check and its rename, the program saved over ours without seeing it (its
            # epochs take milliseconds, and nothing but the lock, which we do not take, can prevent that):
            # ours is a change it has not seen yet, as the test means it to be.
            write_theirs()
    sibling = tmp_path / f"net.conflict-{c.pid}.txt"
    assert c.returncode == 1 and err == (
        f"scratchnet-c: error: {params} changed on disk while this run was training it (another program wrote it?): "
        f"left as it is; this run's network ({checkpoint.load(sibling).epochs_done} epochs) is saved in {sibling}\n")
    assert checkpoint.load(params).epochs_done == 7 and checkpoint.load(sibling).network.sizes == (784, 20, 10)
    assert not (tmp_path / ".net.txt.lock").exists()


def test_scratchnet_c_writes_through_a_symlink(program, small_idx, tmp_path):
    (tmp_path / "models").mkdir()
    link = tmp_path / "link.txt"
    link.symlink_to("models/net.txt")  # relative, and dangling until the first save
    result = subprocess.run([program, "train", "--data", small_idx, "--params", link, "--epochs", "1"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and checkpoint.load(tmp_path / "models" / "net.txt").epochs_done == 1


def test_the_program_reports_a_full_device_and_keeps_it(program, small_idx, tmp_path):
    full = device(tmp_path, "full", 7)
    result = subprocess.run([str(program), "train", "--fresh", "--data", str(small_idx), "--params", str(full),
                             "--layers", "784,4,10", "--epochs", "1"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 1
    assert result.stderr == f"scratchnet-c: error: cannot write {full}: No space left on device\n"
    assert is_device(full) and temps(tmp_path) == []


def test_the_program_refuses_to_train_into_standard_output(program, small_idx, tmp_path):
    result = subprocess.run([str(program), "train", "--data", str(small_idx), "--params", "-"], capture_output=True,
                            text=True, timeout=120, check=False, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("scratchnet-c: error: cannot write to - (standard output)")


@pytest.mark.parametrize("params,message", [("", "the file name is empty"), ("/", "cannot write /: it is a folder"),
                                            ("no/such/x.txt", "folder no/such does not exist")])
def test_the_program_checks_where_it_saves_before_training(program, small_idx, tmp_path, params, message):
    result = subprocess.run([str(program), "train", "--data", str(small_idx), "--params", params], capture_output=True,
                            text=True, timeout=120, check=False, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith("scratchnet-c: error: ") and message in result.stderr


def test_ctrl_c_while_saving_leaves_the_file_whole(program, small_idx, tmp_path):
    """Ctrl-C twice while an epoch's parameters are being written: the write finishes, no temporary
    file is left, and the program stops as interrupted with the file at that whole epoch."""
    params = tmp_path / "net.txt"

    def saving() -> list[str]:
        return [name for name in os.listdir(tmp_path) if name.startswith(".net.txt.") and name.endswith(".tmp")]

    proc = subprocess.Popen([str(program), "train", "--data", str(small_idx), "--params", str(params),
                             "--layers", "784,200,10", "--batch-size", "100", "--epochs", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not proc.stdout.readline().startswith("epoch"):  # epoch 1 is saved: Ctrl-C is handled now
            pass
        deadline = time.monotonic() + 60
        while not saving() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        assert saving(), "never saw a save's temporary file"
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert saving() == []
    epochs = checkpoint.load(params).epochs_done
    assert f"epoch {epochs:3d}" in out and f"interrupted in epoch {epochs + 1}" in err
    assert f"{params} keeps the network of epoch {epochs}" in err


def test_the_program_stops_before_training_when_it_cannot_print(program, small_idx, tmp_path):
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(program), "train", "--data", str(small_idx), "--params", "net.txt"], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120, check=False, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "scratchnet-c: error: cannot write the output: No space left on device\n"
    assert not (tmp_path / "net.txt").exists()


def run_program(program: Path, *args, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd)


def test_the_program_has_only_the_options_of_its_help(program):
    """scratchnet-c is the original program in C, small on purpose: its help lists what it has, and an option it
    has not is one line that points to the command line that has every setting."""
    help_text = run_program(program, "--help").stdout
    listed = set(re.findall(r"^  (?:-h, )?(--[a-z-]+)", help_text, re.MULTILINE))
    assert listed == {"--data", "--params", "--fresh", "--wait", "--epochs", "--lr", "--batch-size", "--layers",
                      "--seed", "--help"}
    assert "scratchnet train --engine c" in help_text
    for option in (["--optimizer", "adam"], ["--shuffle"], ["--momentum=0.9"], ["--schedule", "cosine"],
                   ["--set", "train"]):
        result = run_program(program, "train", *option)
        assert result.returncode == 1 and result.stdout == "" and result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"scratchnet-c: error: unknown option {option[0].split('=')[0]}: ")
        assert "`scratchnet train --engine c`" in result.stderr
    result = run_program(program, "evaluate")
    assert result.returncode == 1 and result.stderr == (
        "scratchnet-c: error: unknown command 'evaluate': choose train or predict (see scratchnet-c --help)\n")
    result = run_program(program, "predict", "--epochs", "3")
    assert result.returncode == 1
    assert result.stderr == "scratchnet-c: error: --epochs is a train option (see scratchnet-c --help)\n"


def test_the_program_draws_its_weights_from_its_own_seeded_generator(program, small_idx, tmp_path):
    def weights(seed: int, name: str) -> network.Network:
        result = run_program(program, "train", "--data", small_idx, "--params", tmp_path / name, "--epochs", "0",
                             "--seed", seed)
        assert result.returncode == 0, result.stderr
        return checkpoint.load(tmp_path / name).network

    a, again, other = weights(3, "a.txt"), weights(3, "b.txt"), weights(4, "c.txt")
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text()
    assert all(np.array_equal(p, q) for p, q in zip(a.weights, again.weights))
    assert not np.array_equal(a.weights[0], other.weights[0])
    assert a.sizes == (784, 20, 10) and (a.hidden, a.output) == ("sigmoid", "sigmoid")
    assert all(-0.5 <= w.min() and w.max() < 0.5 for w in a.weights) and not any(b.any() for b in a.biases)


@pytest.mark.parametrize("cfg,options,message", [
    (TrainConfig(layers=(784, 5, 10)), ["--layers", "784,20,10"],
     "holds a 784-5-10 sigmoid/sigmoid float64 network, not the --layers 784,20,10 asked for"),
    (TrainConfig(layers=(784, 5, 10), hidden="relu", output="softmax", loss="cross_entropy"), [],
     ("holds a 784-5-10 relu/softmax float64 network; scratchnet-c trains sigmoid ones only: train it with "
      "`scratchnet train --engine c -p")),
], ids=["other sizes", "other activations"])
def test_the_program_resumes_only_the_network_it_trains(program, small_idx, tmp_path, cfg, options, message):
    params = tmp_path / "net.txt"
    checkpoint.save(params, checkpoint.Checkpoint(fresh(cfg), cfg, epochs_done=2))
    before = params.read_bytes()
    result = run_program(program, "train", "--data", small_idx, "--params", params, "--epochs", "1", *options)
    assert result.returncode == 1 and result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"scratchnet-c: error: {params} {message}")
    assert params.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["net.txt"]


def test_the_program_answers_indices_given_or_asked(program, small_idx, tmp_path):
    params = tmp_path / "net.txt"
    assert run_program(program, "train", "--data", small_idx, "--params", params, "--epochs", "1").returncode == 0
    given = run_program(program, "predict", "--data", small_idx, "--params", params, "3", "499")
    assert given.returncode == 0 and given.stderr == ""
    assert re.findall(r"^image (\d+) \(test\)", given.stdout, re.MULTILINE) == ["3", "499"]
    assert given.stdout.count("\n") == 2 * 29 and all(len(line) == 56 for line in given.stdout.splitlines()[:28])
    for bad, message in (("500", "image 500 does not exist: the test set has images 0 to 499"),
                         ("x1", "'x1' is not an image index: give a whole number from 0 to 499")):
        result = run_program(program, "predict", "--data", small_idx, "--params", params, "3", bad)
        assert result.returncode == 1 and result.stdout == "" and result.stderr == f"scratchnet-c: error: {message}\n"
    asked = run_program(program, "predict", "--data", small_idx, "--params", params, stdin="abc\n  7 \n\n-1\nq\n8\n")
    assert asked.returncode == 0
    assert re.findall(r"^image (\d+) \(test\)", asked.stdout, re.MULTILINE) == ["7"]  # q stops before 8
    assert asked.stderr == ("scratchnet-c: 'abc' is not an image index: give a whole number from 0 to 499\n"
                            "scratchnet-c: image -1 does not exist: the test set has images 0 to 499\n")
    assert asked.stdout.count("Enter the number of an image (0 - 499), q to quit: ") == 5
    ended = run_program(program, "predict", "--data", small_idx, "--params", params, stdin="2")  # no newline, then EOF
    assert ended.returncode == 0 and re.findall(r"^image (\d+) ", ended.stdout, re.MULTILINE) == ["2"]
    missing = run_program(program, "predict", "--data", small_idx, "--params", tmp_path / "none.txt", "0")
    assert missing.returncode == 1 and "none.txt: no such parameter file" in missing.stderr


@pytest.mark.parametrize("enum,codes,names", [
    ("sn_activation", cengine.ACTIVATION_CODES, network.HIDDEN_ACTIVATIONS + network.OUTPUT_ACTIVATIONS),
    ("sn_loss", cengine.LOSS_CODES, network.LOSSES),
    ("sn_optimizer", cengine.OPTIMIZER_CODES, config.OPTIMIZERS),
    ("sn_schedule", cengine.SCHEDULE_CODES, config.SCHEDULES),
])
def test_the_c_codes_are_the_headers(enum, codes, names):
    """Every name Python knows has a code, and it is the one csrc/scratchnet.h gives it."""
    header = (CSRC / "scratchnet.h").read_text()
    body = re.search(rf"enum {enum} {{(.*?)}};", header).group(1)
    in_c = {name.strip()[3:].lower(): int(code) for name, code in (item.split("=") for item in body.split(","))}
    assert in_c == codes and set(names) == set(codes)


def test_the_program_refuses_a_file_beyond_its_networks_bound_as_python_does(program, tmp_path, small_idx):
    """A 4 GiB sparse file, and a file one byte over the bound of the sizes it declares: refused before
    being read, with textformat's message, in little memory; a file at the bound with a comment of most of
    it is read, its comment streamed past."""
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(4 << 30)
    net = network.create((784, 5, 10), "sigmoid", "sigmoid", "uniform", "float64", np.random.default_rng(0))
    text = textformat.to_text(net).encode()
    bound = textformat.max_file_bytes((784, 5, 10))
    at_bound, over = tmp_path / "at.txt", tmp_path / "over.txt"
    at_bound.write_bytes(text + b"#" * (bound - len(text)))
    over.write_bytes(text + b"#" * (bound + 1 - len(text)))
    for path in (big, over):
        done, peak_mb = run_measured("predict", "--params", path, "--data", small_idx, "0", program=[str(program)])
        with pytest.raises(ScratchnetError) as python:
            textformat.read(path)
        assert done.returncode == 1 and done.stderr == f"scratchnet-c: error: {python.value}\n"
        assert peak_mb < 300
    done = run_program(program, "predict", "--params", at_bound, "--data", small_idx, "0")
    assert done.returncode == 0, done.stderr

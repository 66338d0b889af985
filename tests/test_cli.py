"""The scratchnet command: every command with good and bad input, as a user types it."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from scratchnet import checkpoint, cli

SEED_SEVEN = [  # test image 0 as the seed post prints it (rows 7 to 11)
    " . . . . . .54B99F973C24 . . . . . . . . . . . . . . . .",
    " . . . . . .DEFEFEFEFEF1C6C6C6C6C6C6C6C6AA34 . . . . . .",
    " . . . . . .43724872A3E3FEE1FEFEFEFAE5FEFE8C . . . . . .",
    " . . . . . . . . . . .11420E4343433B15ECFE6A . . . . . .",
    " . . . . . . . . . . . . . . . . . .53FDD112 . . . . . .",
]


def run(capsys, *argv, stdin=None, monkeypatch=None):
    """Run the command in-process: (exit code, stdout, stderr)."""
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", __import__("io").StringIO(stdin))
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse: --help, usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *fragments):
    assert code not in (0, None)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def trained(tmp_path, small_npz, capsys):
    """A checkpoint trained for one epoch on the small data."""
    params = tmp_path / "net.npz"
    code, _, err = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1", "--batch-size", "10",
                       "--lr", "0.5")
    assert code == 0, err
    return params


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"], ["show"]])
def test_every_command_has_help(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and "usage: scratchnet" in out


def test_train_help_shows_the_seeds_defaults(capsys):
    _, out, _ = run(capsys, "train", "--help")
    for default in ("784,20,10", "0.005", "--batch-size", "(default: 5)", "uniform", "--preset"):
        assert default in out


def test_train_prints_each_epoch_and_saves(tmp_path, small_npz, capsys):
    params = tmp_path / "net.npz"
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "2")
    assert code == 0, err
    assert "784-20-10 sigmoid/sigmoid float64, new network" in out
    epochs = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(epochs) == 2 and "loss" in epochs[0] and "samples/s" in epochs[0] and "test" in epochs[0]
    assert checkpoint.load(params).epochs_done == 2


def test_train_json_and_resume(tmp_path, small_npz, capsys):
    params = tmp_path / "net.npz"
    code, out, _ = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "2", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert {"epoch", "loss", "train_accuracy", "test_accuracy", "seconds"} <= r.keys()
        assert 0 <= r["train_accuracy"] <= 1 and 0 <= r["test_accuracy"] <= 1 and r["seconds"] > 0
    assert rows[1]["loss"] < rows[0]["loss"]
    code, out, _ = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1", "--json")
    assert code == 0 and json.loads(out)["epoch"] == 3  # resumed, as the seed does
    code, out, _ = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1", "--json", "--fresh")
    assert code == 0 and json.loads(out)["epoch"] == 1


def test_train_refuses_a_mismatched_checkpoint_and_keeps_it(trained, small_npz, capsys):
    before = trained.read_bytes()
    code, _, err = run(capsys, "train", "--data", small_npz, "-p", trained, "--layers", "784,30,10")
    one_line_error(code, err, "784-20-10", "784-30-10", "--fresh")
    assert trained.read_bytes() == before


def test_train_refuses_an_unreadable_checkpoint_and_keeps_it(tmp_path, small_npz, capsys):
    params = tmp_path / "network_params.npz"
    params.write_bytes(b"PK\x05\x06" + bytes(18))  # the seed's broken 22-byte file
    code, _, err = run(capsys, "train", "--data", small_npz, "-p", params)
    one_line_error(code, err, "network_params.npz")
    assert params.read_bytes() == b"PK\x05\x06" + bytes(18)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--lr", "abc"], "--lr"),
        (["--lr", "-1"], "--lr must be"),
        (["--layers", "784,x,10"], "--layers"),
        (["--batch-size", "0"], "--batch-size"),
        (["--optimizer", "rmsprop"], "rmsprop"),
        (["--preset", "fastest"], "fastest"),
        (["--output", "softmax", "--loss", "bce"], "does not fit"),
        (["--data", "/nonexistent/mnist.npz"], "/nonexistent/mnist.npz"),
        (["--layers", "100,10"], "784 pixels but the network takes 100"),
        (["-p", "/nonexistent/folder/p.npz"], "folder /nonexistent/folder does not exist"),
    ],
)
def test_train_bad_input_is_one_line(tmp_path, small_npz, capsys, args, fragment):
    data = [] if "--data" in args else ["--data", small_npz]
    params = [] if "-p" in args else ["-p", tmp_path / "p.npz"]
    code, _, err = run(capsys, "train", *data, *params, *args)
    one_line_error(code, err, fragment)


def test_train_stops_on_divergence_and_keeps_the_last_checkpoint(tmp_path, small_npz, capsys):
    params = tmp_path / "net.npz"
    code, _, _ = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1", "--hidden", "relu",
                     "--init", "he", "--batch-size", "50")
    before = params.read_bytes()
    code, _, err = run(capsys, "train", "--data", small_npz, "-p", params, "--lr", "1e300")
    one_line_error(code, err, "diverged in epoch 2", "--lr")
    assert params.read_bytes() == before


def test_evaluate_text_and_json(trained, small_npz, capsys):
    code, out, _ = run(capsys, "evaluate", "--data", small_npz, "-p", trained)
    assert code == 0 and "test accuracy" in out and "confusion" in out
    code, out, _ = run(capsys, "evaluate", "--data", small_npz, "-p", trained, "--json")
    result = json.loads(out)
    assert code == 0 and 0.5 < result["accuracy"] <= 1
    assert len(result["per_class"]) == 10 and np.array(result["confusion"]).sum() == 500
    code, out, _ = run(capsys, "evaluate", "--data", small_npz, "-p", trained, "--json", "--set", "train")
    assert np.array(json.loads(out)["confusion"]).sum() == 2000


def test_evaluate_without_a_checkpoint(tmp_path, small_npz, capsys):
    code, _, err = run(capsys, "evaluate", "--data", small_npz, "-p", tmp_path / "none.npz")
    one_line_error(code, err, "none.npz", "no such file")


def test_predict_indices(trained, small_npz, capsys):
    code, out, _ = run(capsys, "predict", "--data", small_npz, "-p", trained, "0", "17")
    assert code == 0
    assert "image 0 (test): label 7, prediction" in out and "image 17 (test)" in out and "top 3" in out
    assert "@@" in out  # the digit drawn in characters
    code, out, _ = run(capsys, "predict", "--data", small_npz, "-p", trained, "--json", "0", "--set", "train")
    answer = json.loads(out)
    assert answer["label"] == 5 and len(answer["top3"]) == 3 and 0 <= answer["confidence"] <= 1
    assert answer["prediction"] == answer["top3"][0]["digit"]


@pytest.mark.parametrize("index,fragment", [("500", "0 to 499"), ("-1", "0 to 499"), ("seven", "'seven'")])
def test_predict_bad_index(trained, small_npz, capsys, index, fragment):
    code, _, err = run(capsys, "predict", "--data", small_npz, "-p", trained, "--", index)
    one_line_error(code, err, fragment)


def test_predict_asks_in_a_loop(trained, small_npz, capsys, monkeypatch):
    code, out, err = run(capsys, "predict", "--data", small_npz, "-p", trained,
                         stdin="3\nabc\n99999\n\n4\nq\n5\n", monkeypatch=monkeypatch)
    assert code == 0 and "Traceback" not in err
    assert "image 3 (test)" in out and "image 4 (test)" in out and "image 5" not in out  # q left
    assert "'abc' is not an image index" in err and "image 99999 does not exist" in err


def test_predict_loop_ends_at_end_of_input(trained, small_npz, capsys, monkeypatch):
    code, out, err = run(capsys, "predict", "--data", small_npz, "-p", trained, stdin="2\n", monkeypatch=monkeypatch)
    assert code == 0 and "image 2 (test)" in out and err == ""


def test_show_prints_the_seeds_hex_dump(small_npz, capsys):
    code, out, _ = run(capsys, "show", "0", "--data", small_npz)
    rows = out.splitlines()
    assert code == 0 and len(rows) == 28 and all(len(r) == 56 for r in rows)
    assert rows[7:12] == SEED_SEVEN and rows[0] == " ." * 28


@pytest.mark.parametrize("index,fragment", [("10000", "0 to 499"), ("x", "'x'")])
def test_show_bad_index(small_npz, capsys, index, fragment):
    code, _, err = run(capsys, "show", index, "--data", small_npz)
    one_line_error(code, err, fragment)


def test_unknown_command_and_missing_arguments(capsys):
    code, _, err = run(capsys, "frobnicate")
    one_line_error(code, err, "frobnicate")
    code, _, err = run(capsys, "show")
    one_line_error(code, err, "INDEX")


def test_ctrl_c_saves_a_consistent_checkpoint(tmp_path, mnist):
    """A real SIGINT to a running `scratchnet train`: it saves, says so and exits 130."""
    params = tmp_path / "net.npz"
    data = tmp_path / "mnist"
    os.symlink(os.path.join(os.path.dirname(__file__), "..", "data", "mnist"), data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchnet.cli", "train", "--data", str(data), "-p", str(params), "--epochs", "50",
         "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    first = proc.stdout.readline()  # the first epoch is done and saved
    assert json.loads(first)["epoch"] == 1
    time.sleep(0.5)  # well inside epoch 2
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted in epoch 2" in err and "Traceback" not in err
    saved = checkpoint.load(params)
    assert saved.epochs_done == 1 and 0 < saved.partial_epoch_samples < 60000
    assert len(saved.history) == 1


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="apt-get install dataset-fashion-mnist to run this")
def test_fashion_mnist_trains_with_the_same_command(tmp_path, capsys):
    params = tmp_path / "fashion.npz"
    code, out, err = run(capsys, "train", "--data", "/usr/share/datasets/fashion-mnist", "-p", params,
                         "--epochs", "1", "--batch-size", "32", "--lr", "0.5", "--json")
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] > 0.7  # ten classes of clothes, far above chance


def test_engine_c_says_why_it_cannot_run(tmp_path, small_npz, capsys, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CLIB_DIR", str(tmp_path))  # a folder with no library in it
    monkeypatch.setattr("scratchnet.cengine._libraries", {})
    params = tmp_path / "p.npz"
    code, _, err = run(capsys, "train", "--engine", "c", "--data", small_npz, "-p", params, "--epochs", "1")
    one_line_error(code, err, "--engine c needs", "libscratchnet64.so", "make -C")
    assert not params.exists()  # refused before any work
    assert run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1")[0] == 0  # numpy still works
    code, _, err = run(capsys, "predict", "--engine", "c", "--data", small_npz, "-p", params, "0")
    one_line_error(code, err, "--engine c needs")

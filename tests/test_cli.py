"""The scratchnet command: every command with good and bad input, as a user types it."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from scratchnet import checkpoint, cli, network, numpy_engine
from scratchnet import run as run_module  # run() below is this file's own helper
from scratchnet.errors import printable

ORIGINAL_SEVEN = [  # test image 0 as the original post prints it (rows 7 to 11)
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


def test_train_help_shows_the_original_defaults(capsys):
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


def test_train_zero_epochs_saves_the_untrained_network_that_training_goes_on_from(tmp_path, small_npz, capsys):
    """--epochs 0 writes what it says it saved: the new network as made (as scratchnet-c does); training
    it on from there is bit for bit a run that never stopped at 0. On a trained network it keeps the weights."""
    params, straight = tmp_path / "zero.npz", tmp_path / "straight.npz"
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "0")
    assert code == 0 and f"saved {params} (0 epochs in all)" in out, err
    untrained = checkpoint.load(params)
    assert untrained.epochs_done == 0 and untrained.history == [] and untrained.data is None
    made = run_module.start(tmp_path / "other.npz", {"epochs": 0}).network
    assert all(np.array_equal(a, b) for a, b in zip(untrained.network.weights + untrained.network.biases,
                                                    made.weights + made.biases))
    for path in (params, straight):
        code, _, err = run(capsys, "train", "--data", small_npz, "-p", path, "--epochs", "1")
        assert code == 0, err
    resumed, unbroken = checkpoint.load(params).network, checkpoint.load(straight).network
    assert all(np.array_equal(a, b) for a, b in zip(resumed.weights + resumed.biases,
                                                    unbroken.weights + unbroken.biases))
    code, out, _ = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "0", "--lr", "0.01")
    kept = checkpoint.load(params)
    assert code == 0 and f"saved {params} (1 epoch in all)" in out
    assert kept.epochs_done == 1 and kept.config.lr == 0.01
    assert all(np.array_equal(a, b) for a, b in zip(kept.network.weights, resumed.weights))


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
    assert code == 0 and json.loads(out)["epoch"] == 3  # resumed, as the original program does
    code, out, _ = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1", "--json", "--fresh")
    assert code == 0 and json.loads(out)["epoch"] == 1


def test_train_refuses_a_mismatched_checkpoint_and_keeps_it(trained, small_npz, capsys):
    before = trained.read_bytes()
    code, _, err = run(capsys, "train", "--data", small_npz, "-p", trained, "--layers", "784,30,10")
    one_line_error(code, err, "784-20-10", "784-30-10", "--fresh")
    assert trained.read_bytes() == before


def test_train_refuses_an_unreadable_checkpoint_and_keeps_it(tmp_path, small_npz, capsys):
    params = tmp_path / "network_params.npz"
    params.write_bytes(b"PK\x05\x06" + bytes(18))  # the original program's broken 22-byte file
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
        (["-p", ""], "the file name is empty"),
        (["-p", "/"], "cannot write /: it is a folder"),
        (["--seed", "-1"], "--seed must be"),
        (["--shift", "1000000"], "--shift must be at most 100, got 1000000"),
        (["--shift", "28"], "--shift 28 is too large for images of 28x28"),
        (["--layers", "784,1000000000,10"], "--layers[1] must be from 1 to 1000000, not 1000000000"),
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
    """Where it looked, and the command that makes one."""
    code, _, err = run(capsys, "evaluate", "--data", small_npz, "-p", tmp_path / "none.npz")
    one_line_error(code, err, f"none.npz: no such checkpoint (looked for {tmp_path / 'none.npz'}): train one with "
                              f"scratchnet train --params {tmp_path / 'none.npz'}, or name another with --params")


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


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_predict_json_loop_writes_only_json_to_stdout(trained, small_npz, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", Terminal("3\n4\n"))
    code, out, err = run(capsys, "predict", "--json", "--data", small_npz, "-p", trained)
    assert code == 0 and [json.loads(line)["index"] for line in out.splitlines()] == [3, 4]
    assert err.count("Enter the number of an image") == 3  # each prompt, on stderr


def test_predict_asks_nothing_of_a_pipe(trained, small_npz, capsys, monkeypatch):
    code, out, err = run(capsys, "predict", "--json", "--data", small_npz, "-p", trained, stdin="3\n4\n",
                         monkeypatch=monkeypatch)
    assert code == 0 and [json.loads(line)["index"] for line in out.splitlines()] == [3, 4] and err == ""


def test_predict_loop_ends_at_end_of_input(trained, small_npz, capsys, monkeypatch):
    code, out, err = run(capsys, "predict", "--data", small_npz, "-p", trained, stdin="2\n", monkeypatch=monkeypatch)
    assert code == 0 and "image 2 (test)" in out and err == ""


def test_show_prints_the_original_hex_dump(small_npz, capsys):
    code, out, _ = run(capsys, "show", "0", "--data", small_npz)
    rows = out.splitlines()
    assert code == 0 and len(rows) == 29 and all(len(r) == 56 for r in rows[:28])
    assert rows[7:12] == ORIGINAL_SEVEN and rows[0] == " ." * 28
    assert rows[28] == "image 0 (test), label 7"


@pytest.mark.parametrize("index,fragment", [("10000", "0 to 499"), ("x", "'x'")])
def test_show_bad_index(small_npz, capsys, index, fragment):
    code, _, err = run(capsys, "show", index, "--data", small_npz)
    one_line_error(code, err, fragment)


def test_unknown_command_and_missing_arguments(capsys):
    code, _, err = run(capsys, "frobnicate")
    one_line_error(code, err, "frobnicate")
    code, _, err = run(capsys, "show")
    one_line_error(code, err, "INDEX")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_saves_a_consistent_checkpoint(tmp_path, mnist, sig):
    """A real SIGINT (Ctrl-C), or SIGTERM (kill), to a running `scratchnet train`: it saves, says so and exits 130."""
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
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted in epoch 2" in err and "Traceback" not in err
    saved = checkpoint.load(params)
    assert saved.epochs_done == 1 and 0 < saved.partial_epoch_samples < 60000
    assert len(saved.history) == 1


@pytest.fixture
def trainer(processes):
    """``trainer(data, params, *options)``: `scratchnet train` in a process of its own, as another
    terminal would run it; killed at the end of the test if still running."""

    def start(data, params, *args) -> subprocess.Popen:
        processes.append(subprocess.Popen([sys.executable, "-m", "scratchnet.cli", "train", "--data", str(data),
                                           "-p", str(params), *map(str, args)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return processes[-1]

    return start


# 200 hidden units: epochs long enough against the evaluation and the save between two of them that
# the stops fall inside epochs
@pytest.mark.parametrize("options,settings", [
    (["--layers", "784,200,10"], {"layers": (784, 200, 10)}),
    (["--layers", "784,200,10", "--batch-size", "4", "--optimizer", "adam", "--lr", "0.002", "--shuffle"],
     {"layers": (784, 200, 10), "batch_size": 4, "optimizer": "adam", "lr": 0.002, "shuffle": True}),
], ids=["original", "adam-4-shuffle"])
def test_ctrl_c_then_train_again_equals_training_straight_through(tmp_path, small, small_npz, trainer, options, settings):
    """Real SIGINTs at a few moments of `scratchnet train`, each time run again for the epochs left:
    the same parameters, bit for bit, as one run without a stop."""
    total = 3
    straight = run_module.start(tmp_path / "a.npz", {"epochs": total, **settings})
    assert run_module.train(straight, small, tmp_path / "a.npz")
    params = tmp_path / "b.npz"
    places = []
    for delay in (0.1, 0.3, 0.6):
        left = total - (checkpoint.load(params).epochs_done if params.exists() else 0)
        proc = trainer(small_npz, params, "--epochs", left, *options)
        while not proc.stdout.readline().startswith("data "):  # training starts now
            pass
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        # -SIGINT: the signal came as the finished run was exiting, after its last save
        assert proc.returncode in (0, 130, -signal.SIGINT) and "Traceback" not in err, err
        if params.exists():
            saved = checkpoint.load(params)
            places.append((saved.epochs_done, saved.partial_epoch_samples))
    assert any(samples for _, samples in places), places  # at least one stop inside an epoch
    proc = trainer(small_npz, params, "--epochs", total - checkpoint.load(params).epochs_done, *options)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    a, b = checkpoint.load(tmp_path / "a.npz"), checkpoint.load(params)
    assert (a.epochs_done, b.epochs_done, b.partial_epoch_samples) == (total, total, 0)
    for x, y in zip(a.network.weights + a.network.biases, b.network.weights + b.network.biases):
        assert np.array_equal(x, y)
    assert [h["train_accuracy"] for h in a.history] == [h["train_accuracy"] for h in b.history]


def test_ctrl_c_messages_say_what_the_next_run_does(tmp_path, small, small_npz, capsys, monkeypatch, interrupt):
    monkeypatch.setattr("scratchnet.stop.CHUNK", 500)
    interrupt(numpy_engine, [500, 500, 1000, None, None, 500, 500])  # None: that run is not stopped
    params = tmp_path / "net.npz"
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "2")
    assert code == 130 and "new network: 2 epochs" in out
    assert err.strip() == ("scratchnet: interrupted in epoch 1 of 2 after 500 of 2,000 samples; saved "
                           f"{params}. Run train again to finish the run from there, as if never stopped.")
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", params)
    assert code == 130 and ("finishing the interrupted run of 2 epochs: 2 to go, epoch 1 after its first 500 "
                            "samples") in out
    assert "interrupted in epoch 1 of 2 after 1,000 of 2,000" in err
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "2")  # the same command
    assert code == 130 and "finishing the interrupted run" in out and "epoch   1  loss" in out  # ends at the stop
    assert err.strip() == f"scratchnet: interrupted after epoch 1 of 2; saved {params}. Run train again to finish the run."
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", params)
    assert code == 0 and "finishing the interrupted run of 2 epochs: 1 to go" in out and "(2 epochs in all)" in out
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1")
    assert code == 0 and "resuming after 2 epochs: 1 more, to 3" in out and "(3 epochs in all)" in out
    text = tmp_path / "net.txt"
    code, _, err = run(capsys, "train", "--data", small_npz, "-p", text, "--epochs", "1")
    assert code == 130 and not text.exists()
    assert err.endswith(f"{text} was not written; a .txt file does not record the run: train --epochs 1 finishes "
                        "it, from the start of epoch 1.\n")
    bridged = tmp_path / "net.safetensors"
    code, _, err = run(capsys, "train", "--data", small_npz, "-p", bridged, "--epochs", "1")
    assert code == 130 and not bridged.exists()
    assert err.endswith(f"{bridged} was not written; a .safetensors file does not record the run: train --epochs 1 "
                        "finishes it, from the start of epoch 1.\n")


def test_a_second_trainer_refuses_while_the_first_runs(tmp_path, small_npz, trainer, capsys):
    real = tmp_path / "net.npz"
    link = tmp_path / "link.npz"
    link.symlink_to(real)  # the lock belongs to the file, whatever path names it
    first = trainer(small_npz, link, "--epochs", "1000", "--batch-size", "100", "--json")
    try:
        assert json.loads(first.stdout.readline())["epoch"] == 1
        code, _, err = run(capsys, "train", "--data", small_npz, "-p", real, "--epochs", "1")
        one_line_error(code, err, f"{real} is in use by pid {first.pid}", "--wait")
        (tmp_path / "edited.txt").write_text(checkpoint.textformat.to_text(checkpoint.load(real).network, 0, []))
        code, _, err = run(capsys, "import", tmp_path / "edited.txt", "-o", link)
        one_line_error(code, err, f"{link} is in use by pid {first.pid}")
        assert (tmp_path / ".net.npz.lock").read_text() == f"{first.pid}\n"
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    assert not (tmp_path / ".net.npz.lock").exists()  # removed by its holder
    assert run(capsys, "train", "--data", small_npz, "-p", real, "--epochs", "1")[0] == 0
    assert link.is_symlink() and checkpoint.load(link).epochs_done == checkpoint.load(real).epochs_done


def test_wait_trains_after_the_first_trainer_and_the_epochs_add_up(tmp_path, small_npz, trainer):
    params = tmp_path / "net.npz"
    first = trainer(small_npz, params, "--epochs", "3", "--batch-size", "50", "--json")
    assert json.loads(first.stdout.readline())["epoch"] == 1
    first.send_signal(signal.SIGSTOP)  # holds the lock, frozen: the second one must wait
    try:
        second = trainer(small_npz, params, "--epochs", "3", "--batch-size", "50", "--json", "--wait")
        assert second.stderr.readline().strip() == (f"scratchnet: {params} is in use by pid {first.pid}: "
                                                     "waiting for it to finish")
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.communicate(timeout=60)[0].count("\n") == 2 and first.returncode == 0
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert [json.loads(line)["epoch"] for line in out.splitlines()] == [4, 5, 6]
    assert checkpoint.load(params).epochs_done == 6


def test_a_dead_trainers_lock_file_does_not_block(tmp_path, small_npz, trainer, capsys):
    params = tmp_path / "net.npz"
    killed = trainer(small_npz, params, "--epochs", "1000", "--batch-size", "100", "--json")
    assert json.loads(killed.stdout.readline())["epoch"] == 1
    killed.kill()  # SIGKILL: no clean-up, the lock file stays
    killed.communicate(timeout=60)
    lock_file = tmp_path / ".net.npz.lock"
    assert lock_file.read_text() == f"{killed.pid}\n"
    epochs = checkpoint.load(params).epochs_done
    code, _, err = run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1", "--batch-size", "100")
    assert code == 0, err
    assert checkpoint.load(params).epochs_done == epochs + 1 and not lock_file.exists()


def test_a_checkpoint_changed_under_a_run_is_kept_and_so_is_the_runs_work(tmp_path, small_npz, trainer):
    params = tmp_path / "net.npz"
    proc = trainer(small_npz, params, "--epochs", "1000", "--batch-size", "100", "--json")
    assert json.loads(proc.stdout.readline())["epoch"] == 1
    # Another program, which takes no lock, puts another network there.
    other = run_module.start(tmp_path / "other.npz", {"layers": (784, 5, 10), "epochs": 7})
    checkpoint.save(params, other)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    sibling = tmp_path / f"net.conflict-{proc.pid}.npz"
    assert err.strip() == (f"scratchnet: error: {params} changed on disk while this run was training it (another "
                           f"program wrote it?): left as it is; this run's network "
                           f"({checkpoint.load(sibling).epochs_done} epochs) is saved in {sibling}")
    assert checkpoint.load(params).network.sizes == (784, 5, 10)  # theirs, untouched
    assert checkpoint.load(sibling).epochs_done >= 2  # ours: the epoch after the change is kept too
    assert not (tmp_path / ".net.npz.lock").exists()


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


def test_a_network_with_too_few_outputs_is_refused(trained, small_npz, tmp_path, capsys):
    five = tmp_path / "five.npz"
    ckpt = checkpoint.load(trained)
    ckpt.network = network.create((784, 20, 5), "sigmoid", "sigmoid", "uniform", "float64", np.random.default_rng(0))
    ckpt.config.layers = (784, 20, 5)
    checkpoint.save(five, ckpt)
    for command in (["evaluate"], ["predict", "0"], ["plot", "confusion", "-o", tmp_path / "c.png"]):
        code, _, err = run(capsys, *command, "--data", small_npz, "-p", five)
        one_line_error(code, err, "has 5 outputs but", "label 9")
    assert not (tmp_path / "c.png").exists()


@pytest.mark.filterwarnings("error::RuntimeWarning")  # pytest would otherwise take the warnings out of err
def test_outputs_that_overflow_are_one_line_without_warnings(trained, small_npz, tmp_path, capsys):
    huge = tmp_path / "huge.npz"
    ckpt = checkpoint.load(trained)
    for w in ckpt.network.weights:  # +inf and -inf meet in every sum: NaN
        w[0::2], w[1::2] = 1e308, -1e308
    checkpoint.save(huge, ckpt)
    for command in (["evaluate"], ["predict", "0"], ["export", "--format", "svg", "--input", "0", "-o", tmp_path / "x"]):
        code, _, err = run(capsys, *command, "--data", small_npz, "-p", huge)
        one_line_error(code, err, "outputs are not finite", "overflow float64")
        assert "Warning" not in err


@pytest.mark.parametrize("command", [["train", "-p", "p.npz", "--epochs", "1"], ["evaluate", "-p", "p.npz"], ["--help"]],
                         ids=["train", "evaluate", "help"])
def test_a_full_stdout_is_one_line(tmp_path, small_npz, command):
    if command[0] == "evaluate":
        checkpoint.save(tmp_path / "p.npz", run_module.start(tmp_path / "none.npz", {}))
    data = [] if command == ["--help"] else ["--data", str(small_npz)]
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "scratchnet.cli", *command, *data], stdout=full,
                                stderr=subprocess.PIPE, check=False, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.splitlines() == [
        "scratchnet: error: cannot write the output: No space left on device"]
    assert not (tmp_path / "p.npz").exists() or command[0] == "evaluate"  # train stopped before any work


def test_import_never_replaces_a_checkpoint_unasked(trained, tmp_path, capsys):
    text = tmp_path / "net.txt"
    assert run(capsys, "export", "-p", trained, "-o", text)[0] == 0
    before = trained.read_bytes()
    code, _, err = run(capsys, "import", text, "-o", trained)
    one_line_error(code, err, str(trained), "1 epoch trained, with its history", "--force")
    assert trained.read_bytes() == before
    code, out, _ = run(capsys, "import", text, "-o", trained, "--force")
    assert code == 0 and "1 epoch\n" in out
    assert checkpoint.load(trained).history == []


def test_one_overwrite_policy_a_network_file_is_replaced_only_with_force(trained, small_npz, tmp_path, capsys):
    """export, import and step --save: a file holding a network is never replaced by another unasked;
    pictures and pages are made again at will; a command's own checkpoint is its to update."""
    text, picture = tmp_path / "net.txt", tmp_path / "net.svg"
    assert run(capsys, "export", "-p", trained, "-o", text)[0] == 0
    assert run(capsys, "export", "-p", trained, "--format", "svg", "-o", picture)[0] == 0
    assert run(capsys, "export", "-p", trained, "--format", "svg", "-o", picture)[0] == 0  # a picture: replaced
    text.write_text(text.read_text() + "# my notes\n")
    before = text.read_bytes()
    for command in (["export", "-p", trained, "-o", text],
                    ["export", "-p", trained, "--format", "json", "-o", text.with_suffix(".json")],
                    ["step", "0", "-p", trained, "--data", small_npz, "--save", text]):
        text.with_suffix(".json").write_text("{}")
        code, _, err = run(capsys, *command)
        one_line_error(code, err, "exists", "--force")
        assert text.read_bytes() == before and text.with_suffix(".json").read_text() == "{}"
    assert run(capsys, "export", "-p", trained, "-o", text, "--force")[0] == 0 and b"my notes" not in text.read_bytes()
    other = tmp_path / "other.npz"
    other.write_bytes(trained.read_bytes())
    code, _, err = run(capsys, "step", "0", "-p", trained, "--data", small_npz, "--save", other)
    one_line_error(code, err, "1 epoch trained", "--force")
    assert run(capsys, "step", "0", "-p", trained, "--data", small_npz, "--save", trained)[0] == 0  # its own


def test_a_checkpoint_remembers_its_data(trained, small_npz, mnist, tmp_path, capsys):
    other = tmp_path / "other.npz"
    np.savez(other, x_train=mnist.train_images[2000:4000], y_train=mnist.train_labels[2000:4000],
             x_test=mnist.test_images[500:1000], y_test=mnist.test_labels[500:1000])
    assert checkpoint.load(trained).data["source"] == str(small_npz)
    code, out, err = run(capsys, "evaluate", "--data", other, "-p", trained)
    assert code == 0 and "test accuracy" in out
    assert err == f"scratchnet: warning: {trained} was trained on {small_npz}, not on {other}\n"
    assert run(capsys, "evaluate", "--data", small_npz, "-p", trained)[2] == ""
    before = trained.read_bytes()
    code, _, err = run(capsys, "train", "--data", other, "-p", trained, "--epochs", "1")
    one_line_error(code, err, f"was trained on {small_npz}", "--new-data")
    assert trained.read_bytes() == before
    code, _, err = run(capsys, "train", "--data", other, "-p", trained, "--epochs", "1", "--new-data")
    assert code == 0, err
    assert checkpoint.load(trained).data["source"] == str(other)


def test_names_in_errors_results_and_usage_are_printed_escaped(tmp_path, small_npz, capsys):
    params = tmp_path / "a\nscratchnet: saved everything\x1b[31m.npz"
    params.write_bytes(b"garbage")
    code, _, err = run(capsys, "evaluate", "-p", params, "--data", small_npz)
    one_line_error(code, err, "a\\nscratchnet: saved everything\\x1b[31m.npz")
    code, _, err = run(capsys, "train", "--preset", "\x1b[2Jbest")
    assert code == 2 and "\x1b" not in err and "\\x1b[2Jbest" in err and len(err.strip().splitlines()) == 1
    undecodable = os.fsdecode(b"net\xff\x1b.npz")
    code, out, err = run(capsys, "train", "--data", small_npz, "-p", tmp_path / undecodable, "--epochs", "1")
    assert code == 0, err
    assert f"saved {tmp_path}/net\\xff\\x1b.npz (1 epoch in all)" in out and "\x1b" not in out


@pytest.mark.parametrize("text,shown", [("plain name.png", "plain name.png"), ("a\tb\r\n", "a\\tb\\r\\n"),
                                        ("\x00\x7f\x9b", "\\x00\\x7f\\x9b"), ("\u2028\u202e\u2066", "\\u2028\\u202e\\u2066"),
                                        ("café ✓ 七", "café ✓ 七")])
def test_printable_escapes_only_what_a_terminal_would_obey(text, shown):
    assert printable(text) == shown


def test_plot_without_a_display_says_so_and_fails(trained, small_npz, capsys):
    import matplotlib

    matplotlib.use("agg")  # what matplotlib falls back on where there is no display
    code, out, err = run(capsys, "predict", "-p", trained, "--data", small_npz, "0", "--plot")
    one_line_error(code, err, "--plot needs a display to open a window, and there is none here (matplotlib's "
                              "backend is agg)")
    assert out == ""  # found out before any work

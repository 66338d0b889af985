"""scratchnet ladder: rung 1 is `train --fresh` bit for bit, each rung keeps the changes before it, the
files asked for are written and nothing else, bad input is refused in one line."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from scratchnet import checkpoint, ladder
from scratchnet.errors import ScratchnetError
from test_cli import one_line_error, run

ENGINES = ["numpy", "c"]


def needs(engine: str) -> None:
    if engine == "c" and ladder.default_engine() != "c":
        pytest.skip("the C library is not built (make -C csrc)")


@pytest.mark.parametrize("engine", ENGINES)
def test_the_first_rung_is_train_fresh_bit_for_bit(tmp_path, small_npz, capsys, engine):
    needs(engine)
    kept, params = tmp_path / "kept", tmp_path / "train.npz"
    code, _, err = run(capsys, "ladder", "--data", small_npz, "--engine", engine, "--epochs", "2", "--seed", "3",
                       "--rungs", "1", "--keep", kept)
    assert code == 0, err
    code, _, err = run(capsys, "train", "--fresh", "--data", small_npz, "--engine", engine, "--epochs", "2",
                       "--seed", "3", "-p", params)
    assert code == 0, err
    rung, trained = checkpoint.load(kept / "01-original.npz"), checkpoint.load(params)
    assert rung.config == trained.config
    for ours, theirs in zip(rung.network.weights + rung.network.biases,
                            trained.network.weights + trained.network.biases):
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    strip = lambda history: [{k: v for k, v in h.items() if k not in ("seconds", "samples_per_second")}
                             for h in history]
    assert strip(rung.history) == strip(trained.history)


def test_each_rung_keeps_the_changes_before_it(tmp_path, small_npz, capsys):
    code, out, err = run(capsys, "ladder", "--data", small_npz, "--engine", "numpy", "--epochs", "1", "--rungs", "5",
                         "--json")
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["rung"] for r in results] == [1, 2, 3, 4, 5]
    assert [r["name"] for r in results] == [rung.name for rung in ladder.RUNGS[:5]]
    fifth = results[4]["config"]
    assert (fifth["init"], fifth["shuffle"], fifth["batch_size"], fifth["optimizer"]) == ("xavier", True, 32,
                                                                                         "momentum")
    assert results[3]["config"]["lr"] == 0.16 and fifth["lr"] == 0.016
    assert results[0]["gain"] is None
    for before, after in itertools.pairwise(results):
        assert after["gain"] == pytest.approx(after["test_accuracy"] - before["test_accuracy"])
        assert {k: v for k, v in after["config"].items() if before["config"][k] != v} == \
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in ladder.RUNGS[after["rung"] - 1].overrides.items()
             if before["config"][k] != (list(v) if isinstance(v, tuple) else v)}
    assert all(0 < r["test_accuracy"] <= 1 and r["seconds"] > 0 and r["checkpoint"] is None for r in results)


def test_every_todo_of_the_post_is_a_rung():
    settings = dict(ladder.configs()[-1][1])
    assert ladder.configs()[0][1] == {"epochs": 5, "seed": 0}  # the original program: train's defaults
    assert settings["init"] == "he" and settings["batch_size"] == 32 and settings["optimizer"] == "momentum"
    assert settings["schedule"] == "inverse" and settings["loss"] == "cross_entropy"
    assert any(r.overrides.get("init") == "xavier" for r in ladder.RUNGS)


def test_table_and_chart(tmp_path, small_npz, capsys):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "ladder.png"
    code, out, err = run(capsys, "ladder", "--data", small_npz, "--engine", "numpy", "--epochs", "1", "--rungs", "2",
                         "-o", chart)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split()[:5] == ["rung", "test", "loss", "seconds", "change"]
    assert lines[2].split()[:2] == ["1", "original"] and lines[3].split()[:2] == ["2", "xavier"]
    assert lines[3].split()[5][0] in "+-" and lines[3].split()[6] == "Xavier"  # the change, then what changed
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ladder.png"]


def test_keep_refuses_a_folder_with_other_files(tmp_path, small_npz, capsys):
    (tmp_path / "mine.txt").write_text("mine")
    code, _, err = run(capsys, "ladder", "--data", small_npz, "--engine", "numpy", "--epochs", "1", "--keep", tmp_path)
    one_line_error(code, err, str(tmp_path), "other files")
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"] and (tmp_path / "mine.txt").read_text() == "mine"
    with pytest.raises(ScratchnetError, match="cannot make the folder"):
        ladder.check_keep(tmp_path / "missing" / "kept")


@pytest.mark.parametrize("argv, fragments", [
    (["-o", "missing/ladder.png"], ["missing"]),
    (["--rungs", "0"], ["--rungs"]),
    (["--epochs", "-1"], ["--epochs"]),
    (["--engine", "fortran"], ["fortran"]),
])
def test_bad_input_is_one_line(tmp_path, small_npz, capsys, monkeypatch, argv, fragments):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "ladder", "--data", small_npz, *argv)
    one_line_error(code, err, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_leaves_the_checkout_clean(small_npz):
    def status() -> str:
        return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                          capture_output=True, text=True,
                              check=True).stdout

    before = status()
    result = subprocess.run([sys.executable, "-m", "scratchnet.cli", "ladder", "--data", str(small_npz), "--epochs",
                             "1", "--rungs", "2"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert status() == before


@pytest.mark.slow
def test_the_last_rung_reaches_97_percent(mnist, capsys):
    results = list(ladder.climb(mnist, ladder.default_engine()))
    assert len(results) == len(ladder.RUNGS)
    assert results[-1].test_accuracy >= 0.97

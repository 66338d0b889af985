"""scratchnet.plot and the inspect/plot/export/import commands."""

import errno
import json
import os

import numpy as np
import pytest

from scratchnet import checkpoint, cli
from test_cli import one_line_error, run

pytest.importorskip("matplotlib")
from matplotlib import cbook
from matplotlib.backends.backend_agg import FigureCanvasAgg

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model(tmp_path_factory, small_npz):
    params = tmp_path_factory.mktemp("model") / "net.npz"
    assert cli.main(["train", "--data", str(small_npz), "-p", str(params), "--epochs", "2", "--batch-size", "10",
                     "--lr", "0.5", "--json"]) == 0
    return params


@pytest.mark.parametrize("what", ["weights", "history", "confusion", "misclassified"])
def test_plots_are_pngs(model, small_npz, tmp_path, capsys, what):
    out = tmp_path / f"{what}.png"
    code, stdout, err = run(capsys, "plot", what, "-p", model, "--data", small_npz, "-o", out)
    assert code == 0, err
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000 and f"wrote {out}" in stdout


def test_plot_history_needs_a_history(tmp_path, model, capsys):
    text = tmp_path / "net.txt"
    assert cli.main(["export", "-p", str(model), "-o", str(text)]) == 0
    code, _, err = run(capsys, "plot", "history", "-p", text, "-o", tmp_path / "h.png")
    one_line_error(code, err, "no training history")


def test_plot_to_a_bad_place(model, capsys):
    code, _, err = run(capsys, "plot", "weights", "-p", model, "-o", "/nonexistent/dir/w.png")
    one_line_error(code, err, "/nonexistent/dir/w.png")


def test_plot_to_standard_output(model, capsysbinary):
    assert cli.main(["plot", "history", "-p", str(model), "-o", "-"]) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(PNG_MAGIC) and b"wrote" not in out


def test_a_plot_that_fails_half_way_keeps_the_old_picture(model, tmp_path, capsys, monkeypatch):
    """The disk fills up in the middle of the PNG: the old picture stays whole, and no temporary file."""
    out = tmp_path / "w.png"
    assert run(capsys, "plot", "weights", "-p", model, "-o", out)[0] == 0
    before = out.read_bytes()

    def half_then_full(canvas, file, **options):
        with cbook.open_file_cm(file, "wb") as f:
            f.write(before[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(FigureCanvasAgg, "print_png", half_then_full)
    code, _, err = run(capsys, "plot", "weights", "-p", model, "-o", out)
    one_line_error(code, err, f"cannot write {out}: No space left on device")
    assert out.read_bytes() == before and os.listdir(tmp_path) == ["w.png"]


def test_a_plot_onto_a_full_disk_keeps_the_old_picture(model, small_disk, capsys):
    out = small_disk / "h.png"
    assert run(capsys, "plot", "history", "-p", model, "-o", out)[0] == 0
    before = out.read_bytes()
    disk = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(bytes(disk.f_bavail * disk.f_frsize - len(before) // 2))  # room for half
    code, _, err = run(capsys, "plot", "history", "-p", model, "-o", out)
    one_line_error(code, err, f"cannot write {out}: No space left on device")
    assert out.read_bytes() == before and sorted(os.listdir(small_disk)) == ["filler", "h.png"]


def test_inspect(model, capsys):
    code, out, _ = run(capsys, "inspect", "-p", model)
    assert code == 0
    assert "784-20-10 sigmoid/sigmoid float64, 15,910 parameters, 2 epochs" in out
    assert "layer 1: 784 -> 20 sigmoid, 15,700 parameters" in out and "layer 2: 20 -> 10 sigmoid, 210" in out
    assert out.count("min ") == 4 and "#" in out


@pytest.mark.parametrize("fmt", ["txt", "json"])
def test_export_then_import_is_exact(model, tmp_path, capsys, fmt):
    exported = tmp_path / f"net.{fmt}"
    code, out, _ = run(capsys, "export", "--format", fmt, "-p", model, "-o", exported)
    assert code == 0 and f"wrote {exported}" in out
    back = tmp_path / "back.npz"
    code, out, _ = run(capsys, "import", exported, "-o", back)
    assert code == 0 and "784-20-10" in out
    a, b = checkpoint.load(model).network, checkpoint.load(back).network
    assert all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))


def test_export_default_name_is_the_original_programs(model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(capsys, "export", "-p", model)
    assert code == 0 and (tmp_path / "network_params_full.txt").read_text().startswith("scratchnet-params 1")


def test_text_params_work_for_every_command(model, small_npz, tmp_path, capsys):
    text = tmp_path / "net.txt"
    run(capsys, "export", "-p", model, "-o", text)
    code, out, _ = run(capsys, "evaluate", "-p", text, "--data", small_npz, "--json")
    expected = json.loads(run(capsys, "evaluate", "-p", model, "--data", small_npz, "--json")[1])
    assert code == 0 and json.loads(out) == expected
    code, out, _ = run(capsys, "predict", "-p", text, "--data", small_npz, "--json", "3")
    assert code == 0 and json.loads(out)["index"] == 3
    code, out, _ = run(capsys, "train", "-p", text, "--data", small_npz, "--json", "--epochs", "1")
    assert code == 0 and json.loads(out)["epoch"] == 3
    assert "epochs 3" in text.read_text()  # trained on and saved back as text


def test_import_refuses_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("scratchnet-params 1\nsizes 2 1\nhidden relu\noutput sigmoid\ndtype float64\n"
                   "layer 1 inputs 2 neurons 1\nneuron 0 bias 0.5 weights 1.0 oops\nend\n")
    out = tmp_path / "out.npz"
    code, _, err = run(capsys, "import", bad, "-o", out)
    one_line_error(code, err, "bad.txt:7:", "'oops' is not a number")
    assert not out.exists()
    code, _, err = run(capsys, "import", tmp_path / "x.npz", "-o", out)
    one_line_error(code, err, "x.npz", ".txt, .json, .onnx or .safetensors")


def test_export_svg(model, small_npz, tmp_path, capsys):
    out = tmp_path / "net.svg"
    code, _, err = run(capsys, "export", "--format", "svg", "-p", model, "-o", out)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert text.count('class="w ') == 15880 and "784-20-10" in text
    code, _, err = run(capsys, "export", "--format", "svg", "-p", model, "-o", out, "--input", "0",
                       "--data", small_npz)
    assert code == 0, err
    assert "true label 7" in out.read_text(encoding="utf-8")
    code, _, err = run(capsys, "export", "--format", "svg", "-p", model, "-o", out, "--input", "9999",
                       "--data", small_npz)
    one_line_error(code, err, "image 9999 does not exist")

"""scratchnet predict --image: your own pictures, one by one or a folder at a time."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

import scratchnet
import test_cli
from scratchnet import checkpoint, network, preprocess
from test_cli import one_line_error, run

trained = test_cli.trained  # the fixture: a checkpoint trained for an epoch on a slice of MNIST


def drawn(path, digit_strokes, size=(320, 240), dark=True):
    """A picture of pen strokes (lists of points in a 0..1 box), dark on white or light on black."""
    picture = Image.new("L", size, 255 if dark else 0)
    draw = ImageDraw.Draw(picture)
    for stroke in digit_strokes:
        draw.line([(60 + x * 120, 30 + y * 170) for x, y in stroke], fill=0 if dark else 255, width=14, joint="curve")
    picture.save(path)
    return path


SEVEN = [[(0, 0), (1, 0), (0.4, 1)]]
ONE = [[(0.5, 0), (0.5, 1)]]


@pytest.fixture
def pictures(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    drawn(folder / "7_a.png", SEVEN)
    drawn(folder / "7_b.png", SEVEN, dark=False)
    drawn(folder / "1_c.jpg", ONE)
    drawn(folder / "seven.png", SEVEN)  # no label
    (folder / "notes.txt").write_text("not a picture; skipped in a folder\n")
    return folder


def test_one_picture(capsys, trained, pictures):
    code, out, err = run(capsys, "predict", "-p", trained, "--image", pictures / "seven.png")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 30  # what a sigmoid network's scores are, the 28 rows drawn, then the answer
    assert lines[0].startswith("(a sigmoid output layer: each digit's score, and so the confidence, is its own output")
    answer = scratchnet.load(trained).predict_digit(pictures / "seven.png")
    assert lines[-1].startswith(f"{pictures / 'seven.png'}: prediction {answer.digit} (confidence {answer.confidence:.2f}); top 3: ")
    assert "accuracy" not in out


def test_a_folder_with_labels_in_the_names_ends_with_the_accuracy(capsys, trained, pictures):
    code, out, err = run(capsys, "predict", "-p", trained, "--image", pictures)
    assert code == 0, err
    answers = [line for line in out.splitlines() if ": " in line and "prediction" in line]
    assert [line.split(":")[0] for line in answers] == [str(pictures / n) for n in ("1_c.jpg", "7_a.png", "7_b.png", "seven.png")]
    model = scratchnet.load(trained)
    right = 0
    for name, line in zip(("1_c.jpg", "7_a.png", "7_b.png"), answers):
        digit = model.predict_digit(pictures / name).digit
        label = int(name[0])
        right += digit == label
        assert f"label {label}, prediction {digit} " in line
        assert line.split(";")[0].endswith(", right" if digit == label else ", WRONG")
    assert out.strip().splitlines()[-1] == f"accuracy {100 * right / 3:.2f}% on 3 labelled pictures ({right} right)"


def test_json_is_one_object_per_picture(capsys, trained, pictures):
    code, out, err = run(capsys, "predict", "-p", trained, "--image", pictures / "7_a.png", pictures / "seven.png", "--json")
    assert code == 0, err
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["file"] for o in objects] == [str(pictures / "7_a.png"), str(pictures / "seven.png")]
    assert [o["label"] for o in objects] == [7, None]
    for o in objects:
        assert set(o) == {"file", "label", "prediction", "confidence", "top3"}
        assert o["top3"][0] == {"digit": o["prediction"], "score": o["confidence"]} and len(o["top3"]) == 3
    assert err.startswith("accuracy ") and "1 labelled picture " in err  # stdout stays JSON


def test_a_quoted_glob(capsys, trained, pictures):
    code, out, _ = run(capsys, "predict", "-p", trained, "--image", str(pictures / "7_*.png"), "--json")
    assert code == 0 and [json.loads(line)["file"] for line in out.splitlines()] == [
        str(pictures / "7_a.png"), str(pictures / "7_b.png")]


def test_save_input_writes_what_the_network_saw(capsys, trained, pictures, tmp_path):
    saved = tmp_path / "seen" / "deeper"
    drawn(pictures / "7_a.gif", SEVEN)  # same stem as 7_a.png
    code, _, err = run(capsys, "predict", "-p", trained, "--image", pictures, "--save-input", saved)
    assert code == 0, err
    assert sorted(p.name for p in saved.iterdir()) == ["1_c.png", "7_a-2.png", "7_a.png", "7_b.png", "seven.png"]
    for name, source in (("7_a.png", "7_a.gif"), ("7_a-2.png", "7_a.png"), ("1_c.png", "1_c.jpg")):
        image = Image.open(saved / name)
        assert image.size == (28, 28) and image.mode == "L"
        assert np.array_equal(np.asarray(image), preprocess.to_mnist(pictures / source))


def test_save_input_into_a_file_is_an_error(capsys, trained, pictures, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "predict", "-p", trained, "--image", pictures / "7_a.png", "--save-input", blocker)
    one_line_error(code, err, str(blocker), "cannot make the folder")


@pytest.mark.parametrize("content,fragment", [(b"", "empty file"), (b"hello", "not an image"),
                                              (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "cannot decode")])
def test_a_bad_file_is_one_line(capsys, trained, tmp_path, content, fragment):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    code, out, err = run(capsys, "predict", "-p", trained, "--image", bad)
    one_line_error(code, err, str(bad), fragment)
    assert out == ""


def test_a_blank_picture_is_one_line(capsys, trained, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), "white").save(blank)
    code, _, err = run(capsys, "predict", "-p", trained, "--image", blank)
    one_line_error(code, err, str(blank), "no digit found")


def test_bad_files_in_a_batch_are_reported_and_skipped(capsys, trained, pictures):
    (pictures / "5_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnonsense")
    code, out, err = run(capsys, "predict", "-p", trained, "--image", pictures)
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"scratchnet: error: {pictures / '5_broken.png'}: cannot decode the image (")
    assert out.count("prediction") == 4  # the others are answered
    summary = out.strip().splitlines()[-1]
    assert " on 3 labelled pictures (" in summary and summary.endswith("; 1 file could not be read")


def test_missing_files_folders_and_globs(capsys, trained, tmp_path):
    for target, fragment in ((tmp_path / "none.png", "no such file"), (tmp_path / "*.png", "no file matches")):
        code, _, err = run(capsys, "predict", "-p", trained, "--image", target)
        one_line_error(code, err, str(target), fragment)
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "predict", "-p", trained, "--image", tmp_path / "empty")
    one_line_error(code, err, "no pictures in this folder")


def test_a_file_given_as_an_index_gets_a_hint(capsys, trained, pictures):
    code, _, err = run(capsys, "predict", "-p", trained, pictures / "seven.png")
    one_line_error(code, err, "is not an image index", f"use --image {pictures / 'seven.png'}")


def test_indices_and_pictures_together_or_save_input_alone(capsys, trained, pictures):
    code, _, err = run(capsys, "predict", "-p", trained, "3", "--image", pictures / "seven.png")
    one_line_error(code, err, "not both")
    code, _, err = run(capsys, "predict", "-p", trained, "3", "--save-input", pictures)
    one_line_error(code, err, "--save-input", "--image")


def test_a_network_that_does_not_take_28x28(capsys, tmp_path, pictures):
    net = network.create((100, 10, 10), "relu", "softmax", "he", "float64", np.random.default_rng(0))
    params = tmp_path / "small.npz"
    config = scratchnet.model.TrainConfig(layers=(100, 10, 10), hidden="relu", output="softmax", loss="cross_entropy")
    checkpoint.save(params, checkpoint.Checkpoint(net, config))
    code, _, err = run(capsys, "predict", "-p", params, "--image", pictures / "seven.png")
    one_line_error(code, err, "100 inputs")


def test_names_with_control_characters_are_printed_escaped_and_json_keeps_them(capsys, trained, tmp_path):
    """A newline in a name cannot print a fake result line, nor ESC reach the terminal; --json is JSON's."""
    fake = tmp_path / "seven\nfake.png: prediction 3 (confidence 1.00)"
    clear = tmp_path / "\x1b[2Jx.png"
    for path in (fake, clear):
        drawn(tmp_path / "drawn.png", SEVEN).rename(path)
    code, out, err = run(capsys, "predict", "-p", trained, "--image", fake, clear)
    assert code == 0, err
    answers = [line for line in out.splitlines() if "prediction" in line]
    assert len(answers) == 2 and "\x1b" not in out + err
    assert answers[0].startswith(f"{tmp_path}/seven\\nfake.png: prediction 3 (confidence 1.00): prediction ")
    assert answers[1].startswith(f"{tmp_path}/\\x1b[2Jx.png: prediction ")
    code, out, err = run(capsys, "predict", "-p", trained, "--image", fake, clear, "--json")
    assert code == 0 and [json.loads(line)["file"] for line in out.splitlines()] == [str(fake), str(clear)]
    bad = tmp_path / "\x1b]0;owned\x07\u202eevil.png"
    bad.write_bytes(b"not a picture")
    code, out, err = run(capsys, "predict", "-p", trained, "--image", bad)
    one_line_error(code, err, "\\x1b]0;owned\\x07\\u202eevil.png")
    assert "\x1b" not in err and "\u202e" not in err


def test_many_pictures_get_a_line_each_without_drawings(capsys, trained, pictures):
    code, out, err = run(capsys, "predict", "-p", trained, "--image", pictures)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1 + 4 + 1  # the scores explained, a line per picture, the accuracy
    assert all(": " in line and "prediction" in line for line in lines[1:5]) and lines[5].startswith("accuracy")
    code, out, err = run(capsys, "predict", "-p", trained, "--image", pictures / "7_a.png", pictures / "seven.png")
    assert code == 0 and len(out.splitlines()) == 1 + 2 * 29 + 1  # a few: each drawn; the accuracy


def test_a_softmax_network_s_scores_need_no_explaining(capsys, tmp_path, small_npz, pictures):
    params = tmp_path / "soft.npz"
    assert run(capsys, "train", "--data", small_npz, "-p", params, "--epochs", "1", "--layers", "784,5,10",
               "--output", "softmax")[0] == 0
    code, out, _ = run(capsys, "predict", "-p", params, "--image", pictures / "seven.png")
    assert code == 0 and "sigmoid" not in out and len(out.splitlines()) == 29

"""The Python API: scratchnet.load, fit, Model, Prediction, datasets; the example; docs/API.md."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import scratchnet
from scratchnet import ScratchnetError, checkpoint, engines, network, numpy_engine, preprocess, run
from scratchnet.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(small) -> scratchnet.Model:
    """784-32-10 trained for two epochs on the small slice: right on most of it."""
    return scratchnet.fit(small, layers=(784, 32, 10), hidden="relu", output="softmax", init="he", batch_size=20,
                          lr=0.1, epochs=2, shuffle=True)


def seven_picture() -> Image.Image:
    picture = Image.new("RGB", (300, 220), "white")
    ImageDraw.Draw(picture).line([(50, 30), (160, 30), (100, 190)], fill="black", width=15)
    return picture


def test_the_package_exports_the_api():
    for name in ("load", "fit", "Model", "Prediction", "ScratchnetError", "datasets", "preprocess", "__version__"):
        assert name in scratchnet.__all__ and hasattr(scratchnet, name)
    assert engines.ENGINES["numpy"] is numpy_engine  # the engine is named as one; fit is the API's training


def test_fit_in_memory(small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    epochs = []
    fitted = scratchnet.fit(small, epochs=2, batch_size=10, lr=0.5, on_epoch=epochs.append)
    assert isinstance(fitted, scratchnet.Model) and fitted.checkpoint.epochs_done == 2
    assert [e.epoch for e in epochs] == [1, 2] and len(fitted.checkpoint.history) == 2
    assert fitted.network.sizes == (784, 20, 10)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_fit_is_train_with_the_same_seed(small, tmp_path):
    settings = dict(epochs=1, batch_size=10, lr=0.5, seed=3)
    fitted = scratchnet.fit(small, **settings)
    ckpt = run.start(tmp_path / "cli.npz", settings)
    run.train(ckpt, small, tmp_path / "cli.npz")
    for a, b in zip(fitted.network.weights + fitted.network.biases, ckpt.network.weights + ckpt.network.biases):
        assert np.array_equal(a, b)


def test_fit_saves_and_resumes_params(small, tmp_path):
    params = tmp_path / "net.npz"
    scratchnet.fit(small, params=params, epochs=1, batch_size=10, lr=0.5)
    assert checkpoint.load(params).epochs_done == 1
    resumed = scratchnet.fit(small, params=params, epochs=1)
    assert resumed.checkpoint.epochs_done == 2 and checkpoint.load(params).epochs_done == 2
    fresh = scratchnet.fit(small, params=params, fresh=True, epochs=1, batch_size=10, lr=0.5)
    assert fresh.checkpoint.epochs_done == 1


def test_fit_with_a_preset_and_a_path(small_npz):
    fitted = scratchnet.fit(small_npz, preset="tuned", epochs=1)
    assert fitted.network.hidden == "relu" and fitted.checkpoint.config.optimizer == "nesterov"


@pytest.mark.parametrize("kwargs,fragment", [({"epoch": 3}, "unknown setting 'epoch'"),
                                             ({"preset": "fastest"}, "unknown preset"),
                                             ({"engine": "gpu"}, "unknown engine"),
                                             ({"lr": -1}, "^lr must be")])
def test_fit_refuses_bad_settings(small, kwargs, fragment):
    with pytest.raises(ScratchnetError, match=fragment):
        scratchnet.fit(small, **kwargs)


def test_predictions_agree_with_the_library(model, small):
    images, labels = small.test_images, small.test_labels
    outputs = engines.outputs(model.network, images)
    assert np.array_equal(model.predict_proba(images), outputs)
    assert np.array_equal(model.predict(images), outputs.argmax(axis=1))
    evaluation = model.evaluate(images, labels)
    assert model.score(images, labels) == evaluation.accuracy == engines.evaluate(model.network, images, labels).accuracy
    assert model.score(images, labels) > 0.8
    assert model.predict(images[0]).shape == (1,)  # one image is a batch of one


def test_predict_digit_from_a_path_a_pil_image_or_an_array(model, tmp_path):
    picture = seven_picture()
    picture.save(tmp_path / "seven.png")
    answers = [model.predict_digit(source) for source in (tmp_path / "seven.png", str(tmp_path / "seven.png"), picture,
                                                          np.asarray(picture))]
    assert len({a.digit for a in answers}) == 1
    assert all(np.array_equal(a.input, preprocess.to_mnist(picture)) for a in answers)
    answer = answers[0]
    assert answer.digit == int(np.argmax(answer.probabilities)) and answer.confidence == answer.probabilities.max()
    assert answer.top3[0][0] == answer.digit and len(answer.top3) == 3
    assert answer.to_dict() == {"prediction": answer.digit, "confidence": answer.confidence,
                                "top3": [{"digit": d, "score": s} for d, s in answer.top3]}


def test_predict_digit_on_an_mnist_image_as_it_is(model, small):
    answer = model.predict_digit(small.test_images[0], preprocessed=True)
    assert answer.digit == model.predict(small.test_images[:1])[0]
    assert np.array_equal(answer.input, small.test_images[0])


def test_bad_input_is_a_one_line_error(model, tmp_path):
    with pytest.raises(ScratchnetError, match="uint8"):
        model.predict(np.zeros((2, 28, 28)))
    with pytest.raises(ScratchnetError, match="784 pixels"):
        model.predict(np.zeros((2, 20, 20), np.uint8))
    with pytest.raises(ScratchnetError, match="3 labels for 2 images"):
        model.score(np.zeros((2, 28, 28), np.uint8), [1, 2, 3])
    with pytest.raises(ScratchnetError, match="no digit found"):
        model.predict_digit(Image.new("L", (50, 50), 255))
    (tmp_path / "x.png").write_text("text")
    with pytest.raises(ScratchnetError, match="not an image"):
        model.predict_digit(tmp_path / "x.png")
    with pytest.raises(ScratchnetError, match="no such checkpoint"):
        scratchnet.load(tmp_path / "missing.npz")


def test_pictures_need_a_network_of_28x28_inputs(tmp_path):
    net = network.create((100, 10, 10), "relu", "softmax", "he", "float64", np.random.default_rng(0))
    other = scratchnet.Model(checkpoint.Checkpoint(net, TrainConfig(layers=(100, 10, 10))))
    with pytest.raises(ScratchnetError, match="100 inputs"):
        other.predict_digit(seven_picture())


def test_save_and_load_round_trip(model, tmp_path):
    for name in ("net.npz", "net.txt"):
        model.save(tmp_path / name)
        again = scratchnet.load(tmp_path / name)
        assert all(np.array_equal(a, b) for a, b in zip(model.network.weights, again.network.weights))
        assert repr(again).startswith("<scratchnet.Model 784-32-10 relu/softmax float64")


def test_datasets(small_npz, mnist):
    assert scratchnet.datasets.load(small_npz).train_images.shape == (2000, 28, 28)
    assert scratchnet.datasets.mnist(REPO / "data" / "mnist").fingerprint == mnist.fingerprint
    with pytest.raises(ScratchnetError, match="no such file"):
        scratchnet.datasets.load(REPO / "missing.npz")


def test_the_quickstart_example_runs(small_npz, tmp_path):
    env = {**os.environ, "SCRATCHNET_DATA": str(small_npz), "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, str(REPO / "examples" / "quickstart.py")], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "epoch 3: test accuracy" in out and "accuracy on the 500 test images" in out
    assert "the drawn 7 reads as" in out and "loaded back: <scratchnet.Model 784-20-10" in out
    assert list(tmp_path.iterdir()) == []


def test_the_textbook_loop_example_learns(small_npz, tmp_path):
    env = {**os.environ, "SCRATCHNET_DATA": str(small_npz), "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, str(REPO / "examples" / "train_from_scratch.py"), "3"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    accuracies = [float(line.split("accuracy ")[1].split("%")[0]) for line in result.stdout.splitlines()
                  if line.startswith("epoch")]
    assert len(accuracies) == 3 and accuracies[-1] > 80  # 2,000 training images: less than MNIST's 95%
    model = scratchnet.load(tmp_path / "from_scratch.npz")
    assert model.network.sizes == (784, 64, 10) and model.checkpoint.epochs_done == 3


def test_docs_api_md_is_up_to_date():
    result = subprocess.run([sys.executable, str(REPO / "docs" / "make_api.py"), "--check"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_preprocess_is_the_documented_module():
    assert scratchnet.preprocess is preprocess and callable(preprocess.to_mnist)


@pytest.mark.parametrize("call", [lambda: scratchnet.load("good\0.npz"), lambda: scratchnet.load("good\0.txt"),
                                  lambda: scratchnet.fit(params="x\0.npz", epochs=0),
                                  lambda: scratchnet.fit("data\0.npz", epochs=0)], ids=["npz", "txt", "params", "data"])
def test_a_nul_in_a_path_is_a_one_line_error(call):
    with pytest.raises(ScratchnetError, match=r"\\0\.(npz|txt): a file name cannot hold a NUL character"):
        call()


def test_a_nul_in_a_picture_s_path_is_a_one_line_error(model):
    with pytest.raises(ScratchnetError, match="a file name cannot hold a NUL character"):
        model.predict_digit("seven\0.png")


def test_fit_s_errors_name_its_arguments_not_the_command_line_s_options(small, tmp_path):
    with pytest.raises(ScratchnetError, match=r"^epochs must be at least 0, got -1$"):
        scratchnet.fit(small, epochs=-1)
    with pytest.raises(ScratchnetError, match=r"^batch_size must be at least 1, got 0$"):
        scratchnet.fit(small, batch_size=0)
    scratchnet.fit(small, params=tmp_path / "p.npz", layers=(784, 5, 10), epochs=0)
    scratchnet.fit(small, params=tmp_path / "p.npz", layers=(784, 5, 10), epochs=1)
    with pytest.raises(ScratchnetError, match="pass fresh=True to start over in that file, or params to use another"):
        scratchnet.fit(small, params=tmp_path / "p.npz", layers=(784, 6, 10))


def test_a_prediction_prints_in_one_short_line(model):
    prediction = model.predict_digit(seven_picture())
    assert repr(prediction) == f"Prediction(digit={prediction.digit}, confidence={prediction.confidence!r})"
    assert prediction.input.shape == (28, 28) and len(prediction.probabilities) == 10

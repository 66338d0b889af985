"""Watch it learn: learn.step, explain and dream, their Model methods and commands.

The step is checked against training itself (bit for bit) and against finite differences of the loss;
the explanation against its own definition; the dream against the network it dreams with.
"""

import copy
import json

import numpy as np
import pytest

import scratchnet
from scratchnet import ScratchnetError, checkpoint, learn, network, numpy_engine, run
from scratchnet.checkpoint import Checkpoint
from scratchnet.optim import Optimizer
from test_cli import one_line_error
from test_cli import run as run_cli

KINDS = {
    "original": dict(),  # the original program's per-sample SGD, sigmoid/bce
    "original-float32": dict(dtype="float32"),
    "momentum-relu-softmax": dict(layers=(784, 24, 16, 10), hidden="relu", output="softmax", init="he",
                                  batch_size=20, optimizer="momentum", lr=0.05, shuffle=True),
    "nesterov-l2-tanh-mse": dict(layers=(784, 12, 10), hidden="tanh", loss="mse", batch_size=10,
                                 optimizer="nesterov", lr=0.1, weight_decay=1e-3),
    "adam": dict(layers=(784, 16, 10), hidden="relu", output="softmax", init="he", batch_size=10, optimizer="adam",
                 lr=0.002),
}


@pytest.fixture(scope="module", params=list(KINDS))
def trained(request, small, tmp_path_factory) -> Checkpoint:
    """A checkpoint of each kind trained for one epoch on the small slice: its optimizer has state."""
    path = tmp_path_factory.mktemp("learn") / f"{request.param}.npz"
    ckpt = run.start(path, dict(KINDS[request.param], epochs=1))
    assert run.train(ckpt, small, path)
    return checkpoint.load(path)


def _params(net):
    return net.weights + net.biases


def test_a_per_sample_step_is_training_on_that_image_bit_for_bit(small):
    for dtype in ("float64", "float32"):
        ckpt = run.start("unused.npz", dict(dtype=dtype))
        for index in (0, 7, 1999):
            result = learn.step(ckpt, small.train_images[index], int(small.train_labels[index]))
            assert result.order == "per-sample" and result.lr == 0.005
            net = copy.deepcopy(ckpt.network)
            numpy_engine.train_epoch(net, Optimizer(ckpt.config, net), ckpt.config, small.train_images, small.train_labels,
                              np.array([index]), result.lr)
            assert all(np.array_equal(a, b) for a, b in zip(_params(net), _params(result.after)))
            assert all(np.array_equal(a, b) for a, b in zip(_params(result.before), _params(ckpt.network)))


def test_a_batch_step_is_batch_step_with_the_checkpoints_optimizer(trained, small):
    if numpy_engine.uses_sample_step(trained.config):
        pytest.skip("per-sample: the test above")
    x, label = small.test_images[3], int(small.test_labels[3])
    result = learn.step(trained, x, label)
    net = copy.deepcopy(trained.network)
    optimizer = Optimizer(trained.config, net, trained.optimizer_state)
    assert optimizer.steps > 0
    target = np.eye(10, dtype=net.dtype)[[label]]
    numpy_engine.batch_step(net, optimizer, numpy_engine.inputs(x[None], net.dtype), target, result.lr, trained.config.loss)
    assert all(np.array_equal(a, b) for a, b in zip(_params(net), _params(result.after)))
    for name, value in optimizer.state().items():
        assert np.array_equal(value, result.optimizer_after[name])
    for name, value in trained.optimizer_state.items():
        assert np.array_equal(value, result.optimizer_before[name])


def test_gradients_are_the_losss_derivatives(trained, small):
    """Finite differences of the one-sample loss, in float64, for a few weights and biases of every layer.
    Per-sample, only the output layer's gradient is the plain derivative: the errors below it go back
    through weights already updated, as the original program's order has it."""
    if trained.network.dtype != np.float64:
        pytest.skip("finite differences need float64")
    x, label = small.test_images[11], int(small.test_labels[11])
    result = learn.step(trained, x, label)
    net, loss = trained.network, trained.config.loss
    inputs = numpy_engine.inputs(x[None], net.dtype)
    target = np.eye(10)[[label]]
    rng = np.random.default_rng(0)
    layers = range(net.n_layers) if result.order == "batch" else [net.n_layers - 1]
    for layer in layers:
        for params, grads in ((net.weights, result.grad_weights), (net.biases, result.grad_biases)):
            for _ in range(4):
                where = tuple(rng.integers(0, n) for n in params[layer].shape)
                if params is net.weights and inputs[0, where[0]] == 0 and layer == 0:
                    where = (int(np.flatnonzero(inputs[0])[0]), where[1])
                probe = copy.deepcopy(net)
                h = 1e-6
                probe_params = probe.weights if params is net.weights else probe.biases
                probe_params[layer][where] += h
                up = probe.loss(inputs, target, loss)
                probe_params[layer][where] -= 2 * h
                down = probe.loss(inputs, target, loss)
                assert grads[layer][where] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)


def test_the_step_records_each_stage(trained, small):
    x, label = small.train_images[5], int(small.train_labels[5])
    result = learn.step(trained, x, label)
    net = trained.network
    outputs = net.predict(numpy_engine.inputs(x[None], net.dtype))[0]
    np.testing.assert_allclose(result.outputs, outputs, rtol=1e-5 if net.dtype == np.float32 else 1e-12)
    assert [len(a) for a in result.activations] == list(net.sizes)
    assert [len(z) for z in result.zs] == list(net.sizes[1:]) and [len(e) for e in result.errors] == list(net.sizes[1:])
    np.testing.assert_allclose(network.activate(net.output, result.zs[-1]), result.outputs, rtol=1e-6)
    natural = trained.config.loss == network.NATURAL_LOSS[net.output]
    if natural:  # the output error is o - l
        assert np.array_equal(result.errors[-1], result.outputs - result.target)
    for layer in range(net.n_layers):
        assert np.array_equal(result.grad_weights[layer], np.outer(result.activations[layer], result.errors[layer]))
        assert np.array_equal(result.grad_biases[layer], result.errors[layer])
    assert result.loss_after < result.loss  # one small step downhill on this very sample
    assert result.outputs_after[label] > result.outputs[label]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["label"] == label and len(data["grad_weights"]) == net.n_layers
    assert "loss" in repr(result) and len(repr(result)) < 200


def test_repeating_the_step_climbs(small):
    model = scratchnet.Model(run.start("unused.npz", {}))
    x, label = small.train_images[0], int(small.train_labels[0])
    outputs = [model.step(x, label, apply=True).outputs_after[label] for _ in range(5)]
    assert outputs == sorted(outputs) and outputs[0] < outputs[-1]


def test_the_step_takes_the_rate_train_would_take_next():
    ckpt = run.start("unused.npz", dict(lr=0.1, schedule="cosine", epochs=10))
    ckpt.epochs_done, ckpt.planned_epochs = 4, 10  # an interrupted run of 10: the 5th epoch's rate of 10
    assert learn.step_learning_rate(ckpt) == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 4 / 10)))
    ckpt.planned_epochs = 4  # a finished run: train goes on for config.epochs more, to 14
    assert learn.step_learning_rate(ckpt) == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 4 / 14)))


def test_stepped_keeps_the_optimizer_moving(small):
    ckpt = run.start("unused.npz", KINDS["momentum-relu-softmax"])
    result = learn.step(ckpt, small.train_images[1], int(small.train_labels[1]), lr=0.1)
    new = learn.stepped(ckpt, result)
    assert new.network is result.after and ckpt.network is result.before
    velocity = new.optimizer_state["optimizer.velocity.weights.0"]
    np.testing.assert_array_equal(velocity, -0.1 * result.grad_weights[0])  # from rest: v = mu * 0 - lr * g
    assert ckpt.optimizer_state == {}


def test_explanation_adds_up_to_the_logit(trained, small):
    net = trained.network
    for index in range(3):
        x = small.test_images[index]
        answer = learn.explain(net, x)
        assert answer.digit == answer.prediction == int(net.predict(numpy_engine.inputs(x[None]))[0].argmax())
        for digit in (0, 9):
            e = learn.explain(net, x, digit)
            assert e.hidden_contributions.sum() + e.bias == pytest.approx(e.logit, rel=1e-12, abs=1e-12)
            assert list(e.ranking[:1]) == [int(np.argmax(e.hidden_contributions))]
            assert np.all(e.pixel_contributions[e.inputs == 0] == 0)  # a dark pixel gives nothing


def test_pixel_contributions_are_input_times_gradient(small):
    """For a relu network without biases, z is linear along the input's ray: x . dz/dx = z exactly."""
    ckpt = run.start("unused.npz", KINDS["momentum-relu-softmax"])
    x = small.test_images[0]
    e = learn.explain(ckpt.network, x, 4)
    assert e.pixel_contributions.sum() == pytest.approx(e.logit, rel=1e-9)
    probe = copy.deepcopy(ckpt.network)
    inputs = numpy_engine.inputs(x[None])[0]
    i = int(np.flatnonzero(inputs)[10])
    h = 1e-6
    up, down = inputs.copy(), inputs.copy()
    up[i] += h
    down[i] -= h
    slope = (probe.forward(up)[1][4] - probe.forward(down)[1][4]) / (2 * h)
    assert e.pixel_contributions[i] == pytest.approx(inputs[i] * slope, rel=1e-5)


def test_dreams_are_read_as_their_digit(small):
    model = scratchnet.fit(small, layers=(784, 32, 10), hidden="relu", output="softmax", init="he", batch_size=20,
                           lr=0.1, epochs=2, shuffle=True)
    for digit in range(10):
        d = model.dream(digit, steps=60)
        assert d.prediction == digit and d.frames.shape == (61, 784)
        assert d.frames.min() >= 0 and d.frames.max() <= 1 and d.frames[0].max() == 0
        assert d.scores[-1] > d.scores[0]
    started = model.dream(3, steps=5, start=small.test_images[0])
    assert started.frames[0].max() > 0  # from the image, blurred once
    assert "Dream of 3" in repr(started)


@pytest.mark.parametrize("call, message", [
    (lambda m, x: m.step(x, 10), "label 10 is not a class"),
    (lambda m, x: m.step(x, -1), "label -1 is not a class"),
    (lambda m, x: m.step(x[:20], 3), "takes 784 inputs, not 560"),
    (lambda m, x: m.step(np.full(784, np.nan), 3), "finite numbers in [0, 1]"),
    (lambda m, x: m.step(np.full(784, 2.0), 3), "finite numbers in [0, 1]"),
    (lambda m, x: m.step(x, 3, lr=float("inf")), "learning rate"),
    (lambda m, x: m.explain(x, 11), "digit 11 is not a class"),
    (lambda m, x: m.dream(12), "digit 12 is not a class"),
    (lambda m, x: m.dream(1, steps=-1), "steps must be"),
])
def test_bad_input_is_one_clear_error(small, call, message):
    model = scratchnet.Model(run.start("unused.npz", {}))
    before = [p.copy() for p in _params(model.network)]
    with pytest.raises(ScratchnetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call(model, small.train_images[0])
    assert all(np.array_equal(a, b) for a, b in zip(before, _params(model.network)))


def test_a_network_too_large_to_step_is_refused(monkeypatch, small):
    monkeypatch.setattr(learn, "MAX_STEP_PARAMETERS", 1000)
    with pytest.raises(ScratchnetError, match="too large to step"):
        learn.step(run.start("unused.npz", {}), small.train_images[0], 5)


# the commands


@pytest.fixture
def params(tmp_path, small):
    path = tmp_path / "net.npz"
    ckpt = run.start(path, dict(epochs=1))
    assert run.train(ckpt, small, path)
    return path


def test_step_command_json_is_the_api(capsys, params, small_npz, small):
    before = params.read_bytes()
    code, out, err = run_cli(capsys, "step", "12", "-p", params, "--data", small_npz, "--json")
    assert code == 0, err
    data = json.loads(out)
    expected = learn.step(checkpoint.load(params), small.train_images[12], int(small.train_labels[12])).to_dict()
    assert data["image"] == "train image 12" and data["saved"] is None
    for key, value in expected.items():
        assert data[key] == value, key
    assert params.read_bytes() == before


def test_step_command_prints_the_stages_and_saves(capsys, params, small_npz, tmp_path):
    saved = tmp_path / "stepped.npz"
    code, out, err = run_cli(capsys, "step", "3", "--set", "test", "-p", params, "--data", small_npz, "--save", saved)
    assert code == 0, err
    for stage in ("1 forward", "2 loss", "3 output error", "4 hidden layer 1 error", "5 update layer 2",
                  "6 forward again"):
        assert stage in out
    result = learn.step(checkpoint.load(params), *_test_image(small_npz, 3))
    assert all(np.array_equal(a, b) for a, b in zip(_params(checkpoint.load(saved).network), _params(result.after)))


def _test_image(npz, index):
    with np.load(npz) as f:
        return f["x_test"][index], int(f["y_test"][index])


def test_step_on_a_picture(capsys, params, tmp_path):
    from test_model import seven_picture
    picture = tmp_path / "mine.png"
    seven_picture().save(picture)
    code, _, err = run_cli(capsys, "step", "--image", picture, "-p", params)
    one_line_error(code, err, "--label")
    code, out, err = run_cli(capsys, "step", "--image", picture, "--label", "7", "-p", params)
    assert code == 0 and f"one training step on {picture}, label 7" in out, err


@pytest.mark.parametrize("argv, fragment", [
    (["step", "60000"], "image 60000 does not exist"),
    (["step", "4", "--label", "10"], "label 10 is not a class"),
    (["step"], "give an image INDEX or --image"),
    (["explain", "1", "--digit", "10"], "digit 10 is not a class"),
    (["dream", "10"], "digit 10 is not a class"),
    (["dream", "3", "--from", "99999"], "image 99999 does not exist"),
    (["step", "1", "--save", "/nonexistent/folder/x.npz"], "/nonexistent/folder"),
])
def test_bad_commands_are_one_line_and_change_nothing(capsys, params, small_npz, argv, fragment):
    before = params.read_bytes()
    code, _, err = run_cli(capsys, *argv, "-p", params, "--data", small_npz)
    one_line_error(code, err, fragment)
    assert params.read_bytes() == before


def test_step_on_a_blank_picture_says_so(capsys, params, tmp_path):
    from PIL import Image
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    code, _, err = run_cli(capsys, "step", "--image", blank, "--label", "1", "-p", params)
    one_line_error(code, err, "blank.png")


def test_explain_and_dream_commands(capsys, params, small_npz, tmp_path):
    heatmap = tmp_path / "heatmap.png"
    code, out, err = run_cli(capsys, "explain", "0", "-p", params, "--data", small_npz, "-o", heatmap)
    assert code == 0, err
    assert "= z" in out and "hidden neuron" in out and heatmap.stat().st_size > 0
    code, out, err = run_cli(capsys, "explain", "0", "-p", params, "--data", small_npz, "--digit", "3", "--json")
    data = json.loads(out)
    assert data["digit"] == 3 and sum(data["hidden_contributions"]) + data["bias"] == pytest.approx(data["logit"])
    dream = tmp_path / "dream.png"
    code, out, err = run_cli(capsys, "dream", "7", "-p", params, "--steps", "30", "-o", dream)
    assert code == 0 and "a dream of 7 after 30 steps" in out and dream.exists(), err
    code, out, err = run_cli(capsys, "dream", "7", "-p", params, "--steps", "30", "--json", "--from", "2",
                             "--data", small_npz)
    assert json.loads(out)["steps"] == 30

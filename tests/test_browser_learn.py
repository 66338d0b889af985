"""The explorer's Learn view in a real browser (issue 17): window.scratchnet.step, explain and dream equal
learn.py's numbers for several networks, the stages draw and explain themselves, a step applied through the
server is learn.stepped's network bit for bit, a picture dropped on the pad is preprocessed, and bad input
is one line in the page that changes nothing."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from scratchnet import checkpoint, data, explorer, learn, run, textformat
from scratchnet.checkpoint import Checkpoint
from test_browser import browser, served, settle, tab, wait_until  # noqa: F401  (fixtures)

IMAGES = (0, 7, 42)  # training images stepped on
F64 = 1e-12  # float64: relative to each array's largest value
F32 = 2e-5  # float32: its own rounding, a few ulps of the largest value


def trained_checkpoint(path: Path, dataset: data.Dataset, settings: dict, samples: int = 300) -> Checkpoint:
    """A network of ``settings`` trained one epoch on the first ``samples`` images of ``dataset`` (its
    optimizer's state no longer zero), saved at ``path``."""
    few = data.Dataset("few", dataset.train_images[:samples], dataset.train_labels[:samples],
                       dataset.test_images[:100], dataset.test_labels[:100])
    ckpt = run.start(path, {"epochs": 1, **settings})
    assert run.train(ckpt, few, path)
    return checkpoint.load(path)


def page_file(ckpt: Checkpoint, dataset: data.Dataset, path: Path) -> str:
    """The explorer of ``ckpt`` as one file (as `scratchnet export --format html` writes it); its URL."""
    test = explorer.images_data(dataset.test_images[:50], dataset.test_labels[:50])
    path.write_text(explorer.page(explorer.page_data(ckpt, path.name, server=False, test=test)), encoding="utf-8")
    return path.as_uri()


def inputs_of(image: np.ndarray) -> list[float]:
    return data.inputs(image[None])[0].tolist()


def assert_close(got, want, rel: float, what: str) -> None:
    """``got`` equals ``want`` within ``rel`` of the largest magnitude in ``want`` (each array as a whole)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(float(np.abs(want).max(initial=0)), 1e-300)
    error = float(np.abs(got - want).max(initial=0))
    assert error <= rel * scale, f"{what}: off by {error:.3g}, {error / scale:.3g} of {scale:.3g}"


def assert_same_step(js: dict, step: learn.Step, rel: float) -> None:
    py = step.to_dict()
    for key in ("order", "optimizer", "loss_name", "label", "prediction", "prediction_after"):
        assert js[key] == py[key], key
    assert js["lr"] == py["lr"]
    for key in ("inputs", "outputs_after"):
        assert_close(js[key], py[key], rel, key)
    for key, logits in (("loss", py["zs"][-1]), ("loss_after", js["zs"][-1])):  # float32: log-sum-exp cancels
        assert abs(js[key] - py[key]) <= rel * max(abs(py[key]), *np.abs(logits)), (key, js[key], py[key])
    for key in ("zs", "activations", "errors", "grad_biases", "biases_after"):
        for layer, (a, b) in enumerate(zip(js[key], py[key], strict=True)):
            assert_close(a, b, rel, f"{key}[{layer}]")
    for key in ("grad_weights", "weights_after"):
        for layer, (a, b) in enumerate(zip(js[key], py[key], strict=True)):
            assert_close(a, np.ravel(b), rel, f"{key}[{layer}]")  # input-major, flat
    changes = [np.asarray(a) - w.astype(np.float64).ravel() for a, w in zip(js["weights_after"], step.before.weights)]
    for layer, (got, want) in enumerate(zip(changes, step.weight_changes, strict=True)):
        assert_close(got, want.ravel(), rel * 100 if rel > F64 else 1e-9, f"change of weights[{layer}]")


def optimizer_state(ckpt: Checkpoint) -> dict:
    """The checkpoint's optimizer state as the page takes it ({steps, slots: {name: [w0, b0, ...]}})."""
    from scratchnet.optim import Optimizer

    optimizer = Optimizer(ckpt.config, ckpt.network, ckpt.optimizer_state)
    return {"steps": optimizer.steps,
            "slots": {k: [a.astype(np.float64).ravel().tolist() for a in v] for k, v in optimizer.slots.items()}}


NETWORKS = {  # settings -> (relative tolerance, whether the optimizer has a state the page must be given)
    "784-20-10 sigmoid/bce per-sample": ({"layers": (784, 20, 10)}, F64),
    "relu/softmax momentum": ({"layers": (784, 16, 10), "hidden": "relu", "output": "softmax", "init": "he",
                               "batch_size": 8, "optimizer": "momentum", "lr": 0.05}, F64),
    "tanh/mse adam weight decay": ({"layers": (784, 12, 8, 10), "hidden": "tanh", "loss": "mse", "batch_size": 4,
                                    "optimizer": "adam", "lr": 0.002, "weight_decay": 1e-4}, F64),
    "nesterov softmax/mse": ({"layers": (784, 10, 10), "output": "softmax", "loss": "mse", "batch_size": 4,
                              "optimizer": "nesterov", "lr": 0.1}, F64),
    "float32 per-sample": ({"layers": (784, 20, 10), "dtype": "float32"}, F32),
    "float32 relu/softmax momentum": ({"layers": (784, 16, 10), "hidden": "relu", "output": "softmax", "init": "he",
                                       "batch_size": 8, "optimizer": "momentum", "lr": 0.05, "dtype": "float32"}, F32),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_the_pages_step_equals_learn_step(tab, tmp_path, small, name):
    settings, rel = NETWORKS[name]
    ckpt = trained_checkpoint(tmp_path / "net.npz", small, settings)
    if ckpt.config.optimizer in ("momentum", "nesterov", "adam"):
        assert any(np.abs(v).max() > 0 for k, v in ckpt.optimizer_state.items() if k != "optimizer.steps")
    page = tab(page_file(ckpt, small, tmp_path / "net.html"))
    state = optimizer_state(ckpt)
    for k, label in zip(IMAGES, (int(small.train_labels[IMAGES[0]]), 3, 9), strict=True):
        image = small.train_images[k]
        step = learn.step(ckpt, image, label)
        js = page.evaluate("([x, label, state]) => scratchnet.step(x, label, {state})",
                           [inputs_of(image), label, state])
        assert js["order"] == ("per-sample" if "batch_size" not in settings else "batch")
        assert_same_step(js, step, rel)
    if ckpt.config.optimizer != "sgd":  # the file's own state is fresh: as learn.step on a checkpoint without one
        fresh = Checkpoint(ckpt.network, ckpt.config, ckpt.epochs_done, ckpt.history)
        js = page.evaluate("([x, label]) => scratchnet.step(x, label)", [inputs_of(small.train_images[5]), 4])
        assert_same_step(js, learn.step(fresh, small.train_images[5], 4), rel)


def test_explain_and_dream_equal_learn_py(tab, tmp_path, small):
    ckpt = trained_checkpoint(tmp_path / "net.npz", small, {"layers": (784, 20, 10)}, samples=2000)
    relu = trained_checkpoint(tmp_path / "relu.npz", small, {"layers": (784, 16, 12, 10), "hidden": "relu",
                                                             "output": "softmax", "init": "he", "batch_size": 8})
    for c in (ckpt, relu):
        page = tab(page_file(c, small, tmp_path / "page.html"))
        for k, digit in ((3, None), (11, 4), (20, 9)):
            image = small.test_images[k]
            want = learn.explain(c.network, image, digit)
            got = page.evaluate("([x, d]) => scratchnet.explain(x, d)", [inputs_of(image), digit])
            assert got["digit"] == want.digit and got["prediction"] == want.prediction
            for key in ("pixel_contributions", "hidden_contributions", "outputs"):
                assert_close(got[key], getattr(want, key), F64, key)
            assert got["logit"] == pytest.approx(want.logit, rel=F64) and got["bias"] == want.bias
            # the last layer's split is exact: contributions + bias = z
            assert sum(got["hidden_contributions"]) + got["bias"] == pytest.approx(got["logit"], rel=1e-12, abs=1e-12)
        for digit in (0, 3, 8):
            want = learn.dream(c.network, digit)
            got = page.evaluate("d => scratchnet.dream(d)", digit)
            assert np.abs(np.array(got["image"]) - want.image).max() <= 1e-9
            assert got["prediction"] == want.prediction and got["steps"] == learn.DREAM_STEPS
        start = small.test_images[0]
        want = learn.dream(c.network, 5, steps=20, start=start)
        got = page.evaluate("([x]) => scratchnet.dream(5, {steps: 20, start: x})", [inputs_of(start)])
        assert np.abs(np.array(got["image"]) - want.image).max() <= 1e-9


def test_the_stages_draw_and_hover_shows_the_formula(tab, tmp_path, small):
    ckpt = trained_checkpoint(tmp_path / "net.npz", small, {"layers": (784, 20, 10)}, samples=2000)
    page = tab(page_file(ckpt, small, tmp_path / "net.html"))
    page.fill("#learn-index", "7")
    page.click("#learn-load")  # test image 7
    settle(page)
    label = int(small.test_labels[7])
    assert page.input_value("#learn-label") == str(label)
    page.click("#learn-step")
    settle(page)
    step = learn.step(ckpt, small.test_images[7], label)
    stages = []
    while True:
        stage = page.evaluate("scratchnet.learn.stage")
        stages.append(stage["id"])
        assert page.is_visible("#stage-bar") and page.inner_text("#legend")
        if stage["id"] == "update":  # the formula of one weight, with the real numbers
            j, i = label, int(np.abs(step.grad_weights[1][:, label]).argmax())
            where = page.evaluate("t => scratchnet.locate(t)", {"kind": "weight", "layer": 1, "i": i, "j": j})
            page.mouse.move(where["x"], where["y"])
            settle(page)
            info = page.inner_text("#info")
            shortest = lambda v: page.evaluate("v => scratchnet.shortest(v, 'float64')", float(v))
            assert f"dL/dw[1][{i}→{j}] = δ_{j} × a_{i} = " in info, info
            assert f"= {shortest(step.after.weights[1][i, j])}" in info and shortest(step.lr) in info
        if stage["index"] == stage["count"] - 1:
            break
        page.click("#stage-next")
        settle(page)
    assert stages == ["forward", "loss", "output", "back", "gradients", "update", "after"]
    shown = re.match(r"Loss (\S+) → (\S+);", page.inner_text("#stage-text"))  # the last stage: before and after
    assert shown and [float(v) for v in shown.groups()] == pytest.approx([step.loss, step.loss_after], rel=1e-12)
    rows = page.locator("#learn-outputs tr").count()
    assert rows == 11
    page.click("#learn-apply")  # a file: the step becomes the page's network, and its text file says so
    wait_until(page, "scratchnet.learn.history.length === 2")
    text = page.evaluate("scratchnet.toText()")
    assert "# 1 training step(s) applied in the scratchnet explorer's Learn view" in text
    for got, want in zip(textformat.from_text(text).network.weights, step.after.weights, strict=True):
        assert_close(got, want, F64, "weights applied")
    assert page.evaluate("scratchnet.learn.history")[1] == pytest.approx(step.outputs_after[label], rel=1e-12)
    page.click("#stage-close")
    assert page.is_hidden("#stage-bar")
    page.click("#why-go")
    assert "the logit z =" in page.inner_text("#why-sum")
    assert page.locator("#why-hidden li").count() == 12
    page.select_option("#dream-digit", "3")  # a dream, animated on the pad, becomes the input
    page.click("#dream-blank")
    wait_until(page, "!scratchnet.learn.dreaming && scratchnet.state.source === 'dream'")
    dream = learn.dream(textformat.from_text(text).network, 3)
    assert np.abs(np.array(page.evaluate("scratchnet.state.inputs")) - dream.image).max() <= 1e-9
    assert f"the network answers {dream.prediction}" in page.inner_text("#dream-status")


def test_bad_input_is_one_line_and_changes_nothing(tab, tmp_path, small):
    ckpt = trained_checkpoint(tmp_path / "net.npz", small, {"layers": (784, 20, 10)})
    page = tab(page_file(ckpt, small, tmp_path / "net.html"))
    x = inputs_of(small.test_images[0])
    before = page.evaluate("scratchnet.toText()")
    for expression, fragment in [
        ("scratchnet.step(x, 10)", "label 10 is not a class of this network: give 0 to 9"),
        ("scratchnet.step(x, 1.5)", "label 1.5 is not a class"),
        ("scratchnet.step(x.slice(1), 1)", "takes 784 inputs, not 783"),
        ("scratchnet.step(x.map(v => v * 2), 1)", "inputs must be finite numbers in [0, 1]"),
        ("scratchnet.explain(x, -1)", "digit -1 is not a class"),
        ("scratchnet.dream(12)", "digit 12 is not a class"),
        ("scratchnet.dream(1, {steps: -3})", "steps must be a whole number"),
    ]:
        message = page.evaluate(f"async (x) => {{ try {{ await {expression}; return null; }} "
                                f"catch (e) {{ return e.message; }} }}", x)
        assert message is not None and fragment in message and "\n" not in message, (expression, message)
    for index, fragment in (("50", "index must be a whole number from 0 to 49"), ("-1", "from 0 to 49")):
        page.fill("#learn-index", index)
        page.click("#learn-load")
        assert fragment in page.inner_text("#learn-error")
    page.select_option("#learn-set", "test")
    page.fill("#learn-index", "0")
    page.click("#learn-load")
    page.fill("#learn-label", "10")
    page.click("#learn-step")
    assert "is not a class of this network" in page.inner_text("#learn-error")
    # a picture with no digit
    blank = io.BytesIO()
    from PIL import Image

    Image.new("L", (64, 64), 255).save(blank, format="PNG")
    page.evaluate("async (b64) => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0)); "
                  "await scratchnet.learn.usePicture(new File([bytes], 'blank.png', {type: 'image/png'})); }",
                  base64.b64encode(blank.getvalue()).decode())
    assert "blank.png: no digit found" in page.inner_text("#pad-error")
    assert page.evaluate("scratchnet.state.source") == "test"
    assert page.evaluate("scratchnet.toText()") == before


def test_a_network_too_large_to_step_is_refused_in_the_page(tab, tmp_path, small, monkeypatch):
    ckpt = run.start(tmp_path / "net.npz", {"layers": (784, 20, 10), "epochs": 0})
    monkeypatch.setattr(learn, "MAX_STEP_PARAMETERS", 15_000)  # 784-20-10 has 15,910
    page = tab(page_file(ckpt, small, tmp_path / "net.html"))
    message = page.evaluate("async (x) => { try { await scratchnet.step(x, 1); } catch (e) { return e.message; } }",
                            inputs_of(small.test_images[0]))
    assert message == "a 784-20-10 network is too large to step here: at most 15,000 parameters"
    page.click("#learn-step")
    assert page.inner_text("#learn-error") == message and page.evaluate("scratchnet.learn.stage") is None
    page.click("#why-go")  # explaining and dreaming need no step: they go on
    assert "the logit z =" in page.inner_text("#why-sum")


def test_a_dropped_picture_is_preprocessed_as_python_does(tab, tmp_path, small):
    from PIL import Image

    from scratchnet import preprocess

    ckpt = trained_checkpoint(tmp_path / "net.npz", small, {"layers": (784, 20, 10)})
    page = tab(page_file(ckpt, small, tmp_path / "net.html"))
    picture = np.full((90, 120), 240, np.uint8)  # dark ink on light paper, off centre
    picture[20:70, 50:58] = 30
    picture[20:28, 40:58] = 30
    png = io.BytesIO()
    Image.fromarray(picture).save(png, format="PNG")
    want = preprocess.to_mnist(Image.open(io.BytesIO(png.getvalue()))).ravel().tolist()
    for event in ("drop", "paste"):  # dropped on the pad, pasted
        page.click("#clear")
        page.evaluate("([b64, kind]) => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0)); "
                      "const files = new DataTransfer(), how = {bubbles: true, cancelable: true}; "
                      "files.items.add(new File([bytes], 'one.png', {type: 'image/png'})); "
                      "document.getElementById('pad').dispatchEvent(kind === 'drop' "
                      "? new DragEvent('drop', {...how, dataTransfer: files}) "
                      ": new ClipboardEvent('paste', {...how, clipboardData: files})); }",
                      [base64.b64encode(png.getvalue()).decode(), event])
        wait_until(page, "scratchnet.state.source === 'picture'")
        settle(page)
        state = page.evaluate("scratchnet.state")
        assert page.inner_text("#pad-error") == "" and state["pixels"] == want, event
        assert "one.png, preprocessed" in page.inner_text("#source")


def test_a_served_step_applied_is_learn_stepped_bit_for_bit(served, tab, tmp_path, small, small_npz):
    params = tmp_path / "net.npz"
    ckpt = trained_checkpoint(params, small, {"layers": (784, 16, 10), "hidden": "relu", "output": "softmax",
                                              "init": "he", "batch_size": 8, "optimizer": "momentum", "lr": 0.05})
    page = tab(served(params, small_npz))
    wait_until(page, "scratchnet.evaluation !== null")
    page.select_option("#learn-set", "train")
    page.fill("#learn-index", "12")
    page.click("#learn-load")
    wait_until(page, "scratchnet.state.source === 'train'")
    label = int(small.train_labels[12])
    assert page.input_value("#learn-label") == str(label)
    # the page's step uses the server's optimizer state (fetched now): learn.step's numbers
    js = page.evaluate("([x, l]) => scratchnet.step(x, l)", [inputs_of(small.train_images[12]), label])
    assert_same_step(js, learn.step(ckpt, small.train_images[12], label), F64)
    outputs = []
    for _ in range(3):  # repeated: the label's output climbs
        page.click("#learn-step")
        wait_until(page, "scratchnet.learn.stage !== null")
        page.click("#learn-apply")
        wait_until(page, f"scratchnet.learn.history.length === {len(outputs) + 2}")
        expected = learn.step(ckpt, small.train_images[12], label)
        ckpt = learn.stepped(ckpt, expected)
        shown = json.loads(page.evaluate("fetch('api/network').then(r => r.text())"))["network"]
        for got, want in zip(shown["weights"] + shown["biases"], [w.ravel() for w in ckpt.network.weights] +
                             ckpt.network.biases, strict=True):
            assert np.array_equal(np.array(got), want)  # bit for bit
        outputs.append(float(expected.outputs_after[label]))
    history = page.evaluate("scratchnet.learn.history")
    assert history[1:] == pytest.approx(outputs, rel=1e-12) and history == sorted(history)
    state = json.loads(page.evaluate("fetch('api/optimizer').then(r => r.text())"))
    assert np.array_equal(np.array(state["slots"]["velocity"][0]), ckpt.optimizer_state["optimizer.velocity.weights.0"].ravel())
    page.click("#save-server")
    wait_until(page, "document.getElementById('save-status').textContent.startsWith('Saved')")
    saved = checkpoint.load(params)
    for a, b in zip(saved.network.weights, ckpt.network.weights, strict=True):
        assert np.array_equal(a, b)
    page.fill("#learn-index", "2000")
    page.click("#learn-load")
    wait_until(page, "document.getElementById('learn-error').textContent !== ''")
    assert "index must be a whole number from 0 to 1999" in page.inner_text("#learn-error")
    assert checkpoint.load(params).network.weights[0].tobytes() == ckpt.network.weights[0].tobytes()

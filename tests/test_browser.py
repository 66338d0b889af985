"""The explorer page in a real browser: Debian's chromium driven by Playwright for Python.

Digits drawn with the mouse (strokes, not injected pixels) and recognised, with the page's 784 inputs
equal to Python's preprocessing of the pad's pixels; the exact values shown on hover; JavaScript's
forward pass equal to NumPy's; the exported file opened from file:// with every network request
refused; a phone with touch; the keyboard; editing and saving in the text format; and, with
`scratchnet serve`, training from the page and resuming it with `scratchnet train`. No test may
leave an error in the browser's console.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scratchnet import checkpoint, cli, config, data, explorer, network, preprocess, run, textformat
from scratchnet.checkpoint import Checkpoint

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("chromium is not installed", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
PAD = 280  # the pad's pixels per side (explorer.js)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Digits as pen strokes in a 0..1 box over the pad: polylines of (x, y), one list per stroke.
DIGITS = {
    0: [[(0.5 + 0.2 * np.sin(t), 0.5 - 0.3 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 33)]],
    1: [[(0.54, 0.16), (0.5, 0.5), (0.46, 0.84)]],
    2: [[(0.3, 0.3), (0.36, 0.19), (0.5, 0.15), (0.64, 0.19), (0.69, 0.31), (0.62, 0.45), (0.3, 0.8), (0.72, 0.8)]],
    3: [[(0.3, 0.2), (0.5, 0.13), (0.68, 0.22), (0.65, 0.38), (0.46, 0.47), (0.68, 0.56), (0.7, 0.72), (0.5, 0.85),
         (0.3, 0.78)]],
    4: [[(0.36, 0.15), (0.3, 0.55), (0.72, 0.55)], [(0.62, 0.15), (0.62, 0.85)]],
    5: [[(0.68, 0.17), (0.36, 0.17), (0.33, 0.45), (0.55, 0.41), (0.68, 0.53), (0.67, 0.72), (0.5, 0.83), (0.3, 0.77)]],
    6: [[(0.62, 0.15), (0.42, 0.33), (0.33, 0.58), (0.4, 0.8), (0.55, 0.84), (0.66, 0.71), (0.6, 0.56), (0.45, 0.53),
         (0.34, 0.62)]],
    7: [[(0.28, 0.2), (0.72, 0.2), (0.45, 0.85)]],
    9: [[(0.66, 0.3), (0.55, 0.18), (0.4, 0.2), (0.34, 0.33), (0.42, 0.45), (0.58, 0.42), (0.66, 0.3), (0.64, 0.55),
         (0.6, 0.85)]],
}


def points(stroke: list[tuple[float, float]], box: dict, step: float = 10.0) -> list[tuple[float, float]]:
    """The stroke in window pixels, a point every ``step`` pixels or so, as a hand moves the mouse."""
    out = []
    for (ax, ay), (bx, by) in itertools.pairwise(stroke):
        n = max(1, int(np.hypot(bx - ax, by - ay) * box["width"] / step))
        out += [(ax + (bx - ax) * k / n, ay + (by - ay) * k / n) for k in range(n)]
    out.append(stroke[-1])
    return [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in out]


def draw_with_mouse(page, digit: int) -> None:
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    for stroke in DIGITS[digit]:
        path = points(stroke, box)
        page.mouse.move(*path[0])
        page.mouse.down()
        for x, y in path[1:]:
            page.mouse.move(x, y)
        page.mouse.up()
    settle(page)


def wait_until(page, expression: str, timeout: float = 60) -> None:
    """Poll a JavaScript expression until it is true (not wait_for_function: the server's Content Security
    Policy forbids the eval that it uses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            status = page.evaluate("(document.getElementById('train-status') || {}).textContent")
            summary = page.evaluate("(document.getElementById('summary') || {}).textContent")
            pytest.fail(f"still false after {timeout} s: {expression} (status: {status!r}; summary: {summary!r})")
        page.wait_for_timeout(50)


def settle(page) -> None:
    """Wait until the page has drawn a frame after everything so far (two animation frames)."""
    page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def pad_pixels(page) -> np.ndarray:
    rgba = base64.b64decode(page.evaluate("scratchnet.padRGBA()"))
    return np.frombuffer(rgba, np.uint8).reshape(PAD, PAD, 4)


def numpy_forward(net: network.Network, pixels) -> list[np.ndarray]:
    return net.forward(data.inputs(np.asarray(pixels, np.uint8).reshape(1, 28, 28)))[0]


# -----------------------------------------------------------------------------
# fixtures: a trained network, its exported page, a browser, tabs that must log no error


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist) -> Path:
    """784-20-10 trained for 3 epochs on MNIST (a few seconds): 94% on the test set."""
    path = tmp_path_factory.mktemp("net") / "net.npz"
    ckpt = run.start(path, {"epochs": 3, "batch_size": 10, "lr": 0.5, "shuffle": True, "shift": 1})
    assert run.train(ckpt, mnist, path)
    return path


@pytest.fixture(scope="module")
def exported(trained) -> Path:
    """The explorer as one file, as `scratchnet export --format html` writes it."""
    out = trained.with_name("net.html")
    assert cli.main(["export", "--format", "html", "-p", str(trained), "--data", str(REPO / "data" / "mnist"),
                     "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def browser():
    playwright = sync_api.sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def tab(browser):
    """``tab(url, viewport=..., touch=False)``: a page that has loaded and drawn; offline for file://
    (every request but the file's own refused, and none may be made). Its console must stay free of
    errors and warnings: checked at the end of the test."""
    opened = []

    def open_tab(url: str, viewport: dict = DESKTOP, touch: bool = False):
        context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch, accept_downloads=True)
        page = context.new_page()
        log, requests = [], []
        page.on("console", lambda m: log.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: log.append(f"uncaught: {e}"))
        if url.startswith("file:"):
            page.on("request", lambda r: requests.append(r.url))
            context.route(re.compile(r"^(?!file:|data:|blob:)"), lambda route: route.abort())
        opened.append((context, log, requests))
        page.goto(url)
        wait_until(page, "window.scratchnet && window.scratchnet.ready")
        return page

    yield open_tab
    for context, log, requests in opened:
        context.close()
        assert log == [], log
        assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []


# -----------------------------------------------------------------------------
# the exported file, offline


def test_drawn_digits_are_recognised_and_preprocessed_as_python_does(tab, exported, trained):
    net = checkpoint.load(trained).network
    page = tab(exported.as_uri())
    assert page.evaluate("scratchnet.state.source") == "test"  # until a digit is drawn, test image 0
    right = []
    for digit in DIGITS:
        draw_with_mouse(page, digit)
        state = page.evaluate("scratchnet.state")
        assert state["source"] == "pad"
        # the 784 numbers the network sees are Python's preprocessing of the pad's very pixels
        assert state["pixels"] == preprocess.to_mnist(pad_pixels(page)).ravel().tolist(), digit
        outputs = numpy_forward(net, state["pixels"])[-1][0]
        assert np.allclose(state["outputs"], outputs, rtol=0, atol=1e-12)
        assert state["prediction"] == int(outputs.argmax())
        answer = re.fullmatch(r"Prediction: (\d) \(confidence (\S+)\)", page.inner_text("#answer"))
        assert answer and int(answer[1]) == state["prediction"]
        assert float(answer[2]) == pytest.approx(outputs.max(), rel=1e-2)
        right.append(state["prediction"] == digit)
    assert sum(right) >= len(DIGITS) - 1, dict(zip(DIGITS, right))  # a small network may miss one
    page.click("#undo")  # the last digit had one stroke: the pad is blank again
    settle(page)
    assert page.evaluate("scratchnet.state.outputs") is None
    assert not pad_pixels(page)[..., :3].any()


def largest(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(k) for k in np.unravel_index(np.abs(values).argmax(), values.shape))


def info_lines(page) -> list[str]:
    return page.inner_text("#info").split(" · ")


def test_hovering_shows_exact_values(tab, exported, trained):
    net = checkpoint.load(trained).network
    page = tab(exported.as_uri())
    draw_with_mouse(page, 7)
    pixels = page.evaluate("scratchnet.state.pixels")
    acts = [a[0] for a in numpy_forward(net, pixels)]
    # the most visible connection of each layer: the largest contribution w·a of this input
    for layer in range(net.n_layers):
        contributions = acts[layer][:, None] * net.weights[layer]
        i, j = largest(contributions)
        spot = page.evaluate(f"scratchnet.locate({{kind: 'weight', layer: {layer}, i: {i}, j: {j}}})")
        assert spot, (layer, i, j)
        page.mouse.move(spot["x"], spot["y"])
        w = net.weights[layer][i, j]
        lines = info_lines(page)
        assert lines[0] == f"w[{layer}][{i}→{j}] = {textformat.format_number(w)}"  # the text format's very digits
        product = lines[2].rpartition(" = ")[2]
        assert float(product) == w * acts[layer][i]
        assert page.is_visible("#tip") and page.inner_text("#tip").splitlines()[0] == lines[0]
    for layer, j in ((1, 5), (2, 7)):
        spot = page.evaluate(f"scratchnet.locate({{kind: 'neuron', layer: {layer}, j: {j}}})")
        page.mouse.move(spot["x"], spot["y"])
        lines = info_lines(page)
        assert lines[0] == f"b[{layer - 1}][{j}] = {textformat.format_number(net.biases[layer - 1][j])}"
        z, a = re.fullmatch(r"z = (\S+)\s+a = \w+\(z\) = (\S+)", lines[2]).groups()
        assert float(a) == pytest.approx(acts[layer][j], rel=1e-12, abs=1e-15)
        assert float(z) == pytest.approx(np.log(acts[layer][j] / (1 - acts[layer][j])), rel=1e-6)
    i = int(np.argmax(pixels))
    spot = page.evaluate(f"scratchnet.locate({{kind: 'pixel', i: {i}}})")
    page.mouse.move(spot["x"], spot["y"])
    assert info_lines(page)[1] == f"x[{i}] = {pixels[i]} × (1/255) = {float(acts[0][i])!r}"
    # colouring by weight draws every connection, whoever's input is 0
    page.select_option("#edge-mode", "weight")
    settle(page)
    blank = np.where(np.array(pixels)[:, None] == 0, np.abs(net.weights[0]), 0)  # inputs 0 now: no contribution
    for flat in np.argsort(blank, axis=None)[::-1][:20]:  # where one of the strongest lies on top of the others
        i, j = divmod(int(flat), 20)
        spot = page.evaluate(f"scratchnet.locate({{kind: 'weight', layer: 0, i: {i}, j: {j}}})")
        if spot:
            break
    page.mouse.move(spot["x"], spot["y"])
    assert info_lines(page)[0] == f"w[0][{i}→{j}] = {textformat.format_number(net.weights[0][i, j])}"
    assert "All 15,880 connections are drawn." in page.inner_text("#thinning")


def test_javascript_forward_equals_numpy_on_1000_test_images(tab, exported, trained, mnist):
    net = checkpoint.load(trained).network
    page = tab(exported.as_uri())
    images = mnist.test_images[:1000]
    outputs = page.evaluate("""b64 => {  // base64 both ways: a long list of numbers crosses slowly
        const pixels = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), n = 784;
        const out = new Float64Array(pixels.length / n * 10);
        for (let k = 0; k < pixels.length / n; k++) {
            out.set(scratchnet.forward(pixels.subarray(k * n, (k + 1) * n)).outputs, k * 10);
        }
        return btoa(Array.from(new Uint8Array(out.buffer), (c) => String.fromCharCode(c)).join(''));
    }""", base64.b64encode(images.tobytes()).decode())
    expected = net.predict(data.inputs(images))
    outputs = np.frombuffer(base64.b64decode(outputs), np.float64).reshape(expected.shape)
    assert np.abs(outputs - expected).max() <= 1e-12
    # the page's own predictions of its embedded images: the same, and the same accuracy
    wait_until(page, "scratchnet.evaluation !== null")
    evaluation = page.evaluate("scratchnet.evaluation")
    assert evaluation["predictions"] == expected.argmax(axis=1).tolist()
    accuracy = float(np.mean(expected.argmax(axis=1) == mnist.test_labels[:1000]))
    assert evaluation["accuracy"] == accuracy
    assert f"Accuracy {100 * accuracy:.2f}% on 1,000 test images" in page.inner_text("#test-accuracy")


def test_test_images_misclassified_and_confusion_matrix(tab, exported, trained, mnist):
    net = checkpoint.load(trained).network
    page = tab(exported.as_uri())
    labels = mnist.test_labels[:1000]
    predicted = net.predict(data.inputs(mnist.test_images[:1000])).argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wait_until(page, "scratchnet.evaluation !== null")
    page.fill("#test-index", "12")
    page.press("#test-index", "Enter")
    settle(page)
    state = page.evaluate("scratchnet.state")
    assert state["source"] == "test" and state["testIndex"] == 12
    assert state["pixels"] == mnist.test_images[12].ravel().tolist()
    assert page.inner_text("#test-info").startswith(f"#12: label {labels[12]}, prediction {predicted[12]} ")
    page.click("#miss-next")
    settle(page)
    assert page.evaluate("scratchnet.state.testIndex") == wrong[wrong > 12][0]
    assert page.inner_text("#test-info").endswith("wrong")
    page.fill("#test-index", str(wrong[0]))
    page.press("#test-index", "Enter")
    page.click("#miss-next")
    assert page.evaluate("scratchnet.state.testIndex") == wrong[1]
    page.click("#miss-prev")
    page.click("#miss-prev")  # from the first, round to the last
    assert page.evaluate("scratchnet.state.testIndex") == wrong[-1]
    # the confusion matrix: the most frequent mistake's cell opens its images
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, predicted), 1)
    np.fill_diagonal(confusion, 0)
    r, c = largest(confusion)
    page.click(f"#confusion button[aria-label^='true {r}, predicted {c}:']")
    found = np.flatnonzero((labels == r) & (predicted == c))
    buttons = page.locator("#cell-images button")
    assert buttons.count() == len(found)
    buttons.nth(len(found) - 1).click()
    settle(page)
    assert page.evaluate("scratchnet.state.testIndex") == found[-1]
    assert page.evaluate("scratchnet.state.prediction") == c


def test_opening_a_neuron_shows_its_weights_and_this_inputs_pushes(tab, exported, trained):
    net = checkpoint.load(trained).network
    page = tab(exported.as_uri())
    draw_with_mouse(page, 2)
    pixels = page.evaluate("scratchnet.state.pixels")
    spot = page.evaluate("scratchnet.locate({kind: 'neuron', layer: 1, j: 4})")
    page.mouse.click(spot["x"], spot["y"])
    assert page.is_visible("#neuron-detail")
    assert page.inner_text("#neuron-title").startswith(
        f"Neuron 4 of layer 1 (hidden): bias b[0][4] = {textformat.format_number(net.biases[0][4])}")
    # the tile is laid out as the picture: pixel i is row i // 28, column i % 28
    page.locator("#neuron-contrib").scroll_into_view_if_needed()
    tile = page.locator("#neuron-contrib").bounding_box()
    i = int(np.argmax(pixels))
    row, col = divmod(i, 28)
    page.mouse.move(tile["x"] + (col + 0.5) / 28 * tile["width"], tile["y"] + (row + 0.5) / 28 * tile["height"])
    w, a = net.weights[0][i, 4], pixels[i] * (1 / 255)
    assert page.inner_text("#neuron-info") == (f"pixel {i} (row {row}, column {col}): w[0][{i}→4] = "
                                               f"{textformat.format_number(w)} · a = {a!r} · w·a = {float(w * a)!r}")
    # the edit form now names that neuron's bias
    assert page.inner_text("#edit-current") == f"b[0][4] = {textformat.format_number(net.biases[0][4])}"


def apply_edit(page, kind: str, layer: int, neuron: int, value: str, input: int | None = None) -> None:
    """Fill the edit form as a person would (a weight also names its input) and press Apply."""
    page.select_option("#edit-kind", kind)
    page.select_option("#edit-layer", str(layer))
    if input is not None:
        page.fill("#edit-input", str(input))
    page.fill("#edit-neuron", str(neuron))
    page.fill("#edit-value", value)
    page.click("#edit-apply")


def test_an_edit_changes_the_prediction_and_downloads_as_the_text_format(tab, exported, trained, tmp_path):
    ckpt = checkpoint.load(trained)
    net = ckpt.network
    page = tab(exported.as_uri())
    # unedited, the page writes what `scratchnet export --format txt` writes, byte for byte
    assert page.evaluate("scratchnet.toText()") == textformat.to_text(net, ckpt.epochs_done, ckpt.history)
    draw_with_mouse(page, 1)
    before = page.evaluate("scratchnet.state")
    # a large bias on output 8 makes the network answer 8
    apply_edit(page, "bias", layer=1, neuron=8, value="25")
    settle(page)
    after = page.evaluate("scratchnet.state")
    assert before["prediction"] != 8 and after["prediction"] == 8
    assert page.inner_text("#edit-log") == f"b[1][8]: {textformat.format_number(net.biases[1][8])} → 25.0"
    # a bad value is refused in one line and changes nothing
    page.fill("#edit-value", "1e999")
    page.click("#edit-apply")
    assert page.inner_text("#edit-error") == "1e999 is too large for float64"
    page.fill("#edit-value", "0x10")
    page.click("#edit-apply")
    assert page.inner_text("#edit-error").startswith('"0x10" is not a number')
    # an index out of range names the range and applies nothing
    page.fill("#edit-neuron", "10")
    assert page.inner_text("#edit-current") == "the neuron must be a whole number from 0 to 9"
    page.fill("#edit-value", "1")
    page.click("#edit-apply")
    assert page.inner_text("#edit-error") == "the neuron must be a whole number from 0 to 9"
    assert len(page.locator("#edit-log li").all()) == 1
    # a weight, by hand
    apply_edit(page, "weight", layer=0, neuron=3, value="-0.125", input=300)
    with page.expect_download() as download:
        page.click("#save-txt")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "net-edited.txt"
    read = textformat.read(path)
    expected_w, expected_b = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    expected_b[1][8], expected_w[0][300, 3] = 25.0, -0.125
    for x, y in zip(read.network.weights + read.network.biases, expected_w + expected_b, strict=True):
        assert np.array_equal(x, y)
    assert read.epochs_done == ckpt.epochs_done
    # undo puts the value back, exactly
    page.click("#edit-undo")
    page.click("#edit-undo")
    settle(page)
    assert page.evaluate("scratchnet.state.outputs") == before["outputs"]
    assert page.evaluate("scratchnet.toText()") == textformat.to_text(net, ckpt.epochs_done, ckpt.history)


def edge_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random parameters of every magnitude, with the numbers that print oddly among them."""
    values = rng.normal(0, 1, shape) * 10.0 ** rng.integers(-9, 18, shape)
    special = [0.0, -0.0, 1e-4, 9.999e-5, 1e16, 9.999999e15, 0.1, 1 / 3, 5e-324, 1.7976931348623157e308, 1e-45,
               3.4028235e38, 1.401298464324817e-45, 123456789.0, 100.0]
    flat = values.ravel()
    flat[:len(special)] = special[:flat.size]
    with np.errstate(over="ignore"):
        out = flat.astype(dtype).reshape(shape)
    out[~np.isfinite(out)] = 1.0
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numbers_are_written_as_python_writes_them(tab, tmp_path, dtype):
    rng = np.random.default_rng(5)
    sizes = (784, 6, 10)
    net = network.Network(sizes, "relu", "softmax",
                          [edge_values(rng, (a, b), dtype) for a, b in itertools.pairwise(sizes)],
                          [edge_values(rng, (b,), dtype) for b in sizes[1:]])
    cfg = config.resolve({"layers": sizes, "hidden": "relu", "output": "softmax", "dtype": dtype})
    ckpt = Checkpoint(net, cfg, 0, [])
    page_file = tmp_path / "net.html"
    page_file.write_text(explorer.page(explorer.page_data(ckpt, "net.npz", False)), encoding="utf-8")
    page = tab(page_file.as_uri())
    values = np.concatenate([w.ravel() for w in net.weights] + net.biases)
    shown = page.evaluate(f"values => values.map(v => scratchnet.shortest(v, '{dtype}'))",
                          values.astype(np.float64).tolist())
    assert shown == [textformat.format_number(v) for v in values]
    assert page.evaluate("scratchnet.toText()") == textformat.to_text(net, 0, [])


# -----------------------------------------------------------------------------
# a phone, the keyboard


def touch_stroke(page, path: list[tuple[float, float]]) -> None:
    """A finger along the path: touch events through the DevTools protocol (Playwright only taps)."""
    cdp = page.context.new_cdp_session(page)
    kinds = ["touchStart"] + ["touchMove"] * (len(path) - 1)
    for kind, (x, y) in zip(kinds, path):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_a_phone_draws_with_a_finger_and_taps_the_network(tab, exported, trained):
    net = checkpoint.load(trained).network
    page = tab(exported.as_uri(), viewport=PHONE, touch=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing wider than the phone
    box = page.locator("#pad").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["width"] >= 250
    for stroke in DIGITS[7]:
        touch_stroke(page, points(stroke, box))
    settle(page)
    state = page.evaluate("scratchnet.state")
    assert state["source"] == "pad" and state["prediction"] == 7
    assert page.evaluate("window.scrollY") == 0  # the finger drew; it did not scroll the page
    # a tap on the network shows a neuron's numbers and opens it
    page.locator("#overlay").scroll_into_view_if_needed()
    spot = page.evaluate("scratchnet.locate({kind: 'neuron', layer: 2, j: 7})")
    page.touchscreen.tap(spot["x"], spot["y"])
    wait_until(page, "!document.getElementById('neuron-detail').hidden", timeout=10)  # the tap opened it
    assert info_lines(page)[0] == f"b[1][7] = {textformat.format_number(net.biases[1][7])}"
    for control in ("#undo", "#clear", "#edit-apply", "#test-next", "#miss-next"):  # big enough for a finger
        size = page.locator(control).bounding_box()
        assert size["height"] >= 36 and size["x"] + size["width"] <= PHONE["width"], control
    # the whole confusion matrix, columns 0 to 9, without scrolling sideways
    wait_until(page, "scratchnet.evaluation !== null")
    table = page.locator("#confusion")
    table.scroll_into_view_if_needed()
    assert page.evaluate("(() => { const t = document.getElementById('confusion'); "
                         "return t.scrollWidth <= t.parentElement.clientWidth; })()")
    right = page.evaluate("Math.max(...Array.from(document.querySelectorAll('#confusion tr'), r => "
                          "r.lastElementChild.getBoundingClientRect().right))")
    assert right <= PHONE["width"], f"the matrix's last column ends at {right} px"


def test_the_keyboard_reaches_every_control(tab, exported):
    page = tab(exported.as_uri())
    wait_until(page, "scratchnet.evaluation !== null")  # the confusion matrix's buttons are there
    name = """e => e.id || e.getAttribute('aria-label') || e.textContent.trim()"""
    controls = page.evaluate(f"""Array.from(document.querySelectorAll('button, input, select, a[href], [tabindex]'))
        .filter(e => e.offsetParent !== null && !e.disabled && e.tabIndex >= 0).map({name})""")
    assert len(controls) > 130  # the confusion matrix's 100 cells, 20 tiles, the forms
    # every control has a name a screen reader says: its label, its aria-label or its text
    unnamed = page.evaluate("""Array.from(document.querySelectorAll('button, input, select, a[href], canvas[tabindex]'))
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map(e => e.outerHTML.slice(0, 80))""")
    assert unnamed == []
    reached = []
    for _ in range(len(controls) + 3):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(f"({name})(document.activeElement)"))
    assert reached[0] == "Skip to the network"
    assert set(controls) <= set(reached)
    order = [reached.index(c) for c in ("undo", "clear", "edge-mode", "overlay", "edit-kind", "edit-apply", "save-txt",
                                        "test-index", "miss-next")]
    assert order == sorted(order)  # the page's order: drawing, the network, editing, test images
    # the focus shows
    page.focus("#undo")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("(s => [s.outlineStyle, parseFloat(s.outlineWidth)])"
                            "(getComputedStyle(document.activeElement))")
    assert outline[0] != "none" and outline[1] >= 2
    # the network by keyboard: arrows move between neurons, Enter opens one
    page.focus("#overlay")
    for key in ("ArrowDown", "ArrowDown", "ArrowDown", "ArrowRight", "ArrowDown", "ArrowLeft"):
        page.keyboard.press(key)
    assert page.inner_text("#info").startswith("b[0][4] = ")
    page.keyboard.press("Enter")
    assert page.inner_text("#neuron-title").startswith("Neuron 4 of layer 1 (hidden)")
    assert page.inner_text("#edit-current").startswith("b[0][4] = ")


# -----------------------------------------------------------------------------
# served: `scratchnet serve`, training from the page


@pytest.fixture
def served(processes):
    """``served(params, data)``: `scratchnet serve` on a free port; its URL. Stopped with Ctrl-C at the end
    (request this fixture before ``tab``, so that the tabs close first)."""
    pytest.importorskip("starlette", reason="scratchnet serve needs starlette (pip install 'scratchnet[web]')")
    pytest.importorskip("uvicorn", reason="scratchnet serve needs uvicorn (pip install 'scratchnet[web]')")
    started = []

    def start(params: Path, dataset: Path) -> str:
        proc = subprocess.Popen([sys.executable, "-m", "scratchnet.cli", "serve", "-p", str(params), "--data",
                                 str(dataset), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        processes.append(proc)
        started.append(proc)
        for line in proc.stdout:
            if line.startswith("scratchnet explorer: "):
                return line.split()[2]
        pytest.fail(f"scratchnet serve did not start: {proc.wait()}, {proc.stderr.read()}")

    yield start
    for proc in started:
        proc.send_signal(2)
        assert proc.wait(timeout=30) in (0, 130)


def wait_for_status(page, words: str) -> None:
    wait_until(page, f"document.getElementById('train-status').textContent.startsWith({json.dumps(words)})")


def tile(page, j: int) -> str:
    return page.evaluate(f"document.querySelectorAll('#tiles canvas')[{j}].toDataURL()")


def test_training_from_the_page_is_resumed_by_the_command_line(served, tab, tmp_path, small, small_npz):
    params = tmp_path / "net.npz"  # no file yet: the server starts train's default network
    url = served(params, small_npz)
    page, other = tab(url), tab(url)  # two tabs watch one training
    assert page.evaluate("Array.from(document.querySelectorAll('#train-preset option'), o => o.value)") == \
        ["", *config.PRESETS]
    assert page.is_hidden("#train-offline") and page.is_hidden("#save-txt")
    wait_until(page, "scratchnet.evaluation !== null")  # NumPy's, over the server's 500 test images
    assert "on 500 test images computed by NumPy on the server" in page.inner_text("#test-accuracy")
    draw_with_mouse(page, 3)
    untrained = page.evaluate("scratchnet.state")
    first = run.start(tmp_path / "none.npz", {}).network  # the same seed: the same new network
    assert np.allclose(untrained["outputs"], numpy_forward(first, untrained["pixels"])[-1][0], rtol=0, atol=1e-12)
    before = tile(page, 0)
    page.fill("#train-epochs", "1")
    page.fill("#train-batch", "10")
    page.fill("#train-lr", "0.5")
    page.click("#train-start")
    for p in (page, other):
        wait_until(p, "document.getElementById('curve-acc').getAttribute('aria-label').includes('after epoch 1')")
        wait_for_status(p, "Idle: 1 epoch done.")
    ckpt = checkpoint.load(params)
    assert ckpt.epochs_done == 1 and ckpt.config.batch_size == 10 and ckpt.config.lr == 0.5
    # the page shows the trained network: its tiles (redrawn once it has fetched it), its outputs, NumPy's accuracy
    wait_until(page, f"document.querySelectorAll('#tiles canvas')[0].toDataURL() !== {json.dumps(before)}")
    settle(page)
    trained_state = page.evaluate("scratchnet.state")
    expected = numpy_forward(ckpt.network, untrained["pixels"])[-1][0]
    assert np.allclose(trained_state["outputs"], expected, rtol=0, atol=1e-12)
    accuracy = ckpt.history[0]["test_accuracy"]
    wait_until(page, f"scratchnet.evaluation && scratchnet.evaluation.accuracy === {accuracy!r}")
    assert page.inner_text("#test-accuracy").startswith(f"Accuracy {100 * accuracy:.2f}% on 500 test images")
    # the command line resumes what the page trained
    resumed = subprocess.run([sys.executable, "-m", "scratchnet.cli", "train", "-p", str(params), "--data",
                              str(small_npz), "--epochs", "1"], capture_output=True, text=True, timeout=120,
                             check=False)
    assert resumed.returncode == 0, resumed.stderr
    again = checkpoint.load(params)
    assert again.epochs_done == 2 and again.history[0] == ckpt.history[0] and again.config.lr == 0.5
    # and the page resumes what the command line trained; Stop ends a long run at a batch, saved
    page.fill("#train-epochs", "1000")
    page.fill("#train-batch", "1")
    page.click("#train-start")
    wait_for_status(page, "Training")
    wait_until(page, "document.getElementById('train-progress').value > 0")
    page.click("#train-stop")
    wait_for_status(page, "Idle")
    stopped = checkpoint.load(params)
    assert 2 <= stopped.epochs_done < 1002 and stopped.history[:2] == again.history
    assert stopped.partial_epoch_samples > 0 or stopped.epochs_done > 2
    # a preset of another kind of network starts over, as train --fresh; the page follows
    page.select_option("#train-preset", "tuned")
    page.check("#train-fresh")
    page.fill("#train-epochs", "1")
    page.fill("#train-batch", "")
    page.click("#train-start")
    wait_until(page, "document.getElementById('summary').textContent.startsWith('784-20-10 relu/softmax float64')")
    wait_for_status(page, "Idle: 1 epoch done.")
    fresh = checkpoint.load(params)
    assert (fresh.network.hidden, fresh.epochs_done, fresh.config.batch_size) == ("relu", 1, 32)


def test_a_served_edit_is_saved_to_the_checkpoint(served, tab, tmp_path, small_npz):
    params = tmp_path / "net.npz"
    assert cli.main(["train", "-p", str(params), "--data", str(small_npz), "--epochs", "1", "--batch-size", "10"]) == 0
    page = tab(served(params, small_npz))
    apply_edit(page, "weight", layer=1, neuron=2, value="1.5e-3", input=7)
    wait_until(page, "document.getElementById('edit-log').textContent.includes('→ 0.0015')")
    wait_for_status(page, "Idle: 1 epoch done. The network has edits that are not saved")
    assert page.is_disabled("#train-start")  # training goes on from the file: save or revert the edits first
    page.select_option("#edit-kind", "bias")  # -0.0 stays -0.0 on its way to the server
    page.fill("#edit-value", "-0")
    page.click("#edit-apply")
    wait_until(page, "document.getElementById('edit-log').textContent.includes('b[1][2]')")
    page.click("#save-server")
    wait_until(page, "document.getElementById('save-status').textContent === 'Saved to net.npz.'")
    saved = checkpoint.load(params).network
    assert saved.weights[1][7, 2] == 1.5e-3 and saved.biases[1][2] == 0 and np.signbit(saved.biases[1][2])
    with page.expect_download() as download:
        page.click("#dl-txt")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert textformat.read(path).network.weights[1][7, 2] == 1.5e-3


def test_a_change_announced_while_the_page_fetches_slowly_is_shown(served, tab, tmp_path, small_npz):
    """The page fetches a new network one request at a time, pausing three times as long as the last fetch
    took; a change announced meanwhile must still be fetched after the pause (a network lost so was shown
    stale after training)."""
    params = tmp_path / "net.npz"
    assert cli.main(["train", "-p", str(params), "--data", str(small_npz), "--epochs", "1", "--batch-size", "10"]) == 0
    page = tab(served(params, small_npz))
    page.route(re.compile(r"/api/network$"), lambda route: (time.sleep(0.3), route.continue_()))
    score = "scratchnet.forward(new Array(784).fill(0)).outputs[3]"

    def edit_bias(neuron: int, value: float) -> None:  # as another program would: the page hears of it by an event
        status = page.evaluate(f"""fetch('api/edit', {{method: 'POST', headers: {{'Content-Type': 'application/json'}},
            body: JSON.stringify({{kind: 'bias', layer: 1, neuron: {neuron}, value: {value}}})}}).then(r => r.status)""")
        assert status == 200

    edit_bias(3, 100)
    wait_until(page, f"{score} > 0.99", timeout=30)  # fetched in 0.3 s: the page pauses 0.9 s or more
    edit_bias(3, -100)  # announced in that pause
    wait_until(page, f"{score} < 0.01", timeout=30)


@pytest.mark.parametrize("sizes, hidden, output, dtype", [
    ((784, 10), "sigmoid", "softmax", "float64"),  # no hidden layer
    ((784, 12, 7, 10), "tanh", "softmax", "float64"),
    ((784, 300, 100, 10), "relu", "softmax", "float32"),  # 266,200 connections: thinned
    ((30, 5, 3), "relu", "sigmoid", "float64"),  # inputs that are no picture: no pad, no test images
], ids=["784-10", "784-12-7-10-tanh", "784-300-100-10-relu-float32", "30-5-3"])
def test_other_networks(tab, tmp_path, mnist, sizes, hidden, output, dtype):
    rng = np.random.default_rng(3)
    net = network.create(sizes, hidden, output, "xavier", dtype, rng)
    net.biases = [rng.normal(0, 0.5, n).astype(dtype) for n in sizes[1:]]
    cfg = config.resolve({"layers": sizes, "hidden": hidden, "output": output, "dtype": dtype})
    images = explorer.images_data(mnist.test_images[:20], mnist.test_labels[:20]) if sizes[0] == 784 else None
    page_file = tmp_path / "net.html"
    html = explorer.page(explorer.page_data(Checkpoint(net, cfg), "net.npz", False, images))
    page_file.write_text(html, encoding="utf-8")
    page = tab(page_file.as_uri())
    settle(page)
    if sizes[0] == 784:
        outputs = page.evaluate("scratchnet.state.outputs")
        expected = net.forward(data.inputs(mnist.test_images[:1], np.float64))[0][-1][0]  # float64 arithmetic
        assert np.abs(np.array(outputs) - expected).max() <= 1e-12
    else:
        assert page.evaluate("scratchnet.state.outputs") is None
        assert page.inner_text("#source") == "This network takes 30 inputs: the pad makes 784."
    spot = page.evaluate(f"scratchnet.locate({{kind: 'neuron', layer: {len(sizes) - 1}, j: 2}})")
    page.mouse.move(spot["x"], spot["y"])
    assert info_lines(page)[0] == f"b[{len(sizes) - 2}][2] = {textformat.format_number(net.biases[-1][2])}"
    thinned = sum(a * b for a, b in itertools.pairwise(sizes)) > 20_000
    assert ("strongest incoming connections" in page.inner_text("#thinning")) == thinned

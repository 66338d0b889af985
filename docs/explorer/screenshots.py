"""Write the explorer's screenshots, docs/explorer/*.png, from this checkout.

    python docs/explorer/screenshots.py

Trains 784-20-10 for 3 epochs on data/mnist (seconds), then photographs in Debian's chromium (driven
by Playwright): the exported file with a drawn 3 and a connection hovered (explorer.png), a neuron
opened (neuron.png), the test images and the confusion matrix (test-images.png), a training step on
test image 3 at its update stage with a connection's formula hovered, and its panel (learn.png), why
it answers (why.png), a dream of a 3 (dream.png), a phone (phone.png), and `scratchnet serve` after one
more epoch trained from the page (training.png).
Each is reduced to 256 colours, to keep the repository small.
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "explorer"
CLI = [sys.executable, "-m", "scratchnet.cli"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
THREE = [(0.3, 0.2), (0.5, 0.13), (0.68, 0.22), (0.65, 0.38), (0.46, 0.47), (0.68, 0.56), (0.7, 0.72), (0.5, 0.85),
         (0.3, 0.78)]


def save(png: bytes, name: str) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    image.save(OUT / name, optimize=True)
    print(f"wrote {OUT / name} ({(OUT / name).stat().st_size:,} bytes)")


def until(page, expression: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        page.wait_for_timeout(50)


def draw(page, stroke, touch: bool = False) -> None:
    box = page.locator("#pad").bounding_box()
    path = []
    for (ax, ay), (bx, by) in itertools.pairwise(stroke):
        path += [(ax + (bx - ax) * k / 12, ay + (by - ay) * k / 12) for k in range(12)]
    path = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in path + [stroke[-1]]]
    if touch:
        cdp = page.context.new_cdp_session(page)
        for kind, (x, y) in zip(["touchStart"] + ["touchMove"] * len(path), path):
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        return
    page.mouse.move(*path[0])
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(x, y)
    page.mouse.up()


def stack(pngs: list[bytes]) -> bytes:
    """Pictures one above the other, as one PNG."""
    images = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    out = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), (17, 19, 23))
    y = 0
    for image in images:
        out.paste(image, (0, y))
        y += image.height
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return buffer.getvalue()


def learn_shots(page) -> None:
    """learn.png: a step on test image 3 at its update stage, the largest change's formula hovered, over
    the Learn panel; why.png: why it answers; dream.png: a dream of a 3 on the pad."""
    page.fill("#learn-index", "3")
    page.click("#learn-load")
    page.click("#learn-step")
    stages = page.evaluate("scratchnet.learn.stages")
    page.evaluate(f"scratchnet.learn.setStage({stages.index('update')})")
    label = int(page.input_value("#learn-label"))
    hidden = np.array(page.evaluate("scratchnet.forward(scratchnet.state.pixels).activations[1]"))
    i = int(hidden.argmax())  # dL/dw = delta_label * a_i: the largest a_i, the largest change into the label
    page.locator("#net-panel").scroll_into_view_if_needed()
    spot = page.evaluate(f"scratchnet.locate({{kind: 'weight', layer: 1, i: {i}, j: {label}}})")
    page.mouse.move(spot["x"], spot["y"])
    page.wait_for_timeout(100)
    network = page.locator("#net-panel").screenshot()
    page.mouse.move(1, 1)
    save(stack([network, page.locator("#learn-panel").screenshot()]), "learn.png")
    page.click("#stage-close")
    page.click("#why-go")
    save(page.locator("#why-panel").screenshot(), "why.png")
    page.select_option("#dream-digit", "3")
    page.click("#dream-blank")
    until(page, "!scratchnet.learn.dreaming")
    page.wait_for_timeout(100)
    save(page.locator("#draw-panel").screenshot(), "dream.png")
    page.click("#clear")


def main() -> None:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO / "src"))
    from scratchnet import checkpoint
    from scratchnet.data import inputs

    with tempfile.TemporaryDirectory() as folder:
        params, html = Path(folder) / "net.npz", Path(folder) / "net.html"
        data = str(REPO / "data" / "mnist")
        subprocess.run([*CLI, "train", "-p", str(params), "--data", data, "--epochs", "3", "--batch-size", "10",
                        "--lr", "0.5", "--shuffle", "--shift", "1"], check=True, env=ENV)
        subprocess.run([*CLI, "export", "--format", "html", "-p", str(params), "--data", data, "-o", str(html)],
                       check=True, env=ENV)
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(html.as_uri())
        until(page, "window.scratchnet && scratchnet.ready && scratchnet.evaluation !== null")
        draw(page, THREE)
        # hover the connection that pushes the answer hardest: hidden neuron i -> output 3
        net = checkpoint.load(params).network
        pixels = np.array(page.evaluate("scratchnet.state.pixels"), np.uint8).reshape(1, 28, 28)
        hidden = net.forward(inputs(pixels))[0][1][0]
        i = int(np.abs(hidden * net.weights[1][:, 3]).argmax())
        spot = page.evaluate(f"scratchnet.locate({{kind: 'weight', layer: 1, i: {i}, j: 3}})")
        page.mouse.move(spot["x"], spot["y"])
        save(page.screenshot(), "explorer.png")
        spot = page.evaluate("scratchnet.locate({kind: 'neuron', layer: 1, j: 6})")
        page.mouse.click(spot["x"], spot["y"])
        page.mouse.move(1, 1)
        page.locator("#neuron-panel").scroll_into_view_if_needed()
        save(page.locator("#neuron-panel").screenshot(), "neuron.png")
        page.click("#confusion button[aria-label^='true 4, predicted 9:']")
        page.click("#miss-next")
        save(page.locator("#test-panel").screenshot(), "test-images.png")
        learn_shots(page)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
        phone.goto(html.as_uri())
        until(phone, "window.scratchnet && scratchnet.ready")
        draw(phone, THREE, touch=True)
        phone.wait_for_timeout(200)
        save(phone.screenshot(), "phone.png")

        server = subprocess.Popen([*CLI, "serve", "-p", str(params), "--data", data, "--port", "0"],
                                  stdout=subprocess.PIPE, text=True, env=ENV)
        try:
            url = next(line.split()[2] for line in server.stdout if line.startswith("scratchnet explorer: "))
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            until(page, "window.scratchnet && scratchnet.ready && scratchnet.evaluation !== null")
            page.fill("#train-epochs", "1")
            page.click("#train-start")
            until(page, "document.getElementById('train-progress').value > 0.5")
            page.locator("#train-panel").scroll_into_view_if_needed()
            until(page, "document.getElementById('train-status').textContent.startsWith('Idle: 4 epochs')")
            save(page.locator("#train-panel").screenshot(), "training.png")
        finally:
            server.send_signal(2)
            server.wait()
        browser.close()
        playwright.stop()


if __name__ == "__main__":
    main()

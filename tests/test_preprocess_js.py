"""web/preprocess.js, run in Chromium, turns a picture into the very numbers preprocess.to_mnist
gives for the same RGBA pixels: the 784 of the result, every intermediate step, and the same
one-line message for a blank picture. Pictures: the documented example, those of the Python tests,
drawings made by the browser's own canvas (antialiased) at the page's sizes, noise, blanks, and
seeded random strokes."""

from __future__ import annotations

import base64
import random
import shutil
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from scratchnet import ScratchnetError, preprocess
from test_predict_image import ONE, SEVEN, drawn
from test_preprocess import enlarged, seven

sync_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# The page's helpers. Bytes go in and out deflated, in base64 (megabytes of pictures and steps
# would take seconds through the browser's protocol); a run returns the result or the error's
# message, and every step traced up to it.
HELPERS = """
async function inflate(text) {
  const s = atob(text), bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8ClampedArray(await new Response(stream).arrayBuffer());
}
async function deflate(data) {
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream("deflate"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
async function run(rgba, width, height) {
  const trace = {};
  let result = null, error = null;
  try {
    result = await deflate(ScratchnetPreprocess.toMnist(rgba, width, height, trace));
  } catch (e) {
    error = e.message;
  }
  const steps = [];
  for (const [name, img] of Object.entries(trace)) steps.push([name, img.h, img.w, await deflate(img.data)]);
  return {result, error, steps};
}
function draw(spec) {  // strokes drawn by the canvas API, antialiased, then read back
  const canvas = document.createElement("canvas");
  canvas.width = spec.width;
  canvas.height = spec.height;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  if (spec.paper) {
    ctx.fillStyle = spec.paper;
    ctx.fillRect(0, 0, spec.width, spec.height);
  }
  Object.assign(ctx, {strokeStyle: spec.ink, lineWidth: spec.pen, lineCap: "round", lineJoin: "round",
                      globalAlpha: spec.alpha});
  for (const stroke of spec.strokes) {
    ctx.beginPath();
    ctx.moveTo(stroke[0][0], stroke[0][1]);
    for (const [x, y] of stroke.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
  return ctx.getImageData(0, 0, spec.width, spec.height).data;
}
"""


@pytest.fixture(scope="module")
def page():
    if CHROMIUM is None:
        pytest.skip("chromium not installed")
    script = resources.files("scratchnet").joinpath("web", "preprocess.js").read_text(encoding="utf-8")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        tab.set_content(f"<!doctype html><meta charset='utf-8'><script>{script}</script><script>{HELPERS}</script>")
        yield tab
        browser.close()
    assert errors == []


def python_side(rgba: np.ndarray) -> tuple[np.ndarray | None, str | None, dict[str, np.ndarray]]:
    """preprocess.to_mnist of the pixels as a PIL RGBA image: (result, None, trace) or
    (None, the error's message, the steps traced before it)."""
    trace: dict[str, np.ndarray] = {}
    try:
        return preprocess.to_mnist(Image.fromarray(rgba), trace), None, trace
    except ScratchnetError as e:
        return None, str(e), trace


def assert_same(js: dict, rgba: np.ndarray) -> np.ndarray | None:
    """JavaScript's run equals Python's on the same pixels: result or message, and every step."""
    out, error, trace = python_side(rgba)
    assert js["error"] == error
    assert [step[0] for step in js["steps"]] == list(trace)  # the same steps, up to any failure
    for name, h, w, data in js["steps"]:
        mine = inflate(data)
        assert (h, w) == trace[name].shape and np.array_equal(mine.reshape(h, w), trace[name]), name
    if error is None:
        result = inflate(js["result"]).reshape(28, 28)
        assert np.array_equal(result, out)
        return result
    return None


def inflate(data: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(data)), np.uint8)


def js_run(page, rgba: np.ndarray) -> dict:
    h, w = rgba.shape[:2]
    data = base64.b64encode(zlib.compress(np.ascontiguousarray(rgba, np.uint8).tobytes(), 1)).decode("ascii")
    return page.evaluate("async ([data, w, h]) => run(await inflate(data), w, h)", [data, w, h])


def check(page, rgba: np.ndarray) -> np.ndarray | None:
    return assert_same(js_run(page, rgba), rgba)


def rgba(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGBA"))


def js_draw(page, spec: dict) -> tuple[dict, np.ndarray]:
    """Draw in the browser, run the JavaScript on the canvas's pixels; returns the run and the pixels."""
    spec = {"paper": None, "ink": "#000", "alpha": 1, **spec}
    run = page.evaluate("""async spec => {
      const pixels = draw(spec);
      return Object.assign(await run(pixels, spec.width, spec.height), {pixels: await deflate(pixels)});
    }""", spec)
    pixels = inflate(run["pixels"]).reshape(spec["height"], spec["width"], 4)
    return run, pixels


# -----------------------------------------------------------------------------
# pictures decoded by Python, given to both


def test_the_documented_example(page):
    pixels = rgba(Image.open(REPO / "docs" / "preprocess" / "example.png"))
    expected = np.loadtxt(REPO / "docs" / "preprocess" / "example.txt", dtype=np.uint8)
    assert np.array_equal(check(page, pixels), expected)


def _uneven(strength: float) -> Image.Image:
    """test_preprocess's photo: a ramp and a dark edge, and noise."""
    paper = np.asarray(seven((900, 700), at=(500, 300), scale=1.5), float)
    y, x = np.mgrid[0 : paper.shape[0], 0 : paper.shape[1]]
    light = 1 - strength * x / x.max() - strength * ((y / y.max() - 0.5) ** 2)
    noise = np.random.default_rng(0).normal(0, 8, paper.shape)
    return Image.fromarray(np.clip(paper * light + noise, 0, 255).astype(np.uint8))


def _specks() -> Image.Image:
    photo = np.asarray(seven((800, 600), at=(350, 200), scale=1.2)).copy()
    photo[:, :40] = 90
    for y, x in np.random.default_rng(1).integers(60, 580, (30, 2)):
        photo[y : y + 3, x : x + 3] = 0
    return Image.fromarray(photo)


def _tinted() -> Image.Image:
    grey = np.asarray(seven(), float)[..., None] / 255
    pixels = grey * np.array([240, 225, 190]) + (1 - grey) * np.array([30, 50, 140])
    return Image.fromarray(pixels.astype(np.uint8))


def _transparent(ink: tuple[int, int, int]) -> Image.Image:
    alpha = 255 - np.asarray(seven())
    pixels = np.zeros((*alpha.shape, 4), np.uint8)
    pixels[..., :3], pixels[..., 3] = ink, alpha
    pixels[alpha == 0, :3] = 255 - np.array(ink)
    return Image.fromarray(pixels)


def _line() -> Image.Image:
    line = np.full((200, 100), 255, np.uint8)
    line[20:180, 50] = 0
    return Image.fromarray(line)


def _faint() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).normal(200, 3, (300, 300)).clip(0, 255).astype(np.uint8))


PICTURES = {  # test_preprocess.py's pictures
    "seven": seven,
    "thin pen": lambda: seven((900, 800), width=1, at=(100, 100), scale=4),
    "thick pen": lambda: seven((900, 800), width=30, at=(100, 100), scale=4),
    "tiny digit": lambda: seven((300, 240), at=(10, 7.5), scale=0.25),
    "large, reduced to the working size": lambda: seven((1300, 1040), at=(170, 130), scale=4),
    "off centre": lambda: seven((1000, 800), at=(880, 630)),
    "touching the edges": lambda: seven((112, 162), at=(1, 1), width=4),
    "light ink": lambda: ImageOps.invert(seven()),
    "coloured ink on tinted paper": _tinted,
    "uneven light 0.3": lambda: _uneven(0.3),
    "uneven light 0.6": lambda: _uneven(0.6),
    "specks and a shadow": _specks,
    "one pixel wide": _line,
    "transparent, black ink": lambda: _transparent((0, 0, 0)),
    "transparent, white ink": lambda: _transparent((255, 255, 255)),
    "transparent, blue ink": lambda: _transparent((20, 40, 160)),
    "blank black": lambda: Image.new("RGB", (400, 300), (0,) * 3),
    "blank white": lambda: Image.new("RGB", (400, 300), (255,) * 3),
    "blank grey": lambda: Image.new("RGB", (400, 300), (128,) * 3),
    "faint noise": _faint,
    "fully transparent": lambda: Image.new("RGBA", (100, 100), (0, 0, 0, 0)),
    "1x1": lambda: Image.new("L", (1, 1), 255),
    "1x500": lambda: Image.new("L", (1, 500), 255),
    "3x2": lambda: Image.new("L", (3, 2), 255),
}


@pytest.mark.parametrize("name", PICTURES)
def test_the_python_tests_pictures(page, name):
    check(page, rgba(PICTURES[name]()))


@pytest.mark.parametrize("index", [0, 1, 7])
def test_mnist_digits_printed_large(page, mnist, index):
    check(page, rgba(enlarged(mnist.test_images[index])))


@pytest.mark.parametrize("strokes,dark", [(SEVEN, True), (SEVEN, False), (ONE, True)])
def test_the_predict_image_pictures(page, tmp_path, strokes, dark):
    check(page, rgba(Image.open(drawn(tmp_path / "digit.png", strokes, dark=dark))))


def test_noise(page):
    rng = np.random.default_rng(5)
    check(page, rng.integers(0, 256, (200, 300, 4), dtype=np.uint8))  # every alpha
    opaque = rng.integers(0, 256, (280, 280, 4), dtype=np.uint8)
    opaque[..., 3] = 255
    check(page, opaque)


# -----------------------------------------------------------------------------
# drawings made by the browser's canvas, at the page's sizes


def strokes(width: int, height: int, points: list[list[tuple[float, float]]]) -> list[list[list[float]]]:
    """Strokes given in a 0..1 box, placed on a width x height canvas."""
    return [[[x * width, y * height] for x, y in stroke] for stroke in points]


TWO = [[(0.3, 0.3), (0.45, 0.2), (0.65, 0.25), (0.7, 0.4), (0.55, 0.55), (0.3, 0.75), (0.72, 0.76)]]
FIVE = [[(0.65, 0.2), (0.38, 0.2), (0.35, 0.45), (0.55, 0.42), (0.66, 0.55), (0.6, 0.72), (0.35, 0.75)],
        [(0.38, 0.2), (0.4, 0.18)]]
DRAWINGS = {  # as the page draws: black ink, transparent or white canvas, a round pen
    "280, transparent": dict(width=280, height=280, pen=18, points=TWO),
    "280, white paper": dict(width=280, height=280, pen=18, points=FIVE, paper="#fff"),
    "280, thin pen": dict(width=280, height=280, pen=2, points=TWO, paper="#fff"),
    "280, thick pen": dict(width=280, height=280, pen=48, points=FIVE),
    "280, white ink on black": dict(width=280, height=280, pen=16, points=FIVE, paper="#000", ink="#fff"),
    "280, blue ink, half transparent": dict(width=280, height=280, pen=20, points=TWO, ink="#2040c0", alpha=0.5),
    "280, off centre": dict(width=280, height=280, pen=12, points=[[(x * 0.3 + 0.68, y * 0.3) for x, y in TWO[0]]]),
    "280, tiny": dict(width=280, height=280, pen=3, points=[[(x * 0.08 + 0.1, y * 0.08 + 0.8) for x, y in TWO[0]]]),
    "280, across the border": dict(width=280, height=280, pen=20, points=[[(-0.1, 0.5), (0.5, 0.45), (1.1, 0.6)]]),
    "280, a dot": dict(width=280, height=280, pen=20, points=[[(0.5, 0.5), (0.5, 0.5)]]),
    "200": dict(width=200, height=200, pen=14, points=FIVE),
    "320": dict(width=320, height=320, pen=20, points=TWO, paper="#fff"),
    "392, a phone": dict(width=392, height=392, pen=24, points=FIVE),
    "560, twice the pixels": dict(width=560, height=560, pen=36, points=TWO),
    "300x200": dict(width=300, height=200, pen=14, points=FIVE),
}


@pytest.mark.parametrize("name", DRAWINGS)
def test_drawings_on_the_canvas(page, name):
    spec = dict(DRAWINGS[name])
    spec["strokes"] = strokes(spec["width"], spec["height"], spec.pop("points"))
    run, pixels = js_draw(page, spec)
    assert_same(run, pixels)


@pytest.mark.parametrize("paper,message", [
    ("#fff", "image: no digit found: the picture is blank or has too little contrast"),
    (None, "image: the image is fully transparent: there is no digit in it"),
])
def test_a_blank_canvas_gives_pythons_message(page, paper, message):
    run, pixels = js_draw(page, dict(width=280, height=280, pen=10, strokes=[], paper=paper))
    assert run["error"] == message and run["result"] is None
    assert_same(run, pixels)


def test_seeded_random_strokes(page):
    """Three dozen random drawings: pens from hairline to fat, one to three strokes, anywhere."""
    rng = random.Random(11)
    for _ in range(36):
        width, height = rng.choice([(280, 280), (280, 280), (200, 200), (392, 392), (300, 220)])
        points = [[(rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)) for _ in range(rng.randint(2, 7))]
                  for _ in range(rng.randint(1, 3))]
        spec = dict(width=width, height=height, pen=rng.choice([1, 3, 8, 15, 25, 40]),
                    strokes=strokes(width, height, points), paper=rng.choice([None, "#fff", "#f4ecd8"]),
                    ink=rng.choice(["#000", "#123", "#2040c0"]), alpha=rng.choice([1, 1, 0.6]))
        run, pixels = js_draw(page, spec)
        assert_same(run, pixels)


# -----------------------------------------------------------------------------
# the parts: Otsu's exact comparison, the arguments, the speed


def test_otsu_is_exact_on_ties_and_large_counts(page):
    rng = np.random.default_rng(3)
    hists = [np.zeros(256, np.int64), np.eye(256, dtype=np.int64)[7], np.eye(256, dtype=np.int64)[[0, 255]].sum(0)]
    for _ in range(60):
        hist = rng.integers(0, 1 << rng.integers(1, 20), 256)
        hist[rng.random(256) < rng.random()] = 0  # empty bins: runs of thresholds that tie exactly
        hists.append(hist)
    mine = page.evaluate("hists => hists.map(h => ScratchnetPreprocess.otsu(Int32Array.from(h)))",
                         [h.tolist() for h in hists])
    assert mine == [preprocess.otsu(h) for h in hists]


def test_bad_arguments_are_one_line_errors(page):
    messages = page.evaluate("""() => [[new Uint8ClampedArray(12), 2, 2], [new Uint8ClampedArray(0), 0, 0],
                                       [null, 1, 1], [new Uint8ClampedArray(4), 1.5, 1]].map(([rgba, w, h]) => {
      try { ScratchnetPreprocess.toMnist(rgba, w, h); return null; } catch (e) { return e.message; }
    })""")
    assert messages[1] == "image: the image is empty (0x0 pixels)"
    for message in messages:
        assert message and "\n" not in message


def test_steps_returns_the_trace(page):
    names = page.evaluate("""() => {
      const pixels = draw({width: 280, height: 280, pen: 18, ink: "#000", alpha: 1,
                           strokes: [[[80, 60], [200, 60], [120, 230]]]});
      return Object.keys(ScratchnetPreprocess.steps(pixels, 280, 280));
    }""")
    assert names == ["greyscale", "polarity", "background", "ink", "located", "normalised", "cropped", "strokes",
                     "box", "mnist"]

"""The SVG picture of a network: valid XML, every connection drawn with its exact value, the
annotations, an image going through, thinning of big networks, and a real browser rendering it."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest

from scratchnet import data, network, svg
from scratchnet.errors import ScratchnetError

NS = {"s": "http://www.w3.org/2000/svg"}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
MAX_BYTES = 5_000_000
WEIGHT_TITLE = re.compile(r"^w\[(\d+)\]\[(\d+)→(\d+)\] = (\S+)$")
BIAS_TITLE = re.compile(r"^b\[(\d+)\]\[(\d+)\] = (\S+)$")


def make_net(sizes: tuple[int, ...], dtype: str = "float64", output: str = "sigmoid", seed: int = 0) -> network.Network:
    """A network with random weights and (unlike create's zeros) random biases, so that every
    value printed differs."""
    rng = np.random.default_rng(seed)
    net = network.create(sizes, "sigmoid", output, "uniform", dtype, rng)
    net.biases = [rng.normal(0, 1, n).astype(dtype) for n in sizes[1:]]
    return net


def digit(seed: int = 1) -> np.ndarray:
    """A 28x28 uint8 image: a bright blob on black, like a digit."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:28, :28]
    blob = np.exp(-((x - 14) ** 2 + (y - 12) ** 2) / 30.0) * 255
    return np.clip(blob + rng.integers(0, 30, (28, 28)), 0, 255).astype(np.uint8)


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def with_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{{NS['s']}}}{tag}") if cls in e.get("class", "").split()]


def title_of(element: ET.Element) -> str:
    return element.find("s:title", NS).text


def weight_titles(root: ET.Element) -> list[tuple[int, int, int, str]]:
    out = []
    for line in with_class(root, "line", "w"):
        match = WEIGHT_TITLE.match(title_of(line))
        assert match, title_of(line)
        out.append((int(match[1]), int(match[2]), int(match[3]), match[4]))
    return out


@pytest.fixture(scope="module")
def net() -> network.Network:
    return make_net((784, 20, 10))


@pytest.fixture(scope="module")
def picture(net) -> str:
    return svg.render(net)


# -----------------------------------------------------------------------------
# the 784-20-10 picture

def test_is_a_standalone_svg(picture):
    root = parse(picture)
    width, height = int(root.get("width")), int(root.get("height"))
    assert root.get("viewBox") == f"0 0 {width} {height}"
    assert "784-20-10 sigmoid/sigmoid float64" in root.find("s:title", NS).text
    assert len(picture.encode("utf-8")) < MAX_BYTES


def test_every_connection_is_a_line_with_its_exact_weight(net, picture):
    seen = weight_titles(parse(picture))
    assert len(seen) == 784 * 20 + 20 * 10 == 15_880
    assert len({(layer, i, j) for layer, i, j, _ in seen}) == 15_880  # each connection once
    for layer, i, j, value in seen:
        assert np.float64(value) == net.weights[layer][i, j]


def test_every_neuron_shows_its_bias(net, picture):
    root = parse(picture)
    circles = with_class(root, "circle", "neuron")
    assert len(circles) == 30
    for circle in circles:
        layer, j, value = BIAS_TITLE.match(title_of(circle).splitlines()[0]).groups()
        assert np.float64(value) == net.biases[int(layer)][int(j)]
    printed = [e.text for e in with_class(root, "text", "bias")]
    assert printed == [f"{b:.3g}" for b in np.concatenate(net.biases)]


def test_inputs_grid_and_weight_tiles(net, picture):
    root = parse(picture)
    cells = with_class(root, "rect", "in")
    assert len(cells) == 784
    assert len({(c.get("x"), c.get("y")) for c in cells}) == 784  # a 28x28 grid, no two cells on each other
    assert len({c.get("x") for c in cells}) == len({c.get("y") for c in cells}) == 28
    tiles = with_class(root, "image", "tile")
    assert len(tiles) == 20
    for tile in tiles:
        uri = tile.get(XLINK_HREF)
        assert uri.startswith("data:image/png;base64,")
        width, height, _ = decode_png(base64.b64decode(uri.split(",", 1)[1])).shape
        assert (width, height) == (28, 28)


def test_tile_shows_the_neurons_incoming_weights(net, picture):
    tile = with_class(parse(picture), "image", "tile")[3]
    pixels = decode_png(base64.b64decode(tile.get(XLINK_HREF).split(",", 1)[1])).astype(int)
    w = net.weights[0][:, 3].reshape(28, 28)
    redder = pixels[..., 0] - pixels[..., 2]  # red for positive, blue for negative
    strong = np.abs(w) > 0.1
    assert (np.sign(redder[strong]) == np.sign(w[strong])).all()


def test_legend_and_scales(net, picture):
    texts = " ".join(e.text or "" for e in parse(picture).iter(f"{{{NS['s']}}}text"))
    assert "How to read it" in texts
    assert "all 15,680 connections shown" in texts and "all 200 connections shown" in texts
    bias_max = np.abs(np.concatenate(net.biases)).max()
    assert f"+{bias_max:.3g}" in texts  # the bias scale's numeric range


def test_title_is_escaped():
    text = svg.render(make_net((4, 3, 2)), title="a <b> & \"c\"")
    assert 'a <b> & "c"' in parse(text).find("s:title", NS).text


# -----------------------------------------------------------------------------
# an image going through

def test_image_prediction_and_confidence_match_predict(net):
    image = digit()
    outputs = net.predict(data.inputs(image[None], net.dtype))[0]
    predicted = int(outputs.argmax())
    for label, verdict in ((predicted, "right"), ((predicted + 1) % 10, "wrong")):
        root = parse(svg.render(net, image=image, label=label))
        heading = root.find("s:title", NS).text
        assert f"prediction {predicted} (confidence {100 * outputs[predicted]:.1f}%)" in heading
        assert f"true label {label}: {verdict}" in heading
        neurons = with_class(root, "g", "neuron")
        assert len(neurons) == 30
        activations = net.forward(data.inputs(image[None], net.dtype))[0]
        last = title_of(neurons[-1]).splitlines()
        assert np.float64(last[-1].split(" = ")[1]) == activations[-1][0, 9]
        cells = with_class(root, "rect", "in")
        dark = [c for c, pixel in zip(cells, image.ravel()) if pixel == 255]
        assert dark and all(c.get("fill") == "#111111" for c in dark)  # ink: 255 is near black


def test_bad_image_or_label_is_refused(net):
    with pytest.raises(ScratchnetError, match="784 pixels"):
        svg.render(net, image=np.zeros((27, 27), np.uint8))
    with pytest.raises(ScratchnetError, match="784 pixels"):
        svg.render(net, image=np.zeros((28, 28), np.float64))
    with pytest.raises(ScratchnetError, match="label 10"):
        svg.render(net, image=digit(), label=10)


# -----------------------------------------------------------------------------
# annotations, dtypes, big networks

def test_annotate_weights_prints_every_weight_of_a_small_net():
    net = make_net((4, 3, 2), output="softmax")
    root = parse(svg.render(net, annotate_weights=True))
    for layer, w in enumerate(net.weights):
        group = root.find(f".//s:g[@id='weight-labels{layer}']", NS)
        printed = sorted(e.text for e in group.iter(f"{{{NS['s']}}}text"))
        assert printed == sorted(f"{v:.3g}" for v in w.ravel())
    assert len(with_class(root, "rect", "in")) == 4
    assert len(with_class(root, "image", "tile")) == 3


def test_annotate_weights_says_which_layers_are_too_dense(net):
    root = parse(svg.render(net, annotate_weights=True))
    assert root.find(".//s:g[@id='weight-labels0']", NS) is None
    assert len(root.find(".//s:g[@id='weight-labels1']", NS)) == 200
    texts = " ".join(e.text or "" for e in root.iter(f"{{{NS['s']}}}text"))
    assert "weights not printed" in texts.replace("\n", " ")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_titles_round_trip_exactly(dtype):
    net = make_net((16, 5, 3), dtype=dtype, seed=2)
    kind = np.float32 if dtype == "float32" else np.float64
    root = parse(svg.render(net))
    seen = weight_titles(root)
    assert len(seen) == 16 * 5 + 5 * 3
    for layer, i, j, value in seen:
        assert kind(value) == net.weights[layer][i, j]
        if dtype == "float32":  # shortest for float32, not float64's 17 digits
            assert len(value.lstrip("-").replace(".", "").lstrip("0")) <= 9
    for circle in with_class(root, "circle", "neuron"):
        layer, j, value = BIAS_TITLE.match(title_of(circle).splitlines()[0]).groups()
        assert kind(value) == net.biases[int(layer)][int(j)]


def test_line_budget_is_water_filled():
    assert svg.line_budget([200_704, 32_768, 1_280], 20_000) == [9_360, 9_360, 1_280]
    assert svg.line_budget([15_680, 200], 20_000) == [15_680, 200]
    assert svg.line_budget([100, 100], 50) == [25, 25]


def test_large_net_is_thinned_and_says_so():
    net = make_net((784, 256, 128, 10), seed=3)
    text = svg.render(net, image=digit())
    assert len(text.encode("utf-8")) < MAX_BYTES
    root = parse(text)
    seen = weight_titles(root)
    assert len(seen) == 20_000  # of 234,752
    layer0 = {(i, j) for layer, i, j, _ in seen if layer == 0}
    assert len(layer0) == 9_360
    drawn = np.zeros((784, 256), bool)
    drawn[tuple(np.array(sorted(layer0)).T)] = True
    strength = np.abs(net.weights[0])
    assert strength[drawn].min() >= strength[~drawn].max()  # the strongest are the ones drawn
    assert sum(1 for layer, *_ in seen if layer == 2) == 1_280  # a small layer keeps every line
    texts = " ".join(e.text or "" for e in root.iter(f"{{{NS['s']}}}text"))
    assert "9,360 strongest of 200,704 connections shown (|w| ≥" in texts
    assert "20,000 of 234,752 connections drawn" in texts
    assert len(with_class(root, "image", "tile")) == 256
    assert len(with_class(root, "g", "neuron")) == 256 + 128 + 10


# -----------------------------------------------------------------------------
# a real browser

def decode_png(blob: bytes) -> np.ndarray:
    """8-bit RGB or RGBA PNG -> (h, w, channels) uint8, undoing the five row filters. Enough of
    PNG to read a browser's screenshot without Pillow."""
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], None
    while pos < len(blob):
        length, tag = struct.unpack(">I4s", blob[pos : pos + 8])
        body = blob[pos + 8 : pos + 8 + length]
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    out = np.zeros((height, stride), np.uint8)
    previous = np.zeros(stride, np.int64)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if kind == 1:  # Sub: add the byte bpp to the left, a running sum per channel
            row = np.cumsum(row.reshape(-1, bpp), axis=0).ravel() % 256
        elif kind == 2:  # Up
            row = (row + previous) % 256
        elif kind in (3, 4):  # Average, Paeth: each byte needs the one just decoded, so a loop
            cur, up = row.tolist(), previous.tolist()
            for x in range(stride):
                left = cur[x - bpp] if x >= bpp else 0
                if kind == 3:
                    cur[x] = (cur[x] + (left + up[x]) // 2) & 255
                else:
                    upleft = up[x - bpp] if x >= bpp else 0
                    p = left + up[x] - upleft
                    pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - upleft)
                    cur[x] = (cur[x] + (left if pa <= pb and pa <= pc else up[x] if pb <= pc else upleft)) & 255
            row = np.array(cur, np.int64)
        out[y] = row
        previous = row
    return out.reshape(height, width, bpp)


def test_decode_png_reads_what_svg_png_writes():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert (decode_png(svg.png(rgb)) == rgb).all()


def test_chromium_renders_it(tmp_path, net):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed")
    page = tmp_path / "net.svg"
    page.write_text(svg.render(net, image=digit(), label=3, title="a test"), encoding="utf-8")
    shot = tmp_path / "out.png"
    profile = tmp_path / "profile"
    profile.mkdir()
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--hide-scrollbars", f"--screenshot={shot}",
               "--window-size=1600,1000", page.resolve().as_uri()]
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    pixels = decode_png(Path(shot).read_bytes())[..., :3].astype(int)
    assert pixels.shape[:2] == (1000, 1600)
    colours = np.unique(pixels.reshape(-1, 3) // 8, axis=0)
    assert len(colours) > 500  # not blank: lines of many shades
    r, b = pixels[..., 0], pixels[..., 2]
    assert (r > b + 60).sum() > 5_000 and (b > r + 60).sum() > 5_000  # red and blue weights drawn
    assert (pixels.sum(axis=-1) < 150).sum() > 2_000  # dark: the digit's ink and the text

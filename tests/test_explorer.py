"""The explorer page as one file (explorer.page, export --format html): the network inside it exact,
nothing loaded from elsewhere, small enough to send."""

import base64
import json
import re

import numpy as np
import pytest

from scratchnet import checkpoint, cli, explorer, run
from scratchnet.network import Network

ALLOWED_URLS = ("http://www.w3.org/",)  # XML namespaces (SVG's): names, never fetched


def data_of(html: str) -> dict:
    blocks = re.findall(r'<script id="scratchnet-data" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def arrays(network: dict, key: str) -> list[np.ndarray]:
    """explorer.network_data's weights or biases, float64: JSON numbers, or base64 of the dtype's bytes."""
    if network.get("encoding") != "base64":
        return [np.array(v, dtype=np.float64) for v in network[key]]
    dtype = np.dtype(network["dtype"]).newbyteorder("<")
    return [np.frombuffer(base64.b64decode(v), dtype=dtype).astype(np.float64) for v in network[key]]


def assert_exact(network: dict, net: Network) -> None:
    """The page's parameters read back to the network's float64 values (float32 ones widened exactly)."""
    assert network["sizes"] == list(net.sizes) and network["dtype"] == str(net.dtype)
    for layer, (w, b) in enumerate(zip(net.weights, net.biases)):
        got_w = arrays(network, "weights")[layer].reshape(w.shape)
        got_b = arrays(network, "biases")[layer]
        assert np.array_equal(got_w, w.astype(np.float64)) and np.array_equal(got_b, b.astype(np.float64))
        assert np.array_equal(got_w.astype(w.dtype), w)


def assert_offline(html: str) -> None:
    """Nothing for the browser to fetch: no address outside the page, no CDN, no other file (the page's
    code and style; its data is JSON, read by the code)."""
    html = re.sub(r'(<script id="scratchnet-data" type="application/json">).*?(</script>)', r"\1\2", html,
                  flags=re.DOTALL)
    urls = [u for u in re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*", html)
            if not u.startswith(ALLOWED_URLS)]
    assert urls == []
    assert not re.search(r"""<(?:script|link|img|iframe|source|video|audio)\b[^>]*\b(?:src|href)\s*=\s*"""
                         r"""(?!["']?(?:data:|#))""", html, re.IGNORECASE)
    for style in re.findall(r"<style\b[^>]*>(.*?)</style>", html, re.DOTALL | re.IGNORECASE):
        assert not re.search(r"@import|url\(\s*(?!['\"]?(?:data:|#))", style)
    assert not re.search(r"cdn|unpkg|jsdelivr|googleapis", html, re.IGNORECASE)


@pytest.fixture
def params(tmp_path, request):
    """A 784-20-10 checkpoint of each dtype, with a history, saved to a file."""
    path = tmp_path / "net.npz"
    ckpt = run.start(path, {"dtype": getattr(request, "param", "float64"), "epochs": 0})
    ckpt.epochs_done, ckpt.history = 1, [{"epoch": 1, "loss": 0.5, "train_accuracy": 0.9, "test_accuracy": 0.91,
                                          "seconds": 1.0, "samples_per_second": 60000.0, "lr": 0.005}]
    checkpoint.save(path, ckpt)
    return path


def test_the_page_holds_its_data_and_nothing_from_elsewhere(params):
    ckpt = checkpoint.load(params)
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    html = explorer.page(explorer.page_data(ckpt, "net.npz", server=False,
                                            test=explorer.images_data(images, np.array([7, 2]))))
    assert html.startswith("<!doctype html>") and "/* scratchnet:" not in html
    data = data_of(html)
    assert (data["format"], data["version"], data["server"], data["params"]) == ("scratchnet-explorer", 1, False,
                                                                                 "net.npz")
    assert (data["epochs_done"], data["history"], data["config"]) == (1, ckpt.history, ckpt.config.to_dict())
    assert_exact(data["network"], ckpt.network)
    test = data["test"]
    assert (test["count"], test["rows"], test["cols"]) == (2, 28, 28)
    assert base64.b64decode(test["images"]) == images.tobytes() and base64.b64decode(test["labels"]) == b"\x07\x02"
    assert_offline(html)


def test_text_inside_the_data_cannot_end_its_script(params):
    ckpt = checkpoint.load(params)
    name = "</script><script>alert(1)</script>.npz"
    html = explorer.page(explorer.page_data(ckpt, name, server=True))
    assert "<script>alert" not in html
    assert data_of(html)["params"] == name


@pytest.mark.parametrize("params", ["float64", "float32"], indirect=True)
def test_export_html_is_one_small_file_with_the_exact_network(params, mnist, tmp_path, capsys):
    output = tmp_path / "net.html"
    assert cli.main(["export", "--format", "html", "-p", str(params), "--data", mnist.source, "-o", str(output)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {output} (")
    size = output.stat().st_size
    assert size < 3_000_000, size
    html = output.read_text(encoding="utf-8")
    data = data_of(html)
    assert data["server"] is False and data["test"]["count"] == cli.HTML_IMAGES == 1000
    assert_exact(data["network"], checkpoint.load(params).network)
    assert_offline(html)


def test_export_html_holds_the_first_images_of_the_set(params, small, small_npz, tmp_path, capsys):
    output = tmp_path / "net.html"
    assert cli.main(["export", "--format", "html", "-p", str(params), "--data", str(small_npz), "--set", "train",
                     "-o", str(output)]) == 0
    test = data_of(output.read_text(encoding="utf-8"))["test"]
    assert np.frombuffer(base64.b64decode(test["images"]), np.uint8).tobytes() == small.train_images[:1000].tobytes()
    assert base64.b64decode(test["labels"]) == small.train_labels[:1000].tobytes()


def test_export_html_refuses_data_the_network_cannot_take_and_writes_nothing(tmp_path, small_npz, capsys):
    params = tmp_path / "net.npz"
    checkpoint.save(params, run.start(params, {"layers": (100, 10), "epochs": 0}))
    output = tmp_path / "net.html"
    output.write_text("before")
    assert cli.main(["export", "--format", "html", "-p", str(params), "--data", str(small_npz), "-o", str(output)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "takes 100 inputs" in err[0]
    assert output.read_text() == "before"

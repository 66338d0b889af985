"""The explorer page: one self-contained HTML file holding the page's code and a network.

``page`` inlines the assets of ``web/`` (style, scripts) and the data of ``page_data`` into
``web/index.html``; ``scratchnet serve`` sends it, ``scratchnet export --format html`` writes it.
The page holds the parameters as base64 of their bytes in the network's dtype (little-endian), so
it runs the very parameters of the checkpoint: a 784-800-800-10 float32 network is 6.8 MB of base64
where its shortest decimals took 27 MB. The API's /api/network sends them as JSON numbers, each the
shortest decimal that reads back to the same float64; the page reads either.
"""

from __future__ import annotations

import base64
import json
from importlib import resources

import numpy as np

from scratchnet import learn, network, numpy_engine
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import PRESETS
from scratchnet.network import Network

FORMAT = "scratchnet-explorer"
VERSION = 1
SCRIPTS = ("preprocess.js", "learn.js")  # inlined in this order, each its own closure, before the explorer's
# The explorer's files (web/explorer/), a file per job, inlined in this order inside one closure: they share its names.
EXPLORER = ("core.js", "pad.js", "network_view.js", "test_images.js", "server.js", "editing.js", "training.js",
            "step_view.js", "explain_dream.js", "start.js")
MARKERS = {"css": "/* scratchnet:css */", "data": "/* scratchnet:data */", "js": "/* scratchnet:js */"}


def network_data(net: Network, packed: bool = False) -> dict:
    """The network as JSON: weights[l] flat, row-major (sizes[l] rows of sizes[l+1]). As numbers (float64), or
    ``packed``: each array as base64 of its little-endian bytes in the network's dtype ("encoding": "base64")."""
    def pack(a: np.ndarray) -> str | list[float]:
        if packed:
            return base64.b64encode(a.astype(np.dtype(net.dtype).newbyteorder("<")).tobytes()).decode("ascii")
        return a.astype(np.float64).ravel().tolist()

    return {
        "sizes": list(net.sizes),
        "hidden": net.hidden,
        "output": net.output,
        "dtype": str(net.dtype),
        **({"encoding": "base64"} if packed else {}),
        "weights": [pack(w) for w in net.weights],
        "biases": [pack(b) for b in net.biases],
    }


def images_data(images: np.ndarray, labels: np.ndarray) -> dict:
    """Test images for the page: uint8 pixels (n, 28, 28) and labels, base64 of their bytes."""
    return {
        "count": len(labels),
        "rows": int(images.shape[1]),
        "cols": int(images.shape[2]),
        "images": base64.b64encode(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).decode("ascii"),
        "labels": base64.b64encode(np.ascontiguousarray(labels, dtype=np.uint8).tobytes()).decode("ascii"),
    }


def learn_data(ckpt: Checkpoint) -> dict:
    """How the page steps, explains and dreams as learn.py does: the step's learning rate, loss, order and
    optimizer (its state is not here: the server sends it when a step is asked for), and the dream's
    settings."""
    config = ckpt.config
    return {
        "lr": learn.step_learning_rate(ckpt),
        "loss": config.loss,
        "order": "per-sample" if numpy_engine.uses_sample_step(config) else "batch",
        "optimizer": config.optimizer,
        "momentum": config.momentum,
        "weight_decay": config.weight_decay,
        "parameters": network.count_parameters(ckpt.network.sizes),
        "max_step_parameters": learn.MAX_STEP_PARAMETERS,
        "dream": {"steps": learn.DREAM_STEPS, "rate": learn.DREAM_RATE, "kernel": learn.DREAM_BLUR.tolist(),
                  "sigma": learn.DREAM_WINDOW_SIGMA},
    }


def page_data(ckpt: Checkpoint, name: str, server: bool, test: dict | None = None) -> dict:
    """What the page starts from: the network, its run so far, and (for a file) test images."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "server": server,  # False: a file opened without a server, which cannot train
        "params": name,
        "network": network_data(ckpt.network, packed=True),
        "epochs_done": ckpt.epochs_done,
        "history": ckpt.history,
        "config": ckpt.config.to_dict(),
        "presets": list(PRESETS),  # what the page's training form offers
        "learn": learn_data(ckpt),
        "test": test,
    }


def _asset(*path: str) -> str:
    return resources.files("scratchnet").joinpath("web", *path).read_text(encoding="utf-8")


def page(data: dict) -> str:
    """The whole page as one HTML document, with ``data`` inside."""
    # "</" inside a <script> would end it early: JSON allows "<" escaped as \u003c.
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    explorer = "\n".join(_asset("explorer", name) for name in EXPLORER)
    scripts = "\n".join([*(_asset(name) for name in SCRIPTS), f"(function () {{\n  'use strict';\n\n{explorer}}})();\n"])
    html = _asset("index.html")
    for marker, content in ((MARKERS["css"], _asset("explorer.css")), (MARKERS["data"], blob), (MARKERS["js"], scripts)):
        if html.count(marker) != 1:
            raise RuntimeError(f"web/index.html must hold {marker} once")
        html = html.replace(marker, content)
    return html

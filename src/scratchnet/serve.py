"""The explorer's server (``scratchnet serve``): the page, an API over its network, and training in
the background.

One Explorer holds the network the page shows. Training runs in one thread per server through
run.start and run.train, as ``scratchnet train`` runs them, holding the checkpoint's lock, so
either resumes what the other trained. Every tab follows it by Server-Sent Events; closing a tab
does not stop it; stopping the server stops it at the next batch and saves, as Ctrl-C on train.

Safety: only Host headers that name this machine are answered (DNS rebinding), requests that
change anything must come from the server's own page (Origin), bodies are bounded, and no file
is served: the page is built in memory (explorer.page).

The API: JSON; a refusal is a 4xx with {"error": "one line"}. Layers and neurons count from 0.
    GET  /                  the page (explorer.page_data with server true, network_version: the version shown, and
                            train_count: the training images the page may ask for)
    GET  /api/network       {version, network (explorer.network_data), epochs_done, history, config}
    GET  /api/test          the test set (explorer.images_data)
    GET  /api/evaluation    NumPy on the test set: {version, accuracy, predictions, confidence, confusion}
    GET  /api/download      ?format=npz|txt|json: the network shown, edits included, as a file
    GET  /api/train-image   ?index=N: training image N {index, count, label, pixels (uint8, row-major)}
    GET  /api/optimizer     the optimizer's state a step of the network shown starts from (learn.step):
                            {version, optimizer, steps, slots: {name: [w0, b0, w1, b1, ...] flat}}
    GET  /api/events        Server-Sent Events: status {state, error, epochs_done, edited, version}, progress
                            {epoch, samples, total}, epoch (run.EpochResult), network {version}
    POST /api/train         {preset, epochs, lr, batch_size, engine, fresh}, each optional: 202
    POST /api/stop          the run stops at its next batch and saves, as Ctrl-C on train
    POST /api/edit          {kind: weight|bias, layer, input (weights), neuron, value}: the network shown;
                            {kind: step, inputs (sizes[0] numbers in [0, 1]), label}: one training step
                            (learn.step), the optimizer's state advanced too
    POST /api/save          the network shown, edits included, to --params; POST /api/revert: drop the edits
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import errno
import ipaddress
import json
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import webbrowser
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scratchnet import cengine, checkpoint, engines, explorer, learn, lock, run, schema, textformat
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import PRESET_ALIASES, PRESETS, resolve
from scratchnet.data import Dataset
from scratchnet.errors import ScratchnetError, printable
from scratchnet.network import MAX_LAYER_SIZE, Network, count_parameters
from scratchnet.optim import Optimizer

MAX_BODY = 64 * 1024  # bytes of a request body: an edit or a training request needs a few dozen
# seconds between two copies of the network shown while training, per 100,000 parameters (at least one
# interval): each copy is fetched as JSON by every tab, some 2 MB and 0.1 s of work per 100,000
NETWORK_EVERY = 0.25
KEEPALIVE = 15.0  # seconds between two comments on a quiet event stream: a closed tab is noticed
MAX_UNREAD = 1000  # events a tab may leave unread before its stream is closed (it reconnects)
RETRY_MS = 2000  # how soon a browser reconnects a lost event stream
SAFE_METHODS = ("GET", "HEAD")
HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?")
DOWNLOADS = ("npz", *(suffix[1:] for suffix in checkpoint.TEXT_FORMATS))
# The page is one document with its scripts and styles inside: it may load nothing else, talk only
# to this server, and not be framed by another site (whose clicks would then train or save).
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _passed_on(value: Any) -> Any:
    return value  # checked by config.resolve, with the command line's messages


TRAIN_BODY = schema.record({
    "preset": schema.Field(schema.optional(schema.choice((*PRESETS, *PRESET_ALIASES))), None),
    "epochs": schema.Field(_passed_on, None),
    "lr": schema.Field(_passed_on, None),
    "batch_size": schema.Field(_passed_on, None),
    "engine": schema.Field(schema.choice(tuple(engines.ENGINES)), "numpy"),
    "fresh": schema.Field(schema.boolean, False),  # a new network, as train --fresh
})


def _exact_number(value: Any) -> str:
    """A JSON number as the request wrote it (read with parse_float=Decimal), to be rounded once."""
    if type(value) not in (int, Decimal):
        raise schema.Invalid(f"must be a number, not {schema.describe(value)}")
    return str(value)


def _edit_body(kind: str) -> schema.Check:
    index = schema.Field(schema.integer(0, MAX_LAYER_SIZE - 1))
    fields = {"kind": schema.Field(schema.choice((kind,))), "layer": index, "neuron": index,
              "value": schema.Field(_exact_number)}
    return schema.record({**fields, "input": index} if kind == "weight" else fields)


def _input(value: Any) -> float:
    """An input of a step: a JSON number in [0, 1], read exactly (parse_float=Decimal) and rounded once."""
    return schema.number(0, 1)(float(value) if type(value) is Decimal else value)


EDIT_BODIES = {kind: _edit_body(kind) for kind in ("weight", "bias")}
EDIT_BODIES["step"] = schema.record({
    "kind": schema.Field(schema.choice(("step",))),
    "inputs": schema.Field(schema.list_of(_input, 1, MAX_LAYER_SIZE)),
    "label": schema.Field(schema.integer(0, MAX_LAYER_SIZE - 1)),
})


@dataclasses.dataclass(frozen=True)
class TrainRequest:
    explicit: dict  # settings given, as the command line's options (None: not given)
    preset: str | None
    engine: str
    fresh: bool


class Explorer:
    """The state of one server: the network shown, the training thread, the open event streams.

    The network shown is a Checkpoint never changed in place (an edit or a copy taken during
    training replaces it), so a request may use it without a lock while others change it.
    ``_guard`` protects the fields for an instant; ``_files`` orders the operations that read or
    write the checkpoint file or change the network (edit, save, revert, starting a run, reloading).
    """

    def __init__(self, params: str, dataset: Dataset, ckpt: Checkpoint | None = None, new_data: bool = False):
        self.params = str(params)
        self.dataset = dataset
        self.new_data = new_data  # train goes on with a checkpoint trained on other data (as train --new-data)
        self._guard = threading.Lock()
        self._files = threading.Lock()
        self.ckpt = ckpt if ckpt is not None else self._load()
        self.version = 1
        self.edited = False  # the network shown differs from the file by edits
        self.state = "idle"  # "training" from a request to the end of its run; "stopping" once asked to stop
        self.error: str | None = None  # how the last run failed
        self.closing = False
        self.interrupted: Checkpoint | None = None  # the run that closing stopped, as saved
        self._stop: run.StopFlag | None = None
        self._thread: threading.Thread | None = None
        self._streams: dict[asyncio.Queue, asyncio.AbstractEventLoop] = {}
        self._cache: dict[str, tuple[int, bytes]] = {}
        self._test: bytes | None = None

    # -- the network shown

    def _load(self) -> Checkpoint:
        """What --params holds now (a new network when there is no file), as train would begin from it."""
        ckpt = run.start(self.params, {})
        net, data = ckpt.network, self.dataset
        if net.sizes[0] != data.n_inputs or net.sizes[-1] <= data.top_label:
            raise ScratchnetError(f"{self.params} holds a {net.describe()} network, which does not fit {data.source} "
                                  f"({data.n_inputs} pixels, labels up to {data.top_label})")
        return ckpt

    def _show(self, ckpt: Checkpoint, edited: bool = False) -> int:
        with self._guard:
            changed = edited != self.edited
            self.ckpt, self.edited = ckpt, edited
            self.version += 1
            version = self.version
        self.publish("network", {"version": version})
        if changed:
            self.publish("status", self.status())
        return version

    def current(self) -> tuple[int, Checkpoint]:
        """(version, checkpoint) shown; first reloaded from the file if another program changed it
        while this server is idle with no edits (a `scratchnet train` meanwhile)."""
        with self._files:
            with self._guard:
                version, ckpt, idle = self.version, self.ckpt, self.state == "idle" and not self.edited
            if idle and not self.closing:
                try:
                    on_disk = lock.identity(self.params)
                    if on_disk is not None and on_disk != ckpt.on_disk:
                        ckpt = self._load()
                        version = self._show(ckpt)
                except ScratchnetError:
                    pass  # a file being replaced, or broken: the page keeps what it has; training will say
            return version, ckpt

    def _cached(self, key: str, version: int, make) -> bytes:
        with self._guard:
            hit = self._cache.get(key)
        if hit and hit[0] == version:
            return hit[1]
        body = make()
        with self._guard:
            self._cache[key] = (version, body)
        return body

    def page(self) -> bytes:
        version, ckpt = self.current()

        def make() -> bytes:
            data = explorer.page_data(ckpt, Path(self.params).name, server=True)
            return explorer.page({**data, "network_version": version,
                                  "train_count": len(self.dataset.train_labels)}).encode()

        return self._cached("page", version, make)

    def network(self) -> bytes:
        version, ckpt = self.current()
        return self._cached("network", version, lambda: _json({
            "version": version, "network": explorer.network_data(ckpt.network), "epochs_done": ckpt.epochs_done,
            "history": ckpt.history, "config": ckpt.config.to_dict(), "learn": explorer.learn_data(ckpt),
        }))

    def test(self) -> bytes:
        if self._test is None:
            self._test = _json(explorer.images_data(self.dataset.test_images, self.dataset.test_labels))
        return self._test

    def evaluation(self) -> bytes:
        version, ckpt = self.current()

        def make() -> bytes:
            images, labels = self.dataset.test_images, self.dataset.test_labels
            try:
                result = engines.evaluate(ckpt.network, images, labels)
                outputs = engines.outputs(ckpt.network, images)
            except ScratchnetError as e:  # parameters edited so large that the outputs overflow
                raise HTTPException(409, str(e)) from None
            return _json({"version": version, "accuracy": result.accuracy,
                          "predictions": outputs.argmax(axis=1).tolist(),
                          "confidence": outputs.max(axis=1).astype(np.float64).tolist(),
                          "confusion": result.confusion})

        return self._cached("evaluation", version, make)

    def train_image(self, index: str) -> bytes:
        """Training image ``index`` for the page's step: its pixels and label."""
        count = len(self.dataset.train_labels)
        if not index.isdigit() or int(index) >= count:
            raise HTTPException(400, f"index must be a whole number from 0 to {count - 1}, not {index!r}")
        k = int(index)
        return _json({"index": k, "count": count, "label": int(self.dataset.train_labels[k]),
                      "pixels": self.dataset.train_images[k].ravel().tolist()})

    def optimizer(self) -> bytes:
        """The optimizer's state that a step of the network shown starts from, as learn.step reads it."""
        version, ckpt = self.current()
        if count_parameters(ckpt.network.sizes) > learn.MAX_STEP_PARAMETERS:
            raise HTTPException(409, f"a {ckpt.network.describe()} network is too large to step here: at most "
                                     f"{learn.MAX_STEP_PARAMETERS:,} parameters")

        def make() -> bytes:
            optimizer = Optimizer(ckpt.config, ckpt.network, ckpt.optimizer_state)
            slots = {name: [a.astype(np.float64).ravel().tolist() for a in arrays]
                     for name, arrays in optimizer.slots.items()}
            return _json({"version": version, "optimizer": optimizer.kind, "steps": optimizer.steps, "slots": slots})

        return self._cached("optimizer", version, make)

    def download(self, kind: str) -> tuple[bytes, str]:
        """The network shown, edits included, as a file: (content, file name)."""
        if kind not in DOWNLOADS:
            raise HTTPException(400, f"format must be one of {', '.join(DOWNLOADS)}, not {kind!r}")
        self._refuse_while_training("download the network")
        _, ckpt = self.current()
        name = f"{re.sub(r'[^A-Za-z0-9._-]', '_', Path(self.params).stem) or 'network'}.{kind}"
        if kind != "npz":
            return checkpoint.TEXT_FORMATS["." + kind](ckpt.network, ckpt.epochs_done, ckpt.history).encode(), name
        with tempfile.TemporaryDirectory() as folder:  # checkpoint.save writes files, atomically
            path = Path(folder) / name
            checkpoint.save(path, ckpt)
            return path.read_bytes(), name

    # -- changes

    def _refuse_while_training(self, what: str) -> None:
        if self.state != "idle":
            raise HTTPException(409, f"cannot {what} while training: stop it first")

    def edit(self, body: dict) -> dict:
        """Set one weight or bias of the network shown (not of the file: save does that)."""
        with self._files:
            self._refuse_while_training("edit the network")
            net = self.ckpt.network
            kind = body.get("kind")
            if type(kind) is not str or kind not in EDIT_BODIES:
                raise HTTPException(400, f"kind must be weight, bias or step, not {schema.describe(kind)}")
            try:
                edit = EDIT_BODIES[kind](body)
            except schema.Invalid as e:
                raise HTTPException(400, str(e)) from None
            if kind == "step":
                return self._step(np.array(edit["inputs"]), edit["label"])
            layer, neuron = edit["layer"], edit["neuron"]
            _check_index("layer", layer, net.n_layers)
            _check_index("neuron", neuron, net.sizes[layer + 1], f" of layer {layer}")
            if kind == "weight":
                _check_index("input", edit["input"], net.sizes[layer], f" of layer {layer}")
            value = textformat.parse_numbers([edit["value"]], str(net.dtype))[0]  # rounded once, as a file's
            if not np.isfinite(value):
                raise HTTPException(400, f"value {edit['value']} is too large for {net.dtype}")
            weights, biases = list(net.weights), list(net.biases)
            changed = weights if kind == "weight" else biases
            changed[layer] = changed[layer].copy()
            changed[layer][(edit["input"], neuron) if kind == "weight" else neuron] = value
            edited = Network(net.sizes, net.hidden, net.output, weights, biases)
            return {"version": self._show(dataclasses.replace(self.ckpt, network=edited), edited=True)}

    def _step(self, inputs: np.ndarray, label: int) -> dict:
        """One training step of the network shown (learn.step), its optimizer's state advanced too."""
        try:
            result = learn.step(self.ckpt, inputs, label)
        except ScratchnetError as e:
            raise HTTPException(400, str(e)) from None
        version = self._show(learn.stepped(self.ckpt, result), edited=True)
        return {"version": version, "loss": result.loss, "loss_after": result.loss_after}

    def save(self) -> dict:
        """Write the network shown, edits included, to --params, as train saves it: atomically,
        under its lock, never over a file another program changed meanwhile (see run.save)."""
        with self._files:
            self._refuse_while_training("save")
            try:
                with lock.exclusive(self.params):
                    run.save(self.params, self.ckpt)
            except ScratchnetError as e:
                raise HTTPException(409, str(e)) from None
            with self._guard:
                self.edited = False
            self.publish("status", self.status())
            return {"saved": self.params, "version": self.version}

    def revert(self) -> dict:
        """Drop the edits: show what --params holds (a new network when there is none)."""
        with self._files:
            self._refuse_while_training("revert")
            try:
                return {"version": self._show(self._load())}
            except ScratchnetError as e:
                raise HTTPException(409, str(e)) from None

    # -- training

    def start(self, body: dict) -> dict:
        """Start training in the background; return once it holds the checkpoint's lock and has
        read the file, so that a refusal (another trainer, a mismatched network) is this answer."""
        try:
            checked = TRAIN_BODY(body)
        except schema.Invalid as e:
            raise HTTPException(400, str(e)) from None
        request = TrainRequest({k: checked[k] for k in ("epochs", "lr", "batch_size")}, checked["preset"],
                               checked["engine"], checked["fresh"])
        with self._files:
            with self._guard:
                if self.closing:
                    raise HTTPException(409, "the server is stopping")
                if self.state != "idle":
                    raise HTTPException(409, "already training: stop it first, or wait for it to end")
                if self.edited:
                    raise HTTPException(409, f"the network has edits that are not saved: save them or revert them "
                                             f"first, as training goes on from {self.params}")
                saved = self.ckpt.config
            try:  # the command line's checks and messages, before anything starts
                config = resolve(request.explicit, request.preset, None if request.fresh else saved)
                if request.engine == "c":
                    cengine.library(np.dtype(config.dtype))
            except ScratchnetError as e:
                raise HTTPException(400, str(e)) from None
            started: concurrent.futures.Future = concurrent.futures.Future()
            with self._guard:
                self.state, self.error, self._stop = "training", None, run.StopFlag()
                self._thread = threading.Thread(target=self._train, args=(request, started), daemon=True,
                                                name="scratchnet-train")  # daemon: a second Ctrl-C exits at once
                self._thread.start()
            try:
                started.result()
            except ScratchnetError as e:
                raise HTTPException(409, str(e)) from None
            return {"state": "training"}

    def _train(self, request: TrainRequest, started: concurrent.futures.Future) -> None:
        """The training thread: the steps of `scratchnet train`, with the server's stop flag."""
        before, error = self.ckpt, None
        stop, n = self._stop, len(self.dataset.train_labels)
        try:
            with lock.exclusive(self.params):
                ckpt = run.start(self.params, request.explicit, request.preset, request.fresh)
                started.set_result(None)
                self.publish("status", self.status())
                copied = time.monotonic()
                every = NETWORK_EVERY * max(1.0, count_parameters(ckpt.network.sizes) / 100_000)

                def on_progress(done: int) -> None:  # between two batches: the network is whole
                    nonlocal copied
                    self.publish("progress", {"epoch": ckpt.epochs_done + 1, "samples": done, "total": n})
                    if time.monotonic() - copied >= every:
                        self._show(_copy(ckpt))
                        copied = time.monotonic()

                def on_epoch(result: run.EpochResult) -> None:
                    self._show(_copy(ckpt))
                    self.publish("epoch", result.to_dict())
                    print(f"{printable(self.params)}: {result.line()}", flush=True)  # the terminal sees the page's run

                finished = run.train(ckpt, self.dataset, self.params, on_epoch, engine=request.engine,
                                     new_data=self.new_data, stop=stop, on_progress=on_progress)
                if not finished and self.closing:
                    self.interrupted = ckpt
        except ScratchnetError as e:
            error = str(e)
        except MemoryError:
            error = "out of memory: try a smaller network or batch size"
        except Exception as e:  # noqa: BLE001  a bug: its traceback for the terminal, one line for the page
            traceback.print_exc()
            error = f"internal error: {type(e).__name__}: {e}"
        if not started.done():  # refused before training: the request's answer says why
            with self._guard:
                self.state, self._stop = "idle", None
            started.set_exception(ScratchnetError(error))
            return
        with self._files:  # show what the file holds now: what train would resume, the last good one after a failure
            try:
                self._show(self._load() if lock.identity(self.params) else before)
            except ScratchnetError as e:
                error = error or str(e)
            with self._guard:
                self.state, self.error, self._stop = "idle", error, None
        self.publish("status", self.status())

    def stop(self) -> dict:
        with self._guard:
            if self.state == "idle":
                return {"state": "idle"}
            self._stop.requested = True
            self.state = "stopping"
        self.publish("status", self.status())
        return {"state": "stopping"}

    def status(self) -> dict:
        with self._guard:
            return self._status()

    def _status(self) -> dict:
        # the version shown: a tab whose stream reconnected, and so missed a network event, catches up
        return {"state": self.state, "error": self.error, "epochs_done": self.ckpt.epochs_done, "edited": self.edited,
                "version": self.version}

    def busy(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def close(self) -> None:
        """The server is stopping: training stops at the next batch and saves; event streams end."""
        with self._guard:
            self.closing = True
            if self._stop:
                self._stop.requested = True
            streams = list(self._streams.items())
        for queue, loop in streams:
            _call_in(loop, queue.put_nowait, None)

    def join(self) -> None:
        thread = self._thread
        if thread:
            thread.join()

    # -- events

    def subscribe(self, queue: asyncio.Queue, loop: asyncio.AbstractEventLoop) -> bytes:
        """Add an event stream; return its first message, the status now (no event can come between)."""
        with self._guard:
            self._streams[queue] = loop
            status = self._status()
            if self.closing:
                queue.put_nowait(None)
        return f"retry: {RETRY_MS}\n".encode() + _event("status", status)

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self._guard:
            self._streams.pop(queue, None)

    def publish(self, name: str, data: dict) -> None:
        """Send an event to every open stream, from any thread."""
        message = _event(name, data)
        with self._guard:
            streams = list(self._streams.items())
        for queue, loop in streams:
            if not _call_in(loop, self._deliver, queue, message):
                self.unsubscribe(queue)

    def _deliver(self, queue: asyncio.Queue, message: bytes) -> None:
        if queue.qsize() < MAX_UNREAD:
            queue.put_nowait(message)
            return
        self.unsubscribe(queue)  # a tab that stopped reading: end its stream rather than grow it
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)


def _call_in(loop: asyncio.AbstractEventLoop, function, *args) -> bool:
    try:
        loop.call_soon_threadsafe(function, *args)
        return True
    except RuntimeError:  # its loop is closed: the server it belonged to is gone
        return False


def _copy(ckpt: Checkpoint) -> Checkpoint:
    """What the page shows of a checkpoint in training: its network copied, its run so far."""
    net = ckpt.network
    copy = Network(net.sizes, net.hidden, net.output, [w.copy() for w in net.weights], [b.copy() for b in net.biases])
    return Checkpoint(copy, ckpt.config, ckpt.epochs_done, list(ckpt.history), data=ckpt.data)


def _check_index(name: str, value: int, count: int, where: str = "") -> None:
    if value >= count:
        raise HTTPException(400, f"{name} must be from 0 to {count - 1}{where}, not {value}")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, allow_nan=False)}\n\n".encode()


def _not_finite(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


async def _json_body(request: Request, exact: bool = False) -> dict:
    """The request's JSON object, read up to MAX_BODY bytes. ``exact``: its fractions as Decimal."""
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise HTTPException(413, f"the request body is larger than {MAX_BODY // 1024} KiB")
    except ClientDisconnect:  # nobody is left to answer; no traceback for it
        raise HTTPException(400, "the request body ended early: the client went away") from None
    try:
        value = json.loads(body, parse_float=Decimal if exact else float, parse_constant=_not_finite)
    except (ValueError, RecursionError) as e:  # RecursionError: [[[[... nested too deep
        raise HTTPException(400, f"the request body is not valid JSON: {str(e) or type(e).__name__}") from None
    if type(value) is not dict:
        raise HTTPException(400, f"the request body must be a JSON object, not {schema.describe(value)}")
    return value


class Guard:
    """Middleware: answer only requests that name this machine, take changes only from this server's
    page, refuse large bodies by their announced length, and send the security headers."""

    def __init__(self, app: ASGIApp, names: set[str], port: int):
        self.app, self.names, self.port = app, names, port

    def _named(self, host: str) -> bool:
        match = HOST.fullmatch(host)
        if not match or int(match[2] or 80) != self.port:
            return False
        name = match[1].lower()
        if name in self.names:
            return True
        try:  # an address cannot be rebound as a DNS name can: any is safe
            ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
            return True
        except ValueError:
            return False

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self._named(host):
            return 400, (f"Host {host!r} is not this machine: use http://127.0.0.1:{self.port}/ (this server answers "
                         f"only to {', '.join(sorted(self.names))} or an IP address, on port {self.port})")
        if scope["method"] not in SAFE_METHODS and headers.get("origin", "").lower() != f"http://{host.lower()}":
            return 403, (f"changes are taken only from this server's page: Origin "
                         f"{headers.get('origin', 'missing')!r} is not http://{host}")
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return 413, f"the request body is larger than {MAX_BODY // 1024} KiB"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal:
            await JSONResponse({"error": refusal[1]}, refusal[0], headers=SECURITY_HEADERS)(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, secured)


def create_app(params: str, dataset: Dataset, ckpt: Checkpoint | None = None, *, host: str = "127.0.0.1",
               port: int = 8000, new_data: bool = False) -> Starlette:
    """The explorer for checkpoint ``params`` (its network, or a new one if there is no file) and
    ``dataset``, answering at ``host``:``port``. ``app.state.explorer`` holds its state."""
    state = Explorer(params, dataset, ckpt, new_data)

    def page(request: Request) -> Response:
        return Response(state.page(), media_type="text/html; charset=utf-8")

    def network(request: Request) -> Response:
        return Response(state.network(), media_type="application/json")

    def test(request: Request) -> Response:
        return Response(state.test(), media_type="application/json")

    def evaluation(request: Request) -> Response:
        return Response(state.evaluation(), media_type="application/json")

    def train_image(request: Request) -> Response:
        return Response(state.train_image(request.query_params.get("index", "")), media_type="application/json")

    def optimizer(request: Request) -> Response:
        return Response(state.optimizer(), media_type="application/json")

    def download(request: Request) -> Response:
        content, name = state.download(request.query_params.get("format", "npz"))
        return Response(content, media_type="application/octet-stream",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    async def start(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(state.start, await _json_body(request)), 202)

    async def edit(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(state.edit, await _json_body(request, exact=True)))

    def stop(request: Request) -> Response:
        answer = state.stop()
        return JSONResponse(answer, 202 if answer["state"] == "stopping" else 200)

    def save(request: Request) -> Response:
        return JSONResponse(state.save())

    def revert(request: Request) -> Response:
        return JSONResponse(state.revert())

    async def events(request: Request) -> Response:
        queue: asyncio.Queue = asyncio.Queue()
        first = state.subscribe(queue, asyncio.get_running_loop())

        async def stream():
            try:
                yield first
                while True:
                    try:
                        message = await asyncio.wait_for(queue.get(), KEEPALIVE)
                    except asyncio.TimeoutError:
                        message = b": keep-alive\n\n"
                    if message is None:
                        return
                    yield message
            finally:
                state.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})

    def error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):  # a bug: Starlette logs its traceback
            return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)
        message = {404: f"{request.url.path}: no such page", 405: f"{request.method} is not allowed on "
                   f"{request.url.path}"}.get(exc.status_code, exc.detail)
        return JSONResponse({"error": message}, exc.status_code, headers=exc.headers)

    routes = [
        Route("/", page),
        Route("/api/network", network),
        Route("/api/test", test),
        Route("/api/evaluation", evaluation),
        Route("/api/train-image", train_image),
        Route("/api/optimizer", optimizer),
        Route("/api/download", download),
        Route("/api/events", events),
        Route("/api/train", start, methods=["POST"]),
        Route("/api/stop", stop, methods=["POST"]),
        Route("/api/edit", edit, methods=["POST"]),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/revert", revert, methods=["POST"]),
    ]
    names = {"localhost", host.lower() if ":" not in host else f"[{host.lower()}]"}
    app = Starlette(routes=routes, exception_handlers={HTTPException: error, Exception: error})
    app.add_middleware(Guard, names=names, port=port)
    app.state.explorer = state
    return app


class _Server(uvicorn.Server):
    """uvicorn, stopping the explorer first when it shuts down: its event streams would otherwise
    keep it waiting, and training must save before the process ends."""

    def __init__(self, config: uvicorn.Config, state: Explorer):
        super().__init__(config)
        self.state = state

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.state.close()
        await super().shutdown(sockets)
        while self.state.busy() and not self.force_exit:  # a second Ctrl-C: exit without waiting
            await asyncio.sleep(0.05)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: any free port), or a one-line error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
        except OSError:
            sock.close()
            raise
    except OSError as e:
        hint = ": another server uses it? --port 0 takes any free port" if e.errno == errno.EADDRINUSE else ""
        raise ScratchnetError(f"cannot listen on {host} port {port}: {e.strerror or e}{hint}") from None
    return sock


def url(sock: socket.socket, host: str) -> str:
    """The address to open: the host as given, or this machine's loopback when listening on all addresses."""
    address = ipaddress.ip_address(sock.getsockname()[0].split("%")[0])
    if address.is_unspecified:
        shown = "127.0.0.1" if address.version == 4 else "[::1]"
    else:
        shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}/"


def _open(address: str) -> None:
    try:
        opened = webbrowser.open(address)
    except webbrowser.Error:
        opened = False
    if not opened:
        print(f"scratchnet: no browser found: open {address} yourself", file=sys.stderr)


def serve(params: str, dataset: Dataset, ckpt: Checkpoint | None = None, *, host: str = "127.0.0.1",
          port: int = 8000, open_browser: bool = False, new_data: bool = False) -> Explorer:
    """Run the explorer until Ctrl-C (or SIGTERM), printing its URL; return its state, whose
    ``interrupted`` is the run that stopping cut short (saved), and ``busy()`` whether a second Ctrl-C
    left one unsaved."""
    sock = listen(host, port)
    if not ipaddress.ip_address(sock.getsockname()[0].split("%")[0]).is_loopback:
        print(f"scratchnet: warning: listening on {host}, not only on this machine: anyone who can reach it can "
              f"see the network, train it and overwrite {printable(params)}", file=sys.stderr)
    app = create_app(params, dataset, ckpt, host=host, port=sock.getsockname()[1], new_data=new_data)
    state: Explorer = app.state.explorer
    address = url(sock, host)
    print(f"scratchnet explorer: {address} (Ctrl-C to stop)", flush=True)
    if not state.ckpt.on_disk:  # listening: a mistyped name must not pass for the network meant
        print(f"scratchnet: warning: {printable(params)} does not exist: serving a NEW, UNTRAINED network (check the "
              f"name; -p names an existing checkpoint)", file=sys.stderr, flush=True)
    if open_browser:  # in a thread: a browser in this terminal (lynx) must not keep the server from starting
        threading.Thread(target=_open, args=(address,), daemon=True).start()
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", ws="none",
                            proxy_headers=False, timeout_graceful_shutdown=5)
    # uvicorn stops gracefully on SIGTERM as on Ctrl-C, then raises the signal again once its own handlers
    # are gone: SIGTERM's default would end the process before the interrupted run is reported
    terminate = signal.signal(signal.SIGTERM, _as_ctrl_c) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        _Server(config, state).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn raises again the Ctrl-C it stopped for: stopping is what was asked
    finally:
        sock.close()
        if terminate is not None:
            signal.signal(signal.SIGTERM, terminate)
    return state


def _as_ctrl_c(signum, frame) -> None:
    raise KeyboardInterrupt

"""scratchnet serve: the explorer's server, its API, its training thread and events, its refusals, and
the command itself in a process of its own."""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx2 as httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from scratchnet import cengine, checkpoint, cli, data, engines, learn, lock, numpy_engine, run, serve, textformat
from scratchnet.errors import ScratchnetError
from scratchnet.explorer import VERSION as PAGE_DATA_VERSION
from test_explorer import arrays

ORIGIN = "http://127.0.0.1:8000"
SETTINGS = {"epochs": 1, "batch_size": 10, "lr": 0.5}  # one epoch of the small data in a blink


def unversioned(status: dict) -> dict:
    """A status event without the network version it carries (which counts every change shown)."""
    assert isinstance(status.get("version"), int)
    return {k: v for k, v in status.items() if k != "version"}


@pytest.fixture
def explorer(small):
    """``explorer(params, dataset=small)``: a TestClient of the explorer for ``params`` at ORIGIN, sending
    the page's Origin; its training is stopped and joined at the end of the test."""
    states = []

    def make(params, dataset=small, new_data=False, **headers):
        app = serve.create_app(str(params), dataset, new_data=new_data)
        states.append(app.state.explorer)
        return TestClient(app, base_url=ORIGIN, headers={"origin": ORIGIN, **headers})

    yield make
    for state in states:
        state.close()
        state.join()


def page_data(html: str) -> dict:
    return json.loads(re.search(r'<script id="scratchnet-data" type="application/json">(.*?)</script>', html,
                                re.DOTALL)[1])


def trained(client: TestClient, **settings) -> dict:
    """Train from the page and wait for the end of the run; the status it ends with."""
    answer = client.post("/api/train", json={**SETTINGS, **settings})
    assert answer.status_code == 202, answer.text
    client.app.state.explorer.join()
    return client.app.state.explorer.status()


def assert_error(answer: httpx.Response, status: int, *fragments: str) -> None:
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_the_page_and_the_network_hold_the_checkpoints_numbers(tmp_path, small, explorer):
    params = tmp_path / "net.npz"
    ckpt = run.start(params, {"layers": (784, 16, 10), "epochs": 0})
    checkpoint.save(params, ckpt)
    client = explorer(params)
    answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    data = page_data(answer.text)
    assert (data["server"], data["test"], data["params"], data["epochs_done"]) == (True, None, "net.npz", 0)
    network = client.get("/api/network").json()
    assert network["version"] == data["network_version"] and data["version"] == PAGE_DATA_VERSION
    assert data["network"]["encoding"] == "base64" and "encoding" not in network["network"]  # the API's are numbers
    for got in (data["network"], network["network"]):
        for layer, (w, b) in enumerate(zip(ckpt.network.weights, ckpt.network.biases)):
            assert np.array_equal(arrays(got, "weights")[layer].reshape(w.shape), w)
            assert np.array_equal(arrays(got, "biases")[layer], b)
    assert network["config"] == ckpt.config.to_dict()


def test_the_test_set_and_numpys_evaluation(tmp_path, small, explorer):
    client = explorer(tmp_path / "net.npz")  # no file: a new network
    test = client.get("/api/test").json()
    images = np.frombuffer(base64.b64decode(test["images"]), np.uint8).reshape(test["count"], test["rows"], test["cols"])
    assert np.array_equal(images, small.test_images)
    assert np.array_equal(np.frombuffer(base64.b64decode(test["labels"]), np.uint8), small.test_labels)
    evaluation = client.get("/api/evaluation").json()
    net = client.app.state.explorer.ckpt.network
    expected = engines.evaluate(net, small.test_images, small.test_labels)
    outputs = engines.outputs(net, small.test_images)
    assert evaluation["accuracy"] == expected.accuracy and evaluation["confusion"] == expected.confusion
    assert evaluation["predictions"] == outputs.argmax(axis=1).tolist()
    assert evaluation["confidence"] == outputs.max(axis=1).tolist()
    assert not (tmp_path / "net.npz").exists()  # looking writes nothing


def test_training_from_the_page_is_what_train_resumes(tmp_path, small, small_npz, explorer, capsys, assert_same_run):
    """One epoch trained from the page, then one with `scratchnet train`: the same as two epochs straight."""
    params = tmp_path / "net.npz"
    client = explorer(params)
    status = trained(client)
    assert status == {"state": "idle", "error": None, "epochs_done": 1, "edited": False,
                      "version": client.app.state.explorer.version}
    page = checkpoint.load(params)
    assert page.epochs_done == 1 and client.get("/api/network").json()["epochs_done"] == 1
    # the terminal is told of each epoch the page trains
    assert capsys.readouterr().out == f"{params}: {run.EpochResult(**page.history[0]).line()}\n"
    assert cli.main(["train", "--data", str(small_npz), "-p", str(params), "--epochs", "1"]) == 0
    straight = run.start(tmp_path / "straight.npz", {**SETTINGS, "epochs": 2})
    assert run.train(straight, small, tmp_path / "straight.npz")
    assert_same_run(checkpoint.load(params), straight)
    # and the other way round: the page goes on from what the command line trained
    assert trained(client, epochs=1, lr=None, batch_size=None)["epochs_done"] == 3
    assert len(checkpoint.load(params).history) == 3


def test_a_page_run_cut_short_is_finished_by_a_plain_train(tmp_path, small, small_npz, explorer, interrupt,
                                                          monkeypatch, assert_same_run):
    """The page's run of 3 epochs on a cosine schedule, stopped inside epoch 2: `scratchnet train -p` with no
    options finishes that run, bit for bit as if never stopped."""
    monkeypatch.setattr("scratchnet.stop.CHUNK", 250)
    interrupt(numpy_engine, [2750])
    params = tmp_path / "net.npz"
    status = trained(explorer(params), preset="tuned", epochs=3, lr=None, batch_size=None)
    assert status["epochs_done"] == 1 and 0 < checkpoint.load(params).partial_epoch_samples < 2000
    assert cli.main(["train", "--data", str(small_npz), "-p", str(params)]) == 0
    straight = run.start(tmp_path / "straight.npz", {"epochs": 3}, "tuned")
    assert run.train(straight, small, tmp_path / "straight.npz")
    assert_same_run(checkpoint.load(params), checkpoint.load(tmp_path / "straight.npz"))


def test_a_stop_from_the_page_saves_what_train_resumes(tmp_path, small, small_npz, explorer, assert_same_run):
    params = tmp_path / "net.npz"
    checkpoint.save(params, run.start(params, {"layers": (784, 200, 10), "epochs": 0}))  # epochs long enough
    client = explorer(params)
    assert client.post("/api/train", json={"epochs": 1000}).status_code == 202
    time.sleep(0.3)
    assert client.post("/api/stop").json() == {"state": "stopping"}
    client.app.state.explorer.join()
    stopped = checkpoint.load(params)
    assert client.app.state.explorer.status()["state"] == "idle"
    total = stopped.epochs_done + 1  # the interrupted epoch goes on, or the next one
    assert cli.main(["train", "--data", str(small_npz), "-p", str(params), "--epochs", "1"]) == 0
    straight = run.start(tmp_path / "straight.npz", {"layers": (784, 200, 10), "epochs": total})
    assert run.train(straight, small, tmp_path / "straight.npz")
    assert_same_run(checkpoint.load(params), straight)


def read_events(client: TestClient, events: list, until: str) -> None:
    """Collect (name, data) of the event stream until an event named ``until`` with state idle after an epoch."""
    with client.stream("GET", "/api/events") as stream:
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if name == until and any(n == "epoch" for n, _ in events) and events[-1][1]["state"] == "idle":
                    return


def test_every_tab_sees_the_training(tmp_path, explorer):
    client = explorer(tmp_path / "net.npz")
    tabs = [[], []]
    readers = [threading.Thread(target=read_events, args=(client, events, "status")) for events in tabs]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 10
    while len(client.app.state.explorer._streams) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    trained(client, epochs=2)
    for reader in readers:
        reader.join(timeout=10)
    for events in tabs:
        names = [name for name, _ in events]
        assert names[0] == "status" and events[0][1]["state"] == "idle"
        assert [data["epoch"] for name, data in events if name == "epoch"] == [1, 2]
        training = [data for name, data in events if name == "status" and data["state"] == "training"]
        assert {"progress", "network"} <= set(names) and training
        assert {k: v for k, v in training[0].items() if k != "version"} == {"state": "training", "error": None,
                                                                            "epochs_done": 0, "edited": False}
        progress = [data for name, data in events if name == "progress"]
        assert progress[-1] == {"epoch": 2, "samples": 2000, "total": 2000}


def test_closing_the_tab_does_not_stop_the_training(tmp_path, explorer):
    client = explorer(tmp_path / "net.npz")
    with client.stream("GET", "/api/events") as stream:
        assert client.post("/api/train", json={**SETTINGS, "epochs": 3}).status_code == 202
        next(stream.iter_lines())
    client.app.state.explorer.join()
    explorer_state = client.app.state.explorer
    assert explorer_state.status() == {"state": "idle", "error": None, "epochs_done": 3, "edited": False,
                                       "version": explorer_state.version}
    deadline = time.monotonic() + 5
    while client.app.state.explorer._streams and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not client.app.state.explorer._streams  # the closed tab's stream is gone


def test_edit_download_save_revert(tmp_path, explorer):
    params = tmp_path / "net.npz"
    client = explorer(params)
    before = client.app.state.explorer.ckpt.network
    first = client.post("/api/edit", json={"kind": "weight", "layer": 0, "input": 5, "neuron": 3,
                                           "value": 0.30000000000000004})
    assert first.status_code == 200
    edit = client.post("/api/edit", content=b'{"kind": "bias", "layer": 1, "neuron": 9, "value": -1e-300}')
    assert edit.json()["version"] == first.json()["version"] + 1
    assert client.get("/api/network").json()["network"]["weights"][0][5 * 20 + 3] == 0.30000000000000004
    text = client.get("/api/download", params={"format": "txt"})
    assert text.headers["content-disposition"] == 'attachment; filename="net.txt"'
    got = textformat.from_text(text.content).network
    assert got.weights[0][5, 3] == 0.30000000000000004 and got.biases[1][9] == -1e-300
    got.weights[0][5, 3], got.biases[1][9] = before.weights[0][5, 3], before.biases[1][9]
    for x, y in zip(got.weights + got.biases, before.weights + before.biases):
        assert np.array_equal(x, y)  # nothing else changed
    npz = tmp_path / "download.npz"
    npz.write_bytes(client.get("/api/download?format=npz").content)
    assert checkpoint.load(npz).network.weights[0][5, 3] == 0.30000000000000004
    assert not params.exists()  # edits live in the page until saved
    assert_error(client.post("/api/train", json=SETTINGS), 409, "not saved")
    assert client.post("/api/save").json()["saved"] == str(params)
    assert checkpoint.load(params).network.biases[1][9] == -1e-300
    assert client.app.state.explorer.status()["edited"] is False
    client.post("/api/edit", json={"kind": "bias", "layer": 0, "neuron": 0, "value": 7})
    assert client.post("/api/revert").status_code == 200
    assert client.get("/api/network").json()["network"]["biases"][0][0] == 0.0


def test_an_edit_of_a_float32_network_rounds_once(tmp_path, explorer):
    params = tmp_path / "net.npz"
    checkpoint.save(params, run.start(params, {"dtype": "float32", "epochs": 0}))
    client = explorer(params)
    # halfway between two float32s as a float64, but not as the decimal: rounding twice goes the wrong way
    value = "1.00000005960464477539062500000001"
    assert client.post("/api/edit", content=f'{{"kind": "bias", "layer": 0, "neuron": 0, "value": {value}}}'
                       ).status_code == 200
    got = textformat.from_text(client.get("/api/download?format=txt").content).network.biases[0][0]
    assert got == textformat.parse_numbers([value], "float32")[0] == np.float32(1.0000001192092896)
    assert_error(client.post("/api/edit", json={"kind": "bias", "layer": 0, "neuron": 0, "value": 1e39}), 400,
                 "too large for float32")


@pytest.mark.parametrize("body,fragment", [
    (b"{", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object, not a list"),
    (b'{"kind": "weight", "layer": 0, "input": 0, "neuron": 0, "value": NaN}', "NaN"),
    (b'{"kind": "bias", "layer": 0, "neuron": 0, "value": 1e400}', "too large for float64"),
    (b'{"kind": "bias", "layer": 0, "neuron": 0, "value": "1"}', "value must be a number, not a string"),
    (b'{"kind": "bias", "layer": 0, "neuron": 0, "value": true}', "value must be a number, not true"),
    (b'{"kind": "bias", "layer": 2, "neuron": 0, "value": 1}', "layer must be from 0 to 1, not 2"),
    (b'{"kind": "bias", "layer": 1, "neuron": 10, "value": 1}', "neuron must be from 0 to 9 of layer 1, not 10"),
    (b'{"kind": "weight", "layer": 0, "input": 784, "neuron": 0, "value": 1}', "input must be from 0 to 783"),
    (b'{"kind": "weight", "layer": 0, "neuron": 0, "value": 1}', "lacks the field 'input'"),
    (b'{"kind": "bias", "layer": -1, "neuron": 0, "value": 1}', "layer must be from 0"),
    (b'{"kind": ["weight"], "layer": 0, "neuron": 0, "value": 1}', "kind must be weight, bias or step, not a list"),
    (b'{"kind": "bias", "layer": 0, "neuron": 0, "value": 1, "x": 1}', "unknown field 'x'"),
    (b"[" * 30000 + b"]" * 30000, "not valid JSON"),
    (b'{"kind": "bias", "layer": 0, "neuron": 0, "value": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    (b"\xff\xfe{", "not valid JSON"),
])
def test_a_bad_edit_is_one_line_and_the_server_goes_on(tmp_path, explorer, body, fragment):
    client = explorer(tmp_path / "net.npz")
    assert_error(client.post("/api/edit", content=body), 400, fragment)
    assert client.get("/api/network").status_code == 200
    assert client.app.state.explorer.status()["edited"] is False


@pytest.mark.parametrize("body,fragment", [
    ({"epochs": -1}, "--epochs must be at least 0"),
    ({"epochs": 1.5}, "--epochs must be a whole number"),
    ({"lr": "fast"}, "--lr must be a number"),
    ({"batch_size": 0}, "--batch-size must be at least 1"),
    ({"preset": "fastest"}, "preset must be one of original, tuned, best"),
    ({"engine": "gpu"}, "engine must be one of numpy, c"),
    ({"fresh": "yes"}, "fresh must be true or false"),
    ({"epochs": 1, "optimizer": "adam"}, "unknown field 'optimizer'"),
    ({"preset": "tuned"}, "holds a 784-20-10 sigmoid/sigmoid float64 network, not the 784-20-10 relu/softmax"),
])
def test_bad_training_requests_are_refused(tmp_path, explorer, body, fragment):
    params = tmp_path / "net.npz"
    checkpoint.save(params, run.start(params, {"epochs": 0}))
    client = explorer(params)
    assert_error(client.post("/api/train", json=body), 409 if "holds" in fragment else 400, fragment)
    assert client.app.state.explorer.status()["state"] == "idle"
    assert trained(client)["epochs_done"] == 1  # and training still works


def test_the_c_engine_trains_from_the_page_or_says_why_not(tmp_path, explorer):
    client = explorer(tmp_path / "net.npz")
    try:
        cengine.library(np.dtype(np.float64))
    except ScratchnetError as e:
        assert_error(client.post("/api/train", json={**SETTINGS, "engine": "c"}), 400, str(e))
        return
    assert unversioned(trained(client, engine="c")) == {"state": "idle", "error": None, "epochs_done": 1,
                                                        "edited": False}


def test_what_training_refuses_meanwhile(tmp_path, explorer):
    params = tmp_path / "net.npz"
    client = explorer(params)
    assert client.post("/api/stop").json() == {"state": "idle"}  # nothing to stop
    answers = []
    posts = [threading.Thread(target=lambda: answers.append(client.post("/api/train", json={**SETTINGS, "epochs": 1000})))
             for _ in range(2)]
    for post in posts:
        post.start()
    for post in posts:
        post.join()
    assert sorted(a.status_code for a in answers) == [202, 409]
    assert_error(next(a for a in answers if a.status_code == 409), 409, "already training")
    edit = {"kind": "bias", "layer": 0, "neuron": 0, "value": 1}
    assert_error(client.post("/api/edit", json=edit), 409, "cannot edit the network while training")
    assert_error(client.post("/api/save"), 409, "cannot save while training")
    assert_error(client.get("/api/download?format=txt"), 409, "while training")
    assert client.get("/api/network").status_code == 200 and client.get("/api/evaluation").status_code == 200
    assert client.post("/api/stop").status_code == 202
    client.app.state.explorer.join()
    assert client.post("/api/edit", json=edit).status_code == 200


def test_another_trainer_of_the_file_is_named(tmp_path, explorer):
    params = tmp_path / "net.npz"
    client = explorer(params)
    with lock.exclusive(params):
        assert_error(client.post("/api/train", json=SETTINGS), 409, "is in use by")
        assert_error(client.post("/api/save"), 409, "is in use by")
    assert trained(client)["epochs_done"] == 1


def test_an_error_inside_training_is_a_status(tmp_path, explorer):
    params = tmp_path / "net.npz"
    checkpoint.save(params, run.start(params, {"hidden": "relu", "epochs": 0}))
    good = checkpoint.load(params).network
    client = explorer(params)
    status = trained(client, lr=1e300)
    assert status["state"] == "idle" and "diverged" in status["error"] and "\n" not in status["error"]
    assert np.array_equal(client.app.state.explorer.ckpt.network.weights[0], good.weights[0])  # the last good one
    assert trained(client)["error"] is None  # the next run clears it


def test_other_data_is_refused_unless_new_data(tmp_path, small, explorer):
    params = tmp_path / "net.npz"
    assert trained(explorer(params))["epochs_done"] == 1
    other = data.Dataset("other", small.train_images[::-1], small.train_labels[::-1], small.test_images,
                         small.test_labels)
    status = trained(explorer(params, other))
    assert status["epochs_done"] == 1 and "was trained on small, not on other" in status["error"]
    assert unversioned(trained(explorer(params, other, new_data=True))) == {"state": "idle", "error": None,
                                                                            "epochs_done": 2, "edited": False}


def test_a_checkpoint_trained_meanwhile_is_shown(tmp_path, small, explorer):
    params = tmp_path / "net.npz"
    client = explorer(params)
    version = client.get("/api/network").json()["version"]
    ckpt = run.start(params, SETTINGS)
    run.train(ckpt, small, params)  # `scratchnet train` in another terminal
    network = client.get("/api/network").json()
    assert network["version"] > version and network["epochs_done"] == 1


@pytest.mark.parametrize("host", ["evil.example:8000", "127.0.0.1:8001", "localhost", "127.0.0.1:8000@evil", "",
                                  "localhost.evil.example:8000", "[::1", "::1:8000"])
def test_a_host_that_is_not_this_machine_is_refused(tmp_path, explorer, host):
    client = explorer(tmp_path / "net.npz", host=host)
    assert_error(client.get("/api/network"), 400, "is not this machine")
    assert_error(client.post("/api/stop"), 400, "is not this machine")


@pytest.mark.parametrize("host", ["localhost:8000", "LOCALHOST:8000", "[::1]:8000", "192.168.1.5:8000"])
def test_this_machines_names_and_addresses_are_served(tmp_path, explorer, host):
    client = explorer(tmp_path / "net.npz", host=host, origin=f"http://{host.lower()}")
    assert client.get("/api/network").status_code == 200
    assert client.post("/api/stop").status_code == 200


@pytest.mark.parametrize("origin", [None, "null", "http://evil.example", "http://127.0.0.1:8001",
                                    "https://127.0.0.1:8000", "http://localhost:8000"])
def test_a_change_from_another_page_is_refused(tmp_path, explorer, origin):
    client = explorer(tmp_path / "net.npz")
    headers = {"origin": origin} if origin else {}
    if origin is None:
        del client.headers["origin"]
    for path, body in (("/api/train", SETTINGS), ("/api/edit", {"kind": "bias", "layer": 0, "neuron": 0, "value": 1}),
                       ("/api/save", None), ("/api/stop", None), ("/api/revert", None)):
        assert_error(client.post(path, json=body, headers=headers), 403, "only from this server's page")
    assert unversioned(client.app.state.explorer.status()) == {"state": "idle", "error": None, "epochs_done": 0,
                                                               "edited": False}
    assert not (tmp_path / "net.npz").exists()
    assert client.get("/api/network", headers=headers).status_code == 200  # reading needs no Origin


def test_a_large_body_is_refused(tmp_path, explorer):
    client = explorer(tmp_path / "net.npz")
    big = b'{"kind": "bias", "layer": 0, "neuron": 0, "value": 1, "pad": "' + b"x" * 100 * 1024 + b'"}'
    assert_error(client.post("/api/edit", content=big), 413, "larger than 64 KiB")
    assert_error(client.post("/api/edit", content=iter([big[:50_000], big[50_000:]])), 413, "larger than 64 KiB")
    assert_error(client.post("/api/train", content=big), 413)
    assert client.app.state.explorer.status()["edited"] is False


@pytest.mark.parametrize("path", ["/web/explorer.js", "/web/../cli.py", "/scratchnet/cli.py", "/net.npz",
                                  "/api/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/index.html", "/api"])
def test_no_file_is_served(tmp_path, explorer, path):
    (tmp_path / "net.npz").write_bytes(b"secret")
    client = explorer(tmp_path / "other.npz")
    assert_error(client.get(path), 404, "no such page")


def test_a_wrong_method_or_format_is_one_line(tmp_path, explorer):
    client = explorer(tmp_path / "net.npz")
    assert_error(client.get("/api/train"), 405, "GET is not allowed on /api/train")
    assert_error(client.post("/api/network"), 405)
    assert_error(client.get("/api/download?format=exe"), 400, "format must be one of npz, txt, json")


def test_a_network_that_overflows_is_a_refusal_not_a_crash(tmp_path, explorer):
    params = tmp_path / "net.npz"
    checkpoint.save(params, run.start(params, {"hidden": "relu", "output": "softmax", "epochs": 0}))
    client = explorer(params)
    # a hidden neuron of 1e308 through a weight of 1e308: an infinite output, and softmax's inf - inf
    for edit in ({"kind": "bias", "layer": 0, "neuron": 0}, {"kind": "weight", "layer": 1, "input": 0, "neuron": 0}):
        assert client.post("/api/edit", json={"value": 1e308, **edit}).status_code == 200
    assert_error(client.get("/api/evaluation"), 409, "not finite")
    assert client.post("/api/revert").status_code == 200
    assert client.get("/api/evaluation").status_code == 200


# -- the command


def test_serve_refuses_a_checkpoint_it_cannot_read(tmp_path, small_npz, capsys):
    params = tmp_path / "net.npz"
    params.write_bytes(b"not a checkpoint")
    assert cli.main(["serve", "-p", str(params), "--data", str(small_npz), "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scratchnet: error:" in err[0] and str(params) in err[0]
    assert params.read_bytes() == b"not a checkpoint"


def test_serve_says_when_the_port_is_taken(tmp_path, small_npz, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "-p", str(tmp_path / "n.npz"), "--data", str(small_npz), "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot listen on 127.0.0.1 port {port}" in err[0] and "--port 0" in err[0]


@pytest.mark.parametrize("port", ["65536", "-1", "http"])
def test_serve_bad_port(port, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["serve", "--port", port])
    assert exit.value.code == 2 and "is not a port" in capsys.readouterr().err


def test_serve_without_its_web_stack_names_the_extra(tmp_path, small_npz, capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "scratchnet.serve")
    monkeypatch.delattr("scratchnet.serve")  # imported again, as on a machine without starlette
    monkeypatch.setitem(sys.modules, "starlette.applications", None)
    assert cli.main(["serve", "-p", str(tmp_path / "n.npz"), "--data", str(small_npz), "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["scratchnet: error: serve needs starlette, which is not installed: pip install 'scratchnet[web]'"]


def start_server(processes, *args, env=None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "scratchnet.cli", "serve", "--port", "0", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    processes.append(proc)
    for line in proc.stdout:
        if line.startswith("scratchnet explorer: "):
            return proc, re.fullmatch(r"scratchnet explorer: (http://127\.0\.0\.1:\d+)/ \(Ctrl-C to stop\)\n", line)[1]
    raise AssertionError(proc.communicate())


def raw(url: str, request: str, answer: bool = True) -> bytes:
    """A request sent as it is written (no client tidies up its path), from "METHOD PATH" on; the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(request.replace("HOST", f"{host}:{port}").replace("\n", "\r\n").encode())
        return b"".join(iter(lambda: conn.recv(65536), b"")) if answer else b""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_command_serves_and_ctrl_c_saves_what_train_resumes(tmp_path, small, small_npz, processes,
                                                                  assert_same_run, sig):
    """Ctrl-C, or SIGTERM as `kill` sends it, stops the server; the run stops at a batch, saved and reported."""
    params = tmp_path / "net.npz"
    proc, url = start_server(processes, "-p", params, "--data", small_npz)
    page = httpx.get(url + "/")
    assert page.status_code == 200 and page_data(page.text)["server"] is True
    for path in ("/../../etc/passwd", "/web/../cli.py", "/../src/scratchnet/cli.py"):
        assert raw(url, f"GET {path} HTTP/1.1\nHost: HOST\nConnection: close\n\n").startswith(b"HTTP/1.1 404 ")
    # a body cut short by a client that goes away: no traceback (checked below)
    raw(url, f"POST /api/edit HTTP/1.1\nHost: HOST\nOrigin: {url}\nContent-Length: 100\n\n{{", answer=False)
    answer = httpx.post(url + "/api/train", json={"epochs": 100_000, "batch_size": 10}, headers={"origin": url})
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 30
    while not params.exists() and time.monotonic() < deadline:  # the first epoch is saved
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "saved" in err and "Traceback" not in err
    assert f"warning: {params} does not exist: serving a NEW, UNTRAINED network" in err
    stopped = checkpoint.load(params)
    total = stopped.epochs_done + 1
    assert cli.main(["train", "--data", str(small_npz), "-p", str(params), "--epochs", "1"]) == 0
    straight = run.start(tmp_path / "straight.npz", {"epochs": total, "batch_size": 10})
    assert run.train(straight, small, tmp_path / "straight.npz")
    assert_same_run(checkpoint.load(params), straight)


def test_the_command_on_all_addresses_warns_opens_and_stops_cleanly(tmp_path, small_npz, processes):
    browser = tmp_path / "browser"  # what $BROWSER names gets the URL, as a browser would
    browser.write_text(f'#!/bin/sh\necho "$1" > {tmp_path / "url"} && mv {tmp_path / "url"} {tmp_path / "opened"}\n')
    browser.chmod(0o755)
    proc, url = start_server(processes, "-p", tmp_path / "net.npz", "--data", small_npz, "--host", "0.0.0.0",
                             "--open", env={**os.environ, "BROWSER": str(browser)})
    assert httpx.get(url + "/api/network").status_code == 200
    deadline = time.monotonic() + 10
    while not (tmp_path / "opened").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "opened").read_text() == url + "/\n"
    events = httpx.Client(timeout=10)
    with events.stream("GET", url + "/api/events") as stream:  # an open tab does not keep the server up
        next(stream.iter_lines())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "warning: listening on 0.0.0.0, not only on this machine" in err and "Traceback" not in err
    assert not (tmp_path / "net.npz").exists()


def test_a_step_edit_is_learn_step_and_advances_the_optimizer(tmp_path, small, explorer):
    params = tmp_path / "net.npz"
    ckpt = run.start(params, {"layers": (784, 12, 10), "batch_size": 8, "optimizer": "momentum", "lr": 0.05,
                              "epochs": 1})
    assert run.train(ckpt, small, params)
    ckpt = checkpoint.load(params)
    client = explorer(params)
    image = client.get("/api/train-image", params={"index": 3}).json()
    assert image["label"] == small.train_labels[3] and image["count"] == len(small.train_labels)
    assert image["pixels"] == small.train_images[3].ravel().tolist()
    state = client.get("/api/optimizer").json()
    assert state["optimizer"] == "momentum" and state["steps"] == ckpt.optimizer_state["optimizer.steps"]
    assert state["slots"]["velocity"][2] == ckpt.optimizer_state["optimizer.velocity.weights.1"].ravel().tolist()
    inputs = data.inputs(small.train_images[3][None])[0]
    answer = client.post("/api/edit", json={"kind": "step", "inputs": inputs.tolist(), "label": 5})
    assert answer.status_code == 200, answer.text
    stepped = learn.stepped(ckpt, learn.step(ckpt, small.train_images[3], 5))
    shown = client.app.state.explorer.ckpt
    for a, b in zip(shown.network.weights + shown.network.biases, stepped.network.weights + stepped.network.biases):
        assert np.array_equal(a, b)
    for name, value in stepped.optimizer_state.items():
        assert np.array_equal(shown.optimizer_state[name], value), name
    assert client.app.state.explorer.status()["edited"] is True
    assert client.get("/api/optimizer").json()["steps"] == state["steps"] + 1


@pytest.mark.parametrize("request_,fragment", [
    (("post", "/api/edit", {"kind": "step", "inputs": [0.5] * 784, "label": 10}), "label 10 is not a class"),
    (("post", "/api/edit", {"kind": "step", "inputs": [0.5] * 783, "label": 1}), "takes 784 inputs, not 783"),
    (("post", "/api/edit", {"kind": "step", "inputs": [1.5] * 784, "label": 1}), "inputs[0] must be from 0 to 1"),
    (("post", "/api/edit", {"kind": "step", "inputs": [0.5] * 784}), "lacks the field 'label'"),
    (("get", "/api/train-image?index=2000", None), "index must be a whole number from 0 to 1999, not '2000'"),
    (("get", "/api/train-image?index=-1", None), "not '-1'"),
    (("get", "/api/train-image", None), "not ''"),
])
def test_bad_steps_and_images_are_one_line_and_change_nothing(tmp_path, explorer, request_, fragment):
    client = explorer(tmp_path / "net.npz")
    method, path, body = request_
    assert_error(getattr(client, method)(path, **({"json": body} if body else {})), 400, fragment)
    assert client.app.state.explorer.status()["edited"] is False


def test_a_network_too_large_to_step_is_refused(tmp_path, explorer, monkeypatch):
    monkeypatch.setattr(learn, "MAX_STEP_PARAMETERS", 1000)
    client = explorer(tmp_path / "net.npz")
    assert_error(client.get("/api/optimizer"), 409, "too large to step here: at most 1,000 parameters")
    assert_error(client.post("/api/edit", json={"kind": "step", "inputs": [0.0] * 784, "label": 1}), 400,
                 "too large to step here")
    assert client.app.state.explorer.status()["edited"] is False

"""The human-readable parameter format (docs/FORMAT.md): every number, exact, one neuron a line.

    scratchnet-params 1
    sizes 784 20 10
    hidden sigmoid
    output sigmoid
    dtype float64
    epochs 5
    layer 1 inputs 784 neurons 20
    neuron 0 bias -0.0123 weights 0.25 -0.5 ...     <- 784 numbers: w[i][0] for inputs i = 0..783
    ...
    end

Numbers are the shortest decimals that read back to the same float of the file's dtype, so
export then import is bit-identical. ``#`` starts a comment anywhere; blank lines, extra spaces
and CRLF line ends are fine. The same content as JSON is ``to_json``/``from_json``.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from scratchnet.errors import ScratchnetError
from scratchnet.network import DTYPES, HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, Network

MAGIC = "scratchnet-params"
VERSION = 1
HEADER_KEYS = ("sizes", "hidden", "output", "dtype")  # required, in any order; "epochs" is optional
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
NUMBERS = re.compile(rf"(?:{NUMBER.pattern}\s+)*(?:{NUMBER.pattern})?\s*")
NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def format_number(value: np.floating) -> str:
    """The shortest decimal that reads back (with strtod, float() or np.float32()) to the same
    value of its own type: '0.1', '-0.0', '1e-45', '3.4028235e+38'."""
    return str(value)


def parse_numbers(tokens: list[str], dtype: str) -> np.ndarray:
    """Decimal strings to an array of ``dtype``, each correctly rounded, as strtod/strtof do.

    float32 goes through float64 first; that double rounding is wrong only when the float64
    lands exactly halfway between two float32s, so those few are settled exactly.
    """
    wide = np.array([float(t) for t in tokens], dtype=np.float64)
    if dtype == "float64":
        return wide
    narrow = wide.astype(np.float32)
    with np.errstate(over="ignore"):  # the neighbour of float32's max is inf: never halfway anyway
        other = np.nextafter(narrow, np.where(wide > narrow, np.inf, -np.inf).astype(np.float32))
    halfway = (narrow.astype(np.float64) + other.astype(np.float64)) / 2 == wide
    halfway &= narrow.astype(np.float64) != wide
    for i in np.flatnonzero(halfway):
        exact, mid = Fraction(tokens[i]), Fraction(float(wide[i]))
        if exact != mid and (exact > mid) == (other[i] > narrow[i]):
            narrow[i] = other[i]  # the decimal lies beyond the midpoint, on the other float32's side
        elif exact == mid and int(narrow[i].view(np.uint32)) & 1:
            narrow[i] = other[i]  # an exact tie: round half to even
    return narrow


# -----------------------------------------------------------------------------
# writing


def _summary(history: list[dict]) -> str:
    """A comment line on the last epoch: for readers, not read back."""
    if not history:
        return "# no training history"
    last = history[-1]
    return (f"# last epoch ({last.get('epoch')}): loss {last.get('loss', float('nan')):.4f}, "
            f"train accuracy {100 * last.get('train_accuracy', 0):.2f}%, "
            f"test accuracy {100 * last.get('test_accuracy', 0):.2f}%")


def to_text(net: Network, epochs_done: int = 0, history: list[dict] | None = None) -> str:
    lines = [
        f"{MAGIC} {VERSION}",
        "# Every weight and bias of a scratchnet network, exact. Format: docs/FORMAT.md",
        f"sizes {' '.join(map(str, net.sizes))}",
        f"hidden {net.hidden}",
        f"output {net.output}",
        f"dtype {net.dtype}",
        f"epochs {epochs_done}",
        _summary(history or []),
    ]
    for layer, (weights, biases) in enumerate(zip(net.weights, net.biases), start=1):
        n_in, n_out = weights.shape
        lines += ["", f"layer {layer} inputs {n_in} neurons {n_out}",
                  f"# neuron j bias b weights w[0][j] .. w[{n_in - 1}][j]: z_j = b + sum_i w[i][j] * input_i"]
        for j in range(n_out):
            numbers = " ".join(map(format_number, weights[:, j]))
            lines.append(f"neuron {j} bias {format_number(biases[j])} weights {numbers}")
    lines.append("end")
    return "\n".join(lines) + "\n"


def to_json(net: Network, epochs_done: int = 0, history: list[dict] | None = None) -> str:
    """The same content as to_text, as JSON; numbers are written as in the text format."""

    def numbers(values: np.ndarray) -> str:
        return "[" + ", ".join(map(format_number, values)) + "]"

    layers = []
    for weights, biases in zip(net.weights, net.biases):
        rows = ",\n      ".join(numbers(weights[:, j]) for j in range(weights.shape[1]))
        layers.append(f'{{"inputs": {weights.shape[0]}, "neurons": {weights.shape[1]},\n'
                      f'     "biases": {numbers(biases)},\n     "weights": [\n      {rows}]}}')
    head = {"format": MAGIC, "version": VERSION, "sizes": list(net.sizes), "hidden": net.hidden,
            "output": net.output, "dtype": str(net.dtype), "epochs": epochs_done,
            "summary": _summary(history or []).lstrip("# ")}
    return json.dumps(head)[:-1] + ',\n "layers": [\n    ' + ",\n    ".join(layers) + "]}\n"


# -----------------------------------------------------------------------------
# reading


@dataclass
class Parameters:
    """What a parameter file holds."""

    network: Network
    epochs_done: int


class _Reader:
    """Walks the file's meaningful lines, keeping line numbers for messages."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = []  # (line number, text without comment and end-of-line spaces)
        for number, raw in enumerate(text.splitlines(), start=1):
            content = raw.split("#", 1)[0].rstrip()
            if content.strip():
                self.lines.append((number, content))
        self.position = 0

    def error(self, number: int | None, problem: str, column: int | None = None) -> ScratchnetError:
        where = f"{self.path}:{number}" + (f":{column}" if column else "") if number else str(self.path)
        return ScratchnetError(f"{where}: {problem}")

    def next(self, expecting: str) -> tuple[int, str]:
        if self.position == len(self.lines):
            last = self.lines[-1][0] if self.lines else 0
            raise self.error(last or None, f"file ends early: expected {expecting}")
        self.position += 1
        return self.lines[self.position - 1]


def _column(content: str, token_index: int) -> int:
    """1-based column of the token_index-th whitespace-separated token of content."""
    return [m.start() for m in re.finditer(r"\S+", content)][token_index] + 1


def _int(reader: _Reader, number: int, content: str, index: int, token: str, what: str) -> int:
    if not token.isdigit():
        raise reader.error(number, f"{what} must be a whole number, not {token!r}", _column(content, index))
    return int(token)


def _check_number_tokens(reader: _Reader, number: int, content: str, first: int, tokens: list[str]) -> None:
    if NUMBERS.fullmatch(" ".join(tokens)):
        return
    for k, token in enumerate(tokens):
        if not NUMBER.fullmatch(token):
            problem = (f"{token} is not allowed: parameters must be finite numbers" if NOT_FINITE.fullmatch(token)
                       else f"{token!r} is not a number")
            raise reader.error(number, problem, _column(content, first + k))


def _header(reader: _Reader) -> dict:
    number, content = reader.next(f"'{MAGIC} {VERSION}'")
    tokens = content.split()
    if tokens[:1] != [MAGIC]:
        raise reader.error(number, f"not a scratchnet parameter file: expected '{MAGIC} {VERSION}' first")
    if tokens[1:] != [str(VERSION)]:
        raise reader.error(number, f"format version {' '.join(tokens[1:]) or 'missing'} is not supported "
                           f"(this scratchnet reads {VERSION})")
    header: dict = {}
    while reader.position < len(reader.lines) and reader.lines[reader.position][1].split()[0] != "layer":
        number, content = reader.next("the header")
        key, *values = content.split()
        if key not in HEADER_KEYS + ("epochs",):
            raise reader.error(number, f"unknown header line {key!r}: expected one of "
                               f"{', '.join(HEADER_KEYS)}, epochs, or 'layer 1 ...'", _column(content, 0))
        if key in header:
            raise reader.error(number, f"{key!r} appears twice in the header")
        if key == "sizes":
            header[key] = tuple(_int(reader, number, content, i + 1, v, "a layer size") for i, v in enumerate(values))
            if len(values) < 2 or 0 in header[key]:
                raise reader.error(number, "sizes needs two or more layer sizes of at least 1")
            continue
        if len(values) != 1:
            raise reader.error(number, f"{key!r} takes one value, found {len(values)}")
        header[key] = _int(reader, number, content, 1, values[0], "epochs") if key == "epochs" else values[0]
    for key, allowed in (("hidden", HIDDEN_ACTIVATIONS), ("output", OUTPUT_ACTIVATIONS), ("dtype", DTYPES)):
        if key in header and header[key] not in allowed:
            raise reader.error(None, f"{key} {header[key]!r} is not one of {', '.join(allowed)}")
    missing = [k for k in HEADER_KEYS if k not in header]
    if missing:
        raise reader.error(reader.lines[reader.position][0] if reader.position < len(reader.lines) else None,
                           f"header line {missing[0]!r} is missing before the layers")
    return header


def _layer(reader: _Reader, layer: int, n_in: int, n_out: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    number, content = reader.next(f"'layer {layer} inputs {n_in} neurons {n_out}'")
    tokens = content.split()
    expected = ["layer", str(layer), "inputs", str(n_in), "neurons", str(n_out)]
    if tokens[:2] == ["layer", str(layer - 1)]:
        raise reader.error(number, f"layer {layer - 1} appears twice, or has more than {n_in} neurons")
    if tokens != expected:
        if tokens == ["end"]:
            raise reader.error(number, f"'end' comes before layer {layer}")
        if tokens[:1] != ["layer"]:
            raise reader.error(number, f"expected 'layer {layer} inputs {n_in} neurons {n_out}', found {tokens[0]!r}")
        if len(tokens) == 6 and tokens[1] == str(layer) and tokens[3] != str(n_in):
            raise reader.error(number, f"layer {layer} has {tokens[3]} inputs but the layer before it has "
                               f"{n_in} neurons (sizes say {n_in})", _column(content, 3))
        raise reader.error(number, f"expected 'layer {layer} inputs {n_in} neurons {n_out}' (from sizes), "
                           f"found {content.strip()!r}")
    weights = np.empty((n_in, n_out), dtype=dtype)
    biases = np.empty(n_out, dtype=dtype)
    for j in range(n_out):
        number, content = reader.next(f"neuron {j} of layer {layer}")
        tokens = content.split()
        if tokens[0] in ("layer", "end"):
            raise reader.error(number, f"layer {layer} has {j} neurons, expected {n_out}")
        if len(tokens) < 5 or tokens[0] != "neuron" or tokens[2] != "bias" or tokens[4] != "weights":
            raise reader.error(number, f"expected 'neuron {j} bias B weights W...' (layer {layer})")
        if tokens[1] != str(j):
            raise reader.error(number, f"expected neuron {j} of layer {layer}, found neuron {tokens[1]}",
                               _column(content, 1))
        values = [tokens[3]] + tokens[5:]
        _check_number_tokens(reader, number, content, 3, tokens[3:4])
        _check_number_tokens(reader, number, content, 5, tokens[5:])
        if len(values) - 1 != n_in:
            side = "short" if len(values) - 1 < n_in else "long"
            cut = "; the file ends there: cut short?" if reader.position == len(reader.lines) else ""
            raise reader.error(number, f"row too {side}: neuron {j} of layer {layer} has {len(values) - 1} weights, "
                               f"expected {n_in}{cut}")
        parsed = parse_numbers(values, dtype)
        if not np.isfinite(parsed).all():
            raise reader.error(number, f"neuron {j} of layer {layer}: a number overflows {dtype}")
        biases[j], weights[:, j] = parsed[0], parsed[1:]
    return weights, biases


def from_text(text: str, path: str | Path = "<text>") -> Parameters:
    reader = _Reader(Path(path), text)
    header = _header(reader)
    sizes, dtype = header["sizes"], header["dtype"]
    weights, biases = [], []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        w, b = _layer(reader, layer, n_in, n_out, dtype)
        weights.append(w)
        biases.append(b)
    number, content = reader.next("'end'")
    if content.split() != ["end"]:
        if content.split()[0] in ("layer", "neuron"):
            raise reader.error(number, f"more layers or neurons than sizes {' '.join(map(str, sizes))} allow")
        raise reader.error(number, f"expected 'end', found {content.strip()!r}")
    if reader.position < len(reader.lines):
        number, content = reader.lines[reader.position]
        raise reader.error(number, f"text after 'end': {content.strip()[:40]!r}")
    network = Network(sizes, header["hidden"], header["output"], weights, biases)
    return Parameters(network, header.get("epochs", 0))


def from_json(text: str, path: str | Path = "<json>") -> Parameters:
    def bad(problem: str) -> ScratchnetError:
        return ScratchnetError(f"{path}: {problem}")

    try:
        doc = json.loads(text, parse_float=str, parse_int=str)  # keep the digits: parse them exactly below
    except json.JSONDecodeError as e:
        raise bad(f"line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise bad("nested too deeply to be a parameter file") from None
    if not isinstance(doc, dict) or doc.get("format") != MAGIC:
        raise bad(f"not a scratchnet parameter file (no \"format\": \"{MAGIC}\")")
    if doc.get("version") != str(VERSION):
        raise bad(f"format version {doc.get('version')} is not supported (this scratchnet reads {VERSION})")
    try:
        sizes = tuple(int(n) for n in doc["sizes"])
        hidden, output, dtype = doc["hidden"], doc["output"], doc["dtype"]
        layers = doc["layers"]
        epochs = int(doc.get("epochs", "0"))
    except (KeyError, TypeError, ValueError) as e:
        raise bad(f"missing or malformed header field ({e})") from None
    if hidden not in HIDDEN_ACTIVATIONS or output not in OUTPUT_ACTIVATIONS or dtype not in DTYPES:
        raise bad(f"unsupported network description {hidden}/{output} {dtype}")
    if len(sizes) < 2 or min(sizes) < 1 or not isinstance(layers, list) or len(layers) != len(sizes) - 1:
        raise bad(f"sizes {list(sizes)} need {len(sizes) - 1} layers, found {len(layers) if isinstance(layers, list) else 0}")
    weights, biases = [], []
    for index, (layer, n_in, n_out) in enumerate(zip(layers, sizes[:-1], sizes[1:]), start=1):
        try:
            rows, bias = layer["weights"], layer["biases"]
            tokens = [t for row in rows for t in row] + list(bias)
            shape_ok = len(rows) == n_out and all(len(r) == n_in for r in rows) and len(bias) == n_out
        except (KeyError, TypeError):
            raise bad(f"layer {index} needs \"biases\" and \"weights\" lists") from None
        if not shape_ok:
            raise bad(f"layer {index} must have {n_out} biases and {n_out} rows of {n_in} weights")
        for token in tokens:
            if not isinstance(token, str) or not NUMBER.fullmatch(token):
                raise bad(f"layer {index}: {token!r} is not a finite number")
        values = parse_numbers(tokens, dtype)
        if not np.isfinite(values).all():
            raise bad(f"layer {index}: a number overflows {dtype}")
        weights.append(np.ascontiguousarray(values[: n_in * n_out].reshape(n_out, n_in).T))
        biases.append(values[n_in * n_out :])
    return Parameters(Network(sizes, hidden, output, weights, biases), epochs)


def read(path: str | Path) -> Parameters:
    """A .txt or .json parameter file; any problem is a one-line ScratchnetError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScratchnetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScratchnetError(f"{path}: cannot read it as text ({getattr(e, 'strerror', None) or e})") from None
    return from_json(text, path) if path.suffix.lower() == ".json" else from_text(text, path)

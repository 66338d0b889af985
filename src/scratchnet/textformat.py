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
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from scratchnet import files, schema
from scratchnet.errors import ScratchnetError
from scratchnet.network import (
    DTYPES,
    HIDDEN_ACTIVATIONS,
    MAX_LAYER_SIZE,
    MAX_LAYERS,
    MAX_PARAMETERS,
    OUTPUT_ACTIVATIONS,
    Network,
    check_sizes,
    count_parameters,
)

MAGIC = "scratchnet-params"
VERSION = 1
HEADER_KEYS = ("sizes", "hidden", "output", "dtype")  # required, in any order; "epochs" is optional
MAX_EPOCHS = 2**31 - 1
# The grammar of docs/FORMAT.md, on bytes: ASCII by construction, as csrc/params.c reads it.
NUMBER = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
WHOLE = re.compile(rb"0|[1-9][0-9]*")
NOT_FINITE = re.compile(rb"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
# the first character on a line, outside its comment, that is not printable ASCII, a space or a tab
# (a CR is the end of a line only right before its LF, or at the end of the file)
NOT_ALLOWED = re.compile(rb"^[\t\x20-\x22\x24-\x7e]*+(?!#|\r?$)", re.MULTILINE)
BOM = b"\xef\xbb\xbf"
# How large a parameter file may be (docs/FORMAT.md, "How large"): room for the header, comments and blank
# lines, and for each parameter of the network its sizes declare, a number of 64 characters and its blank
# (the numbers written take at most 25), the sizes within the first MAX_FILE_FIXED bytes. A larger file is
# refused before the rest is read; csrc/params.c agrees.
MAX_FILE_FIXED = 1 << 20
MAX_FILE_PER_PARAMETER = 64
READ_CHUNK = 1 << 20
SIZES_LINE = re.compile(rb"^[ \t]*sizes((?:[ \t]+[0-9]{1,7})+)[ \t\r]*(?:#|$)", re.MULTILINE)
JSON_SIZES = re.compile(rb'"sizes"\s*:\s*\[((?:\s*[0-9]{1,7}\s*,)*\s*[0-9]{1,7}\s*)\]')
# numbers separated by blanks, each ending at a blank or the end: checks a long row in one pass
NUMBER_RUN = re.compile(rb"(?:[ \t]*+(?:" + NUMBER.pattern + rb")(?![^ \t]))*+[ \t]*+")


def format_number(value: np.floating) -> str:
    """The shortest decimal that reads back (with strtod, float() or np.float32()) to the same
    value of its own type: '0.1', '-0.0', '1e-45', '3.4028235e+38'."""
    return str(value)


def parse_numbers(tokens: Sequence[bytes | str], dtype: str) -> np.ndarray:
    """Decimal strings (already matched against NUMBER) to an array of ``dtype``, each correctly
    rounded, as strtod/strtof do.

    float32 goes through float64 first; that double rounding is wrong only when the float64
    lands exactly halfway between two float32s, so those few are settled exactly (Decimal: exact
    for any number of digits or exponent).
    """
    wide = np.array([float(t) for t in tokens], dtype=np.float64)
    if dtype == "float64":
        return wide
    with np.errstate(over="ignore"):  # too large for float32 is inf, refused by the caller; and the
        narrow = wide.astype(np.float32)  # neighbour of float32's max is inf: never halfway anyway
        other = np.nextafter(narrow, np.where(wide > narrow, np.inf, -np.inf).astype(np.float32))
    halfway = (narrow.astype(np.float64) + other.astype(np.float64)) / 2 == wide
    halfway &= narrow.astype(np.float64) != wide
    for i in np.flatnonzero(halfway):
        token = tokens[i].decode() if isinstance(tokens[i], bytes) else tokens[i]
        exact, mid = Decimal(token), Decimal(float(wide[i]))
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


def _show(token: bytes) -> str:
    """A token as messages quote it: its first 40 bytes (tokens are printable ASCII)."""
    return token[:40].decode("ascii", "replace")


def _whole(token: bytes, high: int) -> int | None:
    """The value of a whole number (WHOLE), capped at high + 1; None if it is not one."""
    if not WHOLE.fullmatch(token):
        return None
    return high + 1 if len(token) > len(str(high)) else min(int(token), high + 1)


def _column(content: bytes, index: int) -> int:
    """1-based column of the index-th token of content."""
    return next(m.start() for k, m in enumerate(re.finditer(rb"[^ \t]+", content)) if k == index) + 1


def _count_tokens(text: bytes) -> int:
    """How many blank-separated tokens text holds, without making them (a row may be huge)."""
    filled = np.frombuffer(text, np.uint8)
    filled = (filled != ord(" ")) & (filled != ord("\t"))
    return int(np.count_nonzero(filled[1:] & ~filled[:-1]) + (len(filled) > 0 and filled[0]))


class _Reader:
    """Walks the file's meaningful lines one at a time (however many there are), keeping line
    numbers for messages. Every character outside comments is checked first, as csrc/params.c does."""

    def __init__(self, path: Path, data: bytes, size: int | None = None):
        self.path, self.size = path, len(data) if size is None else size
        self.data = data.removeprefix(BOM)
        bad = NOT_ALLOWED.search(self.data)
        if bad:
            at = bad.end()
            start = self.data.rfind(b"\n", 0, at) + 1
            raise self.error(self.data.count(b"\n", 0, at) + 1, f"character 0x{self.data[at]:02x} is not allowed "
                             "outside comments (printable ASCII, spaces and tabs only)", at - start + 1)
        self.at = 0  # the next byte to scan
        self.scanned = 0  # the number of the last physical line scanned
        self.ahead: tuple[int, bytes] | None = None  # the next meaningful line, once peek() found it
        self.last = 0  # the number of the last meaningful line handed out

    def error(self, number: int | None, problem: str, column: int | None = None) -> ScratchnetError:
        where = f"{self.path}:{number}" + (f":{column}" if column else "") if number else str(self.path)
        return ScratchnetError(f"{where}: {problem}")

    def peek(self) -> tuple[int, bytes] | None:
        """The next meaningful line (number, content without comment and end blanks), or None."""
        while self.ahead is None and self.at < len(self.data):
            end = self.data.find(b"\n", self.at)
            end = len(self.data) if end < 0 else end
            content = self.data[self.at : end].split(b"#", 1)[0].rstrip(b" \t\r")  # only a last CR is left
            self.at, self.scanned = end + 1, self.scanned + 1
            if content:
                self.ahead = (self.scanned, content)
        return self.ahead

    def next(self, expecting: str) -> tuple[int, bytes]:
        if self.peek() is None:
            raise self.error(self.last or None, f"file ends early: expected {expecting}")
        line, self.ahead = self.ahead, None
        self.last = line[0]
        return line


def _sizes(reader: _Reader, number: int, content: bytes, values: list[bytes]) -> tuple[int, ...]:
    if len(values) - 1 > MAX_LAYERS:
        raise reader.error(number, f"sizes has {len(values) - 1} layers of neurons; at most {MAX_LAYERS} are supported")
    sizes = []
    for index, token in enumerate(values, start=1):
        size = _whole(token, MAX_LAYER_SIZE)
        if size is None:
            raise reader.error(number, f"a layer size must be a whole number, not '{_show(token)}'",
                               _column(content, index))
        if size > MAX_LAYER_SIZE:
            raise reader.error(number, f"a layer size of {_show(token)} is more than this reader allows "
                               f"({MAX_LAYER_SIZE})", _column(content, index))
        sizes.append(size)
    if len(sizes) < 2 or 0 in sizes:
        raise reader.error(number, "sizes needs two or more layer sizes of at least 1")
    total = count_parameters(tuple(sizes))
    if total > MAX_PARAMETERS:
        raise reader.error(number, f"these sizes make {total} parameters, more than this reader allows "
                           f"({MAX_PARAMETERS})")
    if 2 * total > reader.size:  # each number takes a character and a blank or line end at least
        raise reader.error(number, f"these sizes need {total} numbers, more than a file of {reader.size} "
                           "bytes can hold: cut short?")
    return tuple(sizes)


def _header(reader: _Reader) -> dict:
    number, content = reader.next(f"'{MAGIC} {VERSION}'")
    tokens = content.split()
    if tokens[0] != MAGIC.encode():
        raise reader.error(number, f"not a scratchnet parameter file: expected '{MAGIC} {VERSION}' first")
    if tokens[1:] != [str(VERSION).encode()]:
        version = _show(content[_column(content, 1) - 1 :]) if len(tokens) > 1 else "missing"
        raise reader.error(number, f"format version {version} is not supported (this scratchnet reads {VERSION})")
    header: dict = {}
    seen: dict[str, tuple[int, int, bytes]] = {}  # key: (line, column, value) of hidden, output, dtype
    while (ahead := reader.peek()) is not None and ahead[1].split()[0] != b"layer":
        number, content = reader.next("the header")
        key, *values = content.split()
        name = key.decode()
        if name not in HEADER_KEYS + ("epochs",):
            raise reader.error(number, f"unknown header line '{_show(key)}': expected one of "
                               f"{', '.join(HEADER_KEYS)}, epochs, or 'layer 1 ...'", _column(content, 0))
        if name in header:
            raise reader.error(number, f"'{name}' appears twice in the header")
        if name == "sizes":
            header[name] = _sizes(reader, number, content, values)
            continue
        if len(values) != 1:
            raise reader.error(number, f"'{name}' takes one value, found {len(values)}")
        if name == "epochs":
            epochs = _whole(values[0], MAX_EPOCHS)
            if epochs is None:
                raise reader.error(number, f"epochs must be a whole number, not '{_show(values[0])}'",
                                   _column(content, 1))
            if epochs > MAX_EPOCHS:
                raise reader.error(number, f"epochs {_show(values[0])} is more than this reader allows ({MAX_EPOCHS})",
                                   _column(content, 1))
            header[name] = epochs
            continue
        header[name] = values[0].decode()
        seen[name] = (number, _column(content, 1), values[0])
    for key, allowed in (("hidden", HIDDEN_ACTIVATIONS), ("output", OUTPUT_ACTIVATIONS), ("dtype", DTYPES)):
        if key in header and header[key] not in allowed:
            line, column, value = seen[key]
            raise reader.error(line, f"{key} '{_show(value)}' is not one of {', '.join(allowed)}", column)
    missing = [k for k in HEADER_KEYS if k not in header]
    if missing:
        ahead = reader.peek()
        raise reader.error(ahead[0] if ahead else None, f"header line '{missing[0]}' is missing before the layers")
    return header


def _neuron(reader: _Reader, number: int, content: bytes, layer: int, j: int, n_in: int, n_out: int,
            dtype: str) -> np.ndarray:
    """The numbers of `neuron j bias B weights W_0 ...`: bias first."""
    tokens = content.split(maxsplit=n_in + 5)  # a row too long keeps its extra numbers in one piece
    if tokens[0] in (b"layer", b"end"):
        raise reader.error(number, f"layer {layer} has {j} neurons, expected {n_out}")
    if len(tokens) < 5 or tokens[0] != b"neuron" or tokens[2] != b"bias" or tokens[4] != b"weights":
        raise reader.error(number, f"expected 'neuron {j} bias B weights W...' (layer {layer})")
    if tokens[1] != str(j).encode():
        raise reader.error(number, f"expected neuron {j} of layer {layer}, found neuron {_show(tokens[1])}",
                           _column(content, 1))
    numbers = [tokens[3]] + tokens[5:]
    rest = numbers.pop() if len(tokens) == n_in + 6 else b""
    for k, token in enumerate(numbers):  # syntax first, then the count, then overflow, as csrc/params.c
        if not NUMBER.fullmatch(token):
            raise _not_a_number(reader, number, token, _column(content, 3 if k == 0 else k + 4))
    run = NUMBER_RUN.match(rest)
    if run.end() != len(rest):
        bad = rest[run.end() :].split(maxsplit=1)[0]
        raise _not_a_number(reader, number, bad, len(content) - len(rest) + run.end() + 1)
    count = len(numbers) - 1 + _count_tokens(rest)
    if count != n_in:
        side = "short" if count < n_in else "long"
        cut = "; the file ends there: cut short?" if reader.peek() is None else ""
        raise reader.error(number, f"row too {side}: neuron {j} of layer {layer} has {count} weights, "
                           f"expected {n_in}{cut}")
    values = parse_numbers(numbers, dtype)
    if not np.isfinite(values).all():
        k = int(np.flatnonzero(~np.isfinite(values))[0])
        raise reader.error(number, f"neuron {j} of layer {layer}: {_show(numbers[k])} overflows {dtype}",
                           _column(content, 3 if k == 0 else k + 4))
    return values


def _not_a_number(reader: _Reader, number: int, token: bytes, column: int) -> ScratchnetError:
    if NOT_FINITE.fullmatch(token):
        return reader.error(number, f"{_show(token)} is not allowed: parameters must be finite numbers", column)
    return reader.error(number, f"'{_show(token)}' is not a number", column)


def _layer(reader: _Reader, layer: int, n_in: int, n_out: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    expected = f"layer {layer} inputs {n_in} neurons {n_out}"
    number, content = reader.next(f"'{expected}'")
    tokens = content.split()
    if tokens[:2] == [b"layer", str(layer - 1).encode()]:
        raise reader.error(number, f"layer {layer - 1} appears twice, or has more than {n_in} neurons")
    if tokens != expected.encode().split():
        if tokens == [b"end"]:
            raise reader.error(number, f"'end' comes before layer {layer}")
        if tokens[0] != b"layer":
            raise reader.error(number, f"expected '{expected}', found '{_show(tokens[0])}'")
        if len(tokens) == 6 and tokens[1] == str(layer).encode() and tokens[3] != str(n_in).encode():
            raise reader.error(number, f"layer {layer} has {_show(tokens[3])} inputs but the layer before it has "
                               f"{n_in} neurons (sizes say {n_in})", _column(content, 3))
        raise reader.error(number, f"expected '{expected}' (from sizes), found '{_show(content.lstrip())}'")
    weights = np.empty((n_in, n_out), dtype=dtype)
    biases = np.empty(n_out, dtype=dtype)
    for j in range(n_out):
        number, content = reader.next(f"neuron {j} of layer {layer}")
        values = _neuron(reader, number, content, layer, j, n_in, n_out, dtype)
        biases[j], weights[:, j] = values[0], values[1:]
    return weights, biases


def from_text(text: str | bytes, path: str | Path = "<text>", file_size: int | None = None) -> Parameters:
    """A parameter file's content (docs/FORMAT.md); any problem is a one-line ScratchnetError
    naming the line and column. ``file_size``: of the file it came from, when comments were left out."""
    reader = _Reader(Path(path), text.encode() if isinstance(text, str) else text, file_size)
    header = _header(reader)
    sizes, dtype = header["sizes"], header["dtype"]
    weights, biases = [], []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        w, b = _layer(reader, layer, n_in, n_out, dtype)
        weights.append(w)
        biases.append(b)
    number, content = reader.next("'end'")
    tokens = content.split()
    if tokens != [b"end"]:
        if tokens[0] in (b"layer", b"neuron"):
            raise reader.error(number, f"more layers or neurons than sizes {' '.join(map(str, sizes))} allow")
        raise reader.error(number, f"expected 'end', found '{_show(content.lstrip())}'")
    if (ahead := reader.peek()) is not None:
        raise reader.error(ahead[0], f"text after 'end': '{_show(ahead[1].lstrip())}'")
    network = Network(sizes, header["hidden"], header["output"], weights, biases)
    return Parameters(network, header.get("epochs", 0))


class _JsonNumber(str):
    """A number as the JSON file wrote it, kept as text to be rounded exactly; a JSON string is a
    plain str, so "0.5" in quotes is never taken for a number."""

    __slots__ = ()


def _json_constant(name: str) -> None:
    raise ScratchnetError(f"{name} is not allowed: parameters must be finite numbers")


def from_json(text: str | bytes, path: str | Path = "<json>") -> Parameters:
    """A JSON parameter file's content (docs/FORMAT.md): every field of its type, known fields only."""
    def bad(problem: str) -> ScratchnetError:
        return ScratchnetError(f"{path}: {problem}")

    try:
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        numbers: dict[str, _JsonNumber] = {}

        def number(token: str) -> _JsonNumber:  # one object for numbers written alike: a file of zeros is small
            return numbers.setdefault(token, _JsonNumber(token))

        doc = json.loads(text, parse_float=number, parse_int=number, parse_constant=_json_constant)
    except UnicodeDecodeError as e:
        raise bad(f"not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise bad(f"line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise bad("nested too deeply to be a parameter file") from None
    except ScratchnetError as e:
        raise bad(str(e)) from None

    def whole(value: object, what: str, high: int) -> int:
        n = _whole(value.encode(), high) if isinstance(value, _JsonNumber) else None
        if n is None or n > high:
            raise bad(f"{what} must be a whole number from 0 to {high}, not {_describe(value)}")
        return n

    def listed(value: object, what: str, length: int) -> list:
        if type(value) is not list:
            raise bad(f"{what} must be a list of {length}, not {_describe(value)}")
        if len(value) != length:
            raise bad(f"{what} must be a list of {length}, not of {len(value)}")
        return value

    if type(doc) is not dict or doc.get("format") != MAGIC:
        raise bad(f"not a scratchnet parameter file (no \"format\": \"{MAGIC}\")")
    if doc.get("version") != str(VERSION) or not isinstance(doc["version"], _JsonNumber):
        raise bad(f"format version {_describe(doc.get('version'))} is not supported (this scratchnet reads {VERSION})")
    unknown = set(doc) - {"format", "version", "sizes", "hidden", "output", "dtype", "epochs", "summary", "layers"}
    if unknown:
        raise bad(f"unknown field {min(unknown)!r}")
    for key, allowed in (("hidden", HIDDEN_ACTIVATIONS), ("output", OUTPUT_ACTIVATIONS), ("dtype", DTYPES)):
        if doc.get(key) not in allowed or type(doc[key]) is not str:
            raise bad(f"\"{key}\" must be one of {', '.join(allowed)}, not {_describe(doc.get(key))}")
    if type(doc.get("sizes")) is not list or not 2 <= len(doc["sizes"]) <= MAX_LAYERS + 1:
        raise bad(f"\"sizes\" must be a list of 2 to {MAX_LAYERS + 1} layer sizes, not {_describe(doc.get('sizes'))}")
    sizes = tuple(whole(n, "a layer size", MAX_LAYER_SIZE) for n in doc["sizes"])
    try:
        check_sizes(sizes)
    except ScratchnetError as e:
        raise bad(str(e)) from None
    epochs = whole(doc.get("epochs", _JsonNumber("0")), "\"epochs\"", MAX_EPOCHS)
    if type(doc.get("summary", "")) is not str:
        raise bad(f"\"summary\" must be a string, not {_describe(doc['summary'])}")
    dtype = doc["dtype"]
    weights, biases = [], []
    layers = listed(doc.get("layers"), "\"layers\"", len(sizes) - 1)
    for index, (layer, n_in, n_out) in enumerate(zip(layers, sizes[:-1], sizes[1:]), start=1):
        if type(layer) is not dict or set(layer) != {"inputs", "neurons", "biases", "weights"}:
            raise bad(f"layer {index} must be an object of \"inputs\", \"neurons\", \"biases\" and \"weights\"")
        if (whole(layer["inputs"], f"layer {index} inputs", MAX_LAYER_SIZE),
                whole(layer["neurons"], f"layer {index} neurons", MAX_LAYER_SIZE)) != (n_in, n_out):
            raise bad(f"layer {index} has {layer['inputs']} inputs and {layer['neurons']} neurons, but sizes say "
                      f"{n_in} and {n_out}")
        rows = listed(layer["weights"], f"layer {index} weights", n_out)
        tokens = [t for row in rows for t in listed(row, f"layer {index}: a row of weights", n_in)]
        tokens += listed(layer["biases"], f"layer {index} biases", n_out)
        for token in tokens:
            if not isinstance(token, _JsonNumber):  # JSON's number grammar is narrower than NUMBER
                raise bad(f"layer {index}: {_describe(token)} is not a number")
        values = parse_numbers(tokens, dtype)
        if not np.isfinite(values).all():
            raise bad(f"layer {index}: {tokens[int(np.flatnonzero(~np.isfinite(values))[0])]} overflows {dtype}")
        weights.append(np.ascontiguousarray(values[: n_in * n_out].reshape(n_out, n_in).T))
        biases.append(values[n_in * n_out :])
    return Parameters(Network(sizes, doc["hidden"], doc["output"], weights, biases), epochs)


def _describe(value: object) -> str:
    """A JSON value as messages show it: a number as written, anything else by its kind."""
    return str(value) if isinstance(value, _JsonNumber) else schema.describe(value)


def max_file_bytes(sizes: Sequence[int] | None) -> int:
    """The most bytes a parameter file of a network of these layer sizes may take (None: sizes unknown)."""
    return MAX_FILE_FIXED + (MAX_FILE_PER_PARAMETER * count_parameters(tuple(sizes)) if sizes else 0)


def _declared_sizes(pattern: re.Pattern, start: bytes) -> tuple[int, ...] | None:
    """The layer sizes a file's start declares, if 2 to MAX_LAYERS + 1 (checked later, in full)."""
    found = pattern.search(start)
    sizes = tuple(int(n) for n in re.findall(rb"[0-9]+", found[1])) if found else ()
    return sizes if 2 <= len(sizes) <= MAX_LAYERS + 1 else None


def _check_size(path: Path, size: int, sizes: tuple[int, ...] | None) -> None:
    if size > max_file_bytes(sizes):
        network = f"of a {'-'.join(map(str, sizes))} network" if sizes else (
            f"that declares no sizes in its first {MAX_FILE_FIXED:,} bytes")
        raise ScratchnetError(f"{path}: {size:,} bytes, more than a parameter file {network} may take "
                              f"({max_file_bytes(sizes):,}: 1 MiB and {MAX_FILE_PER_PARAMETER} bytes a parameter)")


def _without_comment_text(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The bytes of ``chunks`` with each comment's text left out ('#' and the line end kept, so line and
    column numbers hold), as they stream in: a comment of any length is never held."""
    in_comment = False
    for chunk in chunks:
        at = 0
        while at < len(chunk):
            if in_comment:
                at = chunk.find(b"\n", at)
                if at < 0:
                    break
                in_comment = False
            hash_at = chunk.find(b"#", at)
            if hash_at < 0:
                yield chunk[at:]
                break
            yield chunk[at : hash_at + 1]
            at, in_comment = hash_at + 1, True


def read(path: str | Path) -> Parameters:
    """A .txt or .json parameter file (a regular file); any problem is a one-line ScratchnetError naming it.

    A file larger than max_file_bytes of the sizes declared in its first MAX_FILE_FIXED bytes is refused
    before the rest is read; a .txt file's comments are left out as it streams in."""
    path = Path(path)
    is_json = path.suffix.lower() == ".json"
    with files.open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            start = f.read(MAX_FILE_FIXED)
            _check_size(path, size, _declared_sizes(JSON_SIZES if is_json else SIZES_LINE, start))
            if is_json:
                data = start + f.read()
            else:
                data = b"".join(_without_comment_text(itertools.chain([start], iter(lambda: f.read(READ_CHUNK), b""))))
        except OSError as e:
            raise ScratchnetError(f"{path}: cannot read it ({e.strerror})") from None
    return from_json(data, path) if is_json else from_text(data, path, size)

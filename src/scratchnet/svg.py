"""The whole network as one SVG page: every neuron, every connection, every value on hover.

What the picture shows (``render`` returns the SVG text; write it out as UTF-8):

* The inputs, as the image grid on the left (28x28 for MNIST; a column for inputs that are not
  a square of 16 or more). Every hidden and output layer is a column of circles.
* Each neuron is filled by its bias on a diverging scale (blue negative, white 0, red positive:
  ColorBrewer's RdBu, which colour-blind readers can tell apart), its bias printed beside it with
  3 significant digits.
* Each connection is a line, red for a positive weight and blue for a negative one, its opacity
  (and, in small layers, its width) growing with |w| up to the layer's scale s_l, the 99th
  percentile of the layer's |w| (so one outlier does not fade the rest). Stronger lines are drawn
  last, on top.
* Beside each first-layer neuron, a tile of its incoming weights laid out like the input (a
  28x28 heat map for MNIST: what that neuron looks for), on the same scale as its lines. The
  tiles are tiny PNGs, written here with zlib and struct.
* Every line, neuron, input cell and tile has a ``<title>`` that a browser shows on hover. Weights
  and biases are given there exactly, as the shortest decimal that reads back to the same
  float64 / float32 (``textformat.format_number``): ``w[0][412→3] = -0.0123456789``, the weight
  from neuron 412 of layer 0 (the inputs) to neuron 3 of layer 1.
* With ``image`` (a uint8 image of the network's input size): the pixels shade the input cells,
  every neuron becomes a disc of its activation for that image (white 0 to black 1; tanh and
  relu layers on their own range) in a ring of its bias colour, and the heading gives the
  prediction, its confidence (the predicted class's output activation) and, with ``label``,
  whether it is right.
* With ``annotate_weights``: each weight printed on its line, for layers of at most
  ``ANNOTATE_MAX`` connections; the picture says which layers are too dense for that.

Thinning. A network with at most ``max_lines`` connections has all of them drawn (784-20-10 has
15,880). A bigger one would be a multi-megabyte grey smear, so lines are chosen per layer by this
rule: the budget ``max_lines`` is split evenly between the layers; a layer with fewer connections
than its share keeps all of them and leaves the rest of its share to the others (water filling);
a layer with more keeps its share of strongest connections by |w|. The picture says, per layer,
how many of how many lines are shown and the smallest |w| drawn. Neurons, biases and tiles are
never thinned.

Size. A line costs ~140 bytes (coordinates rounded to 0.1, opacity to 2 digits; only the title
holds the exact value) and a 28x28 tile ~3 kB, so 784-20-10 comes to ~2.3 MB and the default
budget of 20,000 lines keeps 784-256-128-10 (256 tiles) near 3.7 MB.
"""

from __future__ import annotations

import base64
import math
import struct
import textwrap
import zlib
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

from scratchnet.data import inputs as image_inputs
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network, check_finite
from scratchnet.textformat import format_number

MAX_LINES = 20_000  # connections drawn before thinning: keeps 784-256-128-10 under 4 MB
ANNOTATE_MAX = 400  # connections in a layer whose weights can still be printed legibly
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"  # for <image xlink:href>, which older viewers need

# ColorBrewer RdBu, negative (blue) to positive (red), white in the middle.
RDBU = np.array([[0x21, 0x66, 0xAC], [0x43, 0x93, 0xC3], [0x92, 0xC5, 0xDE], [0xD1, 0xE5, 0xF0], [0xF7, 0xF7, 0xF7],
                 [0xFD, 0xDB, 0xC7], [0xF4, 0xA5, 0x82], [0xD6, 0x60, 0x4D], [0xB2, 0x18, 0x2B]], dtype=float)
POSITIVE, NEGATIVE = "#b2182b", "#2166ac"
INK = "#222"

# Page geometry, in SVG user units (pixels at 100%).
PAGE_WIDTH = 1600
LEGEND_WIDTH = 300
TOP = 110  # heading above
BOTTOM = 40
MIN_HEIGHT, MAX_HEIGHT = 640, 1000

CSS = f"""
text{{font-family:Helvetica,Arial,sans-serif;fill:{INK}}}
.p{{stroke:{POSITIVE}}}.n{{stroke:{NEGATIVE}}}
.halo{{paint-order:stroke;stroke:#fff;stroke-width:2.5px;stroke-linejoin:round}}
.wp{{fill:{POSITIVE}}}.wn{{fill:{NEGATIVE}}}
.in{{stroke:#fff;stroke-width:0.3}}
.tile{{image-rendering:pixelated}}
.note{{font-size:11px}}
"""


# -----------------------------------------------------------------------------
# numbers and colours

def n1(x: float) -> str:
    """A coordinate, rounded to 0.1: the picture needs no more, and bytes add up over 15k lines."""
    s = f"{x:.1f}"
    return s.removesuffix(".0")


def opacity(x: float) -> str:
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return s[1:] if s.startswith("0.") else s


def sig3(x: float) -> str:
    """A value to print on the picture: 3 significant digits. The exact value is in the title."""
    return f"{x:.3g}"


def thousands(n: int) -> str:
    return f"{n:,}"


def hexes(rgb: np.ndarray) -> list[str]:
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in np.asarray(rgb, dtype=np.uint8).reshape(-1, 3).tolist()]


def diverging_rgb(values: np.ndarray, scale: float) -> np.ndarray:
    """RdBu colours for values in [-scale, scale] (clipped), as uint8 rows of (r, g, b)."""
    t = np.clip(np.asarray(values, dtype=float) / max(scale, 1e-300), -1, 1)
    u = (t + 1) / 2 * (len(RDBU) - 1)
    i = np.minimum(u.astype(int), len(RDBU) - 2)
    f = (u - i)[..., None]
    return np.rint(RDBU[i] * (1 - f) + RDBU[i + 1] * f).astype(np.uint8)


def gray_rgb(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """White at lo to near-black at hi: ink on paper, as the digit itself looks."""
    t = np.clip((np.asarray(values, dtype=float) - lo) / max(hi - lo, 1e-300), 0, 1)
    level = np.rint(255 - t * (255 - 17)).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=-1)


def weight_scale(w: np.ndarray) -> float:
    """|w| at which a layer's lines reach full colour: the 99th percentile, not the max,
    so that a few outliers do not wash out everything else."""
    scale = float(np.percentile(np.abs(w), 99)) if w.size else 0.0
    return scale if scale > 0 else float(np.abs(w).max(initial=0.0)) or 1.0


def activation_range(name: str, values: np.ndarray) -> tuple[float, float]:
    """The range of an activation function's output, which its grey scale spans."""
    if name == "tanh":
        return -1.0, 1.0
    if name == "relu":
        return 0.0, max(1.0, float(values.max(initial=0.0)))
    return 0.0, 1.0  # sigmoid, softmax


# -----------------------------------------------------------------------------
# a tiny PNG writer, for the weight tiles: 28x28 pixels in ~2 kB instead of 784 <rect>s

def png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an (h, w, 3) uint8 array: signature, IHDR, one zlib IDAT, IEND."""
    h, w, _ = rgb.shape

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(rgb, dtype=np.uint8))  # filter 0: none
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8 bits per channel, colour type 2 (RGB)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def png_uri(rgb: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png(rgb)).decode("ascii")


# -----------------------------------------------------------------------------
# layout

def input_shape(n: int, image: np.ndarray | None) -> tuple[int, int]:
    """How the inputs are laid out, (rows, cols): as the image when there is one, a square grid
    when n is a square (784 -> 28x28), a column for a few inputs, else rows of ~sqrt(n)."""
    if image is not None and image.ndim == 2 and image.size == n:
        return image.shape
    side = math.isqrt(n)
    if side * side == n and n >= 16:
        return side, side
    if n <= 64:
        return n, 1
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


@dataclass
class Column:
    """Where one layer of neurons sits: centre x, the y of each neuron, their radius."""

    x: float
    ys: np.ndarray
    spacing: float
    radius: float
    out_x: float  # where lines to the next layer leave (right of the tile, for layer 1)


@dataclass
class Layout:
    width: int
    height: int
    grid: tuple[int, int]
    cell: float  # input cell size
    in_x: np.ndarray  # centres of the input cells
    in_y: np.ndarray
    columns: list[Column]  # layers 1..L
    tile: tuple[float, float]  # width, height of a weight tile


def column_spacing(n: int, span: float) -> float:
    return min(span / n, 64.0)


def page_height(net: Network, grid: tuple[int, int]) -> int:
    """Tall enough for ~44 units a neuron, up to 1000; past ~250 neurons a layer, 3.4 units each."""
    widest = max(net.sizes[1:] + ((grid[0],) if grid[1] == 1 else ()))
    return int(max(MIN_HEIGHT, min(MAX_HEIGHT, TOP + BOTTOM + 44 * widest), TOP + BOTTOM + 3.4 * widest))


def layout(net: Network, grid: tuple[int, int]) -> Layout:
    height = page_height(net, grid)
    span = height - TOP - BOTTOM
    mid = TOP + span / 2
    rows, cols = grid
    right = PAGE_WIDTH - LEGEND_WIDTH - 150  # the output column, with room for its labels
    k = np.arange(net.sizes[0])
    if cols > 1:
        # inputs as the image: a grid of touching cells on the left, about half the page tall
        cell = min(14.0, span * 0.5 / rows, 360 / cols)
        in_x = 40 + (k % cols + 0.5) * cell
        in_y = mid - rows * cell / 2 + (k // cols + 0.5) * cell
        left = in_x.max() + cell / 2 + max(260.0, 0.25 * (right - in_x.max()))
        xs = np.linspace(left, right, net.n_layers) if net.n_layers > 1 else np.array([right])
    else:
        # a few inputs: one more column of the network, all columns evenly apart
        spacing = column_spacing(rows, span)
        cell = min(spacing * 0.6, 18.0)
        in_x = np.full(len(k), 60.0)
        in_y = mid + (k - (rows - 1) / 2) * spacing
        xs = np.linspace(60.0, right, net.n_layers + 1)[1:]

    # the tile beside each first-layer neuron: the input's shape, or a strip for a column of inputs
    tile_h = min(column_spacing(net.sizes[1], span) * 0.86, 40.0)
    tile = (tile_h * cols / rows, tile_h) if cols > 1 else (min(tile_h * 3, 60.0), min(tile_h, 10.0))

    columns = []
    for layer, n in enumerate(net.sizes[1:]):
        spacing = column_spacing(n, span)
        ys = mid + (np.arange(n) - (n - 1) / 2) * spacing
        radius = float(np.clip(spacing * 0.36, 0.5, 16.0))
        out_x = xs[layer] + radius + (4 + tile[0] if layer == 0 else 0)
        columns.append(Column(float(xs[layer]), ys, spacing, radius, float(out_x)))
    return Layout(PAGE_WIDTH, height, grid, cell, in_x, in_y, columns, tile)


# -----------------------------------------------------------------------------
# which lines to draw

def line_budget(counts: list[int], max_lines: int) -> list[int]:
    """Split max_lines between layers evenly; a layer that needs less than its share keeps all
    its connections and passes the rest of its share on (water filling)."""
    keep = [0] * len(counts)
    left, todo = max_lines, sorted(range(len(counts)), key=lambda i: counts[i])
    while todo:
        share = left // len(todo)
        layer = todo.pop(0)
        keep[layer] = min(counts[layer], share)
        left -= keep[layer]
    return keep


def strongest(w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the k largest |w|, weakest first so that the strongest are drawn on top."""
    flat = np.abs(w).ravel()
    idx = np.argpartition(flat, flat.size - k)[flat.size - k:] if 0 < k < flat.size else np.arange(flat.size if k else 0)
    idx = idx[np.argsort(flat[idx], kind="stable")]
    return np.divmod(idx, w.shape[1])


# -----------------------------------------------------------------------------
# SVG pieces: each returns a list of lines of SVG text

def text(x: float, y: float, content: str, *, size: float = 11, anchor: str = "start", cls: str = "",
         extra: str = "") -> str:
    attrs = f'x="{n1(x)}" y="{n1(y)}" font-size="{n1(size)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if cls:
        attrs += f' class="{cls}"'
    return f"<text {attrs}{extra}>{escape(content)}</text>"


def tooltip(content: str) -> str:
    return f"<title>{escape(content)}</title>"


def source_points(net: Network, lay: Layout, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the lines of weights[layer] start: input cell centres, or the previous column."""
    if layer == 0:
        return lay.in_x, lay.in_y
    col = lay.columns[layer - 1]
    return np.full(net.sizes[layer], col.x), col.ys


def connections(net: Network, lay: Layout, layer: int, keep: int) -> list[str]:
    """The lines of weights[layer]: colour by sign, opacity (and width when few) by |w|."""
    w = net.weights[layer]
    scale = weight_scale(w)
    rows, cols = strongest(w, keep)
    sx, sy = source_points(net, lay, layer)
    target = lay.columns[layer]
    # Overlapping lines add up: the more there are, the fainter and thinner each one, so that a
    # fan of 15,000 still reads as a fan and 6 lines still read as lines.
    crowd = 200 / max(len(rows), 1)
    top_opacity = float(np.clip(0.9 * crowd ** 0.12, 0.45, 0.9))
    top_width = float(np.clip(3 * math.sqrt(crowd), 0.5, 3))
    fixed_width = top_width <= 0.6  # too thin to tell widths apart: save the bytes
    out = [f'<g id="weights{layer}" stroke-width="{n1(top_width) if fixed_width else 1}" stroke-linecap="round">']
    for i, j in zip(rows.tolist(), cols.tolist()):
        value = w[i, j]
        strength = min(abs(float(value)) / scale, 1.0)
        width = "" if fixed_width else f' stroke-width="{n1(top_width * (0.25 + 0.75 * strength))}"'
        out.append(
            f'<line class="w {"n" if value < 0 else "p"}" x1="{n1(sx[i])}" y1="{n1(sy[i])}" '
            f'x2="{n1(target.x)}" y2="{n1(target.ys[j])}" opacity="{opacity(max(strength * top_opacity, 0.01))}"{width}>'
            f"{tooltip(f'w[{layer}][{i}→{j}] = {format_number(value)}')}</line>"
        )
    out.append("</g>")
    return out


def label_spots(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, widths: np.ndarray,
                height: float) -> np.ndarray:
    """Where along each line (a fraction t from its start) to print its label: greedily, the first
    of a few candidate spots whose box (upright, around the rotated label) overlaps no label yet
    placed, else the least crowded one. Candidates start at a spot staggered by line, so that
    labels spread out before they have to dodge each other."""
    n = len(x1)
    ts = np.linspace(0.12, 0.88, 23)
    angle = np.arctan2(y2 - y1, x2 - x1)
    half_w = (np.abs(np.cos(angle)) * widths + np.abs(np.sin(angle)) * height) / 2
    half_h = (np.abs(np.sin(angle)) * widths + np.abs(np.cos(angle)) * height) / 2
    boxes = np.empty((0, 4))  # x0, y0, x1, y1 of the labels placed so far
    chosen = np.empty(n)
    for k in range(n):
        first = (k * 0.618034) % 1  # golden-ratio stagger: successive lines start far apart
        order = np.argsort(np.abs(ts - (0.12 + 0.76 * first)))
        best, best_overlap = ts[order[0]], math.inf
        for t in ts[order]:
            cx, cy = x1[k] + t * (x2[k] - x1[k]), y1[k] + t * (y2[k] - y1[k])
            box = np.array([cx - half_w[k], cy - half_h[k], cx + half_w[k], cy + half_h[k]])
            dx = np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0])
            dy = np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1])
            overlap = float((np.clip(dx, 0, None) * np.clip(dy, 0, None)).sum())
            if overlap < best_overlap:
                best, best_overlap, best_box = t, overlap, box
            if overlap == 0:
                break
        chosen[k] = best
        boxes = np.vstack([boxes, best_box])
    return chosen


def weight_labels(net: Network, lay: Layout, layer: int) -> list[str]:
    """Each weight printed on its line, at a spot where it overlaps no other label if there is one."""
    w = net.weights[layer]
    sx, sy = source_points(net, lay, layer)
    target = lay.columns[layer]
    i, j = np.divmod(np.arange(w.size), w.shape[1])
    # the visible part of each line: from the source's edge (or its tile) to the target's edge
    start = sx + lay.cell / 2 if layer == 0 else np.full(len(sx), lay.columns[layer - 1].out_x)
    x1, y1 = start[i], sy[i]
    x2, y2 = np.full(w.size, target.x - target.radius - 24), target.ys[j]  # clear of the bias text
    labels = [sig3(v) for v in w.ravel()]
    size = 10.0 if w.size <= 40 else 8.0
    t = label_spots(x1, y1, x2, y2, np.array([len(s) * size * 0.56 + 2 for s in labels]), size + 1)
    out = [f'<g id="weight-labels{layer}" class="halo" font-size="{n1(size)}" text-anchor="middle">']
    for k, label in enumerate(labels):
        x, y = x1[k] + t[k] * (x2[k] - x1[k]), y1[k] + t[k] * (y2[k] - y1[k])
        angle = math.degrees(math.atan2(y2[k] - y1[k], x2[k] - x1[k]))
        # rotated with its line and sitting just above it, like a label on a map's road
        out.append(f'<text x="{n1(x)}" y="{n1(y - 2)}" class="{"wn" if w.flat[k] < 0 else "wp"}" '
                   f'transform="rotate({n1(angle)} {n1(x)} {n1(y)})">{escape(label)}</text>')
    out.append("</g>")
    return out


def input_cells(net: Network, lay: Layout, image: np.ndarray | None) -> list[str]:
    """One small square per input, shaded by the image's pixel (white 0 to black 255) if given."""
    n, cols = net.sizes[0], lay.grid[1]
    # a grid of cells touches, like the image it shows, and hides the lines that start under it
    size = n1(lay.cell)
    flat = image.reshape(-1) if image is not None else None
    fills = hexes(gray_rgb(flat, 0, 255)) if flat is not None else ["#e8e8e8"] * n
    out = ['<g id="inputs">']
    for k in range(n):
        where = f"input {k} (row {k // cols}, col {k % cols})" if cols > 1 else f"input {k}"
        if flat is not None:
            where += f": pixel {int(flat[k])}, activation {format_number(np.float64(flat[k]) / 255)}"
        out.append(f'<rect class="in" x="{n1(lay.in_x[k] - lay.cell / 2)}" y="{n1(lay.in_y[k] - lay.cell / 2)}" '
                   f'width="{size}" height="{size}" fill="{fills[k]}">{tooltip(where)}</rect>')
    if flat is None and cols > 1:  # say what the blank grid is
        cx, cy = float(lay.in_x.mean()), float(lay.in_y.mean())
        out.append(text(cx, cy - 4, f"{n} input pixels", size=16, anchor="middle", extra=' fill="#999"'))
        out.append(text(cx, cy + 16, "(pass an image to see one go through)", size=11, anchor="middle", extra=' fill="#999"'))
    if cols == 1:  # a column of inputs: number them, as the neurons' classes are
        size = float(np.clip(lay.cell * 0.8, 3, 11))
        out += [text(lay.in_x[k] - lay.cell / 2 - 3, lay.in_y[k] + size * 0.35, str(k), size=size, anchor="end") for k in range(n)]
    out.append("</g>")
    return out


def weight_tiles(net: Network, lay: Layout) -> list[str]:
    """Beside each first-layer neuron, its incoming weights laid out like the input."""
    w = net.weights[0]
    scale = weight_scale(w)
    rows, cols = lay.grid
    col = lay.columns[0]
    tw, th = lay.tile
    out = ['<g id="tiles">']
    for j in range(net.sizes[1]):
        values = np.zeros(rows * cols)
        values[: w.shape[0]] = w[:, j]  # any cells past the last input stay white
        shape = (rows, cols) if cols > 1 else (1, w.shape[0])
        rgb = diverging_rgb(values.reshape(shape), scale)
        hint = f"incoming weights w[0][:→{j}] as a {shape[0]}x{shape[1]} tile: red where an input excites neuron {j}, blue where it inhibits (±{sig3(scale)} full colour)"
        out.append(f'<image class="tile" x="{n1(col.x + col.radius + 3)}" y="{n1(col.ys[j] - th / 2)}" width="{n1(tw)}" '
                   f'height="{n1(th)}" preserveAspectRatio="none" xlink:href="{png_uri(rgb)}">{tooltip(hint)}</image>')
        out.append(f'<rect x="{n1(col.x + col.radius + 3)}" y="{n1(col.ys[j] - th / 2)}" width="{n1(tw)}" height="{n1(th)}" '
                   'fill="none" stroke="#999" stroke-width="0.4"/>')
    out.append("</g>")
    return out


def neurons(net: Network, lay: Layout, bias_scale: float, acts: list[np.ndarray] | None) -> list[str]:
    """Every hidden and output neuron: a circle, its bias in text beside it, exact values on hover.
    With an image, the circle is a ring of the bias around a disc of the activation."""
    circles, labels = [], []
    for layer, col in enumerate(lay.columns):
        b = net.biases[layer]
        is_output = layer == net.n_layers - 1
        name = net.output if is_output else net.hidden
        bias_fill = hexes(diverging_rgb(b, bias_scale))
        x, r = n1(col.x), n1(col.radius)
        size = float(np.clip(col.spacing * 0.42, 2.0, 11.0))
        circles.append(f'<g id="layer{layer + 1}">')
        if acts is not None:
            lo, hi = activation_range(name, acts[layer + 1])
            act_fill = hexes(gray_rgb(acts[layer + 1], lo, hi))
        for j in range(len(b)):
            y = n1(col.ys[j])
            hover = f"b[{layer}][{j}] = {format_number(b[j])}\nneuron {j} of layer {layer + 1} ({name})"
            if acts is None:
                circles.append(f'<circle class="neuron" cx="{x}" cy="{y}" r="{r}" fill="{bias_fill[j]}">{tooltip(hover)}</circle>')
            else:
                hover += f"\nactivation = {format_number(acts[layer + 1][j])}"
                circles.append(f'<g class="neuron">{tooltip(hover)}<circle cx="{x}" cy="{y}" r="{r}" fill="{bias_fill[j]}"/>'
                               f'<circle cx="{x}" cy="{y}" r="{n1(col.radius * 0.62)}" fill="{act_fill[j]}"/></g>')
            labels.append(text(col.x - col.radius - 3, col.ys[j] + size * 0.35, sig3(b[j]), size=size, anchor="end",
                               cls="bias halo" if size >= 6 else "bias"))  # tiny text: a halo would only white out lines
        circles.append("</g>")
    return ['<g id="neurons" stroke="#555" stroke-width="0.6">', *circles, "</g>", '<g id="biases">', *labels, "</g>"]


def output_labels(net: Network, lay: Layout, acts: list[np.ndarray] | None, predicted: int | None,
                  label: int | None) -> list[str]:
    """The class of each output neuron and, for an image, its activation, the prediction marked."""
    col = lay.columns[-1]
    size = float(np.clip(col.spacing * 0.5, 4.0, 16.0))
    out = ['<g id="classes">']
    for j, y in enumerate(col.ys):
        x = col.x + col.radius + 6
        bold = ' font-weight="bold"' if j == predicted else ""
        out.append(text(x, y + size * 0.35, str(j), size=size, extra=bold))
        if acts is not None:
            marks = ""
            if j == predicted:
                marks = " ◀ predicted" + ("" if label is None else " ✓" if label == j else " ✗")
            elif j == label:
                marks = " ◀ true label"
            out.append(text(x + size * 1.2, y + size * 0.35, f"{acts[-1][j]:.3f}{marks}", size=size * 0.7, extra=bold))
    out.append("</g>")
    return out


def column_headings(net: Network, lay: Layout) -> list[str]:
    rows, cols = lay.grid
    y = TOP - 6
    first = lay.in_x[0] - lay.cell / 2
    out = [text(first, y, f"input: {net.sizes[0]} pixels" + (f" ({rows}×{cols})" if cols > 1 else ""), size=12,
                extra=' font-weight="bold"')]
    for layer, col in enumerate(lay.columns):
        is_output = layer == net.n_layers - 1
        name = f"output: {net.sizes[-1]} {net.output}" if is_output else f"layer {layer + 1}: {net.sizes[layer + 1]} {net.hidden}"
        out.append(text(col.x, y, name, size=12, anchor="middle", extra=' font-weight="bold"'))
    col = lay.columns[0]
    out.append(text(col.x + col.radius + 3 + lay.tile[0] / 2, col.ys[-1] + lay.tile[1] / 2 + 12, "incoming weights",
                    size=9, anchor="middle"))
    return out


def colour_bar(x: float, y: float, width: float, ident: str, stops: list[str], labels: list[str], caption: str) -> list[str]:
    """A gradient bar with its caption above and tick labels below."""
    gradient = "".join(f'<stop offset="{n1(100 * i / (len(stops) - 1))}%" stop-color="{c}"/>' for i, c in enumerate(stops))
    out = [f'<linearGradient id="{ident}">{gradient}</linearGradient>',
           text(x, y, caption, size=11),
           f'<rect x="{n1(x)}" y="{n1(y + 5)}" width="{n1(width)}" height="10" fill="url(#{ident})" stroke="#999" stroke-width="0.5"/>']
    for i, label in enumerate(labels):
        anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
        out.append(text(x + width * i / (len(labels) - 1), y + 27, label, size=10, anchor=anchor))
    return out


def legend(net: Network, lay: Layout, bias_scale: float, shown: list[int], acts: list[np.ndarray] | None,
           annotate_weights: bool) -> list[str]:
    """How to read the picture: the colour scales with their numbers, and what was left out."""
    x = lay.width - LEGEND_WIDTH + 10
    width = LEGEND_WIDTH - 40
    y = TOP
    out = [text(x, y, "How to read it", size=14, extra=' font-weight="bold"')]
    y += 22
    rdbu = hexes(RDBU)

    def notes(lines: list[str], size: float = 11) -> None:
        nonlocal y
        for paragraph in lines:
            for line in textwrap.wrap(paragraph, 46):
                out.append(text(x, y, line, size=size))
                y += size + 3
            y += 3

    fill_note = "Disc: the activation for this image (grey scale); ring: the bias" if acts is not None else "Circle fill: the neuron's bias"
    notes([fill_note + "; bias printed beside it."])
    out += colour_bar(x, y, width, "bias-scale", rdbu, [f"−{sig3(bias_scale)}", "0", f"+{sig3(bias_scale)}"], "bias")
    y += 44
    if acts is not None:
        ranges = {(0.0, 1.0)} | {activation_range(net.hidden, a) for a in acts[1:-1]}
        for lo, hi in sorted(ranges):
            out += colour_bar(x, y, width, f"act-scale-{len(out)}", ["#ffffff", "#111111"], [sig3(lo), sig3(hi)],
                              "activation" + (" (inputs: pixel / 255)" if (lo, hi) == (0.0, 1.0) else f" ({net.hidden} layers)"))
            y += 44
    notes([("Lines: weights, red positive, blue negative; opacity (and width, in small layers) grows with |w|, "
            "full at the layer's 99th percentile of |w|:")])
    for layer, w in enumerate(net.weights):
        scale = weight_scale(w)
        out.append(f'<line x1="{x}" y1="{n1(y - 4)}" x2="{x + 26}" y2="{n1(y - 4)}" class="p" stroke-width="2"/>'
                   f'<line x1="{x + 30}" y1="{n1(y - 4)}" x2="{x + 56}" y2="{n1(y - 4)}" class="n" stroke-width="2"/>')
        out.append(text(x + 62, y, f"layer {layer} → {layer + 1}: |w| ≥ {sig3(scale)}", size=11))
        y += 16
    y += 4
    scale0 = weight_scale(net.weights[0])
    out += colour_bar(x, y, width, "tile-scale", rdbu, [f"−{sig3(scale0)}", "0", f"+{sig3(scale0)}"],
                      "tiles: a layer-1 neuron's incoming weights")
    y += 48
    counts = [w.size for w in net.weights]
    said = []
    for layer, (count, keep) in enumerate(zip(counts, shown)):
        if keep >= count:
            said.append(f"Layer {layer} → {layer + 1}: all {thousands(count)} connections shown.")
        else:
            floor = float(np.sort(np.abs(net.weights[layer]).ravel())[count - keep]) if keep else math.inf
            said.append(f"Layer {layer} → {layer + 1}: {thousands(keep)} strongest of {thousands(count)} connections shown "
                        f"(|w| ≥ {sig3(floor)}).")
    if any(keep < count for count, keep in zip(counts, shown)):
        said.append(f"Thinned to at most {thousands(sum(shown))} lines: the budget is split evenly between layers, "
                    "a layer under its share keeps every line, the others their strongest |w|.")
    if annotate_weights:
        for layer, count in enumerate(counts):
            if count > ANNOTATE_MAX:
                said.append(f"Layer {layer} → {layer + 1} weights not printed: {thousands(count)} connections are too "
                            f"many to read (limit {ANNOTATE_MAX}).")
            else:
                said.append(f"Layer {layer} → {layer + 1}: every weight printed on its line (3 significant digits).")
    said.append("Hover any line, neuron, pixel or tile for its exact value.")
    notes(said)
    box = (f'<rect x="{x - 10}" y="{TOP - 22}" width="{LEGEND_WIDTH - 20}" height="{n1(y - TOP + 16)}" '
           'fill="#fafafa" stroke="#ddd"/>')  # drawn first, sized to what it holds
    return ['<g id="legend">', box, *out, "</g>"]


def heading(net: Network, shown: list[int], title_text: str | None, verdict: str | None) -> list[str]:
    parameters = sum(w.size + b.size for w, b in zip(net.weights, net.biases))
    about = f"scratchnet network {net.describe()} · {thousands(parameters)} parameters"
    drawn = sum(shown)
    count = sum(w.size for w in net.weights)
    lines = f"all {thousands(count)} connections drawn" if drawn == count else f"{thousands(drawn)} of {thousands(count)} connections drawn (see the legend)"
    lines += " · hover any line, neuron, pixel or tile for its exact value"
    out = [text(30, 30, title_text or about, size=20, extra=' font-weight="bold"')]
    below = [about] if title_text else []
    below.append(lines)
    for k, line in enumerate(below):
        out.append(text(30, 49 + 16 * k, line, size=12))
    if verdict:
        out.append(text(30, 49 + 16 * len(below) + 2, verdict, size=14, extra=' font-weight="bold"'))
    return out


# -----------------------------------------------------------------------------
# the whole page

def check_image(net: Network, image: np.ndarray | None, label: int | None) -> None:
    if image is not None:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.size != net.sizes[0]:
            raise ScratchnetError(f"image must be uint8 with {net.sizes[0]} pixels, not {image.dtype} {image.shape}")
    if label is not None and not 0 <= label < net.sizes[-1]:
        raise ScratchnetError(f"label {label} is not a class of this network (0 to {net.sizes[-1] - 1})")


def prediction(net: Network, image: np.ndarray, label: int | None) -> tuple[list[np.ndarray], int, str]:
    """Run the image through the network, as `scratchnet predict` would: activations, class, verdict."""
    x = image_inputs(image.reshape(1, -1), net.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below, in one line
        activations, _ = net.forward(x)
    check_finite(net, activations[-1])
    acts = [a[0] for a in activations]
    predicted = int(np.argmax(acts[-1]))
    verdict = f"prediction {predicted} (confidence {100 * float(acts[-1][predicted]):.1f}%)"
    if label is not None:
        verdict += f" · true label {label}: " + ("right ✓" if predicted == label else "wrong ✗")
    return acts, predicted, verdict


def render(net: Network, *, image: np.ndarray | None = None, label: int | None = None, title: str | None = None,
           annotate_weights: bool = False, max_lines: int = MAX_LINES) -> str:
    """The network as a standalone SVG document (see the module docstring for what it shows).

    image: a uint8 image with sizes[0] pixels, e.g. (28, 28), to show going through the network;
    label: its true class, to mark the prediction right or wrong; title: a heading above the
    network's description; annotate_weights: print weights on the lines of layers of at most
    ANNOTATE_MAX connections; max_lines: the most connection lines to draw (see "Thinning").
    """
    if max_lines < 0:
        raise ScratchnetError(f"max_lines must be 0 or more, not {max_lines}")
    check_image(net, image, label)
    image = None if image is None else np.asarray(image)
    lay = layout(net, input_shape(net.sizes[0], image))
    acts, predicted, verdict = prediction(net, image, label) if image is not None else (None, None, None)
    shown = line_budget([w.size for w in net.weights], max_lines)
    bias_scale = max((float(np.abs(b).max(initial=0.0)) for b in net.biases), default=0.0) or 1.0

    doc_title = " · ".join(filter(None, [title, f"scratchnet network {net.describe()}", verdict]))
    body = [f'<svg xmlns="{SVG_NS}" xmlns:xlink="{XLINK_NS}" width="{lay.width}" height="{lay.height}" viewBox="0 0 {lay.width} {lay.height}">',
            f"<title>{escape(doc_title)}</title>",
            f"<style>{CSS}</style>",
            f'<rect width="{lay.width}" height="{lay.height}" fill="#fff"/>']
    body += heading(net, shown, title, verdict)
    for layer, keep in enumerate(shown):  # lines first: cells, tiles and circles sit on top of them
        body += connections(net, lay, layer, keep)
    body += input_cells(net, lay, image)
    body += weight_tiles(net, lay)
    if annotate_weights:
        for layer, w in enumerate(net.weights):
            if w.size <= ANNOTATE_MAX:
                body += weight_labels(net, lay, layer)
    body += neurons(net, lay, bias_scale, acts)
    body += output_labels(net, lay, acts, predicted, label)
    body += column_headings(net, lay)
    body += legend(net, lay, bias_scale, shown, acts, annotate_weights)
    body.append("</svg>")
    return "\n".join(body) + "\n"


__all__ = ["ANNOTATE_MAX", "MAX_LINES", "line_budget", "render"]

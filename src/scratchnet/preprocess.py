"""Any picture of a digit -> the 28x28 uint8 image an MNIST network expects.

MNIST digits were size-normalised into a 20x20 box keeping their aspect ratio, anti-aliased, and
centred by their centre of mass in a 28x28 field, white ink on black. ``to_mnist`` does the same to
a photo, a scan or a drawing: decode, greyscale (transparency composited on paper), decide which
way the ink goes, remove the background (uneven lighting included), find the digit, normalise its
contrast, crop, scale into the 20x20 box with area anti-aliasing, centre by the centre of mass.

Pillow only decodes the file; every step after it is integer arithmetic, order statistics or
element-wise float64 operations, so another implementation (a JavaScript page) gets the same 784
numbers from the same decoded pixels. docs/PREPROCESS.md specifies each step and its rounding;
the constants below are the ones it names.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from scratchnet import files
from scratchnet.errors import ScratchnetError

SIZE = 28  # the MNIST field
BOX = 20  # the digit's box inside it
MAX_PIXELS = 50_000_000  # larger pictures are refused before decoding: a 50-megapixel photo fits
WORK_SIDE = 1024  # the long side of the working image, after an integer box reduction
CELLS = 8  # background cells along the working image's short side
LOCATE_SIDE = 128  # the long side of the coarse image the digit is found on
MIN_CONTRAST = 24  # ink this close to the paper (out of 255) is no ink: the picture is blank
FINE = 4  # stroke widths are measured and corrected on the digit at 4x its box's resolution
STROKE = (55, 75, 105)  # in tenths of a fine pixel: grow below 5.5, thin above 10.5, towards 7.5
KEEP_FRACTION = 10  # a piece of ink is kept when its weight is at least 1/10 of the largest's
TILE = 1 << 20  # pixels converted at a time while decoding: bounds the temporary arrays

# EXIF orientation -> the NumPy operation that shows the picture upright (Pillow's exif_transpose).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.T[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}

Source = str | os.PathLike | Image.Image | np.ndarray  # what to_mnist reads


# -----------------------------------------------------------------------------
# decoding: Pillow's part, then greyscale and transparency in integers


@contextmanager
def _pixel_limit(limit: int | None) -> Iterator[None]:
    """Pillow's decompression-bomb limit set to ``limit`` (None: off), its warning an error; then
    restored, as it is Pillow's global setting."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _check_size(name: str, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ScratchnetError(f"{name}: the image is empty ({width}x{height} pixels)")
    if width * height > MAX_PIXELS:
        raise ScratchnetError(f"{name}: {width}x{height} is {width * height:,} pixels, more than the "
                              f"{MAX_PIXELS:,} this reads; scale it down first")


LUMA = np.array([19595, 38470, 7471, 0], np.float32)  # ITU-R 601 weights in 16-bit fixed point, as Pillow's


def _luma(pixels: np.ndarray) -> np.ndarray:
    """Pillow's convert("L") of RGB or RGBA pixels: (19595 R + 38470 G + 7471 B + 32768) >> 16. In
    float32, exactly: every product and sum is an integer below 2^24, and dividing by 65536 only
    moves the exponent."""
    channels = pixels.shape[-1]
    y = pixels.reshape(-1, channels).astype(np.float32) @ LUMA[:channels]  # alpha weighs 0
    y += 32768
    y *= np.float32(1 / 65536)
    return np.floor(y, out=y).astype(np.uint8).reshape(pixels.shape[:-1])


def _tiles(height: int, width: int) -> Iterator[tuple[slice, slice]]:
    """Rectangles of at most TILE pixels covering the picture, row by row."""
    rows, cols = max(1, TILE // width), min(width, TILE)
    for top in range(0, height, rows):
        for left in range(0, width, cols):
            yield slice(top, min(top + rows, height)), slice(left, min(left + cols, width))


def _channels(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Greyscale (and alpha, if any) as uint8 arrays, converted a tile at a time."""
    mode = img.mode
    if mode == "1":
        img, mode = img.convert("L"), "L"
    elif mode not in ("L", "F", "RGB", "RGBA", "LA") and not mode.startswith("I"):
        transparent = "A" in mode or "a" in mode or "transparency" in img.info
        img = img.convert("RGBA" if transparent else "RGB")
        mode = img.mode
    # 16-bit greyscale (I;16, I;16B, ...), or 32-bit I holding 16-bit values (or 8-bit ones, kept)
    sixteen = mode.startswith("I;16") or (mode == "I" and img.getextrema()[1] > 255)
    # floating-point greyscale (a TIFF of 0..1, as image software writes it, or of 0..255)
    unit = mode == "F" and img.getextrema()[1] <= 1
    width, height = img.size
    grey = np.empty((height, width), np.uint8)
    alpha = np.empty((height, width), np.uint8) if mode in ("RGBA", "LA") else None
    for rows, cols in _tiles(height, width):
        tile = np.asarray(img.crop((cols.start, rows.start, cols.stop, rows.stop)))
        if mode == "F":
            levels = np.nan_to_num(tile.astype(np.float64) * (255 if unit else 1), nan=0.0)
            grey[rows, cols] = np.rint(levels.clip(0, 255))
        elif mode.startswith("I"):
            wide = tile.astype(np.int64).clip(0, 65535)
            grey[rows, cols] = (2 * wide + 257) // 514 if sixteen else wide  # round(v / 257), halves up
        elif mode == "L":
            grey[rows, cols] = tile
        elif mode == "LA":
            grey[rows, cols], alpha[rows, cols] = tile[..., 0], tile[..., 1]
        else:
            grey[rows, cols] = _luma(tile)
            if alpha is not None:
                alpha[rows, cols] = tile[..., 3]
    return grey, alpha


def composite(grey: np.ndarray, alpha: np.ndarray, name: str = "image") -> np.ndarray:
    """Lay a transparent picture on paper: white paper under dark ink, black under light ink.

    The ink's shade is the alpha-weighted mean of the grey levels; the paper is its opposite
    (255 if the mean is below 127.5, else 0). Each pixel becomes (Y a + P (255 - a) + 127) // 255.
    """
    tiles = list(_tiles(*grey.shape))
    weight = shade = 0
    for tile in tiles:  # exact integer sums
        a = alpha[tile].astype(np.int64)
        weight += int(a.sum())
        shade += int((a * grey[tile]).sum())
    if weight == 0:
        raise ScratchnetError(f"{name}: the image is fully transparent: there is no digit in it")
    paper = 255 if 2 * shade < 255 * weight else 0
    out = np.empty_like(grey)
    for tile in tiles:
        y, a = grey[tile].astype(np.uint32), alpha[tile].astype(np.uint32)
        out[tile] = (y * a + paper * (255 - a) + 127) // 255
    return out


def decode(path: str | os.PathLike) -> np.ndarray:
    """Read any picture Pillow reads into an upright uint8 greyscale array (transparency on paper).

    Pictures above MAX_PIXELS are refused from their header, before any pixel is decoded; an empty,
    truncated, unreadable or foreign file is a one-line ScratchnetError naming it.
    """
    name = str(path)
    files.check_name(path)
    try:
        if os.path.getsize(path) == 0:
            raise ScratchnetError(f"{name}: empty file, not an image")
        # Pillow's own check in open() would refuse a large picture without saying its size: ours
        # does, from the header, and Pillow's guards the decoding (frames larger than the header)
        with _pixel_limit(None), Image.open(path) as img:
            _check_size(name, *img.size)
            with _pixel_limit(MAX_PIXELS):
                img.load()
                orientation = img.getexif().get(0x0112, 1)
                grey, alpha = _channels(img)
    except ScratchnetError:
        raise
    except FileNotFoundError:
        raise ScratchnetError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ScratchnetError(f"{name}: is a directory, not an image") from None
    except PermissionError:
        raise ScratchnetError(f"{name}: cannot read it (permission denied)") from None
    except Image.UnidentifiedImageError:
        raise ScratchnetError(f"{name}: not an image (no format Pillow reads recognises it)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ScratchnetError(f"{name}: decodes to more than {MAX_PIXELS:,} pixels (a decompression bomb?); "
                              f"refused") from None
    except MemoryError:
        raise ScratchnetError(f"{name}: out of memory decoding the image") from None
    # Pillow's plugins raise many kinds of error on damaged files: each is the file's fault
    except Exception as e:  # noqa: BLE001
        why = " ".join(str(e).split()) or type(e).__name__
        raise ScratchnetError(f"{name}: cannot decode the image ({why})") from None
    if alpha is not None:
        grey = composite(grey, alpha, name)
    return np.ascontiguousarray(_ORIENT.get(orientation, lambda a: a)(grey))


def _from_array(array: np.ndarray) -> np.ndarray:
    """A NumPy picture: (h, w) greyscale, (h, w, 3) RGB or (h, w, 4) RGBA; uint8, or uint16 scaled
    as 16-bit files are, or floats in [0, 1]."""
    a = np.asarray(array)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ScratchnetError(f"an image array must be (h, w), (h, w, 3) or (h, w, 4), not {a.shape}")
    _check_size("image array", a.shape[1], a.shape[0])
    if a.dtype == np.uint16:
        a = ((2 * a.astype(np.int64) + 257) // 514).astype(np.uint8)
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ScratchnetError("the image array holds NaN or infinite values")
        a = np.floor(a.clip(0, 1) * 255 + 0.5).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ScratchnetError(f"an image array must be uint8, uint16 or float, not {a.dtype}")
    grey, alpha = _channels(Image.fromarray(np.ascontiguousarray(a)))
    return grey if alpha is None else composite(grey, alpha, "image array")


# -----------------------------------------------------------------------------
# the arithmetic


def _round_div(num: np.ndarray | int, den: np.ndarray | int) -> np.ndarray | int:
    """num / den rounded to the nearest integer, halves up, for integers num >= 0, den > 0."""
    return (2 * num + den) // (2 * den)


def _block_sums(a: np.ndarray, factor: int, dtype: type) -> np.ndarray:
    """Sums of each run of ``factor`` rows (the last may be shorter), by strided adds: one pass."""
    out = np.zeros((-(-len(a) // factor), *a.shape[1:]), dtype)
    for i in range(factor):
        part = a[i::factor]
        out[: len(part)] += part
    return out


def reduce(grey: np.ndarray, factor: int) -> np.ndarray:
    """Box-average ``factor`` x ``factor`` blocks (the last row and column of blocks may be partial:
    their mean is over the pixels they have), rounded halves up."""
    if factor == 1:
        return grey
    h, w = grey.shape
    hk, wk = -(-h // factor), -(-w // factor)
    # a run of rows sums to at most factor * 255 < 2^32; rows first unless that leaves a far larger
    # array between the passes (a picture much wider than tall)
    if hk * w <= 2 * h * wk:
        sums = _block_sums(_block_sums(grey, factor, np.uint32).T, factor, np.int64).T
    else:
        sums = _block_sums(_block_sums(grey.T, factor, np.uint32).T, factor, np.int64)
    counts = np.minimum(factor, h - factor * np.arange(hk))[:, None] * np.minimum(factor, w - factor * np.arange(wk))
    return _round_div(sums, counts).astype(np.uint8)


def _order_stat(hist: np.ndarray, num: int, den: int) -> np.ndarray:
    """Per row of ``hist`` (counts of the values 0..255): the value at 0-based rank
    (n - 1) * num // den in ascending order, n the row's count (0 for an empty row)."""
    cumulative = np.cumsum(hist, axis=-1)
    rank = (cumulative[..., -1:] - 1) * num // den
    return (cumulative <= rank).sum(axis=-1)


def _cell_hist(image: np.ndarray, cell: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Histograms (gy, gx, 256) of each ``cell`` x ``cell`` block (partial at the edges), of the
    pixels where ``mask`` is True (all without one)."""
    h, w = image.shape
    gy, gx = -(-h // cell), -(-w // cell)
    codes = ((np.arange(h) // cell)[:, None] * gx + (np.arange(w) // cell)[None, :]) * 256 + image
    return np.bincount((codes if mask is None else codes[mask]).ravel(), minlength=gy * gx * 256).reshape(gy, gx, 256)


def _upsample(grid: np.ndarray, cell: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of per-cell values (placed at the cells' centres, held constant
    beyond the outer centres) to every pixel, in integers, rounded halves up."""

    def axis(n: int, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # pixel p sits at (2p - (cell - 1)) / (2 cell) cells from the first centre
        pos = 2 * np.arange(n) - (cell - 1)
        i0 = pos // (2 * cell)
        weight = pos - i0 * 2 * cell  # 0 .. 2 cell - 1: the share of the next centre, in 1/(2 cell)
        weight = np.where(i0 < 0, 0, np.where(i0 >= g - 1, 0, weight))
        i0 = i0.clip(0, g - 1)
        return i0, np.minimum(i0 + 1, g - 1), weight

    y0, y1, wy = axis(shape[0], grid.shape[0])
    x0, x1, wx = axis(shape[1], grid.shape[1])
    v = grid.astype(np.int64)
    across = (2 * cell - wx) * v[:, x0] + wx * v[:, x1]  # (gy, w), scaled by 2 cell
    full = (2 * cell - wy)[:, None] * across[y0] + wy[:, None] * across[y1]  # scaled by 4 cell^2
    return _round_div(full, 4 * cell * cell)


def otsu(hist: np.ndarray) -> int:
    """Otsu's threshold of a histogram of 0..255: the t maximising the between-class variance of
    {v <= t} and {v > t}, compared exactly as fractions of integers (the first t on ties)."""
    counts = [int(c) for c in hist]
    total, mass = sum(counts), sum(v * c for v, c in enumerate(counts))
    best, best_num, best_den = 0, -1, 1
    w0 = s0 = 0
    for t in range(255):
        w0 += counts[t]
        s0 += t * counts[t]
        w1, s1 = total - w0, mass - s0
        if w0 == 0 or w1 == 0:
            continue
        num, den = (s0 * w1 - s1 * w0) ** 2, w0 * w1  # variance between, times total^2
        if num * best_den > best_num * den:
            best, best_num, best_den = t, num, den
    return best


def _components(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """8-connected pieces of ``mask``, each a list of (row, col), found in raster order."""
    seen = np.zeros_like(mask)
    h, w = mask.shape
    pieces = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        piece, queue = [], deque([start])
        while queue:
            y, x = queue.popleft()
            piece.append((int(y), int(x)))
            for ny in range(max(y - 1, 0), min(y + 2, h)):
                for nx in range(max(x - 1, 0), min(x + 2, w)):
                    if mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
        pieces.append(piece)
    return pieces


def _neighbourhood_median(work: np.ndarray, cell: int) -> np.ndarray:
    """Per cell, the median of it and its (up to) eight neighbours together: paper, as long as ink
    covers less than half of any 3x3 block of cells."""
    hist = np.pad(_cell_hist(work, cell), ((1, 1), (1, 1), (0, 0)))
    gy, gx = hist.shape[0] - 2, hist.shape[1] - 2
    pooled = sum(hist[dy : dy + gy, dx : dx + gx] for dy in range(3) for dx in range(3))
    return _order_stat(pooled, 1, 2)


def light_ink(work: np.ndarray, cell: int) -> bool:
    """Whether the ink is lighter than the paper: the pixels above the neighbourhood median
    (interpolated) stray from it further in all, than those below it."""
    deviation = work - _upsample(_neighbourhood_median(work, cell), cell, work.shape)
    return int(deviation.clip(min=0).sum()) >= int((-deviation).clip(min=0).sum())


def _darkest3x3(grid: np.ndarray) -> np.ndarray:
    """Per cell, the least of it and its (up to) eight neighbours."""
    padded = np.pad(grid, 1, mode="edge")
    h, w = grid.shape
    return np.min([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)


def remove_background(work: np.ndarray, cell: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's level under every pixel and the ink above it, for light ink on dark paper.

    First estimate: per cell the 1/4 order statistic (paper, unless ink covers three quarters of
    the cell), the darkest of each cell and its neighbours (a cell all ink borrows its neighbours'
    paper), interpolated. Pixels farther from it than Otsu's threshold of the positive differences
    are ink (or a shadow); the second estimate is each cell's median of the other pixels (the first
    estimate where there are none), interpolated: it follows uneven light without the first's lag.
    Returns (background, ink), ink = work - background clipped to 0..255.
    """
    rough = _darkest3x3(_order_stat(_cell_hist(work, cell), 1, 4))
    difference = work - _upsample(rough, cell, work.shape)
    threshold = otsu(np.bincount(difference.clip(0, 255).ravel(), minlength=256))
    hist = _cell_hist(work, cell, np.abs(difference) <= threshold)
    grid = np.where(hist.sum(axis=-1) > 0, _order_stat(hist, 1, 2), rough)
    background = _upsample(grid, cell, work.shape)
    return background, (work - background).clip(0, 255).astype(np.uint8)


def _filter3x3(image: np.ndarray, reduce_: np.ufunc) -> np.ndarray:
    """The max (dilation) or min (erosion) of each pixel's 3x3 neighbourhood; outside counts as 0."""
    padded = np.pad(image, 1)
    rows = reduce_(reduce_(padded[:-2], padded[1:-1]), padded[2:])
    return reduce_(reduce_(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def stroke_width(fine: np.ndarray) -> tuple[int, int]:
    """(A, P): the pixels above 127 and the length of their outline (sides shared with a pixel at
    or below 127, or with the outside); a stroke's width is about 2 A / P."""
    mask = np.pad(fine > 127, 1)
    return int(mask.sum()), int((mask[1:] != mask[:-1]).sum() + (mask[:, 1:] != mask[:, :-1]).sum())


def normalise_strokes(fine: np.ndarray) -> np.ndarray:
    """Bring the stroke width 2A/P, in FINE-times-finer pixels, into MNIST's usual range.

    First the shades are stretched so that the 3/4 order statistic of the inked pixels is 255 (a
    stroke thinner than a fine pixel came out grey). MNIST's digits measure 1.4 to 2.6 pixels
    (10th to 90th percentile, median 1.84): below
    STROKE[0] tenths of a fine pixel the strokes are grown, above STROKE[2] thinned, by
    r = round(|STROKE[1]/10 - w| / 2) passes of a 3x3 max (min) filter, then the ink is cropped again.
    """
    inked = np.bincount(fine[fine > 0], minlength=256)
    level = int(_order_stat(inked, 3, 4))
    if 0 < level < 255:  # strokes thinner than a fine pixel came out grey: their width is in their shade
        fine = _round_div(fine.astype(np.int64) * 255, level).clip(0, 255).astype(np.uint8)
    area, outline = stroke_width(fine)
    low, target, high = STROKE
    if outline == 0 or low * outline <= 20 * area <= high * outline:
        return fine
    passes = _round_div(abs(target * outline - 20 * area), 20 * outline)
    if 20 * area < low * outline:
        fine = np.pad(fine, passes)
        for _ in range(passes):
            fine = _filter3x3(fine, np.maximum)
    else:
        thinned = fine
        for _ in range(passes):
            thinned = _filter3x3(thinned, np.minimum)
        if (thinned > 127).any():  # never thin a digit away
            fine = thinned
    rows, cols = np.nonzero(fine)
    return fine[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def locate(ink: np.ndarray) -> np.ndarray:
    """Where the digit is: a boolean map of the working image, True near the kept pieces of ink.

    On a coarse copy of the ink map (block means, long side <= LOCATE_SIDE: noise averages out),
    Otsu's threshold separates ink from paper; the 8-connected pieces are weighed by their summed
    coarse ink. The digit's main piece is the heaviest that does not touch the picture's edge (the
    edge of a sheet or a shadow would) and weighs at least 1/KEEP_FRACTION of the heaviest piece;
    failing one, the heaviest piece (a digit cropped tight touches the edge). Kept with it: every
    piece at least 1/KEEP_FRACTION as heavy as the main piece, touching the edge only if the main
    piece does. The kept coarse blocks, grown by one block on every side, make the map.
    """
    h, w = ink.shape
    factor = -(-max(h, w) // LOCATE_SIDE)
    coarse = reduce(ink, factor)
    threshold = otsu(np.bincount(coarse.ravel(), minlength=256))
    pieces = _components(coarse > threshold)
    if not pieces:
        return np.zeros_like(ink, dtype=bool)
    weights = [sum(int(coarse[p]) for p in piece) for piece in pieces]
    ch, cw = coarse.shape
    edge = [any(y in (0, ch - 1) or x in (0, cw - 1) for y, x in piece) for piece in pieces]
    heaviest = max(range(len(pieces)), key=lambda i: weights[i])  # the first on ties
    inside = [i for i in range(len(pieces)) if not edge[i] and weights[i] * KEEP_FRACTION >= weights[heaviest]]
    main = max(inside, key=lambda i: weights[i]) if inside else heaviest
    keep = np.zeros(coarse.shape, dtype=bool)
    for i, piece in enumerate(pieces):
        if i == main or (weights[i] * KEEP_FRACTION >= weights[main] and (edge[main] or not edge[i])):
            keep[tuple(np.array(piece).T)] = True
    grown = np.pad(keep, 1)
    grown = np.any([grown[dy : dy + ch, dx : dx + cw] for dy in range(3) for dx in range(3)], axis=0)
    return np.repeat(np.repeat(grown, factor, axis=0), factor, axis=1)[:h, :w]


def area_resample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize by exact area averaging, rounded halves up.

    Output row j covers source rows [j H/height, (j+1) H/height); in units of 1/height of a source
    row, its overlap with source row y is an integer, so every weight, sum and product below is an
    integer (below 2^53: float64 matrix products compute them exactly, in any order).
    """
    def weights(n_in: int, n_out: int) -> np.ndarray:
        lo = np.arange(n_out)[:, None] * n_in
        src = np.arange(n_in)[None, :] * n_out
        return (np.minimum(lo + n_in, src + n_out) - np.maximum(lo, src)).clip(0).astype(np.float64)

    h, w = image.shape
    total = weights(h, height) @ image.astype(np.float64) @ weights(w, width).T
    return _round_div(total.astype(np.int64), h * w).astype(np.uint8)


def box_size(height: int, width: int) -> tuple[int, int]:
    """The digit's size in the BOX x BOX box: the long side BOX, the other in proportion (rounded
    halves up, at least 1)."""
    if height >= width:
        return BOX, max(1, _round_div(BOX * width, height))
    return max(1, _round_div(BOX * height, width)), BOX


def centre(digit: np.ndarray) -> np.ndarray:
    """Place ``digit`` in the SIZE x SIZE field with its centre of mass on the field's centre
    (13.5, 13.5), moved by whole pixels: offset = floor(14 - mass centre), kept inside the field."""
    field = np.zeros((SIZE, SIZE), np.uint8)
    h, w = digit.shape
    values = digit.astype(np.int64)
    total = int(values.sum())
    oy = (14 * total - int(values.sum(axis=1) @ np.arange(h))) // total
    ox = (14 * total - int(values.sum(axis=0) @ np.arange(w))) // total
    oy, ox = min(max(oy, 0), SIZE - h), min(max(ox, 0), SIZE - w)
    field[oy : oy + h, ox : ox + w] = digit
    return field


def to_mnist(source: Source, trace: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The (28, 28) uint8 MNIST-style image of the digit in ``source``: white ink on black.

    ``source``: a file path, a PIL image, or a NumPy array ((h, w) grey, (h, w, 3) RGB, (h, w, 4)
    RGBA). A blank picture raises ScratchnetError. ``trace``, if given, receives each step's image
    under its name (for docs/PREPROCESS.md's pictures).
    """
    if isinstance(source, (str, os.PathLike)):
        grey, name = decode(source), str(source)
    else:
        if isinstance(source, Image.Image):
            _check_size("image", *source.size)
            with _pixel_limit(MAX_PIXELS):
                grey, alpha = _channels(source)
            grey = composite(grey, alpha) if alpha is not None else grey
        else:
            grey = _from_array(source)
        name = "image"
    trace = {} if trace is None else trace
    trace["greyscale"] = grey

    # 1. the working image: an integer box reduction to at most WORK_SIDE on the long side
    work = reduce(grey, -(-max(grey.shape) // WORK_SIDE))
    h, w = work.shape
    cell = -(-min(h, w) // CELLS)

    # 2. polarity: MNIST's ink is light
    work = work.astype(np.int64)
    if not light_ink(work, cell):
        work = 255 - work
    trace["polarity"] = work.astype(np.uint8)

    # 3. background
    background, ink = remove_background(work, cell)
    trace["background"] = background.astype(np.uint8)
    trace["ink"] = ink

    # 4. find the digit, then measure its ink where it is: Otsu's threshold, and the stroke's level
    near = locate(ink)
    trace["located"] = np.where(near, ink, ink // 4)
    hist = np.bincount(ink[near], minlength=256)
    threshold = otsu(hist)
    strokes = hist.copy()
    strokes[: threshold + 1] = 0
    level = int(_order_stat(strokes, 1, 2)) if strokes.sum() else 0
    if level < MIN_CONTRAST:
        raise ScratchnetError(f"{name}: no digit found: the picture is blank or has too little contrast")
    low = threshold // 2  # keeps the anti-aliased edge of the strokes
    scaled = _round_div((ink.astype(np.int64) - low).clip(0) * 255, level - low).clip(0, 255).astype(np.uint8)
    scaled[~near] = 0
    trace["normalised"] = scaled

    # 5. crop to the ink above the threshold
    rows, cols = np.nonzero((ink > threshold) & near)
    crop = scaled[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    trace["cropped"] = crop

    # 6. stroke width, at FINE times the box's resolution; 7. into the 20x20 box
    height, width = box_size(*crop.shape)
    fine = normalise_strokes(area_resample(crop, FINE * height, FINE * width))
    trace["strokes"] = fine
    digit = area_resample(fine, *box_size(*fine.shape))
    trace["box"] = digit
    if not digit.any():
        raise ScratchnetError(f"{name}: no digit found: the ink is too faint or too small")
    # 8. centred by mass in 28x28
    out = centre(digit)
    trace["mnist"] = out
    return out


def find_images(patterns: list[str]) -> list[Path]:
    """The picture files ``patterns`` name: files as given, every picture in a folder (by its suffix,
    sorted by name, hidden files left out) and the files a glob matches, in order."""
    suffixes = {suffix.lower() for suffix in Image.registered_extensions()}
    files: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes and p.is_file()
                           and not p.name.startswith("."))
            if not found:
                raise ScratchnetError(f"{path}: no pictures in this folder (looked for {', '.join(sorted(suffixes))})")
            files += found
        elif path.exists() or not glob.has_magic(pattern):
            files.append(path)  # decode() says what is wrong with it, if anything
        else:
            matched = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
            if not matched:
                raise ScratchnetError(f"{pattern}: no file matches")
            files += matched
    return files


def label_from_name(path: str | os.PathLike) -> int | None:
    """The true digit a file's name gives: its first character, when that is a digit not followed
    by another (``7_mine.png`` is a 7; ``2024-photo.jpg`` has no label)."""
    name = Path(path).name
    if name[:1].isdigit() and not name[1:2].isdigit():
        return int(name[0])
    return None

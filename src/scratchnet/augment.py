"""Changes to training images that keep their labels: more digits to learn from."""

from __future__ import annotations

import numpy as np

ELASTIC_SIGMA = 4.0  # pixels: how smooth the displacement fields are (Simard et al. 2003 use 4 on 28x28)
# pixels distorted at once (63 MNIST images): their temporaries (200 KB of float32, 400 KB of indices)
# stay in a core's L2 cache, which makes MNIST's 60,000 2.4x faster than chunks of 500 images (1.2 s
# against 3.1 s on the 2-core AMD EPYC of bench/results); large images never need more memory than this
ELASTIC_CHUNK_PIXELS = 50_000


def shift_images(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image (n, rows, cols) by its own random offset in [-max_shift, max_shift]
    pixels on each axis, filling with zeros: the digit moves, its label does not."""
    n, height, width = images.shape
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n)) - max_shift  # output (r, c) = input (r + dy, c + dx)
    out = np.zeros_like(images)
    # the images that share an offset are copied together, whole rows at a time: (2 max_shift + 1)^2
    # block copies instead of a gather of every pixel (10x faster on MNIST)
    for y in range(-max_shift, max_shift + 1):
        rows = slice(max(0, -y), min(height, height - y))
        for x in range(-max_shift, max_shift + 1):
            which = np.flatnonzero((dy == y) & (dx == x))
            cols = slice(max(0, -x), min(width, width - x))
            out[which, rows, cols] = images[which, rows.start + y : rows.stop + y, cols.start + x : cols.stop + x]
    return out


def gaussian_blur_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) float32 matrix B: ``signal @ B`` blurs a signal of ``size`` values along its last
    axis with a Gaussian of ``sigma``, counting zeros beyond the edges (a convolution as a product)."""
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]  # (size, size): i - j
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel_sum = np.exp(-0.5 * (np.arange(-size + 1, size) / sigma) ** 2).sum()  # the whole kernel's
    return (weights / kernel_sum).astype(np.float32)


def bilinear(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Each image (m, h, w) uint8 read at real positions ``rows``, ``cols`` (m, h, w) float32,
    interpolating between its four nearest pixels, zero outside the image. Returns uint8 (m, h, w)."""
    m, h, w = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1))).ravel()  # each image in a frame of zeros, (m (h+2) (w+2),)
    rows, cols = np.clip(rows, -1, h), np.clip(cols, -1, w)  # further out reads the frame's zeros all the same
    top, left = np.minimum(np.floor(rows), h - 1), np.minimum(np.floor(cols), w - 1)  # in [-1, h-1], [-1, w-1]
    fy, fx = rows - top, cols - left  # (m, h, w) in [0, 1]: the weights of the lower and the right neighbours
    image_start = (h + 2) * (w + 2) * np.arange(m)[:, None, None]  # (m, 1, 1)
    corner = image_start + (top.astype(np.intp) + 1) * (w + 2) + left.astype(np.intp) + 1  # top-left, in padded
    upper = padded.take(corner) * (1 - fx) + padded.take(corner + 1) * fx
    lower = padded.take(corner + w + 2) * (1 - fx) + padded.take(corner + w + 3) * fx
    return np.rint(upper * (1 - fy) + lower * fy).astype(np.uint8)  # a mean of uint8s: within 0..255


def distort_images(images: np.ndarray, rng: np.random.Generator, elastic: float = 0.0, rotate: float = 0.0,
                   scale: float = 0.0, sigma: float = ELASTIC_SIGMA) -> np.ndarray:
    """Each image (n, rows, cols) uint8 warped by its own random distortions, read with bilinear
    interpolation. ``elastic``: elastic distortions (Simard, Steinkraus & Platt 2003), a displacement
    field of uniform noise in [-1, 1) for each pixel and axis, smoothed by a Gaussian of ``sigma`` and
    scaled by ``elastic`` (34 on 28x28: moves of about a pixel and a half that vary smoothly across
    the digit). ``rotate``, ``scale``: affine distortions (Ciresan et al. 2010), a rotation about the
    image's centre by an angle uniform in [-rotate, rotate] degrees and a stretch of its height and
    width by factors uniform in [1 - scale, 1 + scale], each its own. All zero: the images, unchanged."""
    n, height, width = images.shape
    if not (elastic or rotate or scale):
        return images.copy()
    row, col = np.mgrid[0:height, 0:width].astype(np.float32)  # (h, w): each pixel's own position
    if rotate or scale:
        # the pixel at offset p from the centre reads the source at offset M p, M = R(angle) diag(1/sy, 1/sx)
        angle = np.radians(rotate) * (2 * rng.random(n) - 1)
        stretch_rows, stretch_cols = 1 + scale * (2 * rng.random((2, n)) - 1)
        matrix = np.stack([np.cos(angle) / stretch_rows, -np.sin(angle) / stretch_cols,
                           np.sin(angle) / stretch_rows, np.cos(angle) / stretch_cols], axis=1)
        matrix = matrix.astype(np.float32)[:, :, None, None]  # (n, 4, 1, 1)
        centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
        off_row, off_col = row - centre_row, col - centre_col
    # alpha * blur(2u - 1) = blur(u - 1/2) with 2 alpha folded into one of the two blurs' matrices
    blur_rows, blur_cols = gaussian_blur_matrix(height, sigma), gaussian_blur_matrix(width, sigma) * (2 * elastic)
    out = np.empty_like(images)
    chunk = max(1, ELASTIC_CHUNK_PIXELS // (height * width))
    for start in range(0, n, chunk):
        part = images[start : start + chunk]
        rows, cols = row, col
        if rotate or scale:
            m = matrix[start : start + chunk]
            rows = centre_row + m[:, 0] * off_row + m[:, 1] * off_col  # (m, h, w)
            cols = centre_col + m[:, 2] * off_row + m[:, 3] * off_col
        if elastic:
            noise = rng.random((len(part), 2, height, width), dtype=np.float32)  # (m, 2, h, w): for dy, dx
            noise -= 0.5
            field = blur_rows.T @ (noise @ blur_cols)  # (m, 2, h, w): blurred along each row, then each column
            rows, cols = rows + field[:, 0], cols + field[:, 1]
        out[start : start + len(part)] = bilinear(part, rows, cols)  # (m, h, w) each: distorted in some way
    return out

"""Changes to training images that keep their labels: more digits to learn from."""

from __future__ import annotations

import numpy as np


def shift_images(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image (n, rows, cols) by its own random offset in [-max_shift, max_shift]
    pixels on each axis, filling with zeros: the digit moves, its label does not."""
    n, height, width = images.shape
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = dy[:, None] + np.arange(height)  # (n, height): which padded rows each image keeps
    cols = dx[:, None] + np.arange(width)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]

"""Make the pictures of docs/PREPROCESS.md: one photo-like example and each step it goes through.

    python docs/preprocess/make.py

writes, beside this script, example.png (the input), example.txt (the 784 numbers it becomes, a
row per line: what a port of the steps must reproduce) and step-*.png (each step, shown larger).
The example is synthetic but made like a phone photo of a handwritten digit: a 2 drawn with a
pen of random wobble in blue ink on cream paper, lit unevenly (a ramp and a vignette), blurred a
little, with noise; the generator is bench/own_digits.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "bench")]
import own_digits

from scratchnet import preprocess

SHOWN = 280  # every step is drawn this many pixels on its long side


def example() -> Image.Image:
    rng = np.random.default_rng(7)
    size = (360, 270)
    ink = np.asarray(own_digits._stroke_mask(rng, 2, size, 180), np.float64)[..., None] / 255
    pixels = np.array([238, 228, 200]) * (1 - ink) + np.array([35, 45, 120]) * ink
    pixels = pixels * own_digits._lighting(rng, size)[..., None]
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    noisy = np.asarray(photo, np.float64) + rng.normal(0, 4, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def shown(image: np.ndarray) -> Image.Image:
    """Large enough to see: small images by whole-pixel blocks, large ones shrunk."""
    picture = Image.fromarray(np.asarray(image, np.uint8))
    scale = SHOWN / max(image.shape)
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return picture.resize(size, Image.NEAREST if scale >= 1 else Image.BOX)


def main() -> None:
    path = HERE / "example.png"
    example().save(path, optimize=True)
    trace: dict[str, np.ndarray] = {}
    out = preprocess.to_mnist(path, trace)
    np.savetxt(HERE / "example.txt", out, fmt="%d")
    for number, (name, image) in enumerate(trace.items(), start=1):
        shown(image).save(HERE / f"step-{number:02d}-{name}.png", optimize=True)
    grey = preprocess.decode(path)
    plain = preprocess.area_resample(grey, preprocess.SIZE, preprocess.SIZE)
    shown(255 - plain if plain.mean() > 127.5 else plain).save(HERE / "naive.png", optimize=True)
    print(f"wrote {path.name}, example.txt, {len(trace)} steps and naive.png in {HERE}")


if __name__ == "__main__":
    main()

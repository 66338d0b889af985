"""Digits that are not MNIST: a generated test set, and how well scratchnet reads them.

    python bench/own_digits.py --params tuned=/tmp/tuned.npz --params best=/tmp/best.npz

generates the set (a fixed seed: the same files every time) in a temporary folder (or --keep
DIR), then reports, for each network, the accuracy of ``scratchnet predict --image``'s
preprocessing (src/scratchnet/preprocess.py) next to the naive approach (the greyscale resized to
28x28, inverted if light), per style; and the time and memory of preprocessing a 4000x3000 photo.
Writes own_digits.md and .json to --out DIR (e.g. bench/results). ``--generate-only DIR`` just writes the images.

The set: half the digits are rendered from the TrueType fonts Debian ships (DejaVu, Liberation),
half drawn as strokes of several widths from hand-made templates with random jitter, slant and
proportions. Each is placed at a random size and position on a canvas of 160 to 1200 pixels a
side, dark ink on light paper or light on dark, in grey or colour; some get a photo's flaws
(uneven lighting, vignetting, blur, noise), some are transparent PNGs, and the files are PNG,
JPEG, WebP, GIF, BMP and TIFF. Names start with the true digit: ``7_0123_stroke.png``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_out, entry_point, machine, machine_line, progress, temporary_folder, write_results

sys.path.insert(0, str(REPO / "src"))
import scratchnet
from scratchnet import preprocess

SEED = 20261128
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
FORMATS = (("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP"), ("gif", "GIF"), ("bmp", "BMP"), ("tif", "TIFF"))


def fonts() -> list[Path]:
    return sorted(p for folder in FONT_DIRS if folder.is_dir() for p in folder.glob("*.ttf"))


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> list[tuple]:
    """Points on an ellipse from angle ``start`` to ``end`` in degrees (y grows downwards, -90 is the top)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


# Each digit: variants, each a list of strokes, each a list of (x, y) in a unit box (y down).
TEMPLATES: dict[int, list[list[list[tuple]]]] = {
    0: [[_arc(0.5, 0.5, 0.32, 0.5, -90, 275)]],
    1: [[[(0.5, 0.0), (0.5, 1.0)]], [[(0.3, 0.18), (0.55, 0.0), (0.55, 1.0)]]],
    2: [[_arc(0.5, 0.28, 0.3, 0.28, 200, 400) + [(0.15, 1.0), (0.88, 1.0)]]],
    3: [[_arc(0.48, 0.26, 0.28, 0.26, 200, 450) + _arc(0.48, 0.74, 0.32, 0.26, -90, 160)]],
    4: [[[(0.68, 1.0), (0.68, 0.0), (0.12, 0.68), (0.9, 0.68)]],
        [[(0.3, 0.0), (0.18, 0.6), (0.88, 0.6)], [(0.68, 0.25), (0.68, 1.0)]]],
    5: [[[(0.8, 0.0), (0.3, 0.0), (0.24, 0.45)] + _arc(0.48, 0.68, 0.32, 0.32, -140, 150)]],
    6: [[[(0.72, 0.0)] + _arc(0.72, 0.62, 0.5, 0.62, -90, -180, 12)[1:] + _arc(0.48, 0.72, 0.26, 0.28, 180, 540)]],
    7: [[[(0.1, 0.0), (0.9, 0.0), (0.38, 1.0)]], [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)], [(0.38, 0.5), (0.8, 0.5)]]],
    8: [[_arc(0.5, 0.25, 0.24, 0.25, 90, 450) + _arc(0.5, 0.73, 0.3, 0.27, -90, 270)]],
    9: [[_arc(0.5, 0.3, 0.3, 0.3, 0, 360) + [(0.78, 0.6), (0.68, 1.0)]]],
}


def _stroke_mask(rng: np.random.Generator, digit: int, size: tuple[int, int], height: int) -> Image.Image:
    """A hand-drawn-like digit: a template, jittered, slanted, drawn with a random pen width."""
    strokes = TEMPLATES[digit][rng.integers(len(TEMPLATES[digit]))]
    width_ratio, slant = rng.uniform(0.55, 1.0), rng.uniform(-0.25, 0.15)
    pen = max(1, round(height * rng.choice([0.02, 0.05, 0.09, 0.14, 0.2])))
    box_w = height * 0.7 * width_ratio
    x0 = rng.uniform(pen, max(pen, size[0] - box_w - pen - abs(slant) * height))
    y0 = rng.uniform(pen, max(pen, size[1] - height - pen))
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for stroke in strokes:
        # a hand's wobble: a slow wave along the stroke, not noise at every point
        along = np.linspace(0, 1, len(stroke))[:, None]
        wave = rng.uniform(0.015, 0.04, 2) * np.sin(2 * math.pi * (rng.uniform(0.3, 1.2, 2) * along + rng.random(2)))
        points = np.array(stroke) + wave
        xs = x0 + (points[:, 0] + slant * (1 - points[:, 1]) + max(0, -slant)) * box_w
        ys = y0 + points[:, 1] * height
        line = list(zip(xs.tolist(), ys.tolist()))
        draw.line(line, fill=255, width=pen, joint="curve")
        for x, y in (line[0], line[-1]):  # round ends, as a pen's
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return mask


def _font_mask(rng: np.random.Generator, digit: int, size: tuple[int, int], height: int,
               font_files: list[Path]) -> Image.Image:
    font = ImageFont.truetype(str(font_files[rng.integers(len(font_files))]), height)
    left, top, right, bottom = font.getbbox(str(digit))
    x = rng.uniform(0, max(1, size[0] - (right - left))) - left
    y = rng.uniform(0, max(1, size[1] - (bottom - top))) - top
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).text((x, y), str(digit), font=font, fill=255)
    angle = rng.uniform(-8, 8)
    centre = (x + (left + right) / 2, y + (top + bottom) / 2)
    return mask.rotate(angle, resample=Image.BILINEAR, center=centre)


def _colours(rng: np.random.Generator, light_paper: bool) -> tuple[np.ndarray, np.ndarray]:
    """Paper and ink RGB, at least 100 levels apart in brightness; sometimes tinted."""
    paper, ink = (rng.uniform(185, 255), rng.uniform(0, 85)) if light_paper else (rng.uniform(0, 70), rng.uniform(170, 255))
    tint = rng.uniform(-25, 25, 3) if rng.random() < 0.4 else np.zeros(3)
    pen = rng.uniform(-40, 40, 3) if rng.random() < 0.4 else np.zeros(3)
    return np.clip(paper + tint, 0, 255), np.clip(ink + pen, 0, 255)


def _lighting(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A photo's uneven light: a ramp in a random direction and a vignette, as factors (h, w)."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (x * math.cos(angle) + y * math.sin(angle)) / max(w, h)
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-9)
    r2 = ((x - w / 2) / w) ** 2 + ((y - h / 2) / h) ** 2
    return 1 - rng.uniform(0.15, 0.5) * ramp - rng.uniform(0, 0.6) * r2


def make_digit(rng: np.random.Generator, digit: int, style: str, font_files: list[Path]) -> tuple[Image.Image, str]:
    """One picture of ``digit``; returns it and its description (for the file name)."""
    size = (int(rng.integers(160, 1201)), int(rng.integers(160, 1201)))
    height = int(min(size) * rng.uniform(0.25, 0.85))
    if style == "font":
        mask = _font_mask(rng, digit, size, height, font_files)
    else:
        mask = _stroke_mask(rng, digit, size, height)
    tags = [style]
    if rng.random() < 0.1:  # a drawing on a transparent canvas
        paper, ink = _colours(rng, rng.random() < 0.7)
        rgba = np.zeros((size[1], size[0], 4), np.uint8)
        rgba[..., :3] = ink.astype(np.uint8)
        rgba[..., 3] = np.asarray(mask)
        return Image.fromarray(rgba, "RGBA"), "_".join(tags + ["transparent"])
    light = rng.random() < 0.7
    tags.append("dark-on-light" if light else "light-on-dark")
    paper, ink = _colours(rng, light)
    m = np.asarray(mask, np.float64)[..., None] / 255
    pixels = paper * (1 - m) + ink * m
    if rng.random() < 0.4:
        tags.append("photo")
        pixels = pixels * _lighting(rng, size)[..., None]
        picture = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))
        pixels = np.asarray(picture, np.float64) + rng.normal(0, rng.uniform(2, 10), (size[1], size[0], 1))
    picture = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        picture = picture.convert("L")
    return picture, "_".join(tags)


def generate(folder: Path, count: int, seed: int = SEED) -> list[Path]:
    """Write ``count`` pictures (digits 0-9 in turn, fonts and strokes alternating) into ``folder``."""
    font_files = fonts()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        digit = i % 10
        style = "font" if font_files and (i // 10) % 2 == 0 else "stroke"
        picture, tags = make_digit(rng, digit, style, font_files)
        ext, fmt = ("png", "PNG") if picture.mode == "RGBA" else FORMATS[rng.integers(len(FORMATS))]
        path = folder / f"{digit}_{i:04d}_{tags}.{ext}"
        options = {"quality": int(rng.integers(60, 96))} if fmt in ("JPEG", "WEBP") else {}
        picture.save(path, fmt, **options)
        paths.append(path)
    return paths


def naive(path: Path) -> np.ndarray:
    """What people try first: the greyscale resized to 28x28 (area averaging), inverted if light."""
    grey = preprocess.decode(path)
    grey = preprocess.reduce(grey, -(-max(grey.shape) // preprocess.WORK_SIDE))
    small = preprocess.area_resample(grey, preprocess.SIZE, preprocess.SIZE)
    return 255 - small if small.mean() > 127.5 else small


PHOTO_SCRIPT = """\
import sys, time, tracemalloc
from scratchnet import preprocess

def high_water():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, from fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

before = high_water()
tracemalloc.start()
wall, cpu = time.perf_counter(), time.process_time()
preprocess.to_mnist(sys.argv[1])
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(wall, cpu, tracemalloc.get_traced_memory()[1], before, high_water())
"""


def photo_figures(folder: Path, runs: int = 5) -> dict:
    """Time and memory of preprocessing a 4000x3000 JPEG photo of a digit, each run a fresh process:
    the median wall-clock and CPU times, the largest peaks (RSS, and NumPy's through tracemalloc)."""
    rng = np.random.default_rng(SEED)
    size = (4000, 3000)
    mask = _stroke_mask(rng, 4, size, 1800)
    m = np.asarray(mask, np.float64)[..., None] / 255
    pixels = (np.array([235, 230, 215]) * (1 - m) + np.array([30, 35, 80]) * m) * _lighting(rng, size)[..., None]
    path = folder / "photo_4000x3000.jpg"
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PHOTO_SCRIPT, str(path)], capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        rows.append([float(v) for v in out])
    return {"file": path.name, "bytes": path.stat().st_size,
            "seconds": statistics.median(r[0] for r in rows), "cpu_seconds": statistics.median(r[1] for r in rows),
            "seconds_all": [r[0] for r in rows], "tracemalloc_peak": max(r[2] for r in rows),
            "rss_before": max(r[3] for r in rows), "rss_peak": max(r[4] for r in rows),
            "load_average": os.getloadavg()[0]}


def evaluate(paths: list[Path], models: dict[str, scratchnet.Model]) -> dict:
    """Accuracy per network, for the preprocessing and the naive resize, overall and per style."""
    labels = np.array([preprocess.label_from_name(p) for p in paths])
    began = time.perf_counter()
    ours = np.stack([preprocess.to_mnist(p) for p in paths])
    seconds = (time.perf_counter() - began) / len(paths)
    plain = np.stack([naive(p) for p in paths])
    styles = {"all": np.ones(len(paths), bool)}
    for tag in ("font", "stroke", "dark-on-light", "light-on-dark", "transparent", "photo"):
        styles[tag] = np.array([f"_{tag}" in p.stem for p in paths])
    result = {"images": len(paths), "seconds_per_image": seconds, "styles": {k: int(v.sum()) for k, v in styles.items()},
              "accuracy": {}}
    for name, model in models.items():
        right = {"preprocess": model.predict(ours) == labels, "naive": model.predict(plain) == labels}
        result["accuracy"][name] = {method: {style: float(r[m].mean()) for style, m in styles.items()}
                                    for method, r in right.items()}
        result["accuracy"][name]["wrong"] = [p.name for p, ok in zip(paths, right["preprocess"]) if not ok]
    return result


def table(result: dict, photo: dict, info: dict) -> str:
    styles = result["styles"]
    head = "| network | method | " + " | ".join(f"{s} ({n})" for s, n in styles.items()) + " |"
    lines = [f"# Own digits ({result['images']} images not from MNIST)", "", machine_line(info, {"pillow": "Pillow"}), "",
             head, "|---|---|" + "---|" * len(styles)]
    for name, methods in result["accuracy"].items():
        for method in ("preprocess", "naive"):
            cells = " | ".join(f"{100 * methods[method][s]:.1f}%" for s in styles)
            lines.append(f"| {name} | {method} | {cells} |")
    photo_line = (f"A 4000x3000 JPEG photo ({photo['bytes']:,} bytes): {photo['seconds']:.3f} s wall-clock, "
                  f"{photo['cpu_seconds']:.3f} s of CPU (medians of {len(photo['seconds_all'])} fresh processes; "
                  f"load average {photo['load_average']:.1f} on {info['cores']} cores), peak RSS "
                  f"{photo['rss_peak'] / 1e6:.0f} MB ({photo['rss_before'] / 1e6:.0f} MB after imports), NumPy's "
                  f"peak (tracemalloc) {photo['tracemalloc_peak'] / 1e6:.0f} MB.")
    lines += ["", f"Preprocessing: {1000 * result['seconds_per_image']:.0f} ms per image on average.", "",
              photo_line, ""]
    for name, methods in result["accuracy"].items():
        lines.append(f"{name} gets wrong: {', '.join(methods['wrong']) or 'none'}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", action="append", default=[], metavar="NAME=PATH",
                        help="a network to measure, e.g. tuned=/tmp/tuned.npz (repeatable)")
    parser.add_argument("--count", type=int, default=300, help="images to generate (default: 300)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--generate-only", type=Path, metavar="DIR", help="only write the images into DIR")
    add_out(parser, "own_digits.md and .json")
    args = parser.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.count)
        progress(f"wrote {args.count} images into {args.generate_only}")
        return 0
    if not args.params:
        parser.error("give at least one --params NAME=PATH")
    models = {name: scratchnet.load(path) for name, path in (p.split("=", 1) for p in args.params)}
    with temporary_folder() as tmp:
        folder = args.keep or Path(tmp) / "digits"
        progress(f"generating {args.count} images in {folder}")
        paths = generate(folder, args.count)
        progress("preprocessing and predicting")
        result = evaluate(paths, models)
        progress("the 4000x3000 photo")
        photo = photo_figures(Path(tmp))
    info = machine(pillow=Image.__version__)
    text = table(result, photo, info)
    print(text)
    write_results(args.out, "own_digits", text, {"machine": info, "seed": SEED, **result, "photo": photo})
    return 0


if __name__ == "__main__":
    entry_point(main, "own_digits.py")

"""Pictures of digits -> MNIST's 28x28 form: every format, both polarities, any place and size,
uneven light, thin and thick strokes; bad files are one-line errors; the arithmetic is exact."""

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from scratchnet import ScratchnetError, preprocess

REPO = Path(__file__).resolve().parents[1]


def seven(size=(300, 240), width=16, at=(40, 30), scale=1.0) -> Image.Image:
    """A 7 drawn with a pen, dark on white, as in a paint program."""
    picture = Image.new("L", size, 255)
    points = [(at[0] + x * scale, at[1] + y * scale) for x, y in ((0, 0), (110, 0), (50, 160))]
    ImageDraw.Draw(picture).line(points, fill=0, width=max(1, round(width * scale)), joint="curve")
    return picture


def enlarged(digit: np.ndarray, canvas=(600, 500), at=(50, 120), factor=10) -> Image.Image:
    """An MNIST digit printed large, dark on white, somewhere on a bigger sheet."""
    big = Image.fromarray(255 - digit).resize((28 * factor, 28 * factor), Image.BILINEAR)
    sheet = Image.new("L", canvas, 255)
    sheet.paste(big, at)
    return sheet


def save(picture: Image.Image, path: Path, fmt: str | None = None, **options) -> Path:
    picture.save(path, fmt, **options)
    return path


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28x28 images, the best over shifts of up to a pixel (centring by whole
    pixels can land either side of a half)."""
    return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel().astype(float), b.ravel().astype(float))[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def one_line_error(path, *fragments) -> str:
    with pytest.raises(ScratchnetError) as info:
        preprocess.to_mnist(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return preprocess.to_mnist(seven())


# -----------------------------------------------------------------------------
# what comes out


def test_output_is_mnist_shaped(reference):
    assert reference.shape == (28, 28) and reference.dtype == np.uint8
    rows, cols = np.nonzero(reference)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 == 20  # the long side fills the 20-pixel box
    assert reference.max() == 255 and reference[0].sum() == reference[:, 0].sum() == 0  # white ink, black margin
    mass = reference.astype(float) / reference.sum()
    cy, cx = (mass.sum(axis=1) @ np.arange(28)), (mass.sum(axis=0) @ np.arange(28))
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5  # centred by its mass


@pytest.mark.parametrize("index", range(20))
def test_an_mnist_digit_printed_large_comes_back_as_it_was(mnist, index):
    digit = mnist.test_images[index]
    out = preprocess.to_mnist(enlarged(digit))
    assert similarity(out, digit) > 0.85


def test_a_drawn_seven_keeps_its_strokes_in_mnist_width(reference):
    area, outline = preprocess.stroke_width(reference)
    assert 1.3 <= 2 * area / outline <= 2.8  # MNIST's digits: 1.4 to 2.6 (10th to 90th percentile)


@pytest.mark.parametrize("width", [1, 3, 30])
def test_thin_and_thick_strokes_come_out_like_mnist(width):
    out = preprocess.to_mnist(seven((900, 800), width=width, at=(100, 100), scale=4))
    area, outline = preprocess.stroke_width(out)
    assert 1.2 <= 2 * area / outline <= 3.2
    assert similarity(out, preprocess.to_mnist(seven())) > 0.75


# -----------------------------------------------------------------------------
# formats


@pytest.mark.parametrize("fmt,suffix,options", [
    ("PNG", "png", {}), ("JPEG", "jpg", {"quality": 85}), ("GIF", "gif", {}), ("BMP", "bmp", {}),
    ("WEBP", "webp", {"quality": 80}), ("TIFF", "tif", {}), ("TIFF", "tiff", {"compression": "tiff_lzw"}),
])
def test_every_format_pillow_reads(tmp_path, reference, fmt, suffix, options):
    picture = seven().convert("RGB")
    path = save(picture, tmp_path / f"seven.{suffix}", fmt, **options)
    out = preprocess.to_mnist(path)
    if fmt in ("JPEG", "WEBP"):  # lossy: nearly the same
        assert similarity(out, reference) > 0.97
    else:
        assert np.array_equal(out, reference)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "CMYK", "LA", "RGBA", "I", "F"])
def test_every_pixel_mode(reference, mode):
    picture = seven().convert(mode)
    assert similarity(preprocess.to_mnist(picture), reference) > 0.97


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_greyscale_reads_as_its_8_bit_self(tmp_path, reference, fmt):
    wide = np.asarray(seven(), np.uint16) * 257  # the same picture, 16 bits a pixel
    path = save(Image.fromarray(wide), tmp_path / f"seven16.{fmt.lower()}", fmt)
    assert Image.open(path).mode.startswith("I")
    assert np.array_equal(preprocess.to_mnist(path), reference)
    assert np.array_equal(preprocess.to_mnist(wide), reference)


@pytest.mark.parametrize("ink", [(0, 0, 0), (255, 255, 255), (20, 40, 160)])
def test_transparent_background_lies_on_paper_opposite_the_ink(tmp_path, reference, ink):
    alpha = 255 - np.asarray(seven())  # ink opaque, the rest transparent (with any colour under it)
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = ink, alpha
    rgba[alpha == 0, :3] = 255 - np.array(ink)  # the hidden colour must not matter
    path = save(Image.fromarray(rgba, "RGBA"), tmp_path / "seven.png")
    assert np.array_equal(preprocess.to_mnist(path), reference)


def test_a_palette_gif_with_a_transparent_colour(tmp_path, reference):
    picture = seven().convert("P")
    path = save(picture, tmp_path / "seven.gif", transparency=255)  # the white paper is transparent
    assert np.array_equal(preprocess.to_mnist(path), reference)


def test_exif_orientation_is_applied(tmp_path):
    picture = seven().convert("RGB")
    upright = preprocess.to_mnist(save(picture, tmp_path / "upright.png"))
    T = Image.Transpose
    # what a camera stores for each tag: the inverse of the turn that shows it upright
    stored_as = {2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE, 6: T.ROTATE_90,
                 7: T.TRANSVERSE, 8: T.ROTATE_270}
    for orientation, turn in stored_as.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = save(picture.transpose(turn), tmp_path / f"o{orientation}.png", exif=exif)
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(Image.open(path))), np.asarray(picture))
        assert np.array_equal(preprocess.to_mnist(path), upright), orientation


def test_pil_images_and_arrays_give_what_the_file_gives(tmp_path, reference):
    path = save(seven(), tmp_path / "seven.png")
    assert np.array_equal(preprocess.to_mnist(path), reference)
    assert np.array_equal(preprocess.to_mnist(np.asarray(seven())), reference)
    rgb = np.asarray(seven().convert("RGB"))
    assert np.array_equal(preprocess.to_mnist(rgb), reference)
    assert np.array_equal(preprocess.to_mnist(rgb / 255.0), reference)


# -----------------------------------------------------------------------------
# ink, paper, light, place


def test_light_ink_on_dark_paper_gives_the_same_image(reference):
    assert np.array_equal(preprocess.to_mnist(ImageOps.invert(seven())), reference)


def test_coloured_ink_on_tinted_paper(reference):
    grey = np.asarray(seven(), float)[..., None] / 255
    pixels = grey * np.array([240, 225, 190]) + (1 - grey) * np.array([30, 50, 140])  # blue pen, yellow paper
    assert similarity(preprocess.to_mnist(pixels.astype(np.uint8)), reference) > 0.97


@pytest.mark.parametrize("at", [(10, 10), (880, 10), (10, 630), (880, 630)])
def test_off_centre_on_a_large_canvas(reference, at):
    out = preprocess.to_mnist(seven((1000, 800), at=at))
    assert np.array_equal(out, reference)


def test_small_and_large_digits_come_out_the_same_size(reference):
    for scale in (0.25, 6):
        out = preprocess.to_mnist(seven((int(300 * max(scale, 1)), int(240 * max(scale, 1))), at=(40 * scale, 30 * scale),
                                        scale=scale))
        assert similarity(out, reference) > 0.85, scale


@pytest.mark.parametrize("strength", [0.3, 0.6])
def test_uneven_lighting_and_noise(reference, strength):
    paper = np.asarray(seven((900, 700), at=(500, 300), scale=1.5), float)
    y, x = np.mgrid[0 : paper.shape[0], 0 : paper.shape[1]]
    light = 1 - strength * x / x.max() - strength * ((y / y.max() - 0.5) ** 2)  # a ramp and a dark edge
    noise = np.random.default_rng(0).normal(0, 8, paper.shape)
    photo = np.clip(paper * light + noise, 0, 255).astype(np.uint8)
    assert similarity(preprocess.to_mnist(photo), preprocess.to_mnist(seven((900, 700), at=(500, 300), scale=1.5))) > 0.9


def test_specks_and_a_shadow_at_the_edge_are_not_the_digit(reference):
    photo = np.asarray(seven((800, 600), at=(350, 200), scale=1.2)).copy()
    photo[:, :40] = 90  # the edge of the table
    rng = np.random.default_rng(1)
    for y, x in rng.integers(60, 580, (30, 2)):
        photo[y : y + 3, x : x + 3] = 0  # dust
    assert similarity(preprocess.to_mnist(photo), preprocess.to_mnist(seven((800, 600), at=(350, 200), scale=1.2))) > 0.9


def test_a_digit_touching_the_edges_is_kept_whole():
    tight = seven((112, 162), at=(1, 1), width=4)  # cropped to the ink, as a scanner might
    out = preprocess.to_mnist(tight)
    rows = np.nonzero(out)[0]
    assert np.ptp(rows) + 1 == 20


# -----------------------------------------------------------------------------
# bad files: one line naming the file, never a traceback


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    one_line_error(path, "empty file")


@pytest.mark.parametrize("colour", [0, 255, 128])
def test_blank_picture(tmp_path, colour):
    path = save(Image.new("RGB", (400, 300), (colour,) * 3), tmp_path / "blank.png")
    one_line_error(path, "no digit found")


def test_faint_noise_is_blank(tmp_path):
    noise = np.random.default_rng(0).normal(200, 3, (300, 300)).clip(0, 255).astype(np.uint8)
    one_line_error(save(Image.fromarray(noise), tmp_path / "paper.png"), "no digit found")


def test_fully_transparent_picture(tmp_path):
    path = save(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), tmp_path / "clear.png")
    one_line_error(path, "fully transparent")


@pytest.mark.parametrize("size", [(1, 1), (1, 500), (3, 2)])
def test_tiny_pictures(tmp_path, size):
    one_line_error(save(Image.new("L", size, 255), tmp_path / "tiny.png"), "no digit found")


def test_a_one_pixel_wide_digit_is_read():
    line = np.full((200, 100), 255, np.uint8)
    line[20:180, 50] = 0
    out = preprocess.to_mnist(line)
    assert np.ptp(np.nonzero(out)[0]) + 1 == 20


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("a shopping list, not a picture\n")
    one_line_error(path, "not an image")


@pytest.mark.parametrize("fmt,suffix", [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("TIFF", "tif")])
def test_truncated_file(tmp_path, fmt, suffix):
    noise = np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)  # incompressible
    whole = save(Image.fromarray(noise), tmp_path / f"whole.{suffix}", fmt)
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    one_line_error(cut, "cannot decode")


def _png(width: int, height: int, data: bytes) -> bytes:
    """A greyscale PNG announcing width x height pixels, with ``data`` as its compressed rows."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_huge_dimensions_are_refused_from_the_header(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png(20000, 20000, zlib.compress(b"\0" * 4096)))  # the rest never comes
    one_line_error(path, "20000x20000", "400,000,000 pixels", "50,000,000")


def test_decompression_bomb(tmp_path):
    """A real bomb: about 80 KB of zlib that would inflate to 80 megapixels of zeros."""
    width, height = 10000, 8000
    squeeze = zlib.compressobj(9)
    data = b"".join(squeeze.compress(b"\0" * (width + 1)) for _ in range(height)) + squeeze.flush()
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(width, height, data))
    assert path.stat().st_size < 200_000
    one_line_error(path, "10000x8000", "more than the 50,000,000")


def test_the_limit_is_one_setting_and_pillows_own_is_left_as_it_was(tmp_path, monkeypatch):
    before = Image.MAX_IMAGE_PIXELS
    monkeypatch.setattr(preprocess, "MAX_PIXELS", 10_000)
    path = save(seven(), tmp_path / "seven.png")
    one_line_error(path, "300x240", "more than the 10,000")
    assert Image.MAX_IMAGE_PIXELS == before


def test_missing_file_and_folder(tmp_path):
    one_line_error(tmp_path / "nowhere.png", "no such file")
    one_line_error(tmp_path, "is a directory")


def test_unreadable_file(tmp_path, monkeypatch):
    path = save(seven(), tmp_path / "locked.png")

    def refuse(*args, **kwargs):  # as open() does for a file without read permission (tests run as root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", refuse)
    one_line_error(path, "permission denied")


def test_bad_arrays():
    for array, fragment in ((np.zeros((5, 5, 2), np.uint8), "(h, w)"), (np.zeros((5, 5), np.int32), "int32"),
                            (np.full((5, 5), np.nan), "NaN"), (np.zeros((0, 5), np.uint8), "empty")):
        with pytest.raises(ScratchnetError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            preprocess.to_mnist(array)


# -----------------------------------------------------------------------------
# the arithmetic: exact, and as docs/PREPROCESS.md states it


def test_luma_is_pillows():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert np.array_equal(preprocess._luma(rgb), np.asarray(Image.fromarray(rgb).convert("L")))
    corners = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    assert np.array_equal(preprocess._luma(corners), np.asarray(Image.fromarray(corners).convert("L")))


def test_reduce_rounds_each_blocks_mean_halves_up():
    rng = np.random.default_rng(0)
    for shape in ((23, 17), (3, 200), (200, 3)):  # tall, and far wider or taller than the blocks
        grey = rng.integers(0, 256, shape, dtype=np.uint8)
        for factor in (1, 2, 4, 5, 7, 30):
            expected = np.array([[np.floor(grey[y : y + factor, x : x + factor].mean() + 0.5)
                                  for x in range(0, shape[1], factor)] for y in range(0, shape[0], factor)])
            assert np.array_equal(preprocess.reduce(grey, factor), expected), (shape, factor)


def test_area_resample_is_exact_area_averaging():
    rng = np.random.default_rng(0)
    for (h, w), (th, tw) in (((37, 23), (20, 12)), ((5, 3), (20, 12)), ((80, 80), (20, 20)), ((1, 1), (3, 2))):
        image = rng.integers(0, 256, (h, w), dtype=np.uint8)
        # reference: upsample by th x tw by repetition, then mean over h x w blocks
        fine = np.repeat(np.repeat(image.astype(np.int64), th, axis=0), tw, axis=1)
        sums = fine.reshape(th, h, tw, w).sum(axis=(1, 3))
        expected = (2 * sums + h * w) // (2 * h * w)
        assert np.array_equal(preprocess.area_resample(image, th, tw), expected)


def test_otsu_matches_a_float_search():
    rng = np.random.default_rng(0)
    for _ in range(20):
        values = np.concatenate([rng.normal(rng.uniform(10, 100), 10, 500), rng.normal(rng.uniform(120, 240), 15, 200)])
        hist = np.bincount(values.clip(0, 255).astype(int), minlength=256)
        v = np.arange(256)
        scores = []
        for t in range(255):
            w0, w1 = hist[: t + 1].sum(), hist[t + 1 :].sum()
            if w0 == 0 or w1 == 0:
                scores.append(-1)
                continue
            m0, m1 = (hist[: t + 1] @ v[: t + 1]) / w0, (hist[t + 1 :] @ v[t + 1 :]) / w1
            scores.append(w0 * w1 * (m0 - m1) ** 2)
        assert preprocess.otsu(hist) == int(np.argmax(scores))


def test_centre_puts_the_mass_centre_within_half_a_pixel():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 21, 2)
        digit = rng.integers(0, 256, (h, w)).astype(np.uint8)
        digit[rng.random((h, w)) < 0.5] = 0
        if not digit.any():
            continue
        field = preprocess.centre(digit)
        mass = field.astype(float) / field.sum()
        for axis in (1, 0):
            position = mass.sum(axis=axis) @ np.arange(28)
            size = h if axis == 1 else w
            assert abs(position - 13.5) <= 0.5 or size > 20 - 1  # within half a pixel unless clamped


def test_the_same_picture_gives_the_same_numbers_as_recorded():
    """The documented example's 784 numbers (docs/preprocess/example.txt): a port of the steps to
    another language checks itself against them, and so does this one."""
    example = REPO / "docs" / "preprocess" / "example.png"
    expected = np.loadtxt(REPO / "docs" / "preprocess" / "example.txt", dtype=np.uint8)
    assert np.array_equal(preprocess.to_mnist(example), expected)


# -----------------------------------------------------------------------------
# file names and folders


@pytest.mark.parametrize("name,label", [("7_mine.png", 7), ("0.png", 0), ("3-b.jpg", 3), ("2024-photo.jpg", None),
                                        ("seven.png", None), ("12.png", None), ("9", 9)])
def test_label_from_name(name, label):
    assert preprocess.label_from_name(name) == label


def test_find_images(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("b_7.png", "a_1.JPG", ".hidden.png", "notes.txt"):
        (folder / name).write_bytes(b"x")
    (folder / "sub.png").mkdir()
    assert preprocess.find_images([str(folder)]) == [folder / "a_1.JPG", folder / "b_7.png"]
    assert preprocess.find_images([str(folder / "*.png")]) == [folder / "b_7.png"]
    assert preprocess.find_images([str(folder / "notes.txt")]) == [folder / "notes.txt"]  # named: read, and told
    with pytest.raises(ScratchnetError, match="no file matches"):
        preprocess.find_images([str(folder / "*.gif")])
    with pytest.raises(ScratchnetError, match="no pictures in this folder"):
        preprocess.find_images([str(tmp_path / "mine" / "sub.png")])


# -----------------------------------------------------------------------------
# the test set generator of bench/own_digits.py


def test_the_own_digits_generator_is_reproducible(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import own_digits
    finally:
        sys.path.pop(0)
    if not own_digits.fonts():
        pytest.skip("no DejaVu or Liberation fonts installed (fonts-dejavu-core, fonts-liberation)")
    first = own_digits.generate(tmp_path / "a", 12)
    second = own_digits.generate(tmp_path / "b", 12)
    assert [p.name for p in first] == [p.name for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second))
    assert {p.name.split("_")[2] for p in first} == {"font", "stroke"}
    for path in first:
        assert preprocess.to_mnist(path).any()  # every picture has a digit to find


@pytest.mark.parametrize("scale", [1 / 255, 1.0], ids=["0 to 1", "0 to 255"])
def test_a_float_tiff_reads_as_its_8_bit_self(tmp_path, reference, scale):
    """Floating-point greyscale, as image software writes it (0..1) or as 8-bit levels (0..255)."""
    levels = np.asarray(seven(), np.float32) * np.float32(scale)
    path = save(Image.fromarray(levels, "F"), tmp_path / "seven.tiff", "TIFF")
    assert Image.open(path).mode == "F"
    assert np.array_equal(preprocess.to_mnist(path), reference)

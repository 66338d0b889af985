"""The label-keeping changes to training images (augment.py): shifts, elastic and affine distortions."""

import json

import numpy as np
import pytest

from scratchnet import augment, checkpoint, config, numpy_engine, run
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    """(n, 2): the row and column of each image's centre of mass."""
    mass = images.astype(np.float64)
    rows, cols = np.indices(images.shape[1:])
    total = mass.sum(axis=(1, 2))
    return np.stack([(mass * rows).sum(axis=(1, 2)) / total, (mass * cols).sum(axis=(1, 2)) / total], axis=1)


@pytest.mark.parametrize("distortions", [(34.0,), (0.0, 15.0), (0.0, 0.0, 0.15), (34.0, 15.0, 0.15)],
                         ids=["elastic", "rotate", "scale", "all"])
def test_the_same_generator_state_gives_the_same_images(small, distortions):
    images = small.train_images[:1200]  # more than one chunk (of 63 MNIST images)
    a = augment.distort_images(images, np.random.default_rng(5), *distortions)
    b = augment.distort_images(images, np.random.default_rng(5), *distortions)
    c = augment.distort_images(images, np.random.default_rng(6), *distortions)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == images.shape and a.dtype == np.uint8
    assert (a != images).any(axis=(1, 2)).mean() > 0.99  # each image distorted, every chunk's too


def test_the_images_do_not_depend_on_the_chunk_size(small, monkeypatch):
    images = small.train_images[:300]
    default = augment.distort_images(images, np.random.default_rng(5), 34.0, 15.0, 0.15)
    for chunk_pixels in (784, 784 * 7, 10**9):  # one image at a time, 7, all at once
        monkeypatch.setattr(augment, "ELASTIC_CHUNK_PIXELS", chunk_pixels)
        assert np.array_equal(augment.distort_images(images, np.random.default_rng(5), 34.0, 15.0, 0.15), default)


def test_shift_images_moves_each_image_by_up_to_the_shift(small):
    rng = np.random.default_rng(0)
    assert np.array_equal(augment.shift_images(small.train_images[:10], 0, rng), small.train_images[:10])
    dots = np.zeros((400, 28, 28), dtype=np.uint8)
    dots[:, 14, 14] = 255
    shifted = augment.shift_images(dots, 2, rng)
    assert shifted.shape == dots.shape and shifted.dtype == np.uint8
    which, rows, cols = np.nonzero(shifted)
    assert np.array_equal(which, np.arange(400))  # one dot per image, still there
    offsets = set(zip(rows - 14, cols - 14))
    assert offsets == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}


@pytest.mark.parametrize("max_shift", [1, 2, 27])
def test_each_image_is_its_own_offset_pixel_by_pixel(small, max_shift):
    images = small.train_images[:300]
    shifted = augment.shift_images(images, max_shift, np.random.default_rng(3))
    dy, dx = np.random.default_rng(3).integers(0, 2 * max_shift + 1, size=(2, len(images))) - max_shift
    height, width = images.shape[1:]
    for i in range(len(images)):
        expected = np.zeros((height, width), np.uint8)
        for r in range(height):
            for c in range(width):
                if 0 <= r + dy[i] < height and 0 <= c + dx[i] < width:
                    expected[r, c] = images[i, r + dy[i], c + dx[i]]
        assert np.array_equal(shifted[i], expected), i


def test_no_distortion_is_the_identity(small):
    images = small.train_images[:50]
    assert np.array_equal(augment.distort_images(images, np.random.default_rng(0)), images)
    rng = np.random.default_rng(0)
    assert np.array_equal(augment.distort_images(images, rng, 0.0, 0.0, 0.0), images)
    assert rng.random() == np.random.default_rng(0).random()  # and draws nothing


def test_elastic_alone_is_what_it_was_before_affine_distortions_existed(small):
    """Adding rotate and scale kept elastic-only images bit for bit (--preset accurate's runs replay)."""
    images = small.train_images[:100]
    rng = np.random.default_rng(2)
    blur_rows = augment.gaussian_blur_matrix(28, augment.ELASTIC_SIGMA)
    blur_cols = augment.gaussian_blur_matrix(28, augment.ELASTIC_SIGMA) * (2 * 34.0)
    noise = rng.random((100, 2, 28, 28), dtype=np.float32) - np.float32(0.5)  # one chunk: 63 images, then 37
    field = np.concatenate([blur_rows.T @ (part @ blur_cols) for part in (noise[:63], noise[63:])])
    row, col = np.mgrid[0:28, 0:28].astype(np.float32)
    expected = augment.bilinear(images, row + field[:, 0], col + field[:, 1])
    assert np.array_equal(augment.distort_images(images, np.random.default_rng(2), 34.0), expected)


def dots_at(offsets: list[tuple[int, int]]) -> np.ndarray:
    """(n, 28, 28) images of a 2x2 dot whose centre is ``offsets[i]`` (row, col) from the image's centre."""
    images = np.zeros((len(offsets), 28, 28), np.uint8)
    for i, (dy, dx) in enumerate(offsets):
        images[i, 13 + dy : 15 + dy, 13 + dx : 15 + dx] = 255
    return images


def test_rotation_turns_the_digit_about_the_centre_by_up_to_the_angle():
    dots = dots_at([(0, 10)] * 400)  # 10 pixels right of the centre
    turned = centre_of_mass(augment.distort_images(dots, np.random.default_rng(4), rotate=15.0)) - 13.5
    radius = np.hypot(*turned.T)
    angle = np.degrees(np.arctan2(turned[:, 0], turned[:, 1]))
    assert np.all(np.abs(radius - 10) < 0.3)  # the distance to the centre kept
    assert np.all(np.abs(angle) < 15.5) and np.abs(angle).max() > 14  # up to 15 degrees, either way
    assert angle.min() < -14 and abs(np.median(angle)) < 3


def test_scale_stretches_each_axis_by_up_to_the_factor():
    dots = dots_at([(8, 8)] * 400)
    moved = centre_of_mass(augment.distort_images(dots, np.random.default_rng(4), scale=0.2)) - 13.5
    ratio = moved / 8  # each axis's own factor, in [0.8, 1.2]
    assert np.all(ratio > 0.78) and np.all(ratio < 1.22) and ratio.min() < 0.82 and ratio.max() > 1.18
    assert abs(np.corrcoef(ratio.T)[0, 1]) < 0.2  # height and width stretched independently


def test_the_digit_moves_a_little_and_stays_in_the_frame(small):
    images = small.train_images[:500]
    distorted = augment.distort_images(images, np.random.default_rng(1), 34.0)
    ink, kept = images.sum(axis=(1, 2), dtype=np.int64), distorted.sum(axis=(1, 2), dtype=np.int64)
    # strokes get stretched or squeezed, so the ink varies, but it is moved around, not lost or doubled
    assert np.abs(kept / ink - 1).mean() < 0.2 and np.all(np.abs(kept / ink - 1) < 0.6)
    moved = np.linalg.norm(centre_of_mass(distorted) - centre_of_mass(images), axis=1)
    assert np.median(moved) < 2.0 and moved.max() < 5.0  # about as far as a pixel moves (alpha 34: 1.4 px per axis)
    edges = distorted[:, [0, -1], :].sum() + distorted[:, :, [0, -1]].sum()
    assert edges < 0.01 * distorted.sum(dtype=np.int64)  # the frame's border stays almost empty, as in MNIST


def test_bilinear_reads_between_pixels_and_zero_outside():
    image = np.arange(16, dtype=np.uint8).reshape(1, 4, 4) * 10  # (1, 4, 4): 0..150
    rows, cols = np.indices((4, 4)).astype(np.float32)[:, None]  # each (1, 4, 4)
    assert np.array_equal(augment.bilinear(image, rows, cols), image)
    half_right = augment.bilinear(image, rows, cols + 0.5)
    assert np.array_equal(half_right[0, :, :3], (image[0, :, :3].astype(int) + image[0, :, 1:]) // 2)
    assert np.array_equal(half_right[0, :, 3], np.rint(image[0, :, 3] / 2))  # half of it beyond the edge: zero
    assert not augment.bilinear(image, rows + 4, cols).any() and not augment.bilinear(image, rows, cols - 1e6).any()
    full = np.full((1, 4, 4), 255, np.uint8)
    assert augment.bilinear(full, rows + 0.3, cols - 0.7).max() == 255  # never past 255, never wrapped


def test_the_blur_matrix_is_a_gaussian_convolution():
    blur = augment.gaussian_blur_matrix(28, 4.0)
    assert blur.shape == (28, 28) and np.allclose(blur, blur.T)
    assert blur.sum(axis=0)[14] == pytest.approx(0.95, abs=0.05)  # the middle keeps most of the kernel
    assert blur.sum(axis=0)[0] == pytest.approx(0.5, abs=0.05)  # the edge loses the half beyond it
    spike = np.zeros(28, np.float32)
    spike[14] = 1
    assert np.argmax(spike @ blur) == 14 and (spike @ blur)[18] == pytest.approx(blur[14, 14] * np.exp(-0.5), rel=1e-5)


def test_epochs_see_distorted_images_with_the_same_order_and_labels(small):
    plain = TrainConfig(shuffle=True, shift=1, seed=3)
    elastic = TrainConfig(shuffle=True, shift=1, seed=3, elastic=34.0)
    order, images = numpy_engine.epoch_samples(plain, small.train_images, 0)
    order_e, images_e = numpy_engine.epoch_samples(elastic, small.train_images, 0)
    again = numpy_engine.epoch_samples(elastic, small.train_images, 0)[1]
    # the order and the shifts come first from the epoch's stream: the same; the labels go with the order
    assert np.array_equal(order, order_e) and not np.array_equal(images, images_e) and np.array_equal(images_e, again)
    assert not np.array_equal(images_e, numpy_engine.epoch_samples(elastic, small.train_images, 1)[1])


@pytest.mark.parametrize("settings", [{"shift": 1, "elastic": 34.0}, {"scale": 0.1}, {}])
def test_images_made_ahead_in_a_thread_are_those_made_in_turn(small, settings):
    """run.Upcoming makes the next epoch's images while one trains: the same arrays, from any first epoch."""
    cfg = TrainConfig(shuffle=True, seed=5, **settings)
    upcoming = run.Upcoming(cfg, small.train_images, 3)
    for epoch in (3, 4, 5):
        order, images = upcoming.take(epoch, more=epoch < 5)
        expected_order, expected_images = numpy_engine.epoch_samples(cfg, small.train_images, epoch)
        assert np.array_equal(order, expected_order) and np.array_equal(images, expected_images)


def test_images_that_failed_ahead_are_made_in_turn_and_fail_there(small, monkeypatch, capsys):
    calls = []

    def failing(cfg, images, epoch):
        calls.append(epoch)
        raise MemoryError("no room for the images")

    monkeypatch.setattr(run, "epoch_samples", failing)
    upcoming = run.Upcoming(TrainConfig(shift=1), small.train_images, 0)
    with pytest.raises(MemoryError, match="no room"):  # raised in the caller, as without a thread
        upcoming.take(0, more=True)
    assert calls == [0, 0] and capsys.readouterr().err == ""  # the thread's failure printed no traceback


@pytest.mark.parametrize("name,value,fragment", [
    ("elastic", -1.0, "--elastic must be a finite number >= 0, got -1.0"),
    ("elastic", float("nan"), "--elastic must be a finite number, not nan"),
    ("elastic", 1e6, "--elastic must be at most 1000, got 1000000.0"),
    ("rotate", -5.0, "--rotate must be a finite number >= 0, got -5.0"),
    ("rotate", 181.0, "--rotate must be at most 180, got 181.0"),
    ("scale", 0.95, "--scale must be at most 0.9, got 0.95"),
    ("scale", float("inf"), "--scale must be a finite number"),
])
def test_bad_distortions_are_refused(name, value, fragment):
    with pytest.raises(ScratchnetError, match=fragment):
        config.resolve({name: value})


def test_a_checkpoint_from_before_elastic_loads_without_it(tmp_path):
    path = tmp_path / "old.npz"
    run.save(path, run.start(path, {"layers": (784, 8, 10)}))
    with np.load(path, allow_pickle=False) as npz:
        arrays = dict(npz)
    meta = json.loads(str(arrays["metadata"]))
    for name in ("elastic", "rotate", "scale"):
        del meta["config"][name]  # as a checkpoint written before the settings existed
    np.savez(path, **{**arrays, "metadata": np.array(json.dumps(meta))})
    saved = checkpoint.load(path).config
    assert (saved.elastic, saved.rotate, saved.scale) == (0.0, 0.0, 0.0)


def test_changing_elastic_starts_an_interrupted_epoch_over(small, tmp_path, interrupt, monkeypatch):
    monkeypatch.setattr("scratchnet.stop.CHUNK", 250)
    interrupt(numpy_engine, [750])
    path = tmp_path / "p.npz"
    assert not run.train(run.start(path, {"epochs": 2, "batch_size": 50, "elastic": 20.0}), small, path)
    assert checkpoint.load(path).partial_epoch_samples == 750
    assert run.start(path, {"elastic": 30.0}).partial_epoch_samples == 0  # other images: the epoch starts over
    assert run.start(path, {"rotate": 10.0}).partial_epoch_samples == 0
    assert run.start(path, {"scale": 0.1}).partial_epoch_samples == 0
    assert run.start(path, {}).partial_epoch_samples == 750

"""The Python API: load or train a network, and ask it about digits.

    import scratchnet
    model = scratchnet.load("network_params.npz")
    model.predict_digit("my7.png").digit                  # any picture: preprocessed as MNIST was
    data = scratchnet.datasets.mnist()
    model.score(data.test_images, data.test_labels)       # accuracy on MNIST-format images
    model = scratchnet.fit(preset="tuned", epochs=5)      # a new network, trained on MNIST

The command line is a thin layer over these; docs/API.md lists them all.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from scratchnet import checkpoint, engines, learn, preprocess, run
from scratchnet.checkpoint import Checkpoint
from scratchnet.config import TrainConfig
from scratchnet.data import Dataset, load_mnist
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network

OPTION = re.compile(r"(?<![\w-])--([a-z][a-z-]*)")  # a command-line option named in a message

@dataclass(frozen=True)
class Prediction:
    """The network's answer about one image."""

    digit: int  # the most likely class
    confidence: float  # its output activation (a probability for softmax networks)
    probabilities: np.ndarray = field(repr=False)  # every output, (n_outputs,)
    input: np.ndarray = field(repr=False)  # the (28, 28) uint8 image the network was given, white ink on black

    @property
    def top3(self) -> list[tuple[int, float]]:
        """The three most likely classes and their outputs, best first."""
        order = np.argsort(self.probabilities, kind="stable")[::-1][:3]
        return [(int(d), float(self.probabilities[d])) for d in order]

    def to_dict(self) -> dict:
        """The JSON-ready fields ``scratchnet predict --json`` prints."""
        return {"prediction": self.digit, "confidence": self.confidence,
                "top3": [{"digit": d, "score": s} for d, s in self.top3]}


class Model:
    """A trained network with scikit-learn-style methods.

    Get one from ``scratchnet.load(path)`` or ``scratchnet.fit(...)``. ``engine`` is "numpy", or
    "c" for the C library built by ``make -C csrc`` (same results).
    """

    def __init__(self, ckpt: Checkpoint, engine: str = "numpy"):
        engines.get(engine)  # refuses an unknown name now, not at the first prediction
        self.checkpoint = ckpt
        self.engine = engine

    @property
    def network(self) -> Network:
        """The network itself: sizes, activations, weights and biases (src/scratchnet/network.py)."""
        return self.checkpoint.network

    def __repr__(self) -> str:
        return f"<scratchnet.Model {self.network.describe()}, {self.checkpoint.epochs_done} epochs trained>"

    def _batch(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ScratchnetError(f"images must be uint8 (n, rows, cols) or one (rows, cols), MNIST-style, not "
                                  f"{images.dtype} {images.shape}; pictures go through predict_digit")
        if images.shape[1] * images.shape[2] != self.network.sizes[0]:
            raise ScratchnetError(f"the network takes {self.network.sizes[0]} pixels, not images of "
                                  f"{images.shape[1]}x{images.shape[2]}")
        return images

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Output activations (n, n_outputs) for uint8 MNIST-style images (n, rows, cols), white ink
        on black; one (rows, cols) image counts as a batch of one."""
        return engines.outputs(self.network, self._batch(images), self.engine)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The predicted class of each image, (n,) int64."""
        return self.predict_proba(images).argmax(axis=1)

    def score(self, images: np.ndarray, labels: np.ndarray) -> float:
        """The fraction of ``images`` predicted as their ``labels``."""
        labels = np.asarray(labels)
        if labels.shape != (len(self._batch(images)),):
            raise ScratchnetError(f"{len(labels)} labels for {len(self._batch(images))} images")
        return float((self.predict(images) == labels).mean())

    def evaluate(self, images: np.ndarray, labels: np.ndarray) -> engines.Evaluation:
        """Accuracy, accuracy per class and the confusion matrix, as ``scratchnet evaluate``."""
        return engines.evaluate(self.network, self._batch(images), np.asarray(labels), self.engine)

    def predict_digit(self, image: preprocess.Source, *, preprocessed: bool = False) -> Prediction:
        """Which digit is in ``image``: a file path, a PIL image or a NumPy array of any size.

        The picture is first turned into MNIST's form by ``scratchnet.preprocess.to_mnist`` (dark
        or light ink, any size, off-centre, uneven light); ``preprocessed=True`` takes a (28, 28)
        uint8 array as it is. A file that is not a readable picture, or holds no digit, raises
        ScratchnetError.
        """
        if self.network.sizes[0] != preprocess.SIZE * preprocess.SIZE:
            raise ScratchnetError(f"the network takes {self.network.sizes[0]} inputs, not the "
                                  f"{preprocess.SIZE}x{preprocess.SIZE} images pictures are turned into")
        pixels = np.asarray(image) if preprocessed else preprocess.to_mnist(image)
        probabilities = self.predict_proba(pixels)[0]
        digit = int(probabilities.argmax())
        return Prediction(digit, float(probabilities[digit]), probabilities, self._batch(pixels)[0])

    def _input(self, image: preprocess.Source) -> np.ndarray:
        """A picture file or PIL image preprocessed as predict_digit does; arrays as they are."""
        if isinstance(image, (str, os.PathLike, Image.Image)):
            return preprocess.to_mnist(image)
        return np.asarray(image)

    def step(self, image: preprocess.Source, label: int, *, lr: float | None = None,
             apply: bool = False) -> learn.Step:
        """One training step on one image with true class ``label``, every number of it (learn.Step):
        the forward pass, the loss, each layer's error, the gradients and the change of every
        parameter, and the outputs after. The step is the one training takes: the checkpoint's loss,
        learning rate (``lr`` overrides) and update rule with its state.

        ``image``: uint8 (28, 28) MNIST-style, 784 numbers in [0, 1], or a picture (a path or PIL
        image, preprocessed as predict_digit does). The model is left as it was unless ``apply``.
        """
        result = learn.step(self.checkpoint, self._input(image), label, lr)
        if apply:
            self.checkpoint = learn.stepped(self.checkpoint, result)
        return result

    def explain(self, image: preprocess.Source, digit: int | None = None) -> learn.Explanation:
        """Why output ``digit`` (default: the answer) is what it is for ``image`` (as for step): each
        pixel's contribution (input times gradient of the output's logit) and each hidden neuron's
        w * a, which with the bias add up to the logit exactly (learn.Explanation)."""
        return learn.explain(self.network, self._input(image), digit)

    def dream(self, digit: int, *, steps: int = learn.DREAM_STEPS,
              start: preprocess.Source | None = None) -> learn.Dream:
        """What the network imagines ``digit`` looks like: gradient ascent on the input from a blank
        picture, or from ``start`` (as for step), until ``digit`` wins (learn.dream says how)."""
        return learn.dream(self.network, digit, steps, None if start is None else self._input(start))

    def save(self, path: str | os.PathLike) -> None:
        """Write the checkpoint (.npz, or the text formats .txt and .json), atomically."""
        checkpoint.save(path, self.checkpoint)


def load(path: str | os.PathLike = checkpoint.DEFAULT_PATH, engine: str = "numpy") -> Model:
    """Read a checkpoint (.npz) or parameter file (.txt, .json) written by scratchnet."""
    return Model(checkpoint.load(path), engine)


@contextmanager
def _in_python_terms() -> Iterator[None]:
    """The library's messages name the command line's options (--epochs, --fresh): fit's caller passed
    arguments (epochs, fresh=True), so its errors name those."""
    try:
        yield
    except ScratchnetError as e:
        message = str(e).replace("--fresh", "fresh=True")
        raise ScratchnetError(OPTION.sub(lambda m: m[1].replace("-", "_"), message)) from None


def fit(
    data: Dataset | str | os.PathLike | None = None,
    *,
    preset: str | None = None,
    params: str | os.PathLike | None = None,
    fresh: bool = False,
    on_epoch: Callable[[run.EpochResult], None] | None = None,
    engine: str = "numpy",
    **settings,
) -> Model:
    """Train a network, as ``scratchnet train``, and return it.

    ``data``: a Dataset (``scratchnet.datasets``), a path to an .npz or IDX folder, or None for
    MNIST. ``preset``: "original" (the defaults), "tuned", "best", "fast", "accurate" or "record". ``settings``: any
    TrainConfig field (layers=(784, 64, 10), epochs=3, lr=0.1, ...), over the preset. ``params``: save the checkpoint there after
    every epoch; if the file exists, training resumes from it unless ``fresh``. ``on_epoch`` is
    called with each epoch's EpochResult (loss, accuracies, seconds).

    Ctrl-C stops at the next batch (saved to ``params``, if given) and raises KeyboardInterrupt.
    """
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ScratchnetError(f"unknown setting {unknown[0]!r}: the settings are {', '.join(sorted(known))}")
    with _in_python_terms():
        dataset = data if isinstance(data, Dataset) else load_mnist(None if data is None else str(data))
        with tempfile.TemporaryDirectory(prefix="scratchnet-") as folder:
            # Without params the run still saves each epoch (run.train's one code path), to a throwaway file.
            target = Path(folder) / "network.npz" if params is None else params
            ckpt = run.start(target, settings, preset, fresh)
            Model(ckpt, engine)  # an unknown engine is refused before training
            if not run.train(ckpt, dataset, target, on_epoch, engine=engine):
                raise KeyboardInterrupt
    return Model(ckpt, engine)

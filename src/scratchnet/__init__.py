"""scratchnet: a neural network from scratch, in NumPy.

    import scratchnet
    model = scratchnet.load("network_params.npz")      # or scratchnet.fit(preset="tuned")
    print(model.predict_digit("my7.png").digit)

See docs/API.md.
"""

from scratchnet import datasets, preprocess
from scratchnet.errors import ScratchnetError
from scratchnet.model import Model, Prediction, fit, load
from scratchnet.version import __version__

__all__ = ["Model", "Prediction", "ScratchnetError", "__version__", "datasets", "fit", "load", "preprocess"]

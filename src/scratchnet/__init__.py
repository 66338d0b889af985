"""scratchnet: a neural network from scratch, in NumPy.

    import scratchnet
    model = scratchnet.load("network_params.npz")      # or scratchnet.fit(preset="tuned")
    print(model.predict_digit("my7.png").digit)

See docs/API.md.
"""

from scratchnet.errors import ScratchnetError

__version__ = "0.1.0"

# after __version__: checkpoint, which these import, reads it
from scratchnet import datasets, preprocess
from scratchnet.model import Model, Prediction, fit, load

__all__ = ["Model", "Prediction", "ScratchnetError", "__version__", "datasets", "fit", "load", "preprocess"]

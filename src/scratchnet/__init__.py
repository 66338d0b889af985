"""scratchnet: a neural network from scratch, in NumPy."""

from scratchnet.errors import ScratchnetError

__version__ = "0.1.0"
__all__ = ["ScratchnetError", "__version__"]

"""The C engine (csrc/), behind the same two functions as the NumPy one: ``train_epoch`` and
``predict``. The C library works on the NumPy arrays in place, through ctypes: the network,
the optimizer state and the checkpoints stay the Python ones, so a run can switch engines
between any two epochs.

The libraries (libscratchnet64.so for float64 networks, libscratchnet32.so for float32) and the
standalone program scratchnet-c live in the package's _lib folder: ``pip install`` builds them
there (setup.py runs csrc/Makefile), and so does ``make -C csrc`` in a checkout. Where the
install could not build them, _lib/NOT-BUILT.txt says why. ``$SCRATCHNET_CLIB_DIR`` points
elsewhere.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError
from scratchnet.network import Network
from scratchnet.stop import train_in_chunks

LIB_DIR = Path(__file__).resolve().parent / "_lib"
NOT_BUILT = "NOT-BUILT.txt"  # setup.py writes there why it could not build the C engine
PROGRAM = "scratchnet-c"
MAX_LAYERS = 16  # SN_MAX_LAYERS in csrc/scratchnet.h
# The enums of csrc/scratchnet.h, written out: a name added to a Python tuple must get its code
# here and there by hand (tests/test_cengine.py checks both sides agree), never shift the others.
ACTIVATION_CODES = {"sigmoid": 0, "tanh": 1, "relu": 2, "softmax": 3}  # enum sn_activation
LOSS_CODES = {"bce": 0, "cross_entropy": 1, "mse": 2}  # enum sn_loss
OPTIMIZER_CODES = {"sgd": 0, "momentum": 1, "nesterov": 2, "adam": 3}  # enum sn_optimizer
SCHEDULE_CODES = {"constant": 0, "inverse": 1, "step": 2, "cosine": 3}  # enum sn_schedule


def _real(dtype: np.dtype):
    return ctypes.c_double if dtype == np.float64 else ctypes.c_float


def _structs(real):
    """The C structs of scratchnet.h for one ``real`` type."""
    pointers = ctypes.POINTER(real) * MAX_LAYERS

    class Net(ctypes.Structure):
        _fields_ = [("n_layers", ctypes.c_int), ("sizes", ctypes.c_int * (MAX_LAYERS + 1)),
                    ("hidden", ctypes.c_int), ("output", ctypes.c_int),
                    ("weights", pointers), ("biases", pointers)]

    class OptimizerState(ctypes.Structure):
        _fields_ = [("kind", ctypes.c_int), ("momentum", ctypes.c_double), ("weight_decay", ctypes.c_double),
                    ("steps", ctypes.c_int64)] + [(name, pointers) for name in (
                        "velocity_w", "velocity_b", "m_w", "m_b", "v_w", "v_b")]

    return Net, OptimizerState


_libraries: dict[int, tuple] = {}
_threads = 0  # set_threads' cap of the OpenMP threads, for the libraries loaded later (0: OpenMP's default)


def folder() -> Path:
    """Where the libraries and the program are: $SCRATCHNET_CLIB_DIR, else the package's _lib."""
    return Path(os.environ.get("SCRATCHNET_CLIB_DIR") or LIB_DIR)


def missing(path: Path) -> str:
    """Why ``path`` (a library or the program) is not there, and what to do."""
    why = folder() / NOT_BUILT
    if why.is_file():
        return (f"the C engine was not built when scratchnet was installed ({why.read_text().strip()}): install a "
                f"C compiler, make and zlib's headers (Debian: apt-get install build-essential zlib1g-dev), then "
                f"reinstall scratchnet; --engine numpy works without")
    return (f"{path} is missing: reinstall scratchnet, or in a checkout build it with `make -C csrc` "
            f"(a C compiler is required; --engine numpy works without)")


def program() -> Path:
    """The standalone program scratchnet-c of this installation; a ScratchnetError says why it is not there."""
    path = folder() / PROGRAM
    if not os.access(path, os.X_OK):
        raise ScratchnetError(missing(path))
    return path


def library(dtype: np.dtype):
    """The loaded library for ``dtype`` and its structs; a ScratchnetError says why it cannot be."""
    bits = np.dtype(dtype).itemsize * 8
    if bits not in _libraries:
        path = folder() / f"libscratchnet{bits}.so"
        if not path.exists():
            raise ScratchnetError(f"--engine c needs {path.name}: {missing(path)}")
        # OpenMP's wait policy is libgomp's own (spin a while, then sleep), chosen by measurement:
        # within 2-13% of the best policy on a quiet and on a busy machine, where passive lost up to
        # 21% quiet and active up to 19% busy (docs/DESIGN.md, "Threads"; bench/threads.py).
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            raise ScratchnetError(f"cannot load {path}: {e}; reinstall scratchnet (or `make -C csrc`)") from None
        real = _real(np.dtype(dtype))
        Net, OptimizerState = _structs(real)
        i64, u8 = ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_uint8)
        lib.sn_error.restype = ctypes.c_char_p
        lib.sn_threads.argtypes = [ctypes.c_int]
        lib.sn_threads(_threads)
        lib.sn_train_samples.argtypes = [ctypes.POINTER(Net), ctypes.POINTER(OptimizerState), ctypes.c_int, u8, u8,
                                       i64, ctypes.c_int64, ctypes.c_int, ctypes.c_double,
                                       ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                                       ctypes.POINTER(ctypes.c_int), i64]
        lib.sn_predict.argtypes = [ctypes.POINTER(Net), u8, ctypes.c_int64, ctypes.POINTER(real)]
        _libraries[bits] = (lib, Net, OptimizerState, real)
    return _libraries[bits]


def set_threads(threads: int) -> None:
    """Cap the C engine's OpenMP threads at ``threads`` (>= 1), in the libraries loaded now and later."""
    global _threads
    _threads = threads
    for lib, *_ in _libraries.values():
        lib.sn_threads(threads)


def threads(dtype: np.dtype) -> int:
    """The threads the library for ``dtype`` uses on large products (1 when built without OpenMP)."""
    return library(dtype)[0].sn_threads(0)


def _pointer(array: np.ndarray, real):
    assert array.flags.c_contiguous and array.flags.writeable
    return array.ctypes.data_as(ctypes.POINTER(real))


def _net(net: Network, Net, real):
    if net.n_layers > MAX_LAYERS:
        raise ScratchnetError(f"the C engine takes at most {MAX_LAYERS} layers, the network has {net.n_layers}")
    c = Net(n_layers=net.n_layers, hidden=ACTIVATION_CODES[net.hidden], output=ACTIVATION_CODES[net.output])
    for i, size in enumerate(net.sizes):
        c.sizes[i] = size
    for layer, (w, b) in enumerate(zip(net.weights, net.biases)):
        c.weights[layer], c.biases[layer] = _pointer(w, real), _pointer(b, real)
    return c


def _check(lib, status: int) -> None:
    if status != 0:
        raise ScratchnetError(f"C engine: {lib.sn_error().decode(errors='replace')}")


def predict(net: Network, images: np.ndarray) -> np.ndarray:
    """Output activations (n, n_out) for uint8 images (n, rows, cols), computed in C."""
    lib, Net, _, real = library(net.dtype)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    outputs = np.empty((len(images), net.sizes[-1]), dtype=net.dtype)
    c_net = _net(net, Net, real)
    _check(lib, lib.sn_predict(ctypes.byref(c_net), images.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                               len(images), _pointer(outputs, real)))
    return outputs


def train_epoch(net: Network, optimizer, config: TrainConfig, images: np.ndarray, labels: np.ndarray,
                order: np.ndarray, lr: float, stop=None, progress=None) -> tuple[float, float]:
    """numpy_engine.train_epoch, in C: the same order and arithmetic (tests/test_cengine.py)."""
    lib, Net, OptimizerState, real = library(net.dtype)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    order = np.ascontiguousarray(order, dtype=np.int64)
    c_net = _net(net, Net, real)
    state = OptimizerState(kind=OPTIMIZER_CODES[optimizer.kind], momentum=optimizer.momentum,
                           weight_decay=optimizer.weight_decay, steps=optimizer.steps)
    slots = {"velocity": ("velocity_w", "velocity_b"), "m": ("m_w", "m_b"), "v": ("v_w", "v_b")}
    for slot, arrays in optimizer.slots.items():
        for index, array in enumerate(arrays):
            getattr(state, slots[slot][index % 2])[index // 2] = _pointer(array, real)
    u8 = ctypes.POINTER(ctypes.c_uint8)
    flag, done_in_chunk = ctypes.c_int(0), ctypes.c_int64(0)
    chunk_loss, chunk_accuracy = ctypes.c_double(), ctypes.c_double()
    loss_sum = correct = 0.0

    def train_chunk(start: int, end: int) -> int:
        nonlocal loss_sum, correct
        part = order[start:end]
        _check(lib, lib.sn_train_samples(
            ctypes.byref(c_net), ctypes.byref(state), LOSS_CODES[config.loss], images.ctypes.data_as(u8),
            labels.ctypes.data_as(u8), part.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), len(part),
            config.batch_size, lr, ctypes.byref(chunk_loss), ctypes.byref(chunk_accuracy), ctypes.byref(flag),
            ctypes.byref(done_in_chunk)))
        seen = done_in_chunk.value
        loss_sum += chunk_loss.value * seen
        correct += chunk_accuracy.value * seen
        optimizer.steps = state.steps
        return seen

    done = train_in_chunks(len(order), config.batch_size, train_chunk, stop, progress)
    return loss_sum / max(done, 1), correct / max(done, 1)

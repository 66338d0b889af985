"""How a run asks an engine to stop: a flag set from a signal handler or another thread and read by
the engines (numpy_engine.py, cengine.py) between two batches, so that the parameters are never
left half-updated. It lives apart from run.py so that the engines need nothing of their driver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StopFlag:
    requested: bool = False
    samples_done: int = 0  # by the last train_epoch call
    partial: Any = None  # run.PartialEpoch: set by run.train_epochs when it stopped inside an epoch

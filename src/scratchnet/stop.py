"""How a run asks an engine to stop: a flag set from a signal handler or another thread and read by
the engines (numpy_engine.py, cengine.py) between two batches, so that the parameters are never
left half-updated; and the loop over an epoch's chunks both engines run, where the flag and the
progress bar are seen. It lives apart from run.py so that the engines need nothing of their driver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHUNK = 2_000  # samples an engine takes at a time in an epoch: Ctrl-C and the progress bar are seen between chunks


@dataclass
class StopFlag:
    requested: bool = False
    samples_done: int = 0  # by the last train_epoch call
    partial: Any = None  # run.PartialEpoch: set by run.train_epochs when it stopped inside an epoch


def train_in_chunks(n: int, batch_size: int, train_chunk: Callable[[int, int], int], stop: StopFlag | None,
                    progress: Callable[[int], None] | None) -> int:
    """Call ``train_chunk(start, end)`` on samples [0, n) of an epoch's order, a chunk of whole batches at a
    time, until the end or ``stop`` is requested; ``train_chunk`` returns how many samples it trained (fewer
    than end - start only when stopped). ``progress`` gets the count done after each chunk. Returns that
    count, also left in ``stop.samples_done``."""
    chunk_size = batch_size * max(1, CHUNK // batch_size)
    done = 0
    for start in range(0, n, chunk_size):
        done += train_chunk(start, min(start + chunk_size, n))
        if progress:
            progress(done)
        if stop and stop.requested:
            break
    if stop:
        stop.samples_done = done
    return done

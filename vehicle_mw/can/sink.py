"""Where ingest puts frame batches: a ring (``push_batch``) or a Python callable.

Anything with ``push_batch(buffer) -> int`` (records accepted) is a sink, e.g.
``vehicle_mw.native.SlotRing`` with 88-byte slots. :class:`CallbackSink`
adapts a function taking a FRAME_DTYPE array (valid only during the call).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from vehicle_mw.native.records import FRAME_DTYPE, FRAME_SIZE


class FrameSink(Protocol):
    def push_batch(self, buf) -> int:
        """Take up to len(buf) // 88 frame records; return how many were taken."""


class CallbackSink:
    """A sink calling ``fn(frames: np.ndarray[FRAME_DTYPE])`` for each batch (all accepted)."""

    def __init__(self, fn: Callable[[np.ndarray], object]):
        self.fn = fn

    def push_batch(self, buf) -> int:
        frames = np.frombuffer(buf, FRAME_DTYPE)
        self.fn(frames)
        return len(frames)


class CollectingSink:
    """Keeps copies of every batch (tests and small tools); thread-safe, with a wait for a count."""

    def __init__(self):
        self._parts: list[np.ndarray] = []
        self._count = 0
        self._cond = threading.Condition()

    def push_batch(self, buf) -> int:
        frames = np.frombuffer(bytes(buf), FRAME_DTYPE)
        with self._cond:
            self._parts.append(frames)
            self._count += len(frames)
            self._cond.notify_all()
        return len(frames)

    @property
    def count(self) -> int:
        return self._count

    def wait_for(self, n: int, timeout: float) -> bool:
        """Block until at least ``n`` frames arrived or ``timeout`` seconds pass."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count >= n, timeout)

    def frames(self) -> np.ndarray:
        with self._cond:
            return np.concatenate(self._parts) if self._parts else np.empty(0, FRAME_DTYPE)


def deliver(sink: FrameSink, view: memoryview, *, block: bool, stop: threading.Event | None = None) -> int:
    """Push a batch; with ``block`` retry the rest while the sink is full. Returns records delivered.

    A ring is waited on (``wait_space``); other sinks are polled with a short,
    growing pause (up to 1 ms). Live buses pass ``block=False`` and count drops.
    """
    total = len(view) // FRAME_SIZE
    done = sink.push_batch(view)
    pause = 20e-6
    wait_space = getattr(sink, "wait_space", None)
    while block and done < total and not (stop is not None and stop.is_set()):
        if wait_space is not None:
            wait_space(0.05)
        else:
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)
        done += sink.push_batch(view[done * FRAME_SIZE :])
    return done


__all__ = ["CallbackSink", "CollectingSink", "FrameSink", "deliver"]

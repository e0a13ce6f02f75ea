"""What every stage of the runtime offers its host (a thread of the runtime, or its own process)."""

from __future__ import annotations

import threading
import time
from typing import Any

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.native import SlotRing


class StageFailed(VehicleMwError):
    """A stage cannot go on (a worker thread died); its process exits and is restarted."""


class Stage:
    """start() -> poll() periodically -> drain() -> stop(); counters() any time."""

    name = "stage"

    def start(self) -> None:
        raise NotImplementedError

    def poll(self) -> None:
        """Called a few times a second by the host: notice failures (raise StageFailed), log changes."""

    def counters(self) -> dict[str, Any]:
        return {}

    def drain(self, timeout: float) -> None:
        """Clean stop: let what is in this stage's input rings pass through (bounded)."""

    def stop(self) -> None:
        raise NotImplementedError


def wait_empty(rings: list[SlotRing], timeout: float) -> bool:
    """Bounded wait until the consumers have taken everything from ``rings``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while any(len(r) for r in rings):
        if time.monotonic() >= deadline:
            return False
        pause.wait(0.01)
    return True


__all__ = ["Stage", "StageFailed", "wait_empty"]

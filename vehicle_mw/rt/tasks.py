"""The three kinds of work an executor runs: periodic tasks, ring-triggered tasks, one-shot timers."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from vehicle_mw.rt.stats import TaskStats


class ErrorPolicy(enum.StrEnum):
    """What happens to a task whose function raises (the error is always logged and counted)."""

    RETRY = "retry"  # keep activating it; stop only after ``max_errors`` consecutive failures
    STOP = "stop"  # stop this task at its first error; the other tasks carry on


@runtime_checkable
class RingSource(Protocol):
    """What a ring-triggered task waits on: ``vehicle_mw.native.SlotRing`` or anything alike.

    ``wait(timeout)`` blocks (without spinning) until data is there or ``timeout``
    seconds pass (``0`` polls) and says whether data is there.
    """

    def wait(self, timeout: float | None) -> bool: ...


_order = itertools.count()


@dataclass(eq=False)
class Task:
    """Common part: name, statistics, error policy."""

    name: str
    core: int | None
    on_error: ErrorPolicy
    max_errors: int | None
    stats: TaskStats = field(init=False)
    consecutive_errors: int = field(default=0, init=False)
    seq: int = field(default_factory=lambda: next(_order), init=False)

    kind = "task"

    def __post_init__(self) -> None:
        self.stats = TaskStats(self.name, self.kind)


@dataclass(eq=False, kw_only=True)
class PeriodicTask(Task):
    """Runs ``fn()`` at ``epoch + offset + k * period``; must finish by release + ``deadline``."""

    fn: Callable[[], Any]
    period_ns: int
    offset_ns: int
    deadline_ns: int
    next_release: int = field(default=0, init=False)

    kind = "periodic"


@dataclass(eq=False, kw_only=True)
class RingTask(Task):
    """Runs ``handler(batch)`` for each non-empty ``drain()`` while ``ring`` has data."""

    ring: RingSource
    handler: Callable[[Any], Any]
    drain: Callable[[], Sized | None]

    kind = "ring"


@dataclass(eq=False, kw_only=True)
class TimerTask(Task):
    """Runs ``fn()`` once at ``due_ns`` unless cancelled."""

    fn: Callable[[], Any]
    due_ns: int
    cancelled: bool = field(default=False, init=False)
    done: bool = field(default=False, init=False)

    kind = "timer"

    def cancel(self) -> bool:
        """Cancel if it has not run yet; returns whether it was cancelled."""
        if self.done:
            return False
        self.cancelled = True
        return True


__all__ = ["ErrorPolicy", "PeriodicTask", "RingSource", "RingTask", "Task", "TimerTask"]

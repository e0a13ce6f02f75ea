"""Per-task timing statistics kept by the executor thread that runs the task."""

from __future__ import annotations

from dataclasses import dataclass, field

from vehicle_mw.rt.histogram import LatencyHistogram


@dataclass
class TaskStats:
    """What one task did: activations, lateness, execution time, misses, overruns, errors.

    *lateness*: start of the activation minus its release time (how late the
    executor woke it). *deadline miss*: the activation finished after release +
    relative deadline. *wake*: the periodic wake-up alone, read in C as soon as the sleep
    returns (what cyclictest measures); ``lateness - wake`` is the executor's own dispatch
    (GIL re-acquisition, bookkeeping, the call into the task). *overrun*: a release was
    skipped because the previous activation was still running when it came due.
    """

    name: str
    kind: str
    runs: int = 0
    deadline_misses: int = 0
    overruns: int = 0
    errors: int = 0
    stopped: bool = False
    last_error: str | None = None
    lateness: LatencyHistogram = field(default_factory=LatencyHistogram)
    execution: LatencyHistogram = field(default_factory=LatencyHistogram)
    wake: LatencyHistogram = field(default_factory=LatencyHistogram)
    records: int = 0  # ring tasks: records drained

    def as_dict(self) -> dict[str, object]:
        """A plain snapshot (ns values) for logs, JSON and tests."""
        return {
            "name": self.name,
            "kind": self.kind,
            "runs": self.runs,
            "deadline_misses": self.deadline_misses,
            "overruns": self.overruns,
            "errors": self.errors,
            "stopped": self.stopped,
            "last_error": self.last_error,
            "records": self.records,
            "lateness_ns": self.lateness.summary(),
            "execution_ns": self.execution.summary(),
            "wake_ns": self.wake.summary(),
        }


__all__ = ["TaskStats"]

"""The session table both transport-protocol reassemblers keep (J1939 TP, ISO-TP).

Timeouts run on frame time, so a replayed log expires sessions exactly as the bus did; while no
frame comes, :meth:`SessionTable.expire_idle` advances frame time by the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SessionTable:
    """Open sessions keyed by bus and addresses, each with a deadline in frame time.

    Subclasses set ``self.counters`` (with a ``timeouts`` field) and store their sessions in
    ``self._sessions``; :meth:`_frame_seen` is the first thing their ``feed`` does.
    """

    counters: Any

    def __init__(self, clock: Callable[[], int]):
        self.clock = clock
        self._sessions: dict[Any, Any] = {}  # key -> session with a deadline_ns
        self._last_ts = 0  # newest frame timestamp seen, and the clock reading when it came
        self._last_clock = 0

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def expire(self, now_ns: int) -> int:
        """Drop sessions whose timeout passed at ``now_ns`` (frame time); returns how many."""
        late = [k for k, s in self._sessions.items() if now_ns > s.deadline_ns]
        for k in late:
            del self._sessions[k]
        self.counters.timeouts += len(late)
        return len(late)

    def expire_idle(self) -> int:
        """Apply timeouts while no frame comes: frame time advanced by the clock since the last frame."""
        if not self._sessions:
            return 0
        return self.expire(self._last_ts + (self.clock() - self._last_clock))

    def _frame_seen(self, timestamp_ns: int) -> None:
        """Note a frame's time and expire what it makes late."""
        self._last_ts = max(self._last_ts, timestamp_ns)
        self._last_clock = self.clock()
        if self._sessions:
            self.expire(timestamp_ns)

"""Restart pacing: exponential backoff with jitter, and a restart budget per time window."""

from __future__ import annotations

import random
from collections import deque

from vehicle_mw.manifest.execution import RestartPolicy


class RestartBudget:
    """Decides the delay before the next restart, or that restarts are exhausted."""

    def __init__(self, policy: RestartPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.rng = rng or random.Random()
        self.recent: deque[float] = deque()  # times of restarts inside the window
        self.consecutive = 0

    def next_delay(self, now: float) -> float | None:
        """Seconds to wait before restarting, or None when the budget is spent."""
        p = self.policy
        while self.recent and now - self.recent[0] > p.window:
            self.recent.popleft()
        if len(self.recent) >= p.max_restarts:
            return None
        self.recent.append(now)
        base = min(p.initial_delay * p.factor**self.consecutive, p.max_delay)
        self.consecutive += 1
        return max(0.0, base * (1 + self.rng.uniform(-p.jitter, p.jitter)))

    def healthy_for_a_while(self) -> None:
        """The app ran cleanly long enough: the next failure starts the backoff again."""
        self.consecutive = 0


__all__ = ["RestartBudget"]

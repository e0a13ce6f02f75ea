"""Reconnect delays: exponential growth, capped, fully jittered (no two vehicles in lockstep)."""

from __future__ import annotations

import random

from vehicle_mw.channel import backoff_delay


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter():
    rng = random.Random(5)
    for attempt in range(12):
        ceiling = min(5.0, 0.1 * 2**attempt)
        delays = [backoff_delay(attempt, 0.1, 5.0, rng) for _ in range(200)]
        assert all(min(0.05, ceiling) <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 150  # jittered, not a fixed schedule
    assert max(backoff_delay(40, 0.1, 5.0, rng) for _ in range(100)) <= 5.0

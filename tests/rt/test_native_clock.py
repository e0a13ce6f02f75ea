"""The native clock: absolute sleep never returns early, releases the GIL, slack is settable."""

from __future__ import annotations

import threading
import time

import pytest

from vehicle_mw.native import get_timer_slack_ns, monotonic_ns, set_timer_slack_ns, sleep_until_ns


def test_monotonic_is_the_same_clock_as_time_monotonic_ns():
    a = time.monotonic_ns()
    b = monotonic_ns()
    c = time.monotonic_ns()
    assert a <= b <= c


def test_sleep_until_never_returns_before_the_deadline():
    for _ in range(20):
        deadline = monotonic_ns() + 1_000_000
        sleep_until_ns(deadline)
        assert monotonic_ns() >= deadline


def test_past_deadline_returns_at_once():
    start = monotonic_ns()
    sleep_until_ns(start - 10_000_000_000)
    sleep_until_ns(0)
    assert monotonic_ns() - start < 1_000_000_000


def test_sleep_releases_the_gil():
    """While one thread sleeps natively, another thread must make progress."""
    started = threading.Event()
    progress = 0
    deadline = monotonic_ns() + 300_000_000

    def sleeper():
        started.set()
        sleep_until_ns(deadline)

    t = threading.Thread(target=sleeper)
    t.start()
    assert started.wait(5)
    while t.is_alive():
        progress += 1
    t.join()
    # With the GIL held for 300 ms the loop would barely run; released, it spins freely.
    assert progress > 10_000


def test_timer_slack_is_settable_and_zero_refused():
    result = {}

    def body():  # a fresh thread, so the test does not change pytest's main thread
        set_timer_slack_ns(1)
        result["slack"] = get_timer_slack_ns()
        with pytest.raises(OSError):
            set_timer_slack_ns(0)
        result["ok"] = True

    t = threading.Thread(target=body)
    t.start()
    t.join(5)
    assert result == {"slack": 1, "ok": True}

"""Monotonic time, absolute-deadline sleep and timer slack from the C core.

The sleep is ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``: periodic work
scheduled on absolute deadlines does not drift, and a signal (EINTR) does not
cut it short. cffi's API mode releases the GIL around the call, so other Python
threads run while one sleeps (``tests/rt/test_native_clock.py`` checks this).
"""

from __future__ import annotations

import os

from vehicle_mw.native._lib import lib


def monotonic_ns() -> int:
    """``CLOCK_MONOTONIC`` in nanoseconds (the same clock as ``time.monotonic_ns``)."""
    return lib.vmw_monotonic_ns()


def sleep_until_ns(deadline_ns: int) -> None:
    """Sleep until the monotonic clock reaches ``deadline_ns``; returns at once if it has."""
    if deadline_ns <= 0:
        return
    rc = lib.vmw_sleep_until_ns(deadline_ns)
    if rc:
        raise OSError(rc, os.strerror(rc))


def set_timer_slack_ns(slack_ns: int) -> None:
    """Set the calling thread's timer slack (the kernel default of 50 us adds jitter)."""
    rc = lib.vmw_set_timer_slack_ns(slack_ns)
    if rc:
        raise OSError(rc, os.strerror(rc))


def get_timer_slack_ns() -> int:
    """The calling thread's timer slack in ns."""
    return lib.vmw_get_timer_slack_ns()


__all__ = ["monotonic_ns", "sleep_until_ns", "set_timer_slack_ns", "get_timer_slack_ns"]

"""Vectorized building blocks of sample selection: thinning, trigger spacing, ranks within groups.

Each is a sequential rule (greedy in stream order) computed with numpy so that the Python loop
runs once per *kept* item that breaks a run, not once per sample.
"""

from __future__ import annotations

import numpy as np

NEVER = -(2**62)  # "no such time yet": far enough back that any time minus an interval is later


def thin(times: np.ndarray, interval: int, last_kept: int) -> np.ndarray:
    """Greedy minimum spacing: keep a sample when it is ``interval`` or more after the last kept one.

    ``times`` ascending (one signal's samples), ``last_kept`` the time of the last sample kept
    before them (``NEVER`` if none). Returns the keep mask.
    """
    n = len(times)
    keep = np.zeros(n, bool)
    if n == 0:
        return keep
    if interval <= 0:
        keep[:] = True
        return keep
    gap_ok = np.empty(n, bool)
    gap_ok[0] = True
    gap_ok[1:] = np.diff(times) >= interval
    bad = np.flatnonzero(~gap_ok)  # where a sample is too close to the one before it
    i = int(np.searchsorted(times, last_kept + interval, side="left"))
    while i < n:
        # i is kept; so is every following sample while its gap to the one before is big enough
        b = int(np.searchsorted(bad, i, side="right"))
        if b == len(bad):
            keep[i:] = True
            break
        stop = int(bad[b])
        keep[i:stop] = True
        i = int(np.searchsorted(times, times[stop - 1] + interval, side="left"))
    return keep


def space_triggers(times: np.ndarray, interval: int, last: int) -> np.ndarray:
    """Positions of the candidate trigger times (ascending) that are ``interval`` or more after the
    last accepted one (greedy: a suppressed candidate does not restart the interval)."""
    if len(times) == 0 or interval <= 0:
        return np.arange(len(times))
    out = []
    i = int(np.searchsorted(times, last + interval, side="left"))
    while i < len(times):
        out.append(i)
        i = int(np.searchsorted(times, times[i] + interval, side="left"))
    return np.array(out, dtype=np.int64)


def group_ranks(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each item: its rank among equal keys in order, and the count of equal keys after it."""
    n = len(keys)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts = np.concatenate(([0], np.flatnonzero(sk[1:] != sk[:-1]) + 1))
    ends = np.append(starts[1:], n)
    sizes = ends - starts
    group = np.repeat(np.arange(len(starts)), sizes)
    rank_sorted = np.arange(n) - starts[group]
    rank = np.empty(n, np.int64)
    rank[order] = rank_sorted
    after = np.empty(n, np.int64)
    after[order] = sizes[group] - 1 - rank_sorted
    return rank, after


__all__ = ["NEVER", "group_ranks", "space_triggers", "thin"]

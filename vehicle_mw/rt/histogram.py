"""Log-linear histogram of nanosecond durations: constant memory, <1 % relative error.

Lateness is recorded once per activation for the life of a process, so keeping
every sample is not an option. Values below 256 ns are exact; above, each power
of two is split into 128 equal buckets (HDR-histogram style), so a reported
percentile is within 1/128 of the true sample. ``max`` and ``min`` are exact.
"""

from __future__ import annotations

_SUB = 128  # buckets per power of two above the exact range
_EXACT = 2 * _SUB  # values below this are their own bucket
_BUCKETS = _EXACT + 64 * _SUB


def _index(value: int) -> int:
    if value < _EXACT:
        return value
    shift = value.bit_length() - 8
    return _EXACT + (shift - 1) * _SUB + ((value >> shift) - _SUB)


def _upper_bound(index: int) -> int:
    """Largest value that falls into bucket ``index``."""
    if index < _EXACT:
        return index
    shift, sub = divmod(index - _EXACT, _SUB)
    shift += 1
    return ((sub + _SUB + 1) << shift) - 1


def _lower_bound(index: int) -> int:
    if index < _EXACT:
        return index
    shift, sub = divmod(index - _EXACT, _SUB)
    shift += 1
    return (sub + _SUB) << shift


class LatencyHistogram:
    """Counts of nanosecond values; percentiles, max, min, mean."""

    __slots__ = ("_counts", "count", "total", "max", "min")

    def __init__(self) -> None:
        self._counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0
        self.max = 0
        self.min = 0

    def record(self, value_ns: int) -> None:
        """Add one value (negative values count as 0)."""
        if value_ns < 0:
            value_ns = 0
        self._counts[_index(value_ns)] += 1
        if self.count == 0 or value_ns < self.min:
            self.min = value_ns
        self.count += 1
        self.total += value_ns
        if value_ns > self.max:
            self.max = value_ns

    def percentile(self, p: float) -> int:
        """Nearest-rank ``p``-th percentile (0 < p <= 100) in ns; 0 when empty.

        The result is the midpoint of the bucket holding that rank, clamped to the
        exact min/max, so it is within 1/256 of the true sample.
        """
        if not 0 < p <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {p}")
        if self.count == 0:
            return 0
        rank = max(1, -(-self.count * p // 100))  # ceil(count * p / 100)
        seen = 0
        for index, n in enumerate(self._counts):
            if n:
                seen += n
                if seen >= rank:
                    mid = (_lower_bound(index) + _upper_bound(index)) // 2
                    return int(min(max(mid, self.min), self.max))
        return self.max  # pragma: no cover - counts always sum to count

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts into this one."""
        if other.count == 0:
            return
        for i, n in enumerate(other._counts):
            if n:
                self._counts[i] += n
        self.min = other.min if self.count == 0 else min(self.min, other.min)
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def summary(self) -> dict[str, float]:
        """p50/p99/p99.9/max/mean in ns, the shape benchmarks and metrics report."""
        return {
            "count": self.count,
            "p50": self.percentile(50),
            "p99": self.percentile(99),
            "p99.9": self.percentile(99.9),
            "max": self.max,
            "mean": self.mean,
        }


__all__ = ["LatencyHistogram"]

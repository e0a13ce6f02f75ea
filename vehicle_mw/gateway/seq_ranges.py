"""A set of batch sequence numbers kept as sorted disjoint ranges.

The gateway remembers which seqs above a vehicle's watermark are done (durable or evicted). One
``evicted_batches_before`` field can name millions of seqs; as ranges that costs one pair, not a
set entry per seq, so no field a vehicle controls makes the state grow beyond its message count.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator


class SeqRanges:
    """Disjoint, non-adjacent inclusive ranges ``[first, last]`` in ascending order."""

    __slots__ = ("_firsts", "_lasts")

    def __init__(self, seqs: Iterable[int] = ()):
        self._firsts: list[int] = []
        self._lasts: list[int] = []
        for seq in sorted(seqs):
            self.add(seq)

    def add(self, first: int, last: int | None = None) -> None:
        """Include ``first..last`` (``last`` defaults to ``first``), merging touching ranges."""
        last = first if last is None else last
        if last < first:
            return
        # ranges that overlap or touch [first, last]: lasts >= first - 1 and firsts <= last + 1
        lo = bisect.bisect_left(self._lasts, first - 1)
        hi = bisect.bisect_right(self._firsts, last + 1)
        if lo < hi:
            first = min(first, self._firsts[lo])
            last = max(last, self._lasts[hi - 1])
        self._firsts[lo:hi] = [first]
        self._lasts[lo:hi] = [last]

    def __contains__(self, seq: object) -> bool:
        if not isinstance(seq, int):
            return False
        i = bisect.bisect_right(self._firsts, seq) - 1
        return i >= 0 and self._lasts[i] >= seq

    def drop_through(self, seq: int) -> None:
        """Forget every seq <= ``seq``."""
        i = bisect.bisect_right(self._lasts, seq)
        del self._firsts[:i]
        del self._lasts[:i]
        if self._firsts and self._firsts[0] <= seq:
            self._firsts[0] = seq + 1

    def take_from(self, seq: int) -> int | None:
        """If a range starts at ``seq``, remove it and return its last seq (the watermark's jump)."""
        if self._firsts and self._firsts[0] == seq:
            self._firsts.pop(0)
            return self._lasts.pop(0)
        return None

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._firsts, self._lasts, strict=True))

    def __len__(self) -> int:
        """Number of ranges (not of seqs): what the state costs."""
        return len(self._firsts)

    def __iter__(self) -> Iterator[int]:
        for first, last in zip(self._firsts, self._lasts, strict=True):
            yield from range(first, last + 1)


__all__ = ["SeqRanges"]

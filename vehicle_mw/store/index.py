"""Compact in-memory index of the outbox's batches: one numpy row per batch, not Python objects.

A dict of dataclasses cost ~250 B of RSS per batch (400k small batches: +100 MB); a row here is
36 B. Rows are kept in seq order (appends are monotonic), acknowledged rows leave from the front,
evicted rows are flagged dead and dropped when they outnumber the live ones.
"""

from __future__ import annotations

import bisect

import numpy as np

ROW = np.dtype(
    [
        ("seq", "<u8"),
        ("offset", "<u8"),  # of the record header in its segment
        ("size", "<u4"),  # whole record: header + payload + crc
        ("count", "<u4"),  # samples
        ("lost_before", "<u4"),  # samples lost (evicted, damaged) right before this batch
        ("segment", "<u4"),  # id of the segment in the outbox's segment table
        ("priority", "u1"),
        ("kind", "u1"),
        ("header", "u1"),  # header size (the format generation of the record)
        ("live", "?"),
    ]
)
MAX_LOST = np.iinfo(np.uint32).max


class RecordIndex:
    """Growable seq-ordered table of records; ``rows`` views only the used part."""

    def __init__(self) -> None:
        self._data = np.zeros(64, ROW)
        self._head = 0  # rows before this are acknowledged (gone)
        self._n = 0
        self.live_count = 0

    @property
    def rows(self) -> np.ndarray:
        return self._data[self._head : self._n]

    def add(self, seq, offset, size, count, priority, kind, header, segment, lost_before=0) -> None:
        if self._n == len(self._data):
            self._grow()
        self._data[self._n] = (
            seq,
            offset,
            size,
            count,
            min(lost_before, MAX_LOST),
            segment,
            priority,
            kind,
            header,
            True,
        )
        self._n += 1
        self.live_count += 1

    def _grow(self) -> None:
        rows = self.rows
        keep = rows[rows["live"]] if self.live_count < len(rows) // 2 else rows
        data = np.zeros(max(64, 2 * len(keep)), ROW)
        data[: len(keep)] = keep
        self._data, self._head, self._n = data, 0, len(keep)

    def position(self, seq: int) -> int:
        """Index in ``rows`` of the first row with a seq greater than ``seq``.

        ``bisect`` on the strided column: ``np.searchsorted`` would copy the whole column first.
        """
        return bisect.bisect_right(self.rows["seq"], seq)

    def find(self, seq: int) -> int | None:
        """Index in ``rows`` of the live row of ``seq``."""
        i = self.position(seq) - 1
        rows = self.rows
        return i if i >= 0 and rows[i]["seq"] == seq and rows[i]["live"] else None

    def drop_through(self, seq: int) -> np.ndarray:
        """Forget rows with seq <= ``seq`` (acknowledged); return the live ones among them (a copy)."""
        cut = self.position(seq)
        gone = self.rows[:cut]
        live = gone[gone["live"]].copy()
        self._head += cut
        self.live_count -= len(live)
        return live

    def kill(self, where: np.ndarray) -> None:
        """Flag rows (indices in ``rows``) dead."""
        rows = self.rows
        self.live_count -= int(np.count_nonzero(rows["live"][where]))
        rows["live"][where] = False

    def live_rows(self) -> np.ndarray:
        """Indices in ``rows`` of the live rows."""
        return np.flatnonzero(self.rows["live"])

    def previous_live_seq(self, i: int) -> int:
        """Seq of the last live row before index ``i`` (0 if none)."""
        rows = self.rows
        while i > 0:
            lo = max(0, i - 1024)
            hits = np.flatnonzero(rows["live"][lo:i])
            if len(hits):
                return int(rows["seq"][lo + hits[-1]])
            i = lo
        return 0

    def __len__(self) -> int:
        return self.live_count


__all__ = ["ROW", "RecordIndex"]

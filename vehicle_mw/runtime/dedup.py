"""Exactly-once into the outbox: per-source high-water marks, persisted with the data they cover.

Every stage consumes by peek -> process -> release, so a stage killed between its output and its
release processes the same records again after its restart. What reaches the outbox twice that way
carries (source_id, source_seq) it already stored: the decoder is deterministic (the same frame gives
the same samples in the same order) and each source's sequence numbers only grow. The mark per
source is (last seq stored, the signal ids stored with that seq), so even a frame whose samples
were split over two appends is recognised exactly.

Where the marks live: the outbox's live (unacknowledged) batches are the data itself; batches the
gateway acknowledged are forgotten, so a small file (``highwater.json``, atomically replaced)
records the marks covering every batch up to its ``outbox_seq``. An acknowledgement becomes
permanent only when the outbox writes its state file (at most once a second, and before deleting a
segment), so the marks are written right before any state write that records an ack beyond them
-- not once per ack (an fsync each). What is written is the snapshot taken after the last complete
append, so it never covers samples of an append still in progress. At a restart ``file + live
batches after it`` is exactly what was stored.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import threading
from collections.abc import Callable, Sequence

import numpy as np

from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native import SAMPLE_DTYPE
from vehicle_mw.store import Outbox

log = logging.getLogger("vehicle_mw.runtime")

MARKS_FILE = "highwater.json"


class HighWater:
    """Per source_id: the last seq stored and the signal ids stored with it; :meth:`admit` drops
    what was stored before and advances the marks. (A frame yields each signal at most once.)"""

    def __init__(self, marks: dict[int, tuple[int, frozenset[int]]] | None = None):
        self.marks: dict[int, tuple[int, frozenset[int]]] = dict(marks or {})
        self.duplicates = 0

    def admit(self, samples: np.ndarray) -> np.ndarray:
        """The samples not seen before (in order); the marks then cover ``samples`` too."""
        if not len(samples):
            return samples
        sources = samples["source_id"]
        first = int(sources[0])
        if (sources == first).all():  # the usual case: one ring's samples, one source, all new
            seqs = samples["source_seq"]
            last, _ = self.marks.get(first, (-1, frozenset()))
            if int(seqs.min()) > last:
                top = int(seqs.max())
                self.marks[first] = (top, frozenset(samples["signal_id"][seqs == top].tolist()))
                return samples
        seqs = samples["source_seq"]
        signals = samples["signal_id"]
        keep = np.ones(len(samples), dtype=bool)
        for sid in np.unique(sources).tolist():
            mine = np.flatnonzero(sources == sid)
            s = seqs[mine]
            last, stored = self.marks.get(sid, (-1, frozenset()))
            k = s > last
            same = np.flatnonzero(s == last)
            if len(same):  # the last frame: only its signals not stored yet (a split or a re-offer)
                k[same] = ~np.isin(signals[mine[same]], list(stored))
            keep[mine] = k
            if k.any():
                top = int(s[k].max())
                ids = set(signals[mine[k & (s == top)]].tolist())
                self.marks[sid] = (top, frozenset(ids | stored if top == last else ids))
        dropped = len(samples) - int(np.count_nonzero(keep))
        self.duplicates += dropped
        return samples if not dropped else samples[keep]

    def as_json(self) -> dict[str, list]:
        return {str(k): [int(v[0]), sorted(v[1])] for k, v in self.marks.items()}

    @classmethod
    def from_json(cls, data: dict[str, list]) -> HighWater:
        return cls({int(k): (int(v[0]), frozenset(int(i) for i in v[1])) for k, v in data.items()})


class DedupOutbox(Outbox):
    """The outbox plus the high-water marks of what it stores (see the module docstring).

    ``append_new(samples)`` stores only samples not stored before; ``ack`` (called by the uplink)
    first persists marks covering every batch it is about to delete.
    """

    def __init__(self, directory: str | os.PathLike[str], config: OutboxConfig | None = None) -> None:
        self._snapshot: tuple[int, dict[str, list]] | None = None  # (high seq, marks) after an append
        super().__init__(directory, config)
        self._marks_lock = threading.Lock()
        self._marks_path = pathlib.Path(directory) / MARKS_FILE
        self.high_water, self._marks_seq = self._recover_marks()
        self._snapshot = (self.high_seq, self.high_water.as_json())

    def _recover_marks(self) -> tuple[HighWater, int]:
        covered, hw = 0, HighWater()
        try:
            data = json.loads(self._marks_path.read_text(encoding="utf-8"))
            covered = int(data["outbox_seq"])
            hw = HighWater.from_json(data["marks"])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error(
                "outbox %s: unreadable %s (%s): starting without marks", self.directory, MARKS_FILE, exc
            )
        after = covered
        while True:  # replay the live batches the file does not cover, in order
            batches = self.pending(after, 256)
            if not batches:
                break
            for b in batches:
                hw.admit(b.samples)
                after = b.seq
        hw.duplicates = 0
        return hw, covered

    def append_new(
        self,
        samples: np.ndarray | Sequence[np.ndarray],
        select: Callable[[np.ndarray, Callable[..., list[int]]], int] | None = None,
    ) -> int:
        """Store the samples not stored before, as one append; returns how many were stored.
        ``samples`` may be several arrays (one per ring: each is admitted on its own, the fast case).
        ``select(fresh, append)``, when given, decides what of the fresh samples is stored (and with
        which priority) by calling ``append(samples, priority)`` itself (runtime/campaigns.py)."""
        parts = [samples] if isinstance(samples, np.ndarray) else list(samples)
        with self._marks_lock:
            fresh = [f for f in (self.high_water.admit(p) for p in parts) if len(f)]
            if not fresh:
                return 0
            if len(fresh) == 1:
                batch = fresh[0]
            else:  # concatenated as bytes: numpy's structured-dtype concatenate is ~10x slower
                batch = np.concatenate([np.ascontiguousarray(f).view(np.uint8) for f in fresh])
                batch = batch.view(SAMPLE_DTYPE)
            stored = len(batch)
            if select is None:
                self.append(batch)
            else:
                stored = select(batch, self.append)
            self._snapshot = (self.high_seq, self.high_water.as_json())
            return stored

    def _write_marks(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        covered, marks = snapshot
        tmp = self._marks_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"outbox_seq": covered, "marks": marks}, fh)
            fh.flush()
            if self.config.fsync != "none":
                os.fsync(fh.fileno())
        os.replace(tmp, self._marks_path)
        self._marks_seq = covered

    def _write_state(self) -> None:
        # (called with the outbox lock held, by every path that persists an acknowledgement)
        if self._snapshot is not None and self._acked > self._marks_seq:
            self._write_marks()
        super()._write_state()

    def close(self) -> None:
        if not self._closed and self._snapshot is not None:
            with self._lock:
                self._write_marks()
        super().close()


__all__ = ["DedupOutbox", "HighWater", "MARKS_FILE"]

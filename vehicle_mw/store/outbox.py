"""Durable store-and-forward outbox of sample batches.

Samples appended here survive a crash (kill -9, and power loss with ``fsync: batch``) and leave
the disk only when the gateway has acknowledged them, or when the size bound forces an eviction,
which takes the lowest priority, oldest batches first and is counted so the gateway learns of the
gap (``SampleBatch.evicted_before``, ``VehicleStatus.evicted``).

Every append gets persistent batch sequence numbers (1, 2, 3, ... never reused, even when every
batch was acknowledged and every segment deleted): the delivery contract of ``link.proto``.
Batches are stored in their wire encoding (serialized ``SampleColumns``, see
:mod:`vehicle_mw.store.segment`): encoded once when appended, about two thirds of the bytes of the
raw records, and sent by reading them back and framing them.
Thread-safe: producers may append from any thread while the uplink reads and acknowledges.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import pathlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.native.wire import columns_bytes
from vehicle_mw.store.segment import KIND_COLUMNS, KIND_SAMPLES, OVERHEAD, RecordRef, record_parts, scan
from vehicle_mw.v1 import link_pb2

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
SEGMENT_GLOB = "seg-*.log"
LOW_WATERMARK = 0.9  # eviction frees down to this fraction of max_bytes, so it does not run per append


class OutboxError(VehicleMwError):
    """The outbox cannot be used as asked (bad input, unusable folder)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch read back for sending: its payload as stored, and what the gateway must learn with it."""

    seq: int
    priority: int
    count: int  # samples in the batch
    kind: int  # KIND_COLUMNS (payload = serialized SampleColumns) or KIND_SAMPLES (vmw_sample records)
    payload: bytes
    evicted_before: int  # records evicted between the previous live batch and this one
    evicted_batches_before: int  # seqs right before this one that were evicted (never to be sent)

    @property
    def columns(self) -> bytes:
        """The serialized ``SampleColumns`` of this batch (as stored, for records written now)."""
        if self.kind == KIND_COLUMNS:
            return self.payload
        return columns_bytes(np.frombuffer(self.payload, SAMPLE_DTYPE))

    @property
    def samples(self) -> np.ndarray:
        """The batch as a SAMPLE_DTYPE array (decoded; ``flags`` are not part of the wire encoding)."""
        if self.kind == KIND_SAMPLES:
            return np.frombuffer(self.payload, SAMPLE_DTYPE)
        from vehicle_mw.channel.protocol import samples_from_columns  # the protocol's decoder

        return samples_from_columns(link_pb2.SampleColumns.FromString(self.payload), "outbox")


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What the outbox holds and what it has lost, for status reports and metrics."""

    acked_seq: int
    high_seq: int
    backlog_batches: int
    backlog_records: int
    disk_bytes: int
    evicted_records: int
    torn_bytes_cut: int


@dataclass(eq=False)
class _Segment:
    path: pathlib.Path
    fd: int
    size: int
    refs: dict[int, RecordRef] = field(default_factory=dict)  # live (unacked, not evicted) records

    @property
    def first_seq(self) -> int:
        return int(self.path.stem.split("-")[1])


class Outbox:
    """Append-only segment log with CRC per record, fsync policy, bound and priority eviction."""

    def __init__(self, directory: str | os.PathLike[str], config: OutboxConfig | None = None) -> None:
        self.config = config or OutboxConfig(directory=str(directory))
        self.directory = pathlib.Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutboxError(f"outbox folder {self.directory}: {exc.strerror}") from None
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._segments: list[_Segment] = []
        self._live: list[int] = []  # sorted live seqs
        self._where: dict[int, _Segment] = {}
        self._acked = 0
        self._high = 0
        self._synced = 0  # highest seq that is durable under the fsync policy (sendable)
        self._evicted_total = 0
        self._evicted_before: dict[int, int] = {}
        self._evicted_pending = 0  # evicted records not yet attached to a later live batch
        self._torn_cut = 0
        self._last_fsync = time.monotonic()
        self._dirty = False
        self._last_state_write = 0.0
        self._closed = False
        self._recover()

    # ------------------------------------------------------------------ public API

    def append(self, samples: np.ndarray, priority: int = 0) -> list[int]:
        """Store samples (SAMPLE_DTYPE array) as one or more batches; return their seqs.

        Batches rejected by the bound (everything stored has a higher priority) are counted as
        evicted and get no seq.
        """
        if not isinstance(samples, np.ndarray) or samples.dtype != SAMPLE_DTYPE:
            raise OutboxError(
                f"append needs a numpy array of SAMPLE_DTYPE, got {getattr(samples, 'dtype', samples)!r}"
            )
        if not 0 <= priority <= 255:
            raise OutboxError(f"priority must be 0..255, got {priority}")
        if samples.ndim != 1 or len(samples) == 0:
            return []
        data = np.ascontiguousarray(samples)
        step = self.config.max_batch_samples
        seqs: list[int] = []
        with self._lock:
            self._check_open()
            for start in range(0, len(data), step):
                part = data[start : start + step]
                # stored as it will be sent: one encoding per batch, ~2/3 of the record bytes on disk
                seq = self._append_one(columns_bytes(part), len(part), priority)
                if seq is not None:
                    seqs.append(seq)
            self._maybe_fsync()
        for listener in list(self._listeners):
            listener()
        return seqs

    def pending(self, after_seq: int, limit: int) -> list[Batch]:
        """Up to ``limit`` durable live batches with seq > after_seq, in seq order.

        Only batches already synced under the fsync policy are returned, so nothing that is sent
        can be lost by a power cut and its seq reused afterwards (``fsync: none`` trusts the page
        cache: safe against a process crash, not against power loss).
        """
        with self._lock:
            self._check_open()
            start = bisect.bisect_right(self._live, max(after_seq, self._acked))
            stop = bisect.bisect_right(self._live, self._synced, start, min(len(self._live), start + limit))
            out = []
            for i, seq in enumerate(self._live[start:stop], start):
                previous = max(self._live[i - 1] if i > 0 else 0, self._acked)
                seg = self._where[seq]
                ref = seg.refs[seq]
                out.append(
                    Batch(
                        seq=seq,
                        priority=ref.priority,
                        count=ref.count,
                        kind=ref.kind,
                        payload=os.pread(seg.fd, ref.payload_size, ref.payload_offset),
                        evicted_before=self._evicted_before.get(seq, 0),
                        evicted_batches_before=max(0, seq - previous - 1),
                    )
                )
            return out

    def ack(self, seq: int) -> None:
        """The gateway holds every batch <= seq durably: forget them, delete emptied segments."""
        with self._lock:
            self._check_open()
            if seq <= self._acked:
                return
            self._acked = min(seq, self._high)
            cut = bisect.bisect_right(self._live, self._acked)
            for s in self._live[:cut]:
                seg = self._where.pop(s)
                del seg.refs[s]
                self._evicted_before.pop(s, None)
            del self._live[:cut]
            dead = [seg for seg in self._segments[:-1] if not seg.refs]
            now = time.monotonic()
            if dead or now - self._last_state_write > 1.0:
                self._write_state()  # before unlinking: the state must outlive the seqs it covers
            for seg in dead:
                self._drop_segment(seg)

    def sync(self) -> None:
        """fsync whatever is written but not yet synced; it becomes visible to :meth:`pending`."""
        with self._lock:
            if self._dirty and self._segments and not self._closed:
                os.fsync(self._segments[-1].fd)
                self._dirty = False
                self._last_fsync = time.monotonic()
            self._synced = self._high

    def sync_if_due(self) -> None:
        """With ``fsync: interval``: sync when the interval has passed (the uplink calls this)."""
        if self._synced < self._high and time.monotonic() - self._last_fsync >= self.config.fsync_interval_s:
            self.sync()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (from the appending thread) after every append."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    @property
    def acked_seq(self) -> int:
        return self._acked

    @property
    def high_seq(self) -> int:
        return self._high

    def stats(self) -> OutboxStats:
        with self._lock:
            return OutboxStats(
                acked_seq=self._acked,
                high_seq=self._high,
                backlog_batches=len(self._live),
                backlog_records=sum(self._where[s].refs[s].count for s in self._live),
                disk_bytes=sum(seg.size for seg in self._segments),
                evicted_records=self._evicted_total,
                torn_bytes_cut=self._torn_cut,
            )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._segments:
                if self.config.fsync != "none":
                    os.fsync(self._segments[-1].fd)
            self._write_state()
            for seg in self._segments:
                os.close(seg.fd)
            self._closed = True

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ appending

    def _append_one(self, payload: bytes, count: int, priority: int) -> int | None:
        size = len(payload) + OVERHEAD
        if size > self.config.segment_bytes:
            raise OutboxError(
                f"a batch of {count} samples ({size} B) exceeds segment_bytes={self.config.segment_bytes}; "
                "lower max_batch_samples"
            )
        if self._disk_bytes() + size > self.config.max_bytes and not self._make_room(size, priority):
            self._record_eviction(count)
            return None
        seg = self._segments[-1] if self._segments else None
        if seg is None or (seg.size and seg.size + size > self.config.segment_bytes):
            seg = self._roll()
        seq = self._high + 1
        parts = record_parts(seq, priority, payload, count, KIND_COLUMNS)
        written = os.writev(seg.fd, parts)  # one syscall, no copy of the payload into a joined buffer
        if written != size:  # a short write on a regular file means the disk is full
            os.ftruncate(seg.fd, seg.size)
            raise OutboxError(f"{seg.path}: short write ({written} of {size} B): disk full?")
        seg.refs[seq] = RecordRef(
            seq=seq, count=count, priority=priority, offset=seg.size, size=size, kind=KIND_COLUMNS
        )
        seg.size += size
        self._where[seq] = seg
        self._live.append(seq)
        self._high = seq
        self._dirty = True
        if self._evicted_pending:
            self._evicted_before[seq] = self._evicted_before.get(seq, 0) + self._evicted_pending
            self._evicted_pending = 0
        return seq

    def _maybe_fsync(self) -> None:
        policy = self.config.fsync
        if policy == "none":
            self._synced = self._high
        elif policy == "batch" or (
            policy == "interval" and time.monotonic() - self._last_fsync >= self.config.fsync_interval_s
        ):
            self.sync()

    def _roll(self) -> _Segment:
        if self._segments and self.config.fsync != "none":
            os.fsync(self._segments[-1].fd)
        path = self.directory / f"seg-{self._high + 1:020d}.log"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        seg = _Segment(path=path, fd=fd, size=0)
        self._segments.append(seg)
        if self.config.fsync != "none":
            self._fsync_dir()
        # older segments emptied by acks can go now that they are no longer the active one
        for old in [s for s in self._segments[:-1] if not s.refs]:
            self._write_state()
            self._drop_segment(old)
        return seg

    # ------------------------------------------------------------------ eviction

    def _disk_bytes(self) -> int:
        return sum(seg.size for seg in self._segments)

    def _make_room(self, size: int, priority: int) -> bool:
        """Free space for ``size`` bytes: compact away dead records, then evict low priority batches."""
        for seg in list(self._segments):
            if seg.size > sum(r.size for r in seg.refs.values()):
                self._compact(seg)
        if self._disk_bytes() + size <= self.config.max_bytes:
            return True
        limit = self.config.max_bytes
        target = int(limit * LOW_WATERMARK)
        candidates = sorted(
            (self._where[s].refs[s] for s in self._live if self._where[s].refs[s].priority <= priority),
            key=lambda r: (r.priority, r.seq),
        )
        disk = self._disk_bytes()
        victims: list[RecordRef] = []
        for ref in candidates:
            if disk + size <= target:
                break
            victims.append(ref)
            disk -= ref.size
        if disk + size > limit:
            return False  # even evicting every lower-or-equal priority batch would not do
        touched: set[int] = set()
        for ref in victims:
            seg = self._where.pop(ref.seq)
            del seg.refs[ref.seq]
            self._live.remove(ref.seq)
            touched.add(id(seg))
            lost = ref.count + self._evicted_before.pop(ref.seq, 0)
            self._evicted_total += ref.count
            later = bisect.bisect_right(self._live, ref.seq)
            if later < len(self._live):
                nxt = self._live[later]
                self._evicted_before[nxt] = self._evicted_before.get(nxt, 0) + lost
            else:
                self._evicted_pending += lost
        for seg in list(self._segments):
            if id(seg) in touched:
                self._compact(seg)
        self._write_state()
        log.warning(
            "outbox %s full: evicted %d batches (priority <= %d)", self.directory, len(victims), priority
        )
        return True

    def _record_eviction(self, count: int) -> None:
        self._evicted_total += count
        self._evicted_pending += count
        self._write_state()

    def _compact(self, seg: _Segment) -> None:
        """Rewrite a segment with only its live records (atomic rename), or delete it if none."""
        active = seg is self._segments[-1]
        if not seg.refs and not active:
            self._write_state()
            self._drop_segment(seg)
            return
        tmp = seg.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        new_refs: dict[int, RecordRef] = {}
        offset = 0
        for seq in sorted(seg.refs):
            ref = seg.refs[seq]
            raw = os.pread(seg.fd, ref.size, ref.offset)
            os.write(fd, raw)
            new_refs[seq] = RecordRef(
                seq=seq, count=ref.count, priority=ref.priority, offset=offset, size=ref.size, kind=ref.kind
            )
            offset += ref.size
        if self.config.fsync != "none":
            os.fsync(fd)
        os.replace(tmp, seg.path)
        if self.config.fsync != "none":
            self._fsync_dir()
        os.close(seg.fd)
        seg.fd = fd
        seg.size = offset
        seg.refs = new_refs

    def _drop_segment(self, seg: _Segment) -> None:
        os.close(seg.fd)
        try:
            seg.path.unlink()
        except FileNotFoundError:
            pass
        self._segments.remove(seg)

    # ------------------------------------------------------------------ state and recovery

    def _write_state(self) -> None:
        state = {
            "acked_seq": self._acked,
            "high_seq": self._high,
            "evicted_total": self._evicted_total,
            "evicted_pending": self._evicted_pending,
            "evicted_before": {str(k): v for k, v in self._evicted_before.items()},
        }
        tmp = self.directory / (STATE_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
            fh.flush()
            if self.config.fsync != "none":
                os.fsync(fh.fileno())
        os.replace(tmp, self.directory / STATE_FILE)
        if self.config.fsync != "none":
            self._fsync_dir()
        self._last_state_write = time.monotonic()

    def _read_state(self) -> dict:
        path = self.directory / STATE_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OutboxError(
                f"{path}: unreadable outbox state ({exc}); move it away to start afresh"
            ) from None

    def _recover(self) -> None:
        state = self._read_state()
        self._acked = int(state.get("acked_seq", 0))
        self._high = max(int(state.get("high_seq", 0)), self._acked)
        self._evicted_total = int(state.get("evicted_total", 0))
        self._evicted_pending = int(state.get("evicted_pending", 0))
        evicted_before = {int(k): int(v) for k, v in state.get("evicted_before", {}).items()}
        for stale in self.directory.glob("seg-*.tmp"):
            stale.unlink()  # a compaction that did not reach its rename
        last_seq = 0
        for path in sorted(self.directory.glob(SEGMENT_GLOB)):
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
            size = os.fstat(fd).st_size
            refs, valid = scan(fd, size)
            if valid < size:
                log.warning("outbox %s: torn tail of %d B cut at offset %d", path, size - valid, valid)
                os.ftruncate(fd, valid)
                self._torn_cut += size - valid
            seg = _Segment(path=path, fd=fd, size=valid)
            for ref in refs:
                if ref.seq <= last_seq:
                    continue  # cannot happen with this writer; never deliver a seq twice
                last_seq = ref.seq
                self._high = max(self._high, ref.seq)
                if ref.seq > self._acked:
                    seg.refs[ref.seq] = ref
                    self._where[ref.seq] = seg
                    self._live.append(ref.seq)
            self._segments.append(seg)
        self._evicted_before = {k: v for k, v in evicted_before.items() if k in self._where}
        for seg in [s for s in self._segments[:-1] if not s.refs]:
            self._drop_segment(seg)
        if self._torn_cut and self.config.fsync != "none":
            for seg in self._segments:
                os.fsync(seg.fd)
        self._synced = self._high  # what survived the restart is on disk

    def _fsync_dir(self) -> None:
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxError(f"outbox {self.directory} is closed")


__all__ = ["Batch", "Outbox", "OutboxError", "OutboxStats"]

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

import json
import logging
import mmap
import os
import pathlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.native.wire import columns_bytes
from vehicle_mw.store.index import MAX_LOST, RecordIndex
from vehicle_mw.store.segment import (
    HEADER,
    KIND_COLUMNS,
    KIND_SAMPLES,
    OVERHEAD,
    TRAILER,
    Damage,
    SegmentScan,
    parse_segment,
    record_parts,
)
from vehicle_mw.store.state import OutboxState, StateError, parse_state
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
    evicted_before: int  # samples lost (evicted, damaged) between the previous live batch and this one
    evicted_batches_before: int  # seqs right before this one that were evicted or damaged (never sent)

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
    corrupt_batches: int = 0  # damaged records skipped (seq gaps where the header was unreadable: at most)
    corrupt_records: int = 0  # samples of damaged records whose header was intact
    corrupt_bytes: int = 0  # damaged bytes no intact header accounts for


@dataclass(eq=False)
class _Segment:
    path: pathlib.Path
    fd: int
    size: int
    ident: int  # the ``segment`` column of its rows in the index
    live_batches: int = 0  # unacked, not evicted
    live_bytes: int = 0

    @property
    def first_seq(self) -> int:
        """The seq the segment was opened for (its name); 0 if the name is not ours."""
        number = self.path.stem.partition("-")[2]
        return int(number) if number.isdigit() and len(number) <= 20 else 0


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
        self._sync_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._segments: list[_Segment] = []
        self._by_ident: dict[int, _Segment] = {}
        self._next_ident = 0
        self._index = RecordIndex()  # live (unacked, not evicted) batches, seq order
        self._acked = 0
        self._high = 0
        self._synced = 0  # highest seq that is durable under the fsync policy (sendable)
        self._evicted_total = 0
        self._evicted_pending = 0  # lost samples not yet attached to a later live batch
        self._torn_cut = 0
        self._corrupt_batches = 0
        self._corrupt_records = 0
        self._corrupt_bytes = 0
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
            synced_before = self._synced
            for start in range(0, len(data), step):
                part = data[start : start + step]
                # stored as it will be sent: one encoding per batch, ~2/3 of the record bytes on disk
                seq = self._append_one(columns_bytes(part), len(part), priority)
                if seq is not None:
                    seqs.append(seq)
            sync = self._sync_due()
            if self.config.fsync == "none":
                self._synced = self._high
        if sync:
            self.sync()  # after the lock: see sync()
        sendable = self._synced > synced_before
        if sendable:  # (with fsync: interval, usually not yet: the sync that follows tells them)
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
            if max(after_seq, self._acked) >= self._synced:  # the usual poll: nothing new to send
                return []
            rows = self._index.rows
            start = self._index.position(max(after_seq, self._acked))
            picked: list[int] = []
            pos, window = start, max(limit, 64)
            while len(picked) < limit and pos < len(rows) and rows["seq"][pos] <= self._synced:
                chunk = np.flatnonzero(rows["live"][pos : pos + window]) + pos
                chunk = chunk[rows["seq"][chunk] <= self._synced]
                picked.extend(chunk[: limit - len(picked)].tolist())
                pos += window
            previous = max(self._index.previous_live_seq(start), self._acked)
            chosen = rows[np.asarray(picked, dtype=np.intp)]
            out = []
            for seq, offset, size, count, lost, ident, priority, kind, header, _ in chosen.tolist():
                out.append(
                    Batch(
                        seq=seq,
                        priority=priority,
                        count=count,
                        kind=kind,
                        payload=os.pread(
                            self._by_ident[ident].fd, size - header - TRAILER.size, offset + header
                        ),
                        evicted_before=lost,
                        evicted_batches_before=max(0, seq - previous - 1),
                    )
                )
                previous = seq
            return out

    def ack(self, seq: int) -> None:
        """The gateway holds every batch <= seq durably: forget them, delete emptied segments."""
        with self._lock:
            self._check_open()
            if seq <= self._acked:
                return
            self._acked = min(seq, self._high)
            self._release(self._index.drop_through(self._acked))
            dead = [seg for seg in self._segments[:-1] if not seg.live_batches]
            now = time.monotonic()
            if dead or now - self._last_state_write > 1.0:
                self._write_state()  # before unlinking: the state must outlive the seqs it covers
            for seg in dead:
                self._drop_segment(seg)

    def sync(self) -> None:
        """fsync whatever is written but not yet synced; it becomes visible to :meth:`pending`.

        The fsync runs outside the outbox lock (on a duplicate of the segment's descriptor), so
        the uplink's acks and sends do not wait for the disk."""
        with self._sync_lock:  # one sync at a time
            with self._lock:
                high = self._high
                fd = None
                if self._dirty and self._segments and not self._closed:
                    fd = os.dup(self._segments[-1].fd)  # (a roll meanwhile fsyncs the old one itself)
                    self._dirty = False
                    # the interval runs from the start of a sync: a writer waking every
                    # fsync_interval_s finds the next one due, however long this one took
                    self._last_fsync = time.monotonic()
            if fd is not None:
                try:
                    os.fsync(fd)
                except OSError:
                    with self._lock:
                        self._dirty = True
                    raise
                finally:
                    os.close(fd)
            with self._lock:
                self._synced = max(self._synced, high)

    def sync_if_due(self) -> None:
        """With ``fsync: interval``: :meth:`flush` when the interval has passed (the writer and the
        uplink call this)."""
        if self._synced < self._high and time.monotonic() - self._last_fsync >= self.config.fsync_interval_s:
            self.flush()

    def flush(self) -> None:
        """:meth:`sync` now, then tell the listeners (as after an append): the uplink sends what
        the sync made sendable."""
        self.sync()
        for listener in list(self._listeners):
            listener()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever batches became sendable (after an append that synced, or a
        :meth:`flush`), from the thread that did it."""
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
            rows = self._index.rows
            return OutboxStats(
                acked_seq=self._acked,
                high_seq=self._high,
                backlog_batches=len(self._index),
                backlog_records=int(rows["count"][rows["live"]].sum(dtype=np.uint64)),
                disk_bytes=self._disk_bytes(),
                evicted_records=self._evicted_total,
                torn_bytes_cut=self._torn_cut,
                corrupt_batches=self._corrupt_batches,
                corrupt_records=self._corrupt_records,
                corrupt_bytes=self._corrupt_bytes,
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
        self._index_record(seg, seq, seg.size, size, count, priority, KIND_COLUMNS, HEADER.size)
        seg.size += size
        self._high = seq
        self._dirty = True
        return seq

    def _index_record(self, seg, seq, offset, size, count, priority, kind, header) -> None:
        """Add a live batch to the index; it carries the samples lost right before it."""
        self._index.add(seq, offset, size, count, priority, kind, header, seg.ident, self._evicted_pending)
        self._evicted_pending = 0
        seg.live_batches += 1
        seg.live_bytes += size

    def _release(self, rows: np.ndarray) -> None:
        """Rows that stopped being live (acked, evicted): update their segments' live counters."""
        if not len(rows):
            return
        first = int(rows["segment"][0])
        if (rows["segment"] == first).all():  # the usual case: an ack inside one segment
            seg = self._by_ident[first]
            seg.live_batches -= len(rows)
            seg.live_bytes -= int(rows["size"].sum(dtype=np.int64))
            return
        idents, inverse = np.unique(rows["segment"], return_inverse=True)
        counts = np.bincount(inverse)
        sizes = np.bincount(inverse, weights=rows["size"])
        for ident, n, nbytes in zip(idents.tolist(), counts.tolist(), sizes.tolist(), strict=True):
            seg = self._by_ident[ident]
            seg.live_batches -= n
            seg.live_bytes -= int(nbytes)

    def _sync_due(self) -> bool:
        policy = self.config.fsync
        return policy == "batch" or (
            policy == "interval" and time.monotonic() - self._last_fsync >= self.config.fsync_interval_s
        )

    def _roll(self) -> _Segment:
        if self._segments and self.config.fsync != "none":
            os.fsync(self._segments[-1].fd)
        path = self.directory / f"seg-{self._high + 1:020d}.log"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        seg = self._add_segment(path, fd, 0)
        if self.config.fsync != "none":
            self._fsync_dir()
        # older segments emptied by acks can go now that they are no longer the active one
        for old in [s for s in self._segments[:-1] if not s.live_batches]:
            self._write_state()
            self._drop_segment(old)
        return seg

    def _add_segment(self, path: pathlib.Path, fd: int, size: int) -> _Segment:
        seg = _Segment(path=path, fd=fd, size=size, ident=self._next_ident)
        self._next_ident += 1
        self._segments.append(seg)
        self._by_ident[seg.ident] = seg
        return seg

    # ------------------------------------------------------------------ eviction

    def _disk_bytes(self) -> int:
        return sum(seg.size for seg in self._segments)

    def _make_room(self, size: int, priority: int) -> bool:
        """Free space for ``size`` bytes: compact away dead records, then evict low priority batches."""
        for seg in list(self._segments):
            if seg.size > seg.live_bytes:
                self._compact(seg)
        if self._disk_bytes() + size <= self.config.max_bytes:
            return True
        limit = self.config.max_bytes
        target = int(limit * LOW_WATERMARK)
        rows = self._index.rows
        candidates = np.flatnonzero(rows["live"] & (rows["priority"] <= priority))
        candidates = candidates[np.lexsort((rows["seq"][candidates], rows["priority"][candidates]))]
        disk = self._disk_bytes()
        freed = np.cumsum(rows["size"][candidates], dtype=np.int64)
        enough = np.flatnonzero(disk - freed + size <= target)
        n_victims = int(enough[0]) + 1 if len(enough) else len(candidates)
        if disk - (int(freed[n_victims - 1]) if n_victims else 0) + size > limit:
            return False  # even evicting every lower-or-equal priority batch would not do
        victims = np.sort(candidates[:n_victims])
        self._evicted_total += int(rows["count"][victims].sum(dtype=np.uint64))
        self._release(rows[victims])
        self._lose(victims)
        touched = set(rows["segment"][victims].tolist())
        for seg in list(self._segments):
            if seg.ident in touched:
                self._compact(seg)
        self._write_state()
        log.warning(
            "outbox %s full: evicted %d batches (priority <= %d)", self.directory, n_victims, priority
        )
        return True

    def _lose(self, victims: np.ndarray) -> None:
        """Take rows out of the index; what they carried and held moves to the next live batch."""
        rows = self._index.rows
        carried = np.zeros(len(rows), np.uint64)
        carried[victims] = rows["count"][victims].astype(np.uint64) + rows["lost_before"][victims]
        rows["lost_before"][victims] = 0
        self._index.kill(victims)
        total = np.cumsum(carried)
        live = self._index.live_rows()
        if len(live):
            upto = total[live]
            gained = np.diff(upto, prepend=np.uint64(0))
            rows["lost_before"][live] = np.minimum(rows["lost_before"][live] + gained, MAX_LOST)
            self._evicted_pending += int(total[-1] - upto[-1])
        elif len(total):
            self._evicted_pending += int(total[-1])

    def _record_eviction(self, count: int) -> None:
        self._evicted_total += count
        self._evicted_pending += count
        self._write_state()

    def _compact(self, seg: _Segment) -> None:
        """Rewrite a segment with only its live records (atomic rename), or delete it if none."""
        active = seg is self._segments[-1]
        if not seg.live_batches and not active:
            self._write_state()
            self._drop_segment(seg)
            return
        rows = self._index.rows
        mine = np.flatnonzero(rows["live"] & (rows["segment"] == seg.ident))
        tmp = seg.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        offset = 0
        new_offsets = np.empty(len(mine), np.uint64)
        for j, (old, size) in enumerate(
            zip(rows["offset"][mine].tolist(), rows["size"][mine].tolist(), strict=True)
        ):
            os.write(fd, os.pread(seg.fd, size, old))
            new_offsets[j] = offset
            offset += size
        if self.config.fsync != "none":
            os.fsync(fd)
        os.replace(tmp, seg.path)
        if self.config.fsync != "none":
            self._fsync_dir()
        os.close(seg.fd)
        rows["offset"][mine] = new_offsets
        seg.fd = fd
        seg.size = offset

    def _drop_segment(self, seg: _Segment) -> None:
        os.close(seg.fd)
        try:
            seg.path.unlink()
        except FileNotFoundError:
            pass
        self._segments.remove(seg)
        del self._by_ident[seg.ident]

    # ------------------------------------------------------------------ state and recovery

    def _write_state(self) -> None:
        rows = self._index.rows
        carriers = np.flatnonzero(rows["live"] & (rows["lost_before"] > 0))
        state = {
            "acked_seq": self._acked,
            "high_seq": self._high,
            "evicted_total": self._evicted_total,
            "evicted_pending": self._evicted_pending,
            "evicted_before": {
                str(k): v
                for k, v in zip(
                    rows["seq"][carriers].tolist(), rows["lost_before"][carriers].tolist(), strict=True
                )
            },
            "torn_bytes_cut": self._torn_cut,
            "corrupt_batches": self._corrupt_batches,
            "corrupt_records": self._corrupt_records,
            "corrupt_bytes": self._corrupt_bytes,
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

    def _read_state(self) -> OutboxState:
        """The state file, or (damaged, wrong shape) a fresh state rebuilt from the segments.

        The segments hold the data; a small damaged state file must not cost it. The damaged file
        is kept next to it for inspection; batches already acknowledged may be sent again (the
        gateway ignores seqs it holds).
        """
        path = self.directory / STATE_FILE
        try:
            return parse_state(path.read_bytes())
        except FileNotFoundError:
            return OutboxState()
        except OSError as exc:
            raise OutboxError(f"{path}: cannot read the outbox state: {exc.strerror}") from None
        except StateError as exc:
            kept = path.with_name(f"{STATE_FILE}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
            os.replace(path, kept)
            log.warning(
                "outbox %s: %s: %s; rebuilding the state from the segments (kept the file as %s)",
                self.directory,
                path,
                exc,
                kept.name,
            )
            return OutboxState(recovered=True)

    def _recover(self) -> None:
        state = self._read_state()
        self._acked = state.acked_seq
        self._high = max(state.high_seq, self._acked)
        self._evicted_total = state.evicted_total
        self._evicted_pending = 0  # state.evicted_pending is for after the last batch: added below
        self._torn_cut = state.torn_bytes_cut
        self._corrupt_batches = state.corrupt_batches
        self._corrupt_records = state.corrupt_records
        self._corrupt_bytes = state.corrupt_bytes
        for stale in self.directory.glob("seg-*.tmp"):
            stale.unlink()  # a compaction that did not reach its rename
        paths = sorted(self.directory.glob(SEGMENT_GLOB))
        last_seq = 0
        repairs: list[tuple[_Segment, SegmentScan]] = []
        lost_before = state.evicted_before
        gap_open = False  # unreadable damage lies between last_seq and the next valid record
        for i, path in enumerate(paths):
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
            size = os.fstat(fd).st_size
            seg = self._add_segment(path, fd, size)
            if gap_open and seg.first_seq:  # the damaged tail of the segment before held seqs up to here
                self._corrupt_batches += max(0, seg.first_seq - 1 - max(last_seq, self._acked))
                gap_open = False
            # every seq before a segment's first one lived in segments deleted (acked, evicted) before
            last_seq = max(last_seq, seg.first_seq - 1)
            if size:
                with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as buf:
                    found = parse_segment(buf, last_seq)
            else:
                found = SegmentScan()
            events = [(d.offset, d) for d in found.damage] + [(r.offset, r) for r in found.records]
            if found.tail is not None:
                events.append((found.tail.offset, found.tail))
            for _, item in sorted(events, key=lambda e: e[0]):
                if isinstance(item, Damage):
                    self._count_damage(path, item, torn=item is found.tail and i + 1 == len(paths))
                    for seq, _count in item.known:
                        last_seq = max(last_seq, seq)
                        self._high = max(self._high, seq)
                    gap_open = gap_open or (item.unknown_bytes > 0 and item is not found.tail)
                    gap_open = gap_open or (
                        item is found.tail and i + 1 < len(paths) and item.unknown_bytes > 0
                    )
                    continue
                if gap_open:
                    self._corrupt_batches += max(0, item.seq - max(last_seq, self._acked) - 1)
                    gap_open = False
                last_seq = item.seq
                self._high = max(self._high, item.seq)
                if item.seq > self._acked:
                    self._evicted_pending += lost_before.get(item.seq, 0)
                    self._index_record(
                        seg,
                        item.seq,
                        item.offset,
                        item.size,
                        item.count,
                        item.priority,
                        item.kind,
                        item.header_size,
                    )
            if found.tail is not None or found.damage:
                repairs.append((seg, found))
            if state.recovered:
                self._high = max(self._high, seg.first_seq - 1)
        self._evicted_pending += state.evicted_pending
        if repairs or state.recovered:
            self._write_state()  # the loss is counted once: before the damage is cut away
        for seg, found in repairs:
            if found.tail is not None:
                os.ftruncate(seg.fd, found.valid_end)
                seg.size = found.valid_end
            if found.damage:
                self._compact(seg)
            elif self.config.fsync != "none":
                os.fsync(seg.fd)
        for seg in [s for s in self._segments[:-1] if not s.live_batches]:
            self._drop_segment(seg)
        self._synced = self._high  # what survived the restart is on disk

    def _count_damage(self, path: pathlib.Path, damage: Damage, torn: bool) -> None:
        """Count a damaged stretch: samples of its intact headers, bytes of the rest (torn: the write
        that was under way at a crash, at the end of the last segment)."""
        lost = [(seq, count) for seq, count in damage.known if seq > self._acked]
        self._corrupt_batches += len(lost)
        samples = sum(count for _, count in lost)
        self._corrupt_records += samples
        self._evicted_pending += samples  # reported with the next live batch, like an eviction
        if torn:
            self._torn_cut += damage.unknown_bytes
        else:
            self._corrupt_bytes += damage.unknown_bytes
        if lost or not torn:
            log.warning(
                "outbox %s: damaged data at offset %d (%d B): %d batches / %d samples lost, %d B unreadable",
                path,
                damage.offset,
                damage.size,
                len(lost),
                samples,
                damage.unknown_bytes,
            )
        else:
            log.warning("outbox %s: torn tail of %d B cut at offset %d", path, damage.size, damage.offset)

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

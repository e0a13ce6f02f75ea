"""Replaying CAN logs into a frame sink with the log's own timing.

Formats are python-can's: asc, blf, trc, candump ``.log``, csv (and ``.mf4``
when asammdf is installed). Frames go through the same packing and sink as a
live bus. In timed replay each frame's ``timestamp_ns`` is the wall-clock time
it is due (replay start + log offset / speed), so downstream timing matches the
log even when the replay runs late; how late each batch really left is
reported. Flat out (``speed=0``) frames keep the log's own timestamps.
"""

from __future__ import annotations

import heapq
import logging
import pathlib
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass

import can
import numpy as np
from can.io.player import MESSAGE_READERS

from vehicle_mw._python_can_fixes import load_mf4_support
from vehicle_mw.can.frames import FrameBatch
from vehicle_mw.can.log_columns import MAX_TIMESTAMP_S, LogChanged, LogColumns, PlainLog, open_plain
from vehicle_mw.can.sink import FrameSink, deliver
from vehicle_mw.errors import VehicleMwError
from vehicle_mw.native.clock import monotonic_ns, sleep_until_ns

log = logging.getLogger(__name__)

WINDOW_MS = 0.2  # default: frames due within 0.2 ms of a batch's first leave together, when the last is due
LONG_GAP_NS = 50_000_000  # longer waits use the stop event so a stop is prompt


class ReplayError(VehicleMwError):
    """A log that cannot be replayed (missing, unknown format, unreadable)."""


@dataclass(frozen=True)
class ReplayReport:
    """What a replay did and how punctual it was (lateness: batch sent - its last frame due)."""

    path: str
    frames: int
    delivered: int
    bad_frames: int
    loops: int
    duration_s: float
    late_p50_ms: float
    late_p99_ms: float
    late_max_ms: float

    def summary(self) -> str:
        return (
            f"{self.path}: {self.delivered}/{self.frames} frames in {self.duration_s:.3f} s, "
            f"{self.loops} loop(s), lateness p50 {self.late_p50_ms:.3f} ms, p99 {self.late_p99_ms:.3f} ms, "
            f"max {self.late_max_ms:.3f} ms, bad frames {self.bad_frames}"
        )


def open_log(path: str | pathlib.Path) -> can.io.generic.MessageReader:
    """python-can's reader for ``path``; :class:`ReplayError` naming the file when it cannot."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ReplayError(f"{path}: log file not found")
    if path.suffix.lower() == ".mf4":
        load_mf4_support()  # python-can's MF4 reader without asammdf raises its own clear error
    try:
        return _reader_type(path)(str(path))
    except Exception as exc:  # python-can's readers raise many unrelated types for a bad file
        raise ReplayError(f"{path}: cannot read this log: {type(exc).__name__}: {exc}") from exc


_plugin_readers_loaded = False


def _reader_type(path: pathlib.Path) -> Callable[..., can.io.generic.MessageReader]:
    """python-can's reader class for the suffix. ``can.LogReader`` rescans the installed packages'
    entry points on every call (tens of ms), so that scan runs once and later opens pick the class."""
    global _plugin_readers_loaded
    reader = MESSAGE_READERS.get(path.suffix.lower()) if _plugin_readers_loaded else None
    if reader is not None:
        return reader
    _plugin_readers_loaded = True
    return can.LogReader  # the first open, compressed logs (.gz) and plugin formats


def read_messages(reader, path: str | pathlib.Path):
    """The messages of an open log; a damaged record becomes a :class:`ReplayError` naming the file and
    how many frames were read before it (python-can's parsers raise whatever their format code hits)."""
    it = iter(reader)
    n = 0
    while True:
        try:
            msg = next(it)
        except StopIteration:
            return
        except Exception as exc:
            raise ReplayError(f"{path}: unreadable after {n} frames: {type(exc).__name__}: {exc}") from exc
        if not (0.0 <= msg.timestamp < MAX_TIMESTAMP_S):  # also false for NaN
            raise ReplayError(
                f"{path}: frame {n + 1}: timestamp {msg.timestamp!r} is not a time in s since 1970"
            )
        n += 1
        yield msg


def _packable(msg) -> bool:
    """Whether FrameBatch.add would take ``msg`` (so a resumed replay counts sequence numbers alike)."""
    return len(msg.data or b"") <= 64


class _Replayer:
    def __init__(self, sink, speed, bus_id, channel_map, batch_size, stop, resume=None, window_ms=WINDOW_MS):
        self.sink = sink
        self.speed = speed
        self.bus_id = bus_id
        self.channel_map = channel_map or {}
        self.batch = FrameBatch(batch_size)
        self.stop = stop
        self.seq: dict[int, int] = {}
        self.resume = dict(resume or {})  # bus id -> first seq not yet in the sink (frames before: skipped)
        self.anchored = not any(self.resume.values())
        self.skipped = 0
        self.lateness: list[int] = []
        self.frames = 0
        self.delivered = 0
        self.first_due = 0
        self.last_due = 0
        self.window_ns = int(window_ms * 1e6)
        self.start_mono = monotonic_ns()
        self.start_real = time.time_ns()

    # The passes are generators: they yield the monotonic time they wait for (a driver sleeps
    # until then, for one replay or for many in one thread) and return the log's span.

    def window_end(self, due: int) -> int:
        """The first point of the shared window grid at or after ``due``: batches leave on a grid
        of ``window_ms`` on the monotonic clock, so the replays driven by one thread
        (:func:`replay_logs`) leave together, one wakeup for all their buses."""
        w = self.window_ns
        return -(-due // w) * w if w > 0 else due

    def flush(self, leave: int | None = None) -> Iterator[int]:
        if not self.batch.count:
            return
        if self.speed > 0:
            leave = self.last_due if leave is None else leave
            yield leave  # never before its last frame is due
            self.lateness.append(monotonic_ns() - leave)
        self.delivered += deliver(self.sink, self.batch.view(), block=True, stop=self.stop)
        self.batch.clear()

    def run_once(self, reader, loop_offset_ns: int, path: str | pathlib.Path = "<log>") -> Iterator[int]:
        """One pass over the log through python-can's reader."""
        t0 = None
        rel = 0
        for msg in read_messages(reader, path):
            if self.stop.is_set():
                break
            if t0 is None:
                t0 = msg.timestamp
            rel = int((msg.timestamp - t0) * 1e9)
            offset = loop_offset_ns + rel
            bus = self.channel_map.get(msg.channel, self.bus_id) if msg.channel is not None else self.bus_id
            seq = self.seq.get(bus, 0)
            if seq < self.resume.get(bus, 0):  # already delivered before a restart: skip, keep counting
                if _packable(msg):
                    self.seq[bus] = seq + 1
                self.skipped += 1
                continue
            if not self.anchored:  # the first frame after the resume point is due now
                self.anchored = True
                now_offset = int(offset / self.speed) if self.speed > 0 else 0
                self.start_mono = monotonic_ns() - now_offset
                self.start_real = time.time_ns() - now_offset
            if self.speed > 0:
                offset = int(offset / self.speed)
                due = self.start_mono + offset
                if self.batch.count and due > self.window_end(self.first_due):
                    yield from self.flush(self.window_end(self.first_due))
                if not self.batch.count:
                    self.first_due = due
                self.last_due = due
            ts = self.start_real + offset if self.speed > 0 else int(t0 * 1e9) + offset
            if self.batch.add(msg, bus, seq, ts):
                self.seq[bus] = seq + 1
            self.frames += 1
            if self.batch.full:
                yield from self.flush()
        yield from self.flush(self.window_end(self.first_due) if self.speed > 0 else None)
        return rel

    def run_plain(
        self, plain: PlainLog, bus_of: Callable[[LogColumns], np.ndarray], loop_offset_ns: int
    ) -> Iterator[int]:
        """One pass over a plain log (:mod:`~vehicle_mw.can.log_columns`), chunk by chunk: the same
        frames, numbers, times and batches as :meth:`run_once`, computed per array instead of per
        message."""
        t0: float | None = None
        span = 0
        try:
            for cols in plain.chunks():
                ts = cols.timestamp_s
                if t0 is None:
                    t0 = float(ts[0])
                rel = ((ts - t0) * 1e9).astype(np.int64)  # = int((msg.timestamp - t0) * 1e9), frame by frame
                buses = bus_of(cols)
                if not (yield from self._pace_chunk(cols.records, buses, rel, t0, loop_offset_ns)):
                    break
                span = int(rel[-1])
        except LogChanged as exc:
            raise ReplayError(str(exc)) from None
        return span

    def _pace_chunk(self, records, buses, rel, t0: float, loop_offset_ns: int) -> Iterator[int]:
        """Number, stamp and deliver one chunk; False when the replay was stopped within it."""
        seq = np.empty(len(rel), np.int64)
        first = np.empty(len(rel), np.int64)  # per frame: its bus's first number not yet delivered
        counts = {}
        for bus in np.unique(buses).tolist():
            mine = buses == bus
            counts[bus] = int(mine.sum())
            seq[mine] = self.seq.get(bus, 0) + np.arange(counts[bus])
            first[mine] = self.resume.get(bus, 0)
        keep = np.flatnonzero(seq >= first)  # already delivered before a restart: skipped
        self.skipped += len(rel) - len(keep)
        offset = loop_offset_ns + rel[keep]
        if len(keep) and not self.anchored:  # the first frame after the resume point is due now
            self.anchored = True
            now_offset = int(int(offset[0]) / self.speed) if self.speed > 0 else 0
            self.start_mono = monotonic_ns() - now_offset
            self.start_real = time.time_ns() - now_offset
        if self.speed > 0:
            offset = (offset.astype(np.float64) / self.speed).astype(np.int64)  # = int(offset / speed)
            stamps = self.start_real + offset
        else:
            stamps = int(t0 * 1e9) + offset
        records["bus_id"] = buses
        if (yield from self._pace(records, keep, seq[keep], stamps, self.start_mono + offset)) < len(keep):
            return False
        for bus, n in counts.items():
            self.seq[bus] = self.seq.get(bus, 0) + n
        return True

    def _pace(self, base: np.ndarray, keep: np.ndarray, seq, stamps, due: np.ndarray) -> Iterator[int]:
        """Deliver records ``base[keep]`` (numbered ``seq``, stamped ``stamps``) at their ``due``
        times in batches, each batch copied out of ``base`` as it leaves (one copy of the log is
        kept, not one per loop); returns how many were handed on."""
        i, n = 0, len(keep)
        while i < n and not self.stop.is_set():
            if self.speed > 0:
                end = self.window_end(int(due[i]))
                j = int(np.searchsorted(due, end, side="right"))
                full = j > i + self.batch.capacity
                j = min(j, i + self.batch.capacity)
                leave = int(due[j - 1]) if full else end  # never before its last frame is due
                yield leave
                if self.stop.is_set():
                    break
                self.lateness.append(monotonic_ns() - leave)
            else:
                j = min(i + self.batch.capacity, n)
            batch = base[keep[i:j]]
            batch["seq"] = seq[i:j]
            batch["timestamp_ns"] = stamps[i:j]
            self.frames += j - i
            self.delivered += deliver(self.sink, memoryview(batch.view(np.uint8)), block=True, stop=self.stop)
            i = j
        return i


def replay_steps(
    path: str | pathlib.Path,
    sink: FrameSink,
    *,
    speed: float = 1.0,
    loops: int = 1,
    bus_id: int = 0,
    channel_map: Mapping[object, int] | None = None,
    batch_size: int = 256,
    stop: threading.Event | None = None,
    on_loop: Callable[[int], None] | None = None,
    resume: Mapping[int, int] | None = None,
    window_ms: float = WINDOW_MS,
) -> Generator[int, None, ReplayReport]:
    """A replay as a generator (arguments as :func:`replay_log`'s, checked now): it yields each
    monotonic time it waits for and returns its report; :func:`replay_logs` drives several."""
    if speed < 0:
        raise ValueError("speed must be >= 0")
    open_log(path)  # fail early with a clear error
    stop = stop or threading.Event()
    r = _Replayer(sink, speed, bus_id, channel_map, batch_size, stop, resume, window_ms)
    return _steps(r, path, loops, on_loop)


def _steps(r: _Replayer, path, loops: int, on_loop) -> Generator[int, None, ReplayReport]:
    plain = open_plain(path)  # plain candump/TRC logs: read in array chunks, not message by message
    cmap, bus_id = r.channel_map, r.bus_id

    def bus_of(cols: LogColumns) -> np.ndarray:
        return np.array([cmap.get(c, bus_id) for c in cols.channel_names], np.int64)[cols.channel_index]

    loop = 0
    offset = 0
    while not r.stop.is_set() and (loops == 0 or loop < loops):
        if plain is not None:
            span = yield from r.run_plain(plain, bus_of, offset)
        else:
            with open_log(path) as reader:
                span = yield from r.run_once(reader, offset, path)
        offset += span + 1_000_000  # next loop starts 1 ms after this one's last frame
        loop += 1
        if on_loop:
            on_loop(loop)
    late = np.array(r.lateness or [0], dtype=np.int64) / 1e6
    late = np.maximum(late, 0.0)
    return ReplayReport(
        path=str(path),
        frames=r.frames,
        delivered=r.delivered,
        bad_frames=r.batch.bad_frames,
        loops=loop,
        duration_s=(monotonic_ns() - r.start_mono) / 1e9,
        late_p50_ms=float(np.percentile(late, 50)),
        late_p99_ms=float(np.percentile(late, 99)),
        late_max_ms=float(late.max()),
    )


def _wait_until(due: int, stop: threading.Event) -> None:
    while not stop.is_set():
        left = due - monotonic_ns()
        if left <= 0:
            return
        if left > LONG_GAP_NS:
            stop.wait((left - LONG_GAP_NS // 2) / 1e9)
        else:
            sleep_until_ns(due)
            return


def replay_log(
    path: str | pathlib.Path, sink: FrameSink, *, stop: threading.Event | None = None, **kw
) -> ReplayReport:
    """Replay a log file into ``sink``; blocks until done (or ``stop`` is set).

    ``speed`` 1.0 is the log's own timing, 2.0 twice as fast, 0 as fast as the
    sink takes frames (timestamps then keep the log's spacing). ``loops`` 0
    repeats until stopped. Frames go to ``bus_id`` unless ``channel_map`` maps
    the log's channel to another bus id. ``resume`` ({bus id: seq}) continues a replay that was
    interrupted: frames with a lower per-bus sequence number (already delivered) are skipped and the
    first one left is due at once; e.g. a restarted runtime passes its frame ring's push count.
    Frames due within one ``window_ms`` slot of a grid on the monotonic clock leave together at the
    slot's end (never early; a full batch leaves when its last frame is due): each batch costs a
    wakeup, ~50-150 us of CPU on a VM, and replays sharing a thread share the slots' wakeups. ``batch_size``
    bounds a batch; ``on_loop(k)`` is called after loop k.
    """
    stop = stop or threading.Event()
    steps = replay_steps(path, sink, stop=stop, **kw)
    try:
        while True:
            _wait_until(next(steps), stop)
    except StopIteration as done:
        return done.value


def replay_logs(
    replays: Sequence[Generator[int, None, ReplayReport]], stop: threading.Event
) -> list[ReplayReport | BaseException]:
    """Drive several :func:`replay_steps` in this thread, as one adapter's channels share its
    transfers: one wakeup serves every replay with a batch due. Returns each one's report, or the
    exception that ended it (one replay failing does not end the others)."""
    results: list[ReplayReport | BaseException | None] = [None] * len(replays)
    due: list[tuple[int, int]] = []  # (monotonic ns, replay index), a heap

    def advance(i: int) -> None:
        try:
            heapq.heappush(due, (next(replays[i]), i))
        except StopIteration as done:
            results[i] = done.value
        except Exception as exc:  # noqa: BLE001 - that replay ends; the others go on
            results[i] = exc

    for i in range(len(replays)):
        advance(i)
    while due:
        _wait_until(due[0][0], stop)
        now = monotonic_ns()
        while due and (due[0][0] <= now or stop.is_set()):
            advance(heapq.heappop(due)[1])
    return results  # type: ignore[return-value]


__all__ = [
    "ReplayError",
    "ReplayReport",
    "open_log",
    "read_messages",
    "replay_log",
    "replay_logs",
    "replay_steps",
]

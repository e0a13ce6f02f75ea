"""Reading one live CAN bus (any python-can interface) into a frame sink, reopening it when it fails.

A :class:`BusReader` thread blocks for the first frame, lets the bus's
``max_latency_ms`` (manifest; 20 ms by default) pass, drains everything that arrived (in bulk, see
:mod:`vehicle_mw.can.source`), packs it with one C call into a preallocated
batch and hands it on: one wake-up, one ring push and one decoder wake-up per
window rather than per frame (a frame waits at most the window). A bus that raises,
goes bus-off or disappears is closed, reported in :class:`BusStatus` and the
log, and reopened with exponential backoff; a frame that cannot be packed is
counted and skipped; error frames are counted and passed on flagged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import can

from vehicle_mw.can.frames import FrameBatch
from vehicle_mw.can.sink import FrameSink, deliver
from vehicle_mw.can.source import MessageSource
from vehicle_mw.manifest.can import CanBus

log = logging.getLogger(__name__)

CAN_ERR_BUSOFF = 0x40  # error class bit in a SocketCAN error frame's id (linux/can/error.h)


@dataclass
class BusStatus:
    """Live counters and state of one bus (read from any thread; written by its reader)."""

    name: str
    bus_id: int
    state: str = "closed"  # closed | opening | up | down | stopped
    frames: int = 0
    delivered: int = 0
    dropped: int = 0  # sink full (live buses never block)
    error_frames: int = 0
    bus_off: int = 0  # error frames reporting bus-off (SocketCAN CAN_ERR_BUSOFF)
    bad_frames: int = 0
    opens: int = 0
    failures: int = 0
    last_error: str = ""


def open_bus(cfg: CanBus) -> can.BusABC:
    """A python-can bus for a manifest entry (interface, channel, bitrate, FD, extra options)."""
    kwargs = dict(cfg.options)
    if cfg.bitrate is not None:
        kwargs.setdefault("bitrate", cfg.bitrate)
    if cfg.fd:
        kwargs.setdefault("fd", True)
        if cfg.data_bitrate is not None:
            kwargs.setdefault("data_bitrate", cfg.data_bitrate)
    return can.Bus(interface=cfg.interface, channel=cfg.channel, **kwargs)


class BusReader:
    """One thread per bus: open, drain into batches, deliver, reopen with backoff on failure."""

    def __init__(
        self,
        cfg: CanBus,
        bus_id: int,
        sink: FrameSink,
        *,
        batch_size: int = 256,
        max_latency_s: float | None = None,
        poll_s: float = 0.05,
        backoff_s: tuple[float, float] = (0.1, 5.0),
        opener: Callable[[CanBus], can.BusABC] | None = None,
        bulk_drain: bool = True,
        start_seq: int = 0,
    ):
        self.cfg = cfg
        self.bus_id = bus_id
        self.sink = sink
        self.status = BusStatus(cfg.name, bus_id)
        self._batch = FrameBatch(batch_size)
        self._poll_s = poll_s
        # None: the manifest's max_latency_ms (the bound on how long a frame waits before the ring)
        latency_s = cfg.max_latency_ms / 1e3 if max_latency_s is None else max_latency_s
        self._max_latency_ns = int(latency_s * 1e9)
        self._opener = opener or open_bus
        self._bulk_drain = bulk_drain  # see vehicle_mw.can.source (False: one _recv_internal per frame)
        self._backoff = backoff_s
        self._seq = start_seq  # a restarted reader continues its ring's sequence (no number reused)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self.bus: can.BusABC | None = None  # the open python-can bus, for diagnostics

    def start(self) -> BusReader:
        self._thread = threading.Thread(target=self._run, name=f"can-{self.cfg.name}", daemon=True)
        self._thread.start()
        return self

    def wait_open(self, timeout: float) -> bool:
        """Block until the bus has been opened once (or ``timeout`` seconds)."""
        return self._opened.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.status.state = "stopped"

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            self.status.state = "opening"
            try:
                bus = self._opener(self.cfg)
            except Exception as exc:  # any interface error: report and retry
                self._failed("open", exc)
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self.bus = bus
            self.status.opens += 1
            self.status.state = "up"
            self._opened.set()
            delay = self._backoff[0]
            try:
                self._pump(bus)
            except Exception as exc:  # bus-off, device gone, driver error
                self._failed("receive", exc)
            finally:
                self._flush()
                self.bus = None
                try:
                    bus.shutdown()
                except Exception as exc:
                    log.debug("bus %s: shutdown failed: %s", self.cfg.name, exc)
            if not self._stop.is_set():
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])

    def _failed(self, what: str, exc: BaseException) -> None:
        self.status.state = "down"
        self.status.failures += 1
        self.status.last_error = f"{what}: {type(exc).__name__}: {exc}"
        log.warning(
            "CAN bus %s (%s %s) %s failed: %s; reopening with backoff",
            self.cfg.name,
            self.cfg.interface,
            self.cfg.channel,
            what,
            exc,
        )

    def _pump(self, bus: can.BusABC) -> None:
        """Block for the first frame, then drain once per ``max_latency`` window while traffic flows.

        A busy bus costs one wake-up, one bulk drain and one C packing call per
        window (per full batch), not per frame; when a window brings nothing the
        thread goes back to blocking on the bus.
        """
        source = MessageSource(bus, bulk=self._bulk_drain)
        window_s = self._max_latency_ns / 1e9
        while not self._stop.is_set():
            first = source.wait(self._poll_s)
            if first is None:
                continue
            head = [first]
            while not self._stop.is_set():
                time.sleep(window_s)  # let the window fill
                taken = self._take(source, head)
                head = []
                self._flush()
                if not taken:
                    break

    def _take(self, source: MessageSource, msgs: list[can.Message]) -> int:
        """Pack ``msgs`` and everything the bus has now, flushing full batches; returns messages taken."""
        batch = self._batch
        total = 0
        while True:
            space = batch.capacity - batch.count
            try:
                msgs = msgs + source.drain(space - len(msgs))
            except Exception:  # the bus failed: keep what was already received, then report
                if msgs:
                    self._pack(msgs)
                raise
            if msgs:
                self._pack(msgs)
                total += len(msgs)
            if batch.full:
                self._flush()
            if len(msgs) < space:  # the bus had no more
                return total
            msgs = []

    def _pack(self, msgs: list[can.Message]) -> None:
        batch = self._batch
        st = self.status
        start = batch.count
        n = batch.add_messages(msgs, self.bus_id, self._seq)
        self._seq += n
        st.frames += n
        st.bad_frames = batch.bad_frames
        if batch.error_frames_added:
            for can_id in batch.error_frame_ids(start):
                self._error_frame(can_id)

    def _error_frame(self, can_id: int) -> None:
        st = self.status
        st.error_frames += 1
        if can_id & CAN_ERR_BUSOFF:
            st.bus_off += 1
            log.warning(
                "CAN bus %s (%s %s) reports bus-off", self.cfg.name, self.cfg.interface, self.cfg.channel
            )

    def _flush(self) -> None:
        batch = self._batch
        if batch.count:
            n = deliver(self.sink, batch.view(), block=False)
            self.status.delivered += n
            self.status.dropped += batch.count - n
            batch.clear()


class SerializedSink:
    """A sink several bus threads may push into: one push at a time (a ``SlotRing`` is single-producer:
    two readers pushing into it at once would corrupt it)."""

    def __init__(self, sink: FrameSink):
        self.sink = sink
        self._lock = threading.Lock()

    def push_batch(self, buf) -> int:
        with self._lock:
            return self.sink.push_batch(buf)


class CanIngest:
    """All buses of a machine manifest, each read by its own :class:`BusReader`.

    ``sinks``: one per bus (the fast way: a frame ring per bus, as the runtime has), or one for all,
    which the readers then share through a :class:`SerializedSink`.
    """

    def __init__(self, buses: list[CanBus], sinks: FrameSink | Sequence[FrameSink], **reader_options):
        if isinstance(sinks, Sequence):
            if len(sinks) != len(buses):
                raise ValueError(f"{len(buses)} buses need {len(buses)} sinks, got {len(sinks)}")
            per_bus = list(sinks)
        else:
            per_bus = [SerializedSink(sinks) if len(buses) > 1 else sinks] * len(buses)
        self.readers = [
            BusReader(cfg, i, sink, **reader_options)
            for i, (cfg, sink) in enumerate(zip(buses, per_bus, strict=True))
        ]

    def start(self) -> CanIngest:
        for r in self.readers:
            r.start()
        return self

    def stop(self) -> None:
        for r in self.readers:
            r.stop()

    def status(self) -> list[BusStatus]:
        return [r.status for r in self.readers]

    def __enter__(self) -> CanIngest:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["BusReader", "BusStatus", "CanIngest", "SerializedSink", "open_bus"]

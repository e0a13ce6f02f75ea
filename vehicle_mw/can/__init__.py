"""CAN ingest: live python-can buses and log replay, into frame records in batches.

What other parts use::

    from vehicle_mw.can import CanIngest, replay_log, FRAME_DTYPE
    from vehicle_mw.native import SlotRing, FRAME_SIZE

    rings = [SlotRing.create(f"/vmw.can.{b.name}.frames", FRAME_SIZE, 8192) for b in machine.can]

    # live buses from the machine manifest (list[CanBus]; bus id = position in the list)
    with CanIngest(machine.can, rings) as ingest:       # one reader thread per bus, a ring each
        # (one sink for all buses works too: the readers then share it under a lock)
        ingest.status()                  # [BusStatus(state, frames, dropped, error_frames, ...)]

    # replay a log (asc, blf, trc, candump .log, csv, mf4 with asammdf) through the same path
    report = replay_log("drive.blf", frames, speed=1.0, loops=1, bus_id=0)  # blocks; stop=Event to end early
    report.summary()                                    # frames, duration, lateness p50/p99/max

A sink is anything with ``push_batch(buffer) -> int`` (a ``SlotRing`` of 88-byte
slots), or ``CallbackSink(fn)`` / ``CollectingSink()``. Each frame record carries
the receive time (ns, CLOCK_REALTIME), bus id, VMW_FRAME_* flags (extended, FD,
BRS, ESI, RTR, error) and a per-bus sequence number. Decoding is in
:mod:`vehicle_mw.signals` (``Decoder.decode_ring(frames, samples)``).
"""

from vehicle_mw.can.bus import BusReader, BusStatus, CanIngest, SerializedSink, open_bus
from vehicle_mw.can.frames import FrameBatch, frames_from_messages, message_flags
from vehicle_mw.can.replay import ReplayError, ReplayReport, open_log, replay_log
from vehicle_mw.can.sink import CallbackSink, CollectingSink, FrameSink, deliver
from vehicle_mw.can.source import MessageSource, source_kind
from vehicle_mw.native.records import FRAME_DTYPE

__all__ = [
    "FRAME_DTYPE",
    "BusReader",
    "BusStatus",
    "CallbackSink",
    "CanIngest",
    "CollectingSink",
    "FrameBatch",
    "FrameSink",
    "MessageSource",
    "ReplayError",
    "ReplayReport",
    "SerializedSink",
    "deliver",
    "frames_from_messages",
    "message_flags",
    "open_bus",
    "open_log",
    "replay_log",
    "source_kind",
]

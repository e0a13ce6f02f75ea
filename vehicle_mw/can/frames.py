"""Packing python-can messages into frame records (``FRAME_DTYPE``), batch by batch.

:meth:`FrameBatch.add_messages` (the hot path) gathers a whole list of
messages column by column with C-level iteration (``attrgetter`` + ``zip``,
payloads joined into one ``bytes``) and fills the records in one C call
(``vmw_can_pack``); :meth:`FrameBatch.add` packs a single message with
``struct``. Either way nothing is kept per frame and a full batch is handed on
as one buffer.
"""

from __future__ import annotations

import struct
import time
from operator import attrgetter

import numpy as np

from vehicle_mw.native._lib import ffi, lib
from vehicle_mw.native.records import (
    FRAME_BRS,
    FRAME_DTYPE,
    FRAME_ERROR,
    FRAME_ESI,
    FRAME_EXTENDED,
    FRAME_FD,
    FRAME_RTR,
    FRAME_SIZE,
)

_HEADER = struct.Struct("<QQIHBB")
_RECORD = struct.Struct("<QQIHBB64s")
assert _RECORD.size == FRAME_SIZE

# message fields in the order vmw_can_pack takes them (after the payload, the flag columns)
_COLUMNS = attrgetter(
    "timestamp",
    "arbitration_id",
    "data",
    "is_extended_id",
    "is_fd",
    "bitrate_switch",
    "error_state_indicator",
    "is_remote_frame",
    "is_error_frame",
)


def message_flags(msg) -> int:
    """VMW_FRAME_* flags of a python-can ``Message``."""
    return (
        (FRAME_EXTENDED if msg.is_extended_id else 0)
        | (FRAME_FD if msg.is_fd else 0)
        | (FRAME_BRS if msg.bitrate_switch else 0)
        | (FRAME_ESI if msg.error_state_indicator else 0)
        | (FRAME_RTR if msg.is_remote_frame else 0)
        | (FRAME_ERROR if msg.is_error_frame else 0)
    )


class FrameBatch:
    """A preallocated buffer of ``capacity`` frame records filled one message at a time."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self.buffer = bytearray(capacity * FRAME_SIZE)
        self._records = ffi.from_buffer("vmw_can_frame[]", self.buffer)
        self.count = 0
        self.bad_frames = 0
        self.error_frames_added = False  # the last add_messages packed at least one error frame

    def add_messages(self, msgs: list, bus_id: int, seq0: int, now_ns: int | None = None) -> int:
        """Append ``msgs`` (at most the free space) in one C call; returns how many became records.

        Records get sequence numbers ``seq0, seq0 + 1, ...``; a message without a
        timestamp gets ``now_ns`` (default: now). Messages that cannot be records
        are counted in ``bad_frames`` and skipped; if one has a field of the wrong
        type, the list is packed one message at a time so only that one is lost.
        """
        n = len(msgs)
        if n > self.capacity - self.count:
            raise ValueError(f"{n} messages do not fit in {self.capacity - self.count} free records")
        if n == 0:
            self.error_frames_added = False
            return 0
        if now_ns is None:
            now_ns = time.time_ns()
        try:
            ts, ids, data, *flags = zip(*map(_COLUMNS, msgs), strict=True)
            lens = list(map(len, data))
            columns = [column if any(column) else ffi.NULL for column in flags]  # NULL: nobody has it
            written = lib.vmw_can_pack(
                self._records + self.count, n, ts, ids, b"".join(data), lens, *columns,
                bus_id, seq0, now_ns, ffi.NULL,
            )  # fmt: skip
        except (TypeError, OverflowError, ValueError):
            return self._add_one_by_one(msgs, bus_id, seq0, now_ns)
        self.error_frames_added = columns[-1] is not ffi.NULL and written > 0
        self.count += written
        self.bad_frames += n - written
        return written

    def _add_one_by_one(self, msgs: list, bus_id: int, seq0: int, now_ns: int) -> int:
        written = 0
        errors = False
        for msg in msgs:
            try:
                ts = int(msg.timestamp * 1e9) if msg.timestamp else now_ns
            except (TypeError, ValueError, OverflowError):
                self.bad_frames += 1
                continue
            if self.add(msg, bus_id, seq0 + written, ts):
                written += 1
                errors = errors or bool(msg.is_error_frame)
        self.error_frames_added = errors
        return written

    def error_frame_ids(self, start: int) -> list[int]:
        """CAN ids of the error-frame records from record ``start`` on (for error counting)."""
        records = self.array()[start:]
        return records["can_id"][(records["flags"] & FRAME_ERROR) != 0].tolist()

    def add(self, msg, bus_id: int, seq: int, timestamp_ns: int) -> bool:
        """Append one message; False (and counted in ``bad_frames``) when it cannot be a frame record."""
        try:
            data = msg.data
            if data is None:
                data = b""
            n = len(data)
            if n > 64:
                raise ValueError("payload longer than 64 bytes")
            _RECORD.pack_into(
                self.buffer,
                self.count * FRAME_SIZE,
                timestamp_ns,
                seq,
                msg.arbitration_id & 0x1FFFFFFF,
                bus_id,
                n,
                message_flags(msg),
                data,  # bytearray or bytes; '64s' pads with zeros
            )
        except (struct.error, ValueError, TypeError, OverflowError):
            self.bad_frames += 1
            return False
        self.count += 1
        return True

    @property
    def full(self) -> bool:
        return self.count >= self.capacity

    def view(self) -> memoryview:
        """The filled part of the buffer (valid until the next :meth:`clear`)."""
        return memoryview(self.buffer)[: self.count * FRAME_SIZE]

    def array(self) -> np.ndarray:
        """The filled records as a FRAME_DTYPE array view."""
        return np.frombuffer(self.buffer, FRAME_DTYPE, self.count)

    def clear(self) -> None:
        self.count = 0


def frames_from_messages(messages, bus_id: int = 0, *, timestamps_ns=None) -> np.ndarray:
    """FRAME_DTYPE array of python-can messages (tests and tools; not the hot path).

    Timestamps default to each message's own ``timestamp`` (seconds) in ns;
    sequence numbers count from 0.
    """
    messages = list(messages)
    batch = FrameBatch(max(len(messages), 1))
    for i, msg in enumerate(messages):
        ts = timestamps_ns[i] if timestamps_ns is not None else int(round(msg.timestamp * 1e9))
        batch.add(msg, bus_id, i, max(ts, 0))
    return batch.array().copy()


__all__ = ["FrameBatch", "frames_from_messages", "message_flags"]

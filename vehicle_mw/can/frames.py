"""Packing python-can messages into frame records (``FRAME_DTYPE``), batch by batch.

One ``struct.pack_into`` per frame into a preallocated buffer: no Python object
is kept per frame, and a full batch is handed on as one buffer.
"""

from __future__ import annotations

import struct

import numpy as np

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
        self.count = 0
        self.bad_frames = 0

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

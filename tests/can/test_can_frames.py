"""Packing python-can messages into frame records."""

from __future__ import annotations

import can
import numpy as np

from vehicle_mw.can import FrameBatch, frames_from_messages, message_flags
from vehicle_mw.native.records import (
    FRAME_BRS,
    FRAME_DTYPE,
    FRAME_ERROR,
    FRAME_ESI,
    FRAME_EXTENDED,
    FRAME_FD,
    FRAME_RTR,
)


def test_flags_follow_the_message():
    fd = can.Message(
        arbitration_id=0x18FEF100,
        is_extended_id=True,
        is_fd=True,
        bitrate_switch=True,
        error_state_indicator=True,
        data=bytes(range(64)),
    )
    assert message_flags(fd) == FRAME_EXTENDED | FRAME_FD | FRAME_BRS | FRAME_ESI
    assert (
        message_flags(can.Message(arbitration_id=1, is_remote_frame=True, is_extended_id=False)) == FRAME_RTR
    )
    assert message_flags(can.Message(is_error_frame=True, is_extended_id=False)) == FRAME_ERROR


def test_records_hold_id_payload_bus_sequence_and_time():
    msgs = [
        can.Message(timestamp=1.5, arbitration_id=0x123, is_extended_id=False, data=b"\x01\x02"),
        can.Message(
            timestamp=2.25, arbitration_id=0x1ABCDEF0, is_extended_id=True, is_fd=True, data=bytes(range(64))
        ),
    ]
    frames = frames_from_messages(msgs, bus_id=3)
    assert frames.dtype == FRAME_DTYPE
    assert frames["can_id"].tolist() == [0x123, 0x1ABCDEF0]
    assert frames["len"].tolist() == [2, 64]
    assert frames["bus_id"].tolist() == [3, 3]
    assert frames["seq"].tolist() == [0, 1]
    assert frames["timestamp_ns"].tolist() == [1_500_000_000, 2_250_000_000]
    assert bytes(frames[1]["data"]) == bytes(range(64))
    assert bytes(frames[0]["data"][:2]) == b"\x01\x02" and not frames[0]["data"][2:].any()


def test_a_bad_message_is_counted_and_skipped():
    batch = FrameBatch(4)
    good = can.Message(arbitration_id=5, is_extended_id=False, data=b"\xff")
    bad = can.Message(arbitration_id=6, is_extended_id=False, data=b"")
    bad.data = bytearray(65)  # longer than any CAN FD frame
    assert batch.add(good, 0, 0, 10)
    assert not batch.add(bad, 0, 1, 11)
    assert batch.add(good, 0, 1, 12)
    assert batch.count == 2 and batch.bad_frames == 1
    assert np.array_equal(batch.array()["timestamp_ns"], [10, 12])

"""Packing python-can messages into frame records."""

from __future__ import annotations

import can
import numpy as np
import pytest

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


def _mixed_messages() -> list[can.Message]:
    return [
        can.Message(timestamp=1.5, arbitration_id=0x123, is_extended_id=False, data=b"\x01\x02"),
        can.Message(
            timestamp=2.25,
            arbitration_id=0x1ABCDEF0,
            is_extended_id=True,
            is_fd=True,
            bitrate_switch=True,
            error_state_indicator=True,
            data=bytes(range(64)),
        ),
        can.Message(timestamp=3.0, arbitration_id=0x7FF, is_extended_id=False, is_remote_frame=True, dlc=4),
        can.Message(timestamp=4.0, arbitration_id=0x40, is_extended_id=False, is_error_frame=True, data=[1]),
        can.Message(timestamp=0.0, arbitration_id=0x10, is_extended_id=False, data=b"\xaa" * 8),
    ]


def test_batch_packing_equals_packing_one_message_at_a_time():
    msgs = _mixed_messages()
    one_by_one = FrameBatch(8)
    for i, msg in enumerate(msgs):
        assert one_by_one.add(msg, 2, 100 + i, int(msg.timestamp * 1e9) if msg.timestamp else 777)
    batch = FrameBatch(8)
    assert batch.add_messages(msgs, 2, 100, now_ns=777) == len(msgs)
    assert batch.array().tobytes() == one_by_one.array().tobytes()
    assert batch.error_frames_added and batch.error_frame_ids(0) == [0x40]
    assert batch.array()["flags"].tolist() == [message_flags(m) for m in msgs]


def test_batch_packing_appends_after_existing_records():
    msgs = _mixed_messages()
    batch = FrameBatch(8)
    assert batch.add_messages(msgs[:2], 0, 0) == 2
    assert not batch.error_frames_added
    assert batch.add_messages(msgs[2:], 0, 2) == 3
    frames = batch.array()
    assert frames["seq"].tolist() == [0, 1, 2, 3, 4]
    assert frames["can_id"].tolist() == [m.arbitration_id for m in msgs]
    assert batch.error_frame_ids(2) == [0x40] and batch.error_frame_ids(4) == []


def test_batch_packing_skips_and_counts_a_frame_too_long_keeping_sequences_gapless():
    msgs = _mixed_messages()
    msgs[1].data = bytearray(65)
    batch = FrameBatch(8)
    assert batch.add_messages(msgs, 0, 10, now_ns=1) == len(msgs) - 1
    assert batch.bad_frames == 1
    frames = batch.array()
    assert frames["seq"].tolist() == [10, 11, 12, 13]
    assert frames["can_id"].tolist() == [0x123, 0x7FF, 0x40, 0x10]


def test_batch_packing_survives_a_field_of_the_wrong_type():
    msgs = _mixed_messages()
    msgs[2].arbitration_id = "not an id"  # C cannot take it: the batch is packed one by one
    msgs[3].timestamp = "later"
    batch = FrameBatch(8)
    assert batch.add_messages(msgs, 0, 0, now_ns=5) == len(msgs) - 2
    assert batch.bad_frames == 2
    assert batch.array()["can_id"].tolist() == [0x123, 0x1ABCDEF0, 0x10]
    assert batch.array()["seq"].tolist() == [0, 1, 2]
    assert batch.array()["timestamp_ns"].tolist() == [1_500_000_000, 2_250_000_000, 5]


def test_batch_packing_refuses_more_than_the_free_space():
    batch = FrameBatch(2)
    batch.add_messages(_mixed_messages()[:1], 0, 0)
    with pytest.raises(ValueError, match="free"):
        batch.add_messages(_mixed_messages()[:2], 0, 1)
    assert batch.count == 1

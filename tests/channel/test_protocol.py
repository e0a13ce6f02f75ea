"""Sample records <-> protobuf columns, and clear errors for malformed frames."""

from __future__ import annotations

import numpy as np
import pytest

from vehicle_mw.channel import ProtocolError, batch_message, batch_samples, parse_frame
from vehicle_mw.native.records import SAMPLE_DTYPE, VALUE_BOOL, VALUE_F64, VALUE_I64, VALUE_U64
from vehicle_mw.v1 import link_pb2


def mixed_samples() -> np.ndarray:
    s = np.zeros(5, SAMPLE_DTYPE)
    s["signal_id"] = [1, 2, 3, 4, 5]
    s["source_seq"] = [10, 11, 12, 13, 2**63 + 5]
    s["timestamp_ns"] = 1_700_000_000_123_456_789
    s["kind"] = [VALUE_F64, VALUE_I64, VALUE_U64, VALUE_BOOL, VALUE_F64]
    s["value"][0] = 3.25
    s["value"][4] = -0.5
    s["value"].view("<i8")[1] = -(2**62) - 3
    s["value"].view("<u8")[2] = 2**64 - 7
    s["value"].view("<i8")[3] = 1
    return s


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_keeps_exact_integers(compress):
    s = mixed_samples()
    up = link_pb2.Uplink.FromString(batch_message(7, s, 3, compress, 2).SerializeToString())
    assert up.batch.seq == 7 and up.batch.evicted_before == 3 and up.batch.evicted_batches_before == 2
    back = batch_samples(up.batch)
    assert back.tobytes() == s.tobytes()
    if not compress:
        assert up.batch.columns.value[2] == float(2**64 - 7)  # a readable double for every kind


def test_column_length_mismatch_is_malformed():
    up = batch_message(1, mixed_samples())
    del up.batch.columns.source_seq[-1]
    with pytest.raises(ProtocolError, match="source_seq"):
        batch_samples(up.batch, "vehicle V1")


def test_zip_bomb_is_refused():
    import zlib

    b = link_pb2.SampleBatch(seq=1, compression=link_pb2.COMPRESSION_ZLIB)
    b.compressed_columns = zlib.compress(b"\0" * (4 << 20))
    with pytest.raises(ProtocolError, match="decompresses beyond") as err:
        batch_samples(b, "peer", max_bytes=1 << 20)
    assert err.value.code == link_pb2.Error.MESSAGE_TOO_LARGE


def test_frames_that_are_not_messages_are_named_clearly():
    with pytest.raises(ProtocolError, match="text frame"):
        parse_frame("hello", link_pb2.Downlink, "ws://gw", 1024)
    with pytest.raises(ProtocolError, match="exceeds 16 B"):
        parse_frame(b"\0" * 17, link_pb2.Downlink, "ws://gw", 16)
    with pytest.raises(ProtocolError, match="not a Downlink"):
        parse_frame(b"\xff\xff\xff", link_pb2.Downlink, "ws://gw", 1024)
    with pytest.raises(ProtocolError, match="no message set"):
        parse_frame(b"", link_pb2.Downlink, "ws://gw", 1024)

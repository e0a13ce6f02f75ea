"""Sample records <-> protobuf columns, and clear errors for malformed frames."""

from __future__ import annotations

import pytest
from channel_rig import mixed_samples

from vehicle_mw.channel import ProtocolError, batch_message, batch_samples, parse_frame
from vehicle_mw.v1 import link_pb2


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

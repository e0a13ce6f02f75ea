"""The numpy encoder produces exactly protobuf's bytes for SampleBatch uplinks."""

from __future__ import annotations

import numpy as np
import pytest
from channel_rig import mixed_samples
from hypothesis import given, settings
from hypothesis import strategies as st

from vehicle_mw.channel import batch_message, batch_samples
from vehicle_mw.channel.wire import batch_bytes, columns_bytes, columns_bytes_numpy, varints
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.v1 import link_pb2


@given(st.lists(st.integers(0, 2**64 - 1), max_size=50))
@settings(max_examples=200, deadline=None)
def test_varints_match_protobuf(values):
    cols = link_pb2.SampleColumns(source_seq=values)
    expected = cols.SerializeToString()
    payload = varints(np.array(values, dtype=np.uint64))
    if values:
        assert expected.endswith(payload)
    else:
        assert payload == b""


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("which", ["mixed", "floats", "empty"])
def test_batch_bytes_equal_protobuf_serialization(which, compress):
    if which == "mixed":
        s = mixed_samples()
    elif which == "floats":
        s = np.zeros(300, SAMPLE_DTYPE)
        s["signal_id"] = np.arange(300) * 1000
        s["source_seq"] = np.arange(300) + 2**40
        s["timestamp_ns"] = 1_700_000_000_000_000_000 + np.arange(300)
        s["value"] = np.linspace(-1e9, 1e9, 300)
    else:
        s = np.zeros(0, SAMPLE_DTYPE)
    ref = batch_message(12345, s, 7, compress, 3)
    fast = batch_bytes(12345, s, 7, compress, 3, created_ns=ref.batch.created_ns)
    parsed = link_pb2.Uplink.FromString(fast)
    assert parsed == ref
    assert batch_samples(parsed.batch).tobytes() == s.tobytes()
    if not compress:
        assert fast == ref.SerializeToString()


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**16 - 1),
            st.integers(0, 2**64 - 1),
            st.integers(0, 2**64 - 1),
            st.sampled_from([0, 1, 2, 3]),
            st.integers(0, 2**64 - 1),
        ),
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_native_encoder_equals_numpy_reference(rows):
    s = np.zeros(len(rows), SAMPLE_DTYPE)
    for i, (sig, src, ts, seq, kind, raw) in enumerate(rows):
        s[i]["signal_id"], s[i]["source_id"], s[i]["timestamp_ns"], s[i]["source_seq"] = sig, src, ts, seq
        s[i]["kind"] = kind
        s["value"].view("<u8")[i] = raw
    assert columns_bytes(s) == columns_bytes_numpy(s)


@given(
    seq=st.integers(0, 2**64 - 1),
    created=st.integers(1, 2**64 - 1),  # never 0 (proto3 would omit it; the encoders always write it)
    evicted=st.integers(0, 2**32 - 1),  # uint32 in link.proto
    evicted_batches=st.integers(0, 2**64 - 1),
    n=st.integers(1, 300),
)
@settings(max_examples=100, deadline=None)
def test_native_batch_head_equals_protobuf(seq, created, evicted, evicted_batches, n):
    """The whole-message native encoder writes the same bytes as protobuf, head and tail included."""
    s = np.resize(mixed_samples(), n)
    ref = batch_message(seq, s, evicted, False, evicted_batches)
    ref.batch.created_ns = created
    assert batch_bytes(seq, s, evicted, False, evicted_batches, created_ns=created) == ref.SerializeToString()

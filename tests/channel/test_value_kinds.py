"""Sample columns with a value kind outside the ValueKind enum are refused with the field named.

proto3 enums are open, so a peer (or a damaged record) can carry any int32 in ``SampleColumns.kind``;
the decoder used to narrow it into the one-byte record field (300 became 44, -1 became 255) and
accept the sample as some other kind.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vehicle_mw.channel.protocol import (
    ProtocolError,
    batch_message,
    batch_samples,
    columns_from_samples,
    samples_from_columns,
)
from vehicle_mw.native.records import SAMPLE_DTYPE, VALUE_BOOL, VALUE_F64, VALUE_I64, VALUE_U64
from vehicle_mw.v1 import link_pb2


def columns(kinds: list[int]) -> link_pb2.SampleColumns:
    n = len(kinds)
    return link_pb2.SampleColumns(
        signal_id=range(n),
        source_id=[1] * n,
        source_ts_ns=range(n),
        source_seq=range(n),
        value=[float(i) for i in range(n)],
        kind=kinds,
        int_value=range(n),
    )


@pytest.mark.parametrize(
    ("kinds", "index", "value"), [([300], 0, 300), ([1, 2, 4], 2, 4), ([0, -1, 3], 1, -1)]
)
def test_unknown_kind_is_refused_naming_the_entry(kinds, index, value):
    with pytest.raises(ProtocolError) as err:
        samples_from_columns(columns(kinds), "VIN-X")
    assert err.value.peer == "VIN-X" and err.value.code == link_pb2.Error.MALFORMED
    assert f"SampleColumns.kind[{index}] = {value} is not a known value kind" in str(err.value)


def test_batch_decoder_names_the_batch_plain_and_compressed():
    for compress in (False, True):
        up = batch_message(7, np.zeros(2, SAMPLE_DTYPE), compress=compress)
        cols = columns([1, 300])
        if compress:
            up.batch.compressed_columns = zlib.compress(cols.SerializeToString())
        else:
            up.batch.columns.CopyFrom(cols)
        with pytest.raises(ProtocolError, match=r"batch 7: SampleColumns\.kind\[1\] = 300"):
            batch_samples(up.batch, "VIN-X")


def test_every_known_kind_still_round_trips():
    s = np.zeros(4, SAMPLE_DTYPE)
    s["kind"] = [VALUE_F64, VALUE_I64, VALUE_U64, VALUE_BOOL]
    s["value"][0] = 2.5
    s["value"].view("<i8")[1] = -(2**62)
    s["value"].view("<u8")[2] = 2**64 - 1
    s["value"].view("<i8")[3] = 1
    back = samples_from_columns(columns_from_samples(s))
    assert back.tobytes() == s.tobytes()


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=20))
def test_model_accepted_iff_every_kind_is_in_the_enum(kinds):
    known = set(link_pb2.ValueKind.values())
    try:
        out = samples_from_columns(columns(kinds))
    except ProtocolError as exc:
        assert not set(kinds) <= known
        first = next(i for i, k in enumerate(kinds) if k not in known)
        assert f"kind[{first}] = {kinds[first]} " in str(exc)
    else:
        assert set(kinds) <= known and out["kind"].tolist() == kinds

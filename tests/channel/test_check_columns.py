"""Checking a batch without building its samples refuses exactly what building them refuses."""

from __future__ import annotations

import pytest
from channel_rig import make_samples, mixed_samples

from vehicle_mw.channel.protocol import ProtocolError, batch_message, batch_samples, check_batch


def _bad_length():
    up = batch_message(4, make_samples(0, 8))
    del up.batch.columns.value[3]
    return up.batch, "batch 4: SampleColumns: 8 signal_id but {'value': 7}"


def _bad_kind():
    up = batch_message(5, mixed_samples())
    up.batch.columns.kind[2] = 77
    return up.batch, "batch 5: SampleColumns.kind[2] = 77 is not a known value kind"


@pytest.mark.parametrize("make", [_bad_length, _bad_kind])
def test_check_batch_refuses_what_batch_samples_refuses(make):
    batch, text = make()
    for check in (check_batch, batch_samples):
        with pytest.raises(ProtocolError) as exc:
            check(batch, "peer-x")
        assert str(exc.value).startswith("peer-x: ") and text in str(exc.value), exc.value


@pytest.mark.parametrize("compress", [False, True])
def test_check_batch_counts_what_batch_samples_builds(compress):
    for samples in (make_samples(0, 300), mixed_samples()):
        batch = batch_message(1, samples, compress=compress).batch
        assert check_batch(batch) == len(samples)
        built = batch_samples(batch)
        assert (built["source_seq"] == samples["source_seq"]).all()
        assert (built["value"].view("<u8") == samples["value"].view("<u8")).all()

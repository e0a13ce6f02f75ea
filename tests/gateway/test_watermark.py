"""The ack watermark: whatever order batches become durable in, it is the highest contiguous seq."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vehicle_mw.gateway.fleet import TokenBucket, VehicleState


def fresh() -> VehicleState:
    return VehicleState("V", 0, set(), b"", TokenBucket(1, 1), TokenBucket(1, 1))


@given(st.permutations(range(1, 40)), st.integers(0, 39))
def test_watermark_is_highest_contiguous(order, cut):
    state = fresh()
    durable: set[int] = set()
    for seq in order[:cut]:
        state.durable(seq)
        durable.add(seq)
        expected = 0
        while expected + 1 in durable:
            expected += 1
        assert state.acked_seq == expected
        assert state.stored_above == {s for s in durable if s > expected}
        assert all(state.is_duplicate(s) for s in durable)


@given(st.sets(st.integers(1, 60), max_size=30), st.integers(1, 60), st.integers(0, 20))
def test_evicted_ranges_and_resume_floor(stored, first, length):
    state = fresh()
    for seq in stored:
        state.durable(seq)
    last = first + length
    state.skip_evicted(first, last)
    done = stored | set(range(first, last + 1))
    expected = 0
    while expected + 1 in done:
        expected += 1
    assert state.acked_seq == expected
    state.raise_floor(expected + 5)  # Hello.resume_after_seq beyond what the gateway knew
    assert state.acked_seq >= expected + 5
    assert not any(s <= state.acked_seq for s in state.stored_above)


def test_token_bucket_refuses_beyond_burst():
    bucket = TokenBucket(rate=10, burst_s=1.0)
    taken = sum(bucket.take() for _ in range(100))
    assert 10 <= taken <= 11  # the burst (plus what refilled during the loop)

"""The ack watermark: whatever order batches become durable in, it is the highest contiguous seq."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from vehicle_mw.gateway.fleet import TokenBucket, VehicleState
from vehicle_mw.gateway.seq_ranges import SeqRanges


def fresh() -> VehicleState:
    return VehicleState("V", 0, SeqRanges(), b"", TokenBucket(1, 1), TokenBucket(1, 1))


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
        assert set(state.stored_above) == {s for s in durable if s > expected}
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


def test_huge_eviction_gap_costs_one_range():
    """A gap of 10^12 evicted seqs above the watermark is one range, not a set of every seq."""
    state = fresh()
    state.durable(1)
    state.skip_evicted(10, 10**12)
    assert len(state.stored_above) == 1 and 10**12 in state.stored_above and 5 not in state.stored_above
    for seq in range(2, 10):
        state.durable(seq)
    assert state.acked_seq == 10**12 and len(state.stored_above) == 0


@given(st.lists(st.tuples(st.integers(1, 80), st.integers(0, 6)), max_size=25), st.integers(0, 90))
def test_seq_ranges_match_a_set(adds, floor):
    ranges, model = SeqRanges(), set()
    for first, length in adds:
        ranges.add(first, first + length)
        model |= set(range(first, first + length + 1))
    assert list(ranges) == sorted(model)
    assert all((s in ranges) == (s in model) for s in range(0, 100))
    ranges.drop_through(floor)
    assert list(ranges) == sorted(s for s in model if s > floor)
    pairs = ranges.ranges
    assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(pairs))  # disjoint, not touching

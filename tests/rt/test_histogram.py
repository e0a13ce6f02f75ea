"""Lateness statistics against known sequences (numpy computes the reference)."""

from __future__ import annotations

import numpy as np
import pytest

from vehicle_mw.rt import LatencyHistogram


def _reference(values: np.ndarray, p: float) -> int:
    return int(np.percentile(values, p, method="inverted_cdf"))  # nearest rank


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_reference_within_bucket_precision(seed):
    rng = np.random.default_rng(seed)
    # lateness-like: mostly tens of microseconds with a long tail up to tens of ms
    values = np.concatenate([rng.gamma(2.0, 8_000, 20_000), rng.uniform(0, 30_000_000, 50)]).astype(np.int64)
    rng.shuffle(values)
    hist = LatencyHistogram()
    for v in values.tolist():
        hist.record(v)
    assert hist.count == len(values)
    assert hist.max == int(values.max())
    assert hist.min == int(values.min())
    assert hist.mean == pytest.approx(float(values.mean()))
    for p in (50, 90, 99, 99.9, 100):
        ref = _reference(values, p)
        assert abs(hist.percentile(p) - ref) <= ref / 128 + 1, p


def test_small_values_are_exact():
    hist = LatencyHistogram()
    seq = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]  # 1..10
    for v in seq:
        hist.record(v)
    assert hist.percentile(50) == 5
    assert hist.percentile(90) == 9
    assert hist.percentile(100) == 10
    assert hist.summary()["max"] == 10


def test_negative_counts_as_zero_and_empty_is_zero():
    hist = LatencyHistogram()
    assert hist.percentile(99) == 0
    hist.record(-5)
    assert hist.max == 0 and hist.count == 1


def test_merge_equals_recording_everything_in_one():
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i, v in enumerate(range(0, 3_000_000, 997)):
        (a if i % 2 else b).record(v)
        both.record(v)
    a.merge(b)
    assert a.summary() == both.summary()


def test_bad_percentile_rejected():
    with pytest.raises(ValueError):
        LatencyHistogram().percentile(0)

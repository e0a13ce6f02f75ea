"""The transport_switch verdict on recorded switch histories (the judge alone, no bench)."""

from __future__ import annotations

import numpy as np

from vehicle_mw.hil.dut import EVIDENCE_FRAME
from vehicle_mw.hil.verdicts import RunEvidence, judge
from vehicle_mw.manifest.hil import Assertion
from vehicle_mw.native.records import SAMPLE_DTYPE

MS = 1_000_000


def _evidence(switches: list[tuple[int, str]]) -> RunEvidence:
    return RunEvidence(
        t0_ns=0,
        frames=np.zeros(0, EVIDENCE_FRAME),
        samples=np.zeros(0, SAMPLE_DTYPE),
        step_ns={"cut": 1500 * MS},
        bus_ids={},
        frame_ids={},
        cycle_ms={},
        signal_ids={},
        error_frames={},
        switches=[(t * MS, to) for t, to in switches],
    )


def _verdict(switches):
    switch = {"to": "websocket", "after": "cut", "within_ms": 2000}
    check = Assertion(name="failover", transport_switch=switch)
    return judge(check, _evidence(switches))


def test_switch_after_the_step_within_the_window_passes_and_too_late_fails():
    assert _verdict([(0, "grpc"), (1900, "websocket")]).passed
    late = _verdict([(0, "grpc"), (3600, "websocket")])
    assert not late.passed and "switched after 2100.0 ms" in late.measured
    assert not _verdict([(0, "grpc")]).passed


def test_already_on_the_transport_at_the_step_passes_only_if_it_stays():
    kept = _verdict([(0, "grpc"), (700, "websocket")])
    assert kept.passed and "already on websocket" in kept.measured
    left = _verdict([(0, "grpc"), (700, "websocket"), (2000, "grpc")])
    assert not left.passed and "then left it" in left.measured

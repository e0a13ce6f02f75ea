"""Judging a finished run: one :class:`Verdict` per assertion, with measured times as evidence.

All times are CLOCK_REALTIME nanoseconds: frame records carry the bus timestamp of each frame,
steps record when they fired, uplink switch events when they happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vehicle_mw.manifest.hil import (
    Assertion,
    ErrorFramesSeen,
    MessageAbsent,
    MessagePeriod,
    SignalReaches,
    TransportSwitch,
)
from vehicle_mw.signals import values_as_float


@dataclass
class Verdict:
    """The outcome of one assertion."""

    name: str
    kind: str
    passed: bool
    expected: str
    measured: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class RunEvidence:
    """What a run recorded, as the judge needs it."""

    t0_ns: int
    frames: np.ndarray  # EVIDENCE_FRAME
    samples: np.ndarray  # SAMPLE_DTYPE
    step_ns: dict[str, int]  # step id -> when it fired
    bus_ids: dict[str, int]
    frame_ids: dict[tuple[str, str], int]  # (bus, message) -> CAN id
    cycle_ms: dict[tuple[str, str], float]  # (bus, message) -> restbus period
    signal_ids: dict[str, int]  # 'Message.Signal' -> catalog id
    error_frames: dict[str, int]
    switches: list[tuple[int, str]] = field(default_factory=list)
    delivered: tuple[int, int, int] | None = None  # (appended, stored, distinct stored)
    drained: bool = True
    replayed: int = 0  # frames the trace players sent
    ingested: int = 0  # frames the runtime's bus readers put into its frame rings (its counters)


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.1f} ms"


def _frames_of(ev: RunEvidence, bus: str, message: str) -> np.ndarray:
    f = ev.frames
    sel = (f["bus_id"] == ev.bus_ids[bus]) & ((f["can_id"] & 0x1FFFFFFF) == ev.frame_ids[(bus, message)])
    return np.sort(f["timestamp_ns"][sel].astype(np.int64))


def _signal_reaches(a: SignalReaches, ev: RunEvidence) -> tuple[bool, str, str, list[str]]:
    start = ev.step_ns[a.after]
    s = ev.samples[ev.samples["signal_id"] == ev.signal_ids[a.signal]]
    ts = s["timestamp_ns"].astype(np.int64)
    values = values_as_float(s)
    after = ts >= start
    hit = after & (np.abs(values - a.value) <= a.tolerance)
    expected = f"{a.signal} = {a.value} (+-{a.tolerance}) within {a.within_ms} ms after step '{a.after}'"
    evidence = [f"step '{a.after}' fired at +{_ms(start - ev.t0_ns)}", f"{int(after.sum())} samples after it"]
    if not hit.any():
        last = f"{values[after][-1]:g}" if after.any() else "none"
        return False, expected, f"never reached (last value after the step: {last})", evidence
    latency = int(ts[hit][0]) - start
    evidence.append(f"first matching sample at +{_ms(int(ts[hit][0]) - ev.t0_ns)}")
    return latency <= a.within_ms * 1e6, expected, f"reached after {_ms(latency)}", evidence


def _window(ev: RunEvidence, a: MessagePeriod | MessageAbsent) -> tuple[int, int]:
    """The assertion's window in ns, from the scenario start or from when step ``after`` fired."""
    origin = ev.step_ns[a.after] if a.after else ev.t0_ns
    lo = origin + int(a.from_ms * 1e6)
    hi = origin + int(a.to_ms * 1e6) if a.to_ms is not None else 2**62
    return lo, hi


def _origin(a: MessagePeriod | MessageAbsent) -> str:
    return f"step '{a.after}'" if a.after else "start"


def _message_period(a: MessagePeriod, ev: RunEvidence) -> tuple[bool, str, str, list[str]]:
    want = a.expected_ms or ev.cycle_ms.get((a.bus, a.message))
    if want is None:
        raise ValueError(f"message_period {a.message!r}: no expected_ms and no restbus cycle time")
    lo, hi = _window(ev, a)
    ts = _frames_of(ev, a.bus, a.message)
    ts = ts[(ts >= lo) & (ts <= hi)]
    expected = f"median period {want:g} ms +-{a.tolerance_pct:g}%" + (
        f", no gap > {a.max_gap_ms:g} ms" if a.max_gap_ms else ""
    )
    if len(ts) < 3:
        return False, expected, f"only {len(ts)} frames in the window", []
    gaps = np.diff(ts) / 1e6
    median, p95, worst = float(np.median(gaps)), float(np.percentile(gaps, 95)), float(gaps.max())
    ok = abs(median - want) <= want * a.tolerance_pct / 100.0
    if a.max_gap_ms:
        ok = ok and worst <= a.max_gap_ms
    measured = f"median {median:.2f} ms, p95 {p95:.2f} ms, max {worst:.2f} ms"
    return ok, expected, measured, [f"{len(ts)} frames, {len(gaps)} periods in the window"]


def _message_absent(a: MessageAbsent, ev: RunEvidence) -> tuple[bool, str, str, list[str]]:
    lo, hi = _window(ev, a)
    ts = _frames_of(ev, a.bus, a.message)
    inside = ts[(ts >= lo) & (ts <= hi)]
    before, after = ts[ts < lo], ts[ts > hi]
    evidence = []
    if len(before) and len(after):
        evidence.append(f"gap around the window: {_ms(int(after[0]) - int(before[-1]))}")
    expected = f"no {a.message} frame from {_origin(a)} +{a.from_ms:g} to +{a.to_ms:g} ms"
    return len(inside) == 0, expected, f"{len(inside)} frames in the window", evidence


def _error_frames(a: ErrorFramesSeen, ev: RunEvidence) -> tuple[bool, str, str, list[str]]:
    n = ev.error_frames[a.bus]
    return n >= a.at_least, f">= {a.at_least} error frames counted", f"{n} counted by the runtime", []


def _transport_switch(a: TransportSwitch, ev: RunEvidence) -> tuple[bool, str, str, list[str]]:
    start = ev.step_ns[a.after]
    expected = f"switch to {a.to} within {a.within_ms:g} ms after step '{a.after}'"
    history = [f"+{_ms(t - ev.t0_ns)}: -> {to}" for t, to in ev.switches]
    window_end = start + a.within_ms * 1e6
    earlier = [(t, to) for t, to in ev.switches if t < start]
    if earlier and earlier[-1][1] == a.to:
        # The channel had already chosen this transport (e.g. the link degraded before the step on a
        # loaded bench): the step's outcome holds if it is still on it through the window.
        left = [t for t, to in ev.switches if start <= t <= window_end and to != a.to]
        measured = f"already on {a.to} at the step (since +{_ms(earlier[-1][0] - ev.t0_ns)})"
        return not left, expected, measured + (", then left it" if left else ""), history
    later = [t for t, to in ev.switches if t >= start and to == a.to]
    if not later:
        return False, expected, f"no switch to {a.to} after the step", history
    took = later[0] - start
    return took <= a.within_ms * 1e6, expected, f"switched after {_ms(took)}", history


def judge(assertion: Assertion, ev: RunEvidence) -> Verdict:
    """One verdict; an assertion that cannot be evaluated fails with the reason."""
    kind, check = assertion.kind, assertion.check
    try:
        if kind == "delivered":
            ok, expected, measured, evidence = _delivered(check, ev)
        else:
            fn = {
                "signal_reaches": _signal_reaches,
                "message_period": _message_period,
                "message_absent": _message_absent,
                "error_frames_seen": _error_frames,
                "transport_switch": _transport_switch,
            }[kind]
            ok, expected, measured, evidence = fn(check, ev)
    except (KeyError, ValueError) as exc:
        return Verdict(assertion.name, kind, False, "evaluable assertion", f"cannot evaluate: {exc}")
    return Verdict(assertion.name, kind, bool(ok), expected, measured, evidence)


def _delivered(a, ev: RunEvidence) -> tuple[bool, str, str, list[str]]:
    if ev.delivered is None:
        raise ValueError("the bench has no uplink (dut.uplink: true)")
    appended, stored, distinct = ev.delivered
    ok = ev.drained
    parts = []
    if a.zero_loss:
        ok = ok and distinct == appended
        parts.append("zero loss")
    if a.zero_duplicates:
        ok = ok and stored == distinct
        parts.append("zero duplicates")
    measured = (
        f"produced {appended}, stored {stored}, distinct {distinct}, lost {appended - distinct}, "
        f"duplicates {stored - distinct}"
    )
    evidence = [
        f"CAN frames ingested by the runtime: {ev.ingested} ({len(ev.frames)} decoded; "
        f"replayed from traces: {ev.replayed})"
    ]
    if not ev.drained:
        evidence.append(f"outbox not drained within {a.drain_within_ms:g} ms")
    return ok and appended > 0, " and ".join(parts) + " at the gateway", measured, evidence


__all__ = ["RunEvidence", "Verdict", "judge"]

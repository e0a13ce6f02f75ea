"""CampaignSet against the per-sample reference, operator by operator, on real traces."""

from __future__ import annotations

import numpy as np
import pytest
from campaign_helpers import campaigns, doc, run_batches
from campaign_reference import reference

from vehicle_mw.campaign import CampaignSet

AX = "gnss_imu.AccelerationX"
AY = "gnss_imu.AccelerationY"
RZ = "gnss_imu.AngularRateZ"
SPEED = "gnss_speed.Speed"
SATS = "gnss_status.Satellites"
HEADING = "gnss_attitude.Heading"

EXPRESSIONS = {
    "lt": f"{AX} < -1.0",
    "le": f"{AX} <= -1.5",
    "gt": f"{AX} > 0.9",
    "ge": f"{AX} >= 1.0",
    "eq": f"{AX} == 0",
    "ne": f"{SATS} != 9",
    "and": f"{AX} < -0.5 and {AY} > 0.2",
    "or": f"{AX} < -2 or {RZ} > 12",
    "not": f"not ({AX} > -1.0)",
    "add": f"{AX} + {AY} > 1.1",
    "sub": f"{AX} - {AY} < -1.3",
    "mul": f"{AX} * {RZ} > 3",
    "div": f"{AX} / {AY} > 2.5",
    "neg": f"-{AX} > 1.2",
    "abs": f"abs({RZ}) > 10",
    "min": f"min({AX}, {AY}, -0.1) < -1.2",
    "max": f"max({AX}, {AY}) > 0.8",
    "changed": f"changed({SATS})",
    "is_null": f"is_null({SPEED}, 900) and {AX} > 0.25",
    "is_null_ever": f"is_null({HEADING}) or {AX} > 1.2",
    "lw_avg": f"last_window_avg({AX}, 1000) < -0.6",
    "lw_min": f"last_window_min({RZ}, 2000) < -8",
    "lw_max": f"last_window_max({SPEED}, 5000) > 5",
    "pw_avg": f"previous_window_avg({AX}, 1000) < -0.6 and {AX} > 0",
    "pw_min": f"previous_window_min({AX}, 500) < -1.5",
    "pw_max": f"previous_window_max({RZ}, 3000) > 15",
    "arith_mix": f"({AX} * 2 + 1) / ({SPEED} + 0.5) > 1.5 or abs({AY} - {AX}) >= 2",
}


def _campaign_docs():
    docs = []
    for i, (name, expr) in enumerate(sorted(EXPRESSIONS.items())):
        mode = "rising_edge" if i % 2 == 0 else "always"
        docs.append(
            doc(
                name,
                signals=(
                    AX,
                    SPEED,
                    {"name": RZ, "min_sampling_interval_ms": 250},
                    {"name": AY, "max_samples": 7},
                ),
                expression=expr,
                trigger_mode=mode,
                min_trigger_interval_ms=(0, 1500, 4000)[i % 3],
                pre_trigger_ms=(0, 800, 3000)[(i + 1) % 3],
                post_trigger_ms=(0, 500, 2500)[i % 3],
            )
        )
    docs.append(
        doc(
            "periodic",
            signals=(SPEED, {"name": AX, "max_samples": 20}, {"name": RZ, "min_sampling_interval_ms": 700}),
            period_ms=5000,
        )
    )
    return docs


def _check(cs, ref, samples, batch):
    got = run_batches(cs, samples, batch)
    triggered = 0
    for name in cs.names:
        recs, trigs, supp, over = got[name]
        r = ref[name]
        assert trigs == r.triggers, f"{name}: triggers differ (batch {batch})"
        assert supp == r.suppressed, name
        assert over == r.overlaps, name
        want = samples[r.selected]
        assert len(recs) == len(want), f"{name}: {len(recs)} samples selected, reference {len(want)}"
        assert recs.tobytes() == want.tobytes(), name
        triggered += bool(r.triggers)
    return triggered


@pytest.mark.parametrize("batch", [13, 512, 100_000])
def test_every_operator_matches_the_reference_on_the_demo_trace(demo, batch):
    catalog, samples, index = demo
    cs = campaigns(*_campaign_docs())
    ref = reference(cs, index, samples)
    triggered = _check(CampaignSet(cs, index), ref, samples, batch)
    # the test means something only when the conditions do trigger on this trace
    assert triggered >= len(EXPRESSIONS) - 2
    assert all(ref[n].triggers for n in ("lt", "changed", "lw_avg", "pw_min", "abs", "is_null", "div"))
    assert any(ref[n].suppressed for n in ref) and any(ref[n].overlaps for n in ref)


def test_rising_edge_fires_once_per_true_run_and_always_fires_at_each_point(demo):
    catalog, samples, index = demo
    expr = f"{AX} < -1.0"
    cs = campaigns(
        doc("edge", expression=expr, trigger_mode="rising_edge"),
        doc("always", expression=expr, trigger_mode="always"),
    )
    got = run_batches(CampaignSet(cs, index), samples, 256)
    ax = samples[samples["signal_id"] == index.resolve(AX)]
    from vehicle_mw.signals import values_as_float

    cond = values_as_float(ax) < -1.0
    t = ax["timestamp_ns"].astype(np.int64)
    rising = t[cond & ~np.concatenate(([False], cond[:-1]))]
    assert got["edge"][1] == rising.tolist()
    assert got["always"][1] == t[cond].tolist()
    assert 5 < len(rising) < len(t[cond])


def test_min_trigger_interval_counts_what_it_suppresses(demo):
    catalog, samples, index = demo
    expr = f"{AX} < -0.5"
    cs = campaigns(
        doc("free", expression=expr, trigger_mode="always"),
        doc("spaced", expression=expr, trigger_mode="always", min_trigger_interval_ms=10_000),
    )
    got = run_batches(CampaignSet(cs, index), samples, 1000)
    spaced = np.array(got["spaced"][1])
    assert len(spaced) >= 3 and (np.diff(spaced) >= 10_000_000_000).all()
    assert got["spaced"][2] == len(got["free"][1]) - len(spaced)
    # greedy: each accepted trigger is the first candidate 10 s or more after the one before
    free = np.array(got["free"][1])
    for a, b in zip(spaced[:-1], spaced[1:], strict=True):
        assert b == free[free >= a + 10_000_000_000][0]


def test_pre_and_post_windows_hold_exactly_the_trace_samples_in_them(demo):
    catalog, samples, index = demo
    pre, post = 2_000, 1_500
    cs = campaigns(
        doc(
            "w",
            signals=(AX, SPEED, HEADING),
            expression=f"{AX} < -1.5",
            min_trigger_interval_ms=20_000,
            pre_trigger_ms=pre,
            post_trigger_ms=post,
        )
    )
    recs, trigs, _, over = run_batches(CampaignSet(cs, index), samples, 300)["w"]
    assert len(trigs) >= 2 and over == 0
    t = samples["timestamp_ns"].astype(np.int64)
    wanted = np.isin(samples["signal_id"], [index.resolve(s) for s in (AX, SPEED, HEADING)])
    inside = np.zeros(len(samples), bool)
    for tr in trigs:
        inside |= (t >= tr - pre * 1_000_000) & (t <= tr + post * 1_000_000)
    expected = samples[wanted & inside]
    assert recs.tobytes() == expected.tobytes()
    assert len(expected) > 50


def test_shared_data_genesis_trace_matches_the_reference(shared_data):
    from campaign_helpers import decode_trace

    from vehicle_mw.campaign import SignalIndex

    log = shared_data / "eldominio-canbuslogs/genesis/autologgenesis.log"
    dbc = shared_data / "opendbc/dbc/hyundai_i30_2014.dbc"
    if not log.is_file() or not dbc.is_file():
        pytest.skip(f"{log} or {dbc} not in the shared data")
    catalog, samples = decode_trace(log, dbc, strict=False)
    samples = samples[:200_000]
    index = SignalIndex.from_catalog(catalog)
    counts = np.bincount(samples["signal_id"])
    busy = [catalog.by_id(int(i)).name for i in np.argsort(counts)[::-1][:40]]
    from vehicle_mw.signals import values_as_float

    vals = values_as_float(samples)
    docs = []
    for k, name in enumerate(busy[:12]):
        v = vals[samples["signal_id"] == index.resolve(name)]
        thr = float(np.percentile(v, 90))
        other = busy[(k + 5) % len(busy)]
        expr = (
            f"{name} > {thr!r} and not changed({other})"
            if k % 3 == 0
            else f"last_window_avg({name}, 250) >= {thr!r} or abs({other}) < 0"
            if k % 3 == 1
            else f"max({name}, {other}) - min({name}, {other}) > {abs(thr)!r} or is_null({other}, 50)"
        )
        docs.append(
            doc(
                f"g{k}",
                signals=(name, other, {"name": busy[20 + k], "max_samples": 50}),
                expression=expr,
                trigger_mode=("always", "rising_edge")[k % 2],
                min_trigger_interval_ms=(0, 300)[k % 2],
                pre_trigger_ms=200,
                post_trigger_ms=100,
            )
        )
    cs = campaigns(*docs)
    ref = reference(cs, index, samples)
    triggered = _check(CampaignSet(cs, index), ref, samples, 4096)
    assert triggered >= 6

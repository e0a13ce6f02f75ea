"""The shared evaluation pass: conditions of one shape evaluated together still give, per condition,
exactly the per-sample reference's true points, whatever the batch size."""

from __future__ import annotations

import re

import numpy as np
import pytest
from campaign_helpers import campaigns, doc
from campaign_reference import conditions_only
from test_campaign_reference import AX, AY, EXPRESSIONS, RZ

from vehicle_mw.campaign.batch_eval import ConditionSet


def _variants() -> list[dict]:
    """Each operator's expression three ways that share its shape: as is, on other signals, with
    other thresholds (decimal constants scaled; window lengths and timeouts kept)."""
    docs = []
    for name, expr in sorted(EXPRESSIONS.items()):
        swapped = expr.replace(AX, "\0").replace(AY, AX).replace(RZ, AY).replace("\0", RZ)
        scaled = re.sub(r"(?<![\w.])(\d+\.\d+)", lambda m: repr(float(m.group(1)) * 0.7), expr)
        for k, e in enumerate((expr, swapped, scaled)):
            docs.append(doc(f"{name}-{k}", signals=(AX,), expression=e))
    return docs


@pytest.mark.parametrize("batch", [13, 977, 100_000])
def test_many_conditions_per_shape_match_the_reference(demo, batch):
    _, samples, index = demo
    cs = campaigns(*_variants())
    want = conditions_only(cs, index, samples)
    shared = ConditionSet.of(cs, index)
    assert shared.shapes <= len(EXPRESSIONS) < len(cs)  # members of a shape really are evaluated together
    got: list[list[int]] = [[] for _ in cs]
    for i in range(0, len(samples), batch):
        for k, times in enumerate(shared.feed(samples[i : i + batch])):
            got[k].extend(times.tolist())
    for c, g, w in zip(cs, got, want, strict=True):
        assert g == w, f"{c.name}: {len(g)} true points, reference {len(w)} (batch {batch})"
    assert sum(bool(w) for w in want) >= len(cs) - 6  # the conditions do fire on this trace


@pytest.mark.parametrize("split", [1_000, 7_777])
def test_a_set_replaced_midway_carries_the_unchanged_campaigns_on(demo, split):
    """The runtime replaces the set when a campaign is added: every campaign that did not change
    selects and triggers exactly as if the set had never been replaced."""
    from campaign_helpers import run_batches
    from test_campaign_reference import _campaign_docs

    from vehicle_mw.campaign import CampaignSet

    _, samples, index = demo
    docs = _campaign_docs()
    old = campaigns(*docs)
    whole = run_batches(CampaignSet(old, index), samples, 500)
    first = CampaignSet(old, index)
    a = run_batches(first, samples[:split], 500)
    added = doc("added", signals=(AX, RZ), expression=f"{AX} > 0.5", pre_trigger_ms=1000)
    changed = dict(docs[0], version=2, priority=9)  # a new version starts afresh
    second = CampaignSet(campaigns(changed, *docs[1:], added), index)
    assert second.adopt(first) == len(docs) - 1
    b = run_batches(second, samples[split:], 500)
    for name in first.names:
        if name == changed["name"]:
            continue
        recs = np.concatenate((a[name][0], b[name][0]))
        assert recs.tobytes() == whole[name][0].tobytes(), name
        assert a[name][1] + b[name][1] == whole[name][1], name
        assert a[name][2] + b[name][2] == whole[name][2], name
    assert any(whole[n][1] and b[n][1] for n in first.names)  # triggers after the replacement


@pytest.mark.parametrize("batch", [13, 256])
def test_a_constant_window_averages_to_its_value_exactly(demo, batch):
    """Partial window sums carried across batches round differently from one running sum: a
    constant signal must still average to its own value, not one ulp above a threshold equal to it
    (12.345 does round up without the clamp)."""
    _, samples, index = demo
    samples = samples.copy()
    mine = samples["signal_id"] == index.resolve(AX)
    samples["kind"][mine] = 0  # VALUE_F64
    samples["value"][mine] = 12.345
    cs = campaigns(
        doc("gt", signals=(AX,), expression=f"last_window_avg({AX}, 500) > 12.345"),
        doc("ge", signals=(AX,), expression=f"last_window_avg({AX}, 500) >= 12.345"),
    )
    want = conditions_only(cs, index, samples)
    got: list[list[int]] = [[], []]
    shared = ConditionSet.of(cs, index)
    for i in range(0, len(samples), batch):
        for k, times in enumerate(shared.feed(samples[i : i + batch])):
            got[k].extend(times.tolist())
    assert got[0] == want[0] == []
    assert got[1] == want[1] and len(got[1]) > 0

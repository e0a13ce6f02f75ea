"""The shared evaluation pass: conditions of one shape evaluated together still give, per condition,
exactly the per-sample reference's true points, whatever the batch size."""

from __future__ import annotations

import re

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

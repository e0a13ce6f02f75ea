"""Documents, expression errors with positions, memory bound, and the CLI end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from campaign_helpers import DEMO_DBC, DEMO_LOG, campaigns, doc

from vehicle_mw.campaign import (
    CampaignError,
    CampaignSet,
    ExpressionError,
    SignalIndex,
    campaign_schema,
    load_campaigns,
    parse_expression,
)
from vehicle_mw.campaign.expression import MAX_DEPTH, MAX_NODES
from vehicle_mw.native import SAMPLE_DTYPE


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("a > ", 5, "expected a number"),
        ("a $ b", 3, "unexpected character"),
        ("a < b < c", 7, "cannot be chained"),
        ("(a > 1", 7, "expected ')'"),
        ("foo(a)", 1, "unknown function"),
        ("min(a)", 1, "takes 2 to 16 arguments"),
        ("changed(a + 1)", 1, "must be a signal name"),
        ("is_null(a, -5)", 12, "whole number of milliseconds"),
        ("last_window_avg(a, 0.5)", 20, "whole number of milliseconds"),
        ("a b", 3, "after a complete expression"),
        ("", 1, "empty expression"),
    ],
)
def test_expression_errors_name_campaign_position_and_reason(text, position, reason):
    with pytest.raises(ExpressionError) as err:
        parse_expression(text, "brake")
    assert err.value.position == position and reason in err.value.reason
    assert "campaign 'brake'" in str(err.value) and f"character {position}" in str(err.value)


def test_expression_bounds():
    with pytest.raises(ExpressionError, match="deeper than|nested more"):
        parse_expression("+".join(["a"] * (MAX_DEPTH + 2)), "c")
    with pytest.raises(ExpressionError, match="nodes"):
        parse_expression(" or ".join(["a"] * (MAX_NODES + 10)), "c")
    with pytest.raises(ExpressionError, match="nested"):
        parse_expression("(" * 200 + "a" + ")" * 200, "c")


def test_file_errors_name_file_campaign_and_field(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(json.dumps(doc("brake", expression="a >", trigger_mode="always")))
    with pytest.raises(ExpressionError) as err:
        load_campaigns(p)
    assert str(p) in str(err.value) and "brake" in str(err.value) and "character 4" in str(err.value)
    bad = doc("brake", expression="a > 1")
    bad["collection"]["pre_trigger"] = 5
    p.write_text(json.dumps({"campaigns": [doc("ok", period_ms=10), bad]}))
    with pytest.raises(CampaignError) as err:
        load_campaigns(p)
    e = err.value
    assert (e.file, e.campaign) == (
        str(p),
        "brake",
    ) and e.field == "campaigns[1].collection.condition.pre_trigger"
    assert "unknown key" in str(e)
    p.write_text(json.dumps(dict(doc("x", period_ms=10), version="two")))
    with pytest.raises(CampaignError, match="version"):
        load_campaigns(p)


def test_schema_lists_the_fields():
    schema = campaign_schema()
    assert {"name", "version", "targets", "expiry", "signals", "collection"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_unknown_signal_is_refused_naming_the_field(demo):
    _, _, index = demo
    with pytest.raises(CampaignError) as err:
        CampaignSet(
            campaigns(doc("c", signals=("gnss_speed.Speed", "nope.x"), expression="gnss_speed.Speed > 1")),
            index,
        )
    assert err.value.field == "signals[1].name" and err.value.campaign == "c"
    with pytest.raises(ExpressionError) as err:
        CampaignSet(campaigns(doc("c", expression="gnss_speed.Speed > Vehicle.Nope")), index)
    assert err.value.position == 20


def test_256_conditions_over_10k_signals_with_a_memory_bound():
    index = SignalIndex({f"M{i // 10}.S{i % 10}": i + 1 for i in range(12_000)})
    rng = np.random.default_rng(7)
    docs = []
    for k in range(256):
        a, b = (f"M{i // 10}.S{i % 10}" for i in rng.integers(0, 12_000, 2))
        names = sorted({f"M{i // 10}.S{i % 10}" for i in rng.integers(0, 12_000, 40)})
        signals = [{"name": n, "max_samples": 64} for n in names]
        docs.append(
            doc(
                f"c{k}",
                signals=signals,
                expression=f"{a} > 0.5 and last_window_max({b}, 100) < 0.9",
                pre_trigger_ms=500,
                post_trigger_ms=200,
            )
        )
    cs = CampaignSet(campaigns(*docs), index)
    assert len(cs) == 256 and 0 < cs.memory_bytes < cs.memory_limit_bytes
    n = 200_000
    s = np.zeros(n, SAMPLE_DTYPE)
    s["timestamp_ns"] = np.arange(n) * 10_000
    s["signal_id"] = rng.integers(1, 12_001, n)
    s["value"] = rng.random(n)
    total = sum(len(cs.process(s[i : i + 8192]).samples) for i in range(0, n, 8192))
    assert total > 0
    limit = cs.memory_bytes - 1
    with pytest.raises(CampaignError) as err:
        CampaignSet(campaigns(*docs), index, memory_limit_bytes=limit)
    assert err.value.campaign is not None and "over the limit" in str(err.value)


def test_dry_run_json_end_to_end_through_the_cli(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        json.dumps(
            {
                "campaigns": [
                    doc(
                        "accel",
                        signals=("gnss_imu.AccelerationX",),
                        expression="gnss_imu.AccelerationX < -1.5",
                        min_trigger_interval_ms=5000,
                        pre_trigger_ms=1000,
                        post_trigger_ms=500,
                    ),
                    doc("periodic", signals=("gnss_speed.Speed",), period_ms=60_000),
                ]
            }
        )
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "campaign",
            "dry-run",
            str(p),
            "--db",
            str(DEMO_DBC),
            "--log",
            str(DEMO_LOG),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert list(report) == ["campaigns"]
    by = {c["name"]: c for c in report["campaigns"]}
    accel = by["accel"]
    assert {"name", "triggers", "samples", "bytes"} <= set(accel)
    assert len(accel["triggers"]) >= 2 and all(1.67e9 < t < 1.68e9 for t in accel["triggers"])
    assert np.all(np.diff(accel["triggers"]) >= 5.0)
    assert accel["samples"] > 0 and accel["bytes"] > accel["bytes_compressed"] > 0
    assert by["periodic"]["samples"] == 168  # every Speed sample of the trace
    html = tmp_path / "r.html"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "campaign",
            "dry-run",
            str(p),
            "--db",
            str(DEMO_DBC),
            "--log",
            str(DEMO_LOG),
            "--html",
            str(html),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    page = html.read_text()
    assert "<svg" in page and "<polyline" in page and "http" not in page.replace("http://www.w3.org", "")


def test_sign_and_verify_through_the_cli(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(json.dumps(doc("brake", expression="a > 1")))

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "vehicle_mw", "campaign", *a],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run("keygen", "--out", str(tmp_path / "k.pem")).returncode == 0
    r = run("sign", str(p), "--key", str(tmp_path / "k.pem"), "--out", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    r = run("verify", str(tmp_path / "s.json"), "--pub", str(tmp_path / "k.pem.pub"))
    assert r.returncode == 0 and "brake" in r.stdout
    (tmp_path / "s.json").write_text((tmp_path / "s.json").read_text().replace("a > 1", "a > 2"))
    r = run("verify", str(tmp_path / "s.json"), "--pub", str(tmp_path / "k.pem.pub"))
    assert r.returncode == 1 and "bad_signature" in r.stderr
    r = run("schema")
    assert r.returncode == 0 and json.loads(r.stdout)["title"] == "vehicle_mw campaign"

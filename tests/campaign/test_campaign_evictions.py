"""Priority evictions in the dry-run: what a bounded outbox would drop, by the outbox's own rule."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from campaign_helpers import DEMO_DBC, DEMO_LOG, doc

from vehicle_mw.campaign.evictions import Upload, simulate
from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.native.wire import columns_bytes
from vehicle_mw.store import Outbox

AX = "gnss_imu.AccelerationX"
SPEED = "gnss_speed.Speed"


def _records(n: int, start: int) -> np.ndarray:
    r = np.zeros(n, SAMPLE_DTYPE)
    r["timestamp_ns"] = start + np.arange(n)
    r["source_seq"] = start + np.arange(n)
    r["signal_id"] = 1
    r["value"] = np.arange(n) * 0.37
    return r


def test_the_simulation_evicts_what_a_real_outbox_evicts(tmp_path):
    """Uploads of two priorities into a real Outbox of 64 KiB and into the simulation: the same
    samples are lost in total, and every loss is of the low priority."""
    cfg = OutboxConfig(directory=str(tmp_path), max_bytes=64 * 1024, segment_bytes=8 * 1024, fsync="none")
    box = Outbox(tmp_path, cfg)
    uploads = []
    for k in range(60):
        prio = 200 if k % 3 == 0 else 10
        rec = _records(40 + k, k * 1000)
        box.append(rec, prio)
        uploads.append(Upload(k, int(prio == 10), prio, len(rec), len(columns_bytes(rec))))
    real = box.stats().evicted_records
    box.close()
    got = simulate(uploads, cfg.max_bytes, 2)
    assert real > 0 and got[0].samples == 0  # the high priority uploads all stay
    assert got[1].samples == real


def test_dry_run_shows_priority_evictions(tmp_path):
    files = []
    for name, prio in (("high", 250), ("low", 5)):
        d = doc(name, signals=(AX, SPEED), period_ms=2000)
        d["priority"] = prio
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(d))
        files.append(str(p))

    def run(*extra):
        out = subprocess.run(
            [sys.executable, "-m", "vehicle_mw", "campaign", "dry-run", *files, "--db", str(DEMO_DBC),
             "--log", str(DEMO_LOG), "--json", *extra],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return {c["name"]: c for c in json.loads(out.stdout)["campaigns"]}

    plain = run()
    assert "evicted" not in plain["high"]
    total = plain["high"]["bytes"] + plain["low"]["bytes"]
    bounded = run("--outbox-bytes", str(int(plain["high"]["bytes"] * 1.3)))  # room for "high" only
    assert bounded["high"]["evicted"]["samples"] == 0
    assert 0 < bounded["low"]["evicted"]["samples"] <= bounded["low"]["samples"]
    roomy = run("--outbox-bytes", str(total * 2))
    assert roomy["low"]["evicted"] == {"uploads": 0, "samples": 0, "bytes": 0}

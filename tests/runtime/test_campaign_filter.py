"""The runtime's campaign filter between the drain and a real outbox: priorities, a sample two
campaigns select, the outbox's bound refusing low priorities, refusals before anything is stored,
campaigns starting later."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from runtime_rig import GNSS_DBC, GNSS_TRACE

from vehicle_mw.campaign import campaigns_from_data, sign
from vehicle_mw.campaign.signing import generate_key, public_key_pem
from vehicle_mw.can import CollectingSink, replay_log
from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.runtime.campaigns import CAMPAIGNS_DIR, KEYS_DIR, RuntimeCampaigns
from vehicle_mw.runtime.catalog import catalog_message
from vehicle_mw.runtime.dedup import DedupOutbox
from vehicle_mw.signals import Decoder, load_catalog

AX = "gnss_imu.AccelerationX"
SPEED = "gnss_speed.Speed"
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def trace():
    catalog = load_catalog(GNSS_DBC)
    sink = CollectingSink()
    replay_log(GNSS_TRACE, sink, speed=0)
    return catalog_message(catalog, []), Decoder(catalog).decode_array(sink.frames())


def _doc(name: str, priority: int, signals=(AX,), **extra) -> dict:
    return {
        "name": name,
        "version": 1,
        "expiry": "2099-01-01T00:00:00Z",
        "priority": priority,
        "signals": [{"name": s} for s in signals],
        "collection": {"type": "time", "period_ms": 1000},
        **extra,
    }


class Vehicle:
    """A state folder with a trusted key, RuntimeCampaigns on it, a clock the test moves."""

    def __init__(self, folder, catalog_msg, *, trust: bool = True):
        self.key = generate_key()
        if trust:
            (folder / KEYS_DIR).mkdir(parents=True)
            (folder / KEYS_DIR / "ops.pem").write_bytes(public_key_pem(self.key.public_key()))
        self.now = T0
        self.folder = folder
        self.rc = RuntimeCampaigns(folder, catalog_msg, "VIN1", clock=lambda: self.now, refresh_s=0)

    def push(self, doc: dict):
        return self.rc.accept(sign(campaigns_from_data(doc)[0], self.key))


def _feed(rc: RuntimeCampaigns, outbox: DedupOutbox, samples: np.ndarray, batch: int = 700) -> int:
    return sum(outbox.append_new([samples[i : i + batch]], rc.select) for i in range(0, len(samples), batch))


def test_priorities_and_a_sample_two_campaigns_select(tmp_path, trace):
    catalog_msg, samples = trace
    v = Vehicle(tmp_path, catalog_msg)
    assert v.push(_doc("low", 10)).accepted and v.push(_doc("high", 200, signals=(AX, SPEED))).accepted
    outbox = DedupOutbox(tmp_path / "outbox", OutboxConfig(directory=str(tmp_path / "outbox"), fsync="none"))
    stored = _feed(v.rc, outbox, samples)
    c = v.rc.counters()["campaigns"]
    n_ax = int(np.count_nonzero(samples["signal_id"] == v.rc.index.resolve(AX)))
    n_speed = int(np.count_nonzero(samples["signal_id"] == v.rc.index.resolve(SPEED)))
    assert c["high"]["stored"] == n_ax + n_speed and c["high"]["duplicate"] == 0
    assert c["low"]["selected"] == n_ax == c["low"]["duplicate"] and c["low"]["stored"] == 0
    assert stored == n_ax + n_speed == outbox.stats().backlog_records
    rows = outbox.pending(0, 10_000)
    assert {b.priority for b in rows} == {200}
    outbox.close()


def test_the_outbox_bound_refuses_the_low_priority_and_says_so(tmp_path, trace):
    """An outbox full of priority 250 batches: the priority 5 campaign cannot evict them, so its
    appends are refused (but for the few that fit in the room left) and counted as dropped."""
    catalog_msg, samples = trace
    cfg = OutboxConfig(
        directory=str(tmp_path / "outbox"), fsync="none", max_bytes=64 * 1024, segment_bytes=32 * 1024
    )
    outbox = DedupOutbox(tmp_path / "outbox", cfg)
    for i in range(200):  # small batches: the room left after the last eviction is under 8 KiB
        outbox.append(samples[i * 50 : (i + 1) * 50], 250)
    assert outbox.stats().evicted_records > 0  # it is full
    v = Vehicle(tmp_path, catalog_msg)
    v.rc.max_batch_samples = 2000
    assert v.push(_doc("extra", 5)).accepted
    _feed(v.rc, outbox, samples[10_000:], batch=7000)
    c = v.rc.counters()["campaigns"]["extra"]
    assert c["selected"] == c["stored"] + c["dropped"] and c["dropped"] >= 0.9 * c["selected"] > 0
    kept = sum(b.count for b in outbox.pending(0, 10_000) if b.priority == 5)
    assert kept <= c["stored"]  # what was stored may since have been evicted by later ones
    outbox.close()


def test_refusals_store_nothing_and_a_later_start_takes_effect_on_time(tmp_path, trace):
    catalog_msg, samples = trace
    untrusting = Vehicle(tmp_path / "a", catalog_msg, trust=False)
    no = untrusting.push(_doc("c", 1))
    assert not no.accepted and no.reason == "unknown_key" and str(tmp_path / "a" / KEYS_DIR) in no.message
    assert untrusting.rc.store is None and not (tmp_path / "a" / CAMPAIGNS_DIR).exists()  # nothing opened
    (tmp_path / "a" / KEYS_DIR).mkdir(parents=True)  # a key installed while the runtime runs
    (tmp_path / "a" / KEYS_DIR / "ops.pem").write_bytes(public_key_pem(untrusting.key.public_key()))
    assert untrusting.push(_doc("c", 1)).accepted and untrusting.rc.running

    v = Vehicle(tmp_path / "b", catalog_msg)
    bad = v.push(_doc("ghost", 1, signals=("nope.Nothing",)))
    assert not bad.accepted and bad.reason == "unusable" and "nope.Nothing" in bad.message
    assert not list((tmp_path / "b" / CAMPAIGNS_DIR).glob("*.json"))

    later = _doc("later", 1, start=(T0 + dt.timedelta(hours=1)).isoformat())
    assert v.push(later).accepted
    assert not v.rc.running and v.rc.counters()["campaigns"]["later"]["active"] is False
    v.now = T0 + dt.timedelta(hours=2)
    v.rc.refresh()
    assert v.rc.running and v.rc.counters()["active"] == 1
    json.dumps(v.rc.counters())  # what the status command and the counter files carry


def test_a_failing_evaluation_stops_the_campaigns_not_the_data(tmp_path, trace, monkeypatch, caplog):
    catalog_msg, samples = trace
    v = Vehicle(tmp_path, catalog_msg)
    assert v.push(_doc("c", 10)).accepted
    outbox = DedupOutbox(tmp_path / "outbox", OutboxConfig(directory=str(tmp_path / "outbox"), fsync="none"))

    def broken(batch):
        raise FloatingPointError("injected")

    monkeypatch.setattr(v.rc._set, "process", broken)
    assert outbox.append_new([samples[:500]], v.rc.select) == 500  # everything, as with no campaign
    assert not v.rc.running and "injected" in v.rc.counters()["campaigns"]["c"]["unusable"]
    assert any("campaigns stopped" in r.getMessage() for r in caplog.records)
    v.rc.refresh()  # and it stays stopped: no rebuild that would fail again on every batch
    assert not v.rc.running
    outbox.close()


def test_samples_of_several_rings_are_evaluated_in_time_order(tmp_path, trace):
    """Each drain appends what two rings hold (the IMU frames in one, every other frame in the
    other): the campaign selects what it selects from the trace in its own order."""
    from vehicle_mw.campaign import CampaignSet

    catalog_msg, samples = trace
    doc = dict(
        _doc("cross", 10, signals=(SPEED, AX)),
        collection={
            "type": "condition",
            "expression": f"{AX} < -1.0",
            "pre_trigger_ms": 400,
            "post_trigger_ms": 200,
            "min_trigger_interval_ms": 1000,
        },
    )
    v = Vehicle(tmp_path, catalog_msg)
    assert v.push(doc).accepted
    imu = np.isin(samples["signal_id"], [s.id for s in catalog_msg.signals if s.name.startswith("gnss_imu.")])
    samples = samples.copy()
    samples["source_id"][~imu] = 1  # two buses: each ring is its own source
    want = CampaignSet(campaigns_from_data(doc), v.rc.index).process(samples).samples
    outbox = DedupOutbox(tmp_path / "outbox", OutboxConfig(directory=str(tmp_path / "outbox"), fsync="none"))
    for i in range(0, len(samples), 3000):  # one drain: ring a's part, then ring b's
        part = samples[i : i + 3000]
        outbox.append_new([part[imu[i : i + 3000]], part[~imu[i : i + 3000]]], v.rc.select)
    got = np.concatenate([b.samples for b in outbox.pending(0, 100_000)]) if len(want) else want
    key = ["timestamp_ns", "signal_id", "source_seq"]
    assert len(want) > 20 and np.array_equal(np.sort(got[key]), np.sort(want[key]))
    outbox.close()

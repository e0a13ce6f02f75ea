"""Signed documents: what a vehicle refuses and why, and persistence across SIGKILL."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from campaign_helpers import campaigns, doc

from vehicle_mw.campaign import CampaignStore, VehicleIdentity, document_sha256, sign
from vehicle_mw.campaign.signing import generate_key, private_key_pem

VIN = VehicleIdentity("VIN1", "1.4.2", "a" * 64)


def _one(**kw):
    d = doc("brake", expression="gnss_speed.Speed > 3")
    d.update(kw)
    return campaigns(d)[0]


@pytest.fixture()
def key():
    return generate_key()


def test_accepts_and_reports_the_document_hash(tmp_path, key):
    store = CampaignStore(tmp_path, [key.public_key()], VIN)
    c = _one()
    v = store.accept(sign(c, key))
    assert v.accepted and v.reason == "accepted" and v.sha256 == document_sha256(c)
    assert store.status()["brake"] == {"version": 1, "sha256": document_sha256(c), "active": True}
    assert [x.name for x in CampaignStore(tmp_path, [key.public_key()], VIN).active()] == ["brake"]


def test_tampered_document_is_refused_as_bad_signature(tmp_path, key):
    env = json.loads(sign(_one(), key))
    env["document"]["collection"]["expression"] = "gnss_speed.Speed > 0"
    v = CampaignStore(tmp_path, [key.public_key()], VIN).accept(json.dumps(env).encode())
    assert (v.accepted, v.reason, v.campaign) == (False, "bad_signature", "brake")
    assert not list(tmp_path.glob("*.json"))


def test_unknown_key_expired_foreign_rollback_and_malformed(tmp_path, key):
    store = CampaignStore(tmp_path, [key.public_key()], VIN)
    other = generate_key()
    assert store.accept(sign(_one(), other)).reason == "unknown_key"
    past = _one(expiry="2020-01-01T00:00:00Z")
    v = store.accept(sign(past, key))
    assert v.reason == "expired" and "2020-01-01" in v.message
    foreign = _one(targets={"vehicles": ["VIN2"]})
    v = store.accept(sign(foreign, key))
    assert v.reason == "wrong_vehicle" and "VIN1" in v.message
    assert store.accept(sign(_one(targets={"software_versions": ["9.9"]}), key)).reason == "wrong_vehicle"
    assert store.accept(sign(_one(version=3), key)).accepted
    for version in (3, 2):
        v = store.accept(sign(_one(version=version), key))
        assert (v.accepted, v.reason) == (False, "rollback"), version
    assert store.status()["brake"]["version"] == 3
    assert store.accept(b"{not json").reason == "malformed"
    env = json.loads(sign(_one(), key))
    env["document"]["surprise"] = 1
    v = store.accept(json.dumps(env).encode())
    assert v.reason == "malformed" and "surprise" in v.message


def test_a_stored_file_altered_on_disk_is_left_out(tmp_path, key):
    store = CampaignStore(tmp_path, [key.public_key()], VIN)
    store.accept(sign(_one(), key))
    path = tmp_path / "brake.json"
    path.write_text(path.read_text().replace("Speed > 3", "Speed > 1"))
    reopened = CampaignStore(tmp_path, [key.public_key()], VIN)
    assert reopened.active() == [] and "brake.json" in reopened.problems


CHILD = r"""
import sys, pathlib
from cryptography.hazmat.primitives import serialization
from vehicle_mw.campaign import CampaignStore, VehicleIdentity, campaigns_from_data, sign
key = serialization.load_pem_private_key(pathlib.Path(sys.argv[2]).read_bytes(), None)
store = CampaignStore(sys.argv[1], [key.public_key()], VehicleIdentity("VIN1"))
base = {"name": "brake", "expiry": "2099-01-01T00:00:00Z", "signals": [{"name": "x.y"}],
        "collection": {"type": "time", "period_ms": 100}}
for v in range(1, 1_000_000):
    c = campaigns_from_data(dict(base, version=v))[0]
    assert store.accept(sign(c, key)).accepted
    print(v, flush=True)
"""


def test_accepted_campaigns_survive_sigkill_mid_write(tmp_path, key):
    keyfile = tmp_path / "k.pem"
    keyfile.write_bytes(private_key_pem(key))
    folder = tmp_path / "store"
    for _round in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(folder), str(keyfile)], stdout=subprocess.PIPE, text=True
        )
        last = 0
        deadline = time.monotonic() + 60
        try:
            while last < 20 + 7 * _round and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                last = int(line)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
        assert last >= 20, "child did not get going"
        store = CampaignStore(folder, [key.public_key()], VehicleIdentity("VIN1"))
        assert store.problems == {}
        # what it acknowledged is there (it may have got one more write done before the kill)
        assert store.status()["brake"]["version"] in (last, last + 1)
        assert not list(folder.glob(".*tmp*"))
        # the next round starts again at version 1: a rollback, refused
        c = campaigns(dict(doc("brake", signals=("x.y",), period_ms=100), version=1))[0]
        assert store.accept(sign(c, key)).reason == "rollback"
        import shutil

        shutil.rmtree(folder)


def test_not_yet_started_campaign_is_accepted_but_not_active(tmp_path, key):
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    store = CampaignStore(tmp_path, [key.public_key()], VIN)
    assert store.accept(sign(_one(start=start), key)).accepted
    assert store.active() == [] and store.status()["brake"]["active"] is False

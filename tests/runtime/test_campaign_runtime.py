"""Campaigns in the running vehicle runtime, end to end.

A real runtime (threads mode) reads a python-can virtual bus this test writes the demo's GNSS/IMU
frames to, and uploads to a real gateway. Before any campaign every sample arrives. An operator
then POSTs a signed campaign to ``/api/vehicles/{id}/commands``; the runtime verifies and stores it
and, without a restart, uploads only what the campaign selects: the gateway's SQLite then holds
exactly the selected samples and nothing else. Refusals come back with the verifier's reason, the
counters show the campaign, and a restarted runtime loads it from its state folder.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import uuid

import can
import cantools
import pytest
from runtime_rig import GNSS_DBC, GNSS_TRACE, VEHICLE, LocalGateway, wait_until, write_manifests
from test_commands import call, operator_token

from vehicle_mw.campaign import campaigns_from_data, sign
from vehicle_mw.campaign.signing import generate_key, public_key_pem
from vehicle_mw.runtime import VehicleRuntime
from vehicle_mw.runtime.campaigns import KEYS_DIR

AX = "gnss_imu.AccelerationX"
THRESHOLD = -1.0
FRAMES = 1500  # of the trace, per phase


def _frames(skip: int, n: int) -> list[can.Message]:
    out = []
    for k, msg in enumerate(can.LogReader(str(GNSS_TRACE))):
        if k >= skip + n:
            break
        if k >= skip:
            out.append(msg)
    return out


def _expected_selected(frames: list[can.Message]) -> list[float]:
    """AccelerationX values below the threshold, as cantools decodes them (the campaign's triggers:
    mode always, no windows: each true point selects its own sample)."""
    db = cantools.database.load_file(str(GNSS_DBC))
    imu = db.get_message_by_name("gnss_imu")
    vals = [
        float(imu.decode(bytes(m.data), decode_choices=False)["AccelerationX"])
        for m in frames
        if m.arbitration_id == imu.frame_id
    ]
    return sorted(v for v in vals if v < THRESHOLD)


def _signed(key, version: int = 1) -> dict:
    doc = {
        "name": "hard-brake",
        "version": version,
        "expiry": "2099-01-01T00:00:00Z",
        "priority": 200,
        "signals": [{"name": AX}],
        "collection": {"type": "condition", "expression": f"{AX} < {THRESHOLD}", "trigger_mode": "always"},
    }
    return json.loads(sign(campaigns_from_data(doc)[0], key))


def _rows(gw: LocalGateway, after: int) -> list[tuple[str, float]]:
    return gw.query(
        "SELECT g.name, COALESCE(s.int_value, s.value) FROM samples s JOIN signals g "
        "ON g.signal_id = s.signal_id AND g.vehicle_key = s.vehicle_key WHERE s.rowid > ?",
        (after,),
    )


def _last_rowid(gw: LocalGateway) -> int:
    return gw.query("SELECT COALESCE(MAX(rowid), 0) FROM samples")[0][0]


def _settled(rt: VehicleRuntime) -> bool:
    """Everything drained from the rings is stored and acknowledged by the gateway."""
    up = rt.counters()["uplink"]
    return up["backlog_batches"] == 0 and up["acked_seq"] == up["high_seq"]


def _send(bus: can.BusABC, frames: list[can.Message]) -> None:
    for m in frames:
        bus.send(can.Message(arbitration_id=m.arbitration_id, data=m.data, is_extended_id=m.is_extended_id))


def _vmw(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VMW_TOKEN"}
    if token is not None:
        env["VMW_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", "campaign", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_pushed_campaign_changes_what_the_gateway_receives(tmp_path):
    channel_name = f"vmw-campaign-{uuid.uuid4().hex[:8]}"
    bus_cfg = {"name": "a", "interface": "virtual", "channel": channel_name, "databases": [str(GNSS_DBC)]}
    key = generate_key()
    gw = LocalGateway(tmp_path)
    gw.config = gw.config.model_copy(update={"http_port": 0})
    with gw, can.Bus(interface="virtual", channel=channel_name) as writer:
        token = operator_token(gw.database)
        commands = f"{gw.gateway.http_url}/api/vehicles/{VEHICLE}/commands"
        machine, channel = write_manifests(tmp_path / "m", gw, [bus_cfg], deployment="t-campaign")
        rt = VehicleRuntime.from_manifests(machine, channel)
        keys = rt.state_dir / KEYS_DIR
        keys.mkdir(parents=True)
        (keys / "ops.pem").write_bytes(public_key_pem(key.public_key()))
        rt.start()
        try:
            wait_until(lambda: "can" in rt.counters(), 30, "the CAN stage running")
            # no campaign: every sample arrives, as without campaigns
            before = _frames(0, 200)
            _send(writer, before)
            wait_until(lambda: rt.counters()["decode"]["buses"]["a"]["frames"] >= len(before), 30, "frames")
            wait_until(lambda: _settled(rt) and gw.sample_count() > 0, 30, "the first samples stored")
            assert len({name for name, _ in _rows(gw, 0)}) > 5

            # refusals carry the verifier's reason; nothing is stored for them
            tampered = _signed(key)
            tampered["document"]["priority"] = 1
            status, no = call(commands, token, {"kind": "campaign", "payload": tampered})
            assert status == 200 and no["ok"] is False
            assert json.loads(no["detail"])["reason"] == "bad_signature"
            foreign = copy.deepcopy(_signed(generate_key()))
            status, no = call(commands, token, {"kind": "campaign", "payload": foreign})
            assert no["ok"] is False and json.loads(no["detail"])["reason"] == "unknown_key"

            status, ok = call(commands, token, {"kind": "campaign", "payload": _signed(key)})
            assert status == 200 and ok["ok"] is True, ok
            verdict = json.loads(ok["detail"])
            assert verdict["reason"] == "accepted" and verdict["campaign"] == "hard-brake"
            assert len(verdict["sha256"]) == 64
            status, again = call(commands, token, {"kind": "campaign", "payload": _signed(key)})
            assert again["ok"] is False and json.loads(again["detail"])["reason"] == "rollback"

            # from now on only what the campaign selects reaches the gateway
            wait_until(lambda: _settled(rt), 30, "the samples before the campaign acknowledged")
            mark = _last_rowid(gw)
            during = _frames(200, FRAMES)
            want = _expected_selected(during)
            assert len(want) >= 20  # the condition is true often enough on this trace to mean something
            _send(writer, during)
            wait_until(
                lambda: rt.counters()["decode"]["buses"]["a"]["frames"] >= len(before) + len(during),
                60,
                "every frame read",
            )
            wait_until(lambda: rt.counters()["uplink"]["samples_in"] > 0 and _settled(rt), 30, "drained")
            wait_until(lambda: len(_rows(gw, mark)) >= len(want), 30, "the selected samples stored")
            status, fl = call(commands, token, {"kind": "flush"})  # nothing else is on its way
            assert fl["ok"] is True
            wait_until(lambda: _settled(rt), 30, "acknowledged")
            rows = _rows(gw, mark)
            assert {name for name, _ in rows} == {AX}
            assert sorted(v for _, v in rows) == want

            st = rt.counters()["uplink"]["campaigns"]
            c = st["campaigns"]["hard-brake"]
            assert st["active"] == 1 and c["active"] is True and c["sha256"] == verdict["sha256"]
            assert c["triggers"] == len(want) == c["selected"] == c["stored"] and c["dropped"] == 0
            status, shown = call(commands, token, {"kind": "status", "payload": {"stage": "uplink"}})
            assert json.loads(shown["detail"])["stages"]["uplink"]["campaigns"]["active"] == 1

            # the operator CLI: vmw campaign push, a newer version, then the same again (refused)
            signed_file = tmp_path / "hard-brake.signed.json"
            signed_file.write_text(json.dumps(_signed(key, version=2)))
            push = ["push", str(signed_file), "--vehicle", VEHICLE, "--gateway", gw.gateway.http_url]
            done = _vmw(*push, token=token)
            assert done.returncode == 0 and "accepted by" in done.stdout and "version 2" in done.stdout, done
            v2_sha = done.stdout.split("sha256 ")[1].split()[0]
            done = _vmw(*push, "--vehicle", "NOT-CONNECTED", token=token)
            assert done.returncode == 2 and f"refused by {VEHICLE} (rollback)" in done.stderr, done
            assert "NOT-CONNECTED: gateway" in done.stderr and "HTTP 4" in done.stderr, done
            done = _vmw(*push, token="not-a-token")
            assert done.returncode == 2 and "HTTP 401" in done.stderr, done
        finally:
            rt.stop()

        # a restart loads the accepted campaign from the state folder
        rt = VehicleRuntime.from_manifests(machine, channel).start()
        try:
            uplink = rt.stage("uplink")
            assert uplink.campaigns.running
            assert rt.counters()["uplink"]["campaigns"]["campaigns"]["hard-brake"]["sha256"] == v2_sha
            wait_until(lambda: (rt.state_dir / "uplink.json").exists(), 30, "the uplink's counters published")
            listed = _vmw("list", "--machine", str(machine), "--json")  # its state folder from the manifest
            assert listed.returncode == 0, listed
            (entry,) = json.loads(listed.stdout)["campaigns"]
            assert (entry["name"], entry["version"], entry["priority"], entry["sha256"]) == (
                "hard-brake",
                2,
                200,
                v2_sha,
            )
            assert entry["in_time"] is True and entry["counters"]["active"] is True
            text = _vmw("list", "--state-dir", str(rt.state_dir))
            assert text.returncode == 0 and text.stdout.startswith(
                "hard-brake  v2  condition  priority 200  active"
            )
        finally:
            rt.stop()


def test_an_accepted_campaign_survives_kill_9_of_the_runtime(tmp_path):
    """`vmw vehicle run` accepts a pushed campaign, is killed with SIGKILL, and runs it again after
    the restart (the same document: its SHA-256 in the status answer)."""
    from test_cli import _vehicle_run

    from vehicle_mw.runtime.deployment import load_deployment

    key = generate_key()
    bus = {
        "name": "a",
        "interface": "replay",
        "file": str(GNSS_TRACE),
        "speed": 0,
        "databases": [str(GNSS_DBC)],
    }
    gw = LocalGateway(tmp_path)
    gw.config = gw.config.model_copy(update={"http_port": 0})
    with gw:
        token = operator_token(gw.database)
        api = gw.gateway.http_url
        commands = f"{api}/api/vehicles/{VEHICLE}/commands"
        machine, channel = write_manifests(tmp_path / "m", gw, [bus], deployment="t-campaign-kill")
        state = load_deployment(machine, channel).state_dir
        (state / KEYS_DIR).mkdir(parents=True)
        (state / KEYS_DIR / "ops.pem").write_bytes(public_key_pem(key.public_key()))

        def connected() -> bool:
            return any(
                v["vehicle_id"] == VEHICLE and v["connected"] for v in call(f"{api}/api/fleet", token)[1]
            )

        def campaigns() -> dict:
            status, st = call(commands, token, {"kind": "status", "payload": {"stage": "uplink"}})
            assert status == 200 and st["ok"], st
            return json.loads(st["detail"])["stages"]["uplink"].get("campaigns", {})

        first = _vehicle_run(machine)
        try:
            wait_until(connected, 60, "the vehicle connected")
            status, ok = call(commands, token, {"kind": "campaign", "payload": _signed(key)})
            assert status == 200 and ok["ok"] is True, ok
            sha = json.loads(ok["detail"])["sha256"]
        finally:
            first.kill()
            first.wait(30)
        assert first.returncode == -9
        wait_until(lambda: not connected(), 30, "the gateway noticing the vehicle gone")
        second = _vehicle_run(machine)
        try:
            wait_until(connected, 60, "the vehicle connected again")
            got = campaigns()
            assert got["active"] == 1 and got["campaigns"]["hard-brake"]["sha256"] == sha
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(60)
        assert second.returncode == 0


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_the_runtime_uploads_what_the_same_campaign_selects_offline(tmp_path, processes):
    """A campaign stored before the start (windows before and after, rising edge, minimum
    interval) over a replayed trace: the gateway holds exactly the samples CampaignSet selects from
    the same trace decoded offline -- in one process and with the uplink as its own process."""
    from runtime_rig import write_execution

    from vehicle_mw.campaign import CampaignSet
    from vehicle_mw.can import CollectingSink, replay_log
    from vehicle_mw.runtime.campaigns import CAMPAIGNS_DIR, signal_index
    from vehicle_mw.runtime.catalog import catalog_message
    from vehicle_mw.runtime.deployment import load_deployment
    from vehicle_mw.signals import Decoder, load_catalog

    doc = {
        "name": "swerve",
        "version": 3,
        "expiry": "2099-01-01T00:00:00Z",
        "priority": 50,
        "signals": [{"name": AX}, {"name": "gnss_speed.Speed"}, {"name": "gnss_imu.AngularRateZ"}],
        "collection": {
            "type": "condition",
            "expression": "abs(gnss_imu.AngularRateZ) > 10 and gnss_speed.Speed > 1",
            "trigger_mode": "rising_edge",
            "min_trigger_interval_ms": 2000,
            "pre_trigger_ms": 500,
            "post_trigger_ms": 300,
        },
    }
    campaign = campaigns_from_data(doc)[0]
    catalog = load_catalog(GNSS_DBC)
    sink = CollectingSink()
    replay_log(GNSS_TRACE, sink, speed=0)
    offline = Decoder(catalog).decode_array(sink.frames())
    sel = CampaignSet([campaign], signal_index(catalog_message(catalog, []))).process(offline)
    names = {s.id: s.name for s in catalog.signals}
    want = sorted(
        (int(r["timestamp_ns"]), names[int(r["signal_id"])], float(r["value"])) for r in sel.samples
    )
    assert len(sel.trigger_time_ns) >= 3 and len(want) > 50

    key = generate_key()
    bus = {
        "name": "a",
        "interface": "replay",
        "file": str(GNSS_TRACE),
        "speed": 0,
        "databases": [str(GNSS_DBC)],
    }
    with LocalGateway(tmp_path) as gw:
        deployment = f"t-campaign-{'p' if processes else 't'}"
        machine, channel = write_manifests(tmp_path / "m", gw, [bus], deployment=deployment)
        execution = write_execution(tmp_path / "m", ["uplink", "decode", "can"]) if processes else None
        state = load_deployment(machine, channel).state_dir
        (state / KEYS_DIR).mkdir(parents=True)
        (state / KEYS_DIR / "ops.pem").write_bytes(public_key_pem(key.public_key()))
        (state / CAMPAIGNS_DIR).mkdir()
        (state / CAMPAIGNS_DIR / "swerve.json").write_bytes(sign(campaign, key))
        rt = VehicleRuntime.from_manifests(machine, channel, execution).start()
        try:
            wait_until(lambda: gw.sample_count() >= len(want), 90, "the selected samples at the gateway")
            wait_until(
                lambda: rt.counters().get("uplink", {}).get("backlog_batches", 1) == 0,
                30,
                "nothing left to send",
            )
            got = sorted(
                (ts, name, float(v))
                for ts, name, v in gw.query(
                    "SELECT s.ts_ns, g.name, COALESCE(s.int_value, s.value) FROM samples s JOIN signals g "
                    "ON g.signal_id = s.signal_id AND g.vehicle_key = s.vehicle_key"
                )
            )

            def tally() -> dict:  # (process mode: the uplink's last published counters)
                up = rt.counters().get("uplink", {})
                return up.get("campaigns", {}).get("campaigns", {}).get("swerve", {})

            wait_until(lambda: tally().get("stored") == len(want), 30, "the counters published")
            up = tally()
        finally:
            rt.stop()
    assert got == want
    assert up["triggers"] == len(sel.trigger_time_ns) and up["stored"] == len(want)

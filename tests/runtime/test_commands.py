"""Operator commands to a running vehicle runtime: ping, status, flush, and a refusal for the rest.

End to end: a runtime built from manifests (threads mode, a replayed bus) connected to a real gateway
with its operator API; an operator POSTs commands to ``/api/vehicles/{id}/commands``, the gateway
sends them down the link, the runtime's handler answers, the API returns the CommandAck. And the
handler alone: payload checks, the size bound of the status answer.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from runtime_rig import (
    GNSS_DBC,
    GNSS_TRACE,
    VEHICLE,
    LocalGateway,
    shm_segments,
    wait_until,
    write_execution,
    write_manifests,
)

from vehicle_mw.gateway.operators import OperatorStore, Role
from vehicle_mw.runtime import VehicleRuntime
from vehicle_mw.runtime.commands import MAX_DETAIL_BYTES, RuntimeCommands, bounded_json
from vehicle_mw.v1 import link_pb2


def operator_token(database) -> str:
    store = OperatorStore(database)
    try:
        store.add("ops", Role.parse("operator"))
        return store.issue_token("ops")[1]
    finally:
        store.close()


def call(url: str, token: str, body=None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if body is not None else "GET",
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_operator_commands_reach_the_running_runtime(tmp_path, processes):
    bus = {"interface": "replay", "file": str(GNSS_TRACE), "speed": 0, "databases": [str(GNSS_DBC)]}
    gw = LocalGateway(tmp_path)
    gw.config = gw.config.model_copy(update={"http_port": 0})  # the operator API, on loopback
    with gw:
        token = operator_token(gw.database)
        api = gw.gateway.http_url
        commands = f"{api}/api/vehicles/{VEHICLE}/commands"
        deployment = f"t-cmd-{'p' if processes else 't'}"
        machine, channel = write_manifests(tmp_path / "m", gw, [dict(bus, name="a")], deployment=deployment)
        execution = write_execution(tmp_path / "m", ["uplink", "decode", "can"]) if processes else None
        rt = VehicleRuntime.from_manifests(machine, channel, execution).start()
        try:
            wait_until(lambda: gw.sample_count() > 0, 60, "samples at the gateway")
            wait_until(
                lambda: any(
                    v["vehicle_id"] == VEHICLE and v["connected"] for v in call(f"{api}/api/fleet", token)[1]
                ),
                30,
                "the vehicle connected",
            )
            wait_until(
                lambda: {"can", "decode"} <= set(rt.counters()), 30, "every stage's counters published"
            )

            status, ping = call(commands, token, {"kind": "ping"})
            assert status == 200 and ping["ok"] is True and ping["detail"] == "pong"

            answers = []

            def decoded_in_status() -> bool:  # other stages' counters are as fresh as their last publish
                status, st = call(commands, token, {"kind": "status"})
                assert status == 200 and st["ok"] is True, st
                answers.append(st["detail"])
                return json.loads(st["detail"])["stages"]["decode"]["buses"]["a"]["samples"] > 0

            wait_until(decoded_in_status, 30, "decoded samples in the status answer")
            assert all(len(a.encode()) <= MAX_DETAIL_BYTES for a in answers)
            doc = json.loads(answers[-1])
            assert doc["truncated"] is False and {"can", "decode", "uplink"} <= set(doc["stages"])
            assert doc["stages"]["uplink"]["acked_seq"] > 0 and doc["stages"]["uplink"]["samples_stored"] > 0
            assert doc["stages"]["decode"]["running"] is True and doc["stages"]["decode"]["age_s"] < 30
            assert "age_s" not in doc["stages"]["uplink"]  # its own counters: live

            status, one = call(commands, token, {"kind": "status", "payload": {"stage": "decode"}})
            assert (
                status == 200
                and one["ok"] is True
                and list(json.loads(one["detail"])["stages"]) == ["decode"]
            )
            status, none = call(commands, token, {"kind": "status", "payload": {"stage": "nope"}})
            assert status == 200 and none["ok"] is False and "no stage 'nope'" in none["detail"]

            status, fl = call(commands, token, {"kind": "flush"})
            assert status == 200 and fl["ok"] is True, fl
            flushed = json.loads(fl["detail"])
            assert flushed["synced_seq"] >= flushed["acked_seq"] > 0

            status, no = call(commands, token, {"kind": "reboot"})
            assert status == 200 and no["ok"] is False
            assert "unknown command kind 'reboot'" in no["detail"] and "flush, ping, status" in no["detail"]

            status, history = call(commands, token)
            assert status == 200
            assert [(c["kind"], c["ok"]) for c in history] == [
                ("reboot", False),
                ("flush", True),
                ("status", False),
                ("status", True),
                *[("status", True)] * len(answers),
                ("ping", True),
            ]
        finally:
            rt.stop()
    assert shm_segments(deployment) == []


def command(kind: str, payload: bytes = b"") -> link_pb2.Command:
    return link_pb2.Command(id=1, kind=kind, payload=payload)


def handle(handler: RuntimeCommands, cmd: link_pb2.Command) -> tuple[bool, str]:
    return asyncio.run(handler(cmd))


def test_handler_checks_payloads_and_refuses_unknown_kinds():
    flushed = []
    h = RuntimeCommands(
        lambda: {"uplink": {"acked_seq": 3}}, flush=lambda: flushed.append(1) or {"synced_seq": 3}
    )
    assert handle(h, command("ping", b"null")) == (True, "pong")
    assert handle(h, command("ping", b'{"x": 1}'))[0] is False
    ok, detail = handle(h, command("status", b"[1, 2]"))
    assert not ok and "status: payload must be a JSON object, not list" == detail
    ok, detail = handle(h, command("status", b"{not json"))
    assert not ok and detail == "status: payload is not JSON"
    ok, detail = handle(h, command("status", b"[" * 100_000))
    assert not ok and "exceeds" in detail
    ok, detail = handle(h, command("status", b'{"verbose": true}'))
    assert not ok and "unknown payload keys ['verbose']" in detail
    assert handle(h, command("flush")) == (True, '{"synced_seq":3}') and flushed == [1]
    ok, detail = handle(h, command("x" * 500))
    assert not ok and len(detail) < 200 and "unknown command kind" in detail
    assert h.handled == {"ping": 2, "status": 4, "flush": 1, "unknown": 1}
    ok, detail = handle(RuntimeCommands(dict), command("flush"))
    assert not ok and "no outbox" in detail


@pytest.mark.parametrize("limit", [MAX_DETAIL_BYTES, 300, 120, 40])
def test_status_answer_is_bounded_and_stays_json(limit):
    per_stage = {
        "can": {"frames": 10, "buses": {f"bus{i}": {"frames": i, "errors": "x" * 50} for i in range(40)}},
        "decode": {"samples": 99, "buses": {f"bus{i}": {"samples": i} for i in range(40)}},
        "uplink": {"acked_seq": 7, "transport": "grpc", "note": "y" * 300},
    }
    text = bounded_json(per_stage, limit)
    assert len(text.encode()) <= limit or limit == 40  # 40 B: not even the count fits a stage
    doc = json.loads(text)
    assert doc["truncated"] is True
    if limit == MAX_DETAIL_BYTES:  # nested maps dropped, every stage's scalars kept
        assert doc["stages"] == {
            "can": {"frames": 10},
            "decode": {"samples": 99},
            "uplink": {"acked_seq": 7, "transport": "grpc", "note": "y" * 300},
        }
    elif limit == 300:
        assert list(doc["stages"]) == ["can", "decode"] and doc["omitted"] == ["uplink"]
    small = bounded_json({"uplink": {"acked_seq": 1}}, max(limit, 120))
    assert json.loads(small) == {"stages": {"uplink": {"acked_seq": 1}}, "truncated": False}

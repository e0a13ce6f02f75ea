"""Downlink round trip through the REST API, and what the query API and /metrics report."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from websockets.asyncio.client import connect as ws_connect

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, batch, hello
from vehicle_mw.manifest.gateway import GatewayLimits
from vehicle_mw.v1 import link_pb2

from .helpers import http_json, local_config, operator_token, run


async def answer_commands(v, count: int) -> list[link_pb2.Command]:
    """A vehicle applying ``count`` commands: rejects kind 'reboot', accepts the others."""
    seen = []
    while len(seen) < count:
        down = await v.next()
        assert down is not None
        if down.WhichOneof("msg") != "command":
            continue
        cmd = down.command
        seen.append(cmd)
        ok = cmd.kind != "reboot"
        await v.send(
            link_pb2.Uplink(
                command_ack=link_pb2.CommandAck(
                    id=cmd.id, ok=ok, detail="applied" if ok else "not allowed while driving"
                )
            )
        )
    return seen


def test_command_round_trip_over_both_transports(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True, limits=GatewayLimits(command_timeout_s=0.5))
    token = operator_token(cfg.database, "operator")

    async def scenario():
        async with Gateway(cfg) as gw:
            url = f"{gw.http_url}/api/vehicles"
            for vid, client in (
                ("VIN-WS", WsVehicle.connect(gw.ws_url)),
                ("VIN-GRPC", GrpcVehicle.connect(gw.grpc_target)),
            ):
                v = await client
                await v.open(hello(vid))
                vehicle = asyncio.create_task(answer_commands(v, 2))
                status, ok = await http_json(
                    f"{url}/{vid}/commands",
                    "POST",
                    {"kind": "config", "payload": {"status_period_s": 2}},
                    token=token,
                )
                assert status == 200 and ok["ok"] is True and ok["detail"] == "applied"
                status, no = await http_json(f"{url}/{vid}/commands", "POST", {"kind": "reboot"}, token=token)
                assert status == 200 and no["ok"] is False and "driving" in no["detail"]
                cmds = await vehicle
                assert json.loads(cmds[0].payload) == {"status_period_s": 2} and cmds[0].id == ok["id"]
                # a vehicle that does not answer: the API reports the timeout
                status, timeout = await http_json(
                    f"{url}/{vid}/commands", "POST", {"kind": "ping"}, token=token
                )
                assert status == 504 and "did not acknowledge" in timeout["detail"]
                await v.close()
                status, listed = await http_json(f"{url}/{vid}/commands", token=token)
                assert [c["ok"] for c in listed] == [None, False, True]
            status, gone = await http_json(f"{url}/VIN-WS/commands", "POST", {"kind": "config"}, token=token)
            assert status == 409 and "not connected" in gone["detail"]

    run(scenario())


def test_query_api_series_link_events_and_metrics(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    token = operator_token(cfg.database, "admin")
    auth = {"authorization": f"Bearer {token}"}
    V = "VIN-API"

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello(V))
            await v.send(
                link_pb2.Uplink(
                    link_event=link_pb2.LinkEvent(
                        ts_ns=1,
                        from_transport="grpc",
                        to_transport="websocket",
                        reason="grpc loss 30% > 20%",
                        rtt_ms=41.5,
                        loss=0.3,
                    )
                )
            )
            await v.send(
                link_pb2.Uplink(
                    status=link_pb2.VehicleStatus(
                        ts_ns=2,
                        frames=1234,
                        samples=1000,
                        outbox_records=17,
                        outbox_bytes=4096,
                        transport="websocket",
                        rtt_ms=12.0,
                        loss=0.01,
                    )
                )
            )
            ts = [1_000_000_000 + i * 1_000_000 for i in range(1000)]  # 1 kHz for 1 s
            await v.send(
                batch(1, [5] * 1000, [float(i % 100) for i in range(1000)], list(range(1, 1001)), ts)
            )
            await v.wait_ack(1)

            status, series = await http_json(
                f"{gw.http_url}/api/vehicles/{V}/series?signal=5&max_points=10", token=token
            )
            assert status == 200 and series["count"] == 1000 and series["downsampled"] is True
            assert len(series["points"]) <= 10
            assert min(p[2] for p in series["points"]) == 0.0 and max(p[3] for p in series["points"]) == 99.0
            window = f"start_ns={ts[100]}&end_ns={ts[199]}&max_points=1000"
            status, part = await http_json(
                f"{gw.http_url}/api/vehicles/{V}/series?signal=5&{window}", token=token
            )
            assert (
                part["count"] == 100 and part["downsampled"] is False and part["points"][0] == [ts[100], 0.0]
            )

            status, events = await http_json(f"{gw.http_url}/api/vehicles/{V}/link-events", token=token)
            assert events[0]["reason"] == "grpc loss 30% > 20%" and events[0]["to_transport"] == "websocket"
            status, fleet = await http_json(f"{gw.http_url}/api/fleet", token=token)
            mine = next(f for f in fleet if f["vehicle_id"] == V)
            assert mine["connected"] and mine["switches"] == 1 and mine["outbox_records"] == 17
            assert mine["frames"] == 1234 and mine["samples"] == 1000
            status, sessions = await http_json(f"{gw.http_url}/api/vehicles/{V}/sessions", token=token)
            assert sessions[0]["transport"] == "websocket" and sessions[0]["closed_ns"] is None
            status, spec = await http_json(f"{gw.http_url}/openapi.json", token=token)
            assert "/api/vehicles/{vehicle_id}/series" in spec["paths"]
            assert spec["components"]["securitySchemes"]["operatorToken"]["scheme"] == "bearer"
            status, _ = await http_json(f"{gw.http_url}/api/vehicles/NOPE/sessions", token=token)
            assert status == 404

            text = await asyncio.to_thread(
                lambda: (
                    urllib.request.urlopen(urllib.request.Request(f"{gw.http_url}/metrics", headers=auth))
                    .read()
                    .decode()
                )
            )
            assert "vmw_gateway_samples_stored_total 1000.0" in text
            assert 'vmw_gateway_sessions{transport="websocket"} 1.0' in text

            async with ws_connect(
                gw.http_url.replace("http://", "ws://") + "/api/live", additional_headers=auth
            ) as live:
                feed = json.loads(await asyncio.wait_for(live.recv(), 10))
            assert feed["type"] == "fleet" and [x["vehicle_id"] for x in feed["vehicles"]] == [V]

            status, _ = await http_json(f"{gw.http_url}/api/vehicles/{V}/revoke", "POST", token=token)
            assert status == 200
            ended = await v.next()  # the revoked vehicle's session is ended with an Error saying so
            assert ended is not None and "revoked" in ended.error.message
            assert await v.next() is None
            v2 = await WsVehicle.connect(gw.ws_url)
            refused = await v2.open(hello(V))
            assert refused.error.code == link_pb2.Error.PERMISSION_DENIED
            await v2.close()

    run(scenario())

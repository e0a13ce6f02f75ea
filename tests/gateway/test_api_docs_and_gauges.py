"""Operator API extras: /docs offline (Swagger UI served by the gateway), per-vehicle Prometheus
gauges bounded in cardinality, and the REST routes of a vehicle's status and link history."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.gateway.operators import OperatorStore, Role
from vehicle_mw.v1 import link_pb2

from .helpers import http_json, local_config, operator_token, run
from .test_dashboard import CHROMIUM, Browser

PASSWORD = "docs test password"


def status(rtt_ms: float, ts_ns: int, backlog: int = 3, transport: str = "websocket") -> link_pb2.Uplink:
    return link_pb2.Uplink(
        status=link_pb2.VehicleStatus(
            ts_ns=ts_ns, transport=transport, rtt_ms=rtt_ms, loss=0.01, outbox_records=backlog,
            outbox_bytes=backlog * 100, frames=10,
        )
    )  # fmt: skip


async def until(check, what: str, timeout: float = 20.0):
    """Poll ``check()`` (async, returns a value or None) until it gives a value; bounded."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await check()) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)
    return value


def scrape(url: str, token: str) -> str:
    req = urllib.request.Request(url + "/metrics", headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read().decode()


def exported(text: str, metric: str) -> dict[str, float]:
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(rf'^{metric}\{{vehicle="([^"]+)"[^}}]*\}} (\S+)$', text, re.MULTILINE)
    }


def test_per_vehicle_gauges_status_and_link_history(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True, metrics_max_vehicles=2)
    token = operator_token(cfg.database, "viewer")

    async def scenario() -> None:
        async with Gateway(cfg) as gw:
            vehicles = {}
            for n, vid in enumerate(("VIN-A", "VIN-B")):
                v = vehicles[vid] = await WsVehicle.connect(gw.ws_url)
                await v.open(hello(vid))
                await v.send(status(10.0 + n, ts_ns=1_000 + n))

            async def both_reported():
                text = await asyncio.to_thread(scrape, gw.http_url, token)
                return text if len(exported(text, "vmw_gateway_vehicle_rtt_ms")) == 2 else None

            text = await until(both_reported, "statuses of A and B on /metrics")
            assert exported(text, "vmw_gateway_vehicle_rtt_ms") == {"VIN-A": 10.0, "VIN-B": 11.0}
            assert exported(text, "vmw_gateway_vehicle_outbox_records") == {"VIN-A": 3.0, "VIN-B": 3.0}
            assert 'vmw_gateway_vehicle_transport{transport="websocket",vehicle="VIN-A"} 1.0' in text
            assert "vmw_gateway_vehicle_gauges_dropped 0.0" in text

            # B changes, then C arrives: A is the vehicle unchanged for longest and is dropped
            await vehicles["VIN-B"].send(status(42.0, ts_ns=2_000, backlog=9, transport="grpc"))
            await vehicles["VIN-B"].send(
                link_pb2.Uplink(
                    link_event=link_pb2.LinkEvent(
                        ts_ns=1_500, from_transport="websocket", to_transport="grpc",
                        reason="websocket loss 0.30 > 0.20", rtt_ms=80.0, rttvar_ms=5.0, loss=0.3,
                    )
                )
            )  # fmt: skip

            async def b_changed():
                code, row = await http_json(f"{gw.http_url}/api/vehicles/VIN-B/status", token=token)
                return row if code == 200 and row["rtt_ms"] == 42.0 else None

            row = await until(b_changed, "B's second status in /api/vehicles/VIN-B/status")
            assert row["connected"] and row["transport"] == "grpc" and row["outbox_records"] == 9
            await asyncio.to_thread(scrape, gw.http_url, token)  # the collector notes B's change
            c = vehicles["VIN-C"] = await WsVehicle.connect(gw.ws_url)
            await c.open(hello("VIN-C"))
            await c.send(status(7.0, ts_ns=3_000))

            async def c_reported():
                text = await asyncio.to_thread(scrape, gw.http_url, token)
                return text if "VIN-C" in exported(text, "vmw_gateway_vehicle_rtt_ms") else None

            text = await until(c_reported, "C on /metrics")
            assert exported(text, "vmw_gateway_vehicle_rtt_ms") == {"VIN-B": 42.0, "VIN-C": 7.0}
            assert set(exported(text, "vmw_gateway_vehicle_connected")) == {"VIN-B", "VIN-C"}
            assert "vmw_gateway_vehicle_gauges_dropped 1.0" in text
            assert (
                'transport="grpc",vehicle="VIN-B"' in text
                and 'transport="websocket",vehicle="VIN-B"' not in text
            )

            async def history_stored():
                code, body = await http_json(f"{gw.http_url}/api/vehicles/VIN-B/link-history", token=token)
                return body if code == 200 and len(body["status"]) == 2 and body["switches"] else None

            hist = await until(history_stored, "B's statuses and switch in the database")
            assert [
                (s["ts_ns"], s["rtt_ms"], s["transport"], s["outbox_records"]) for s in hist["status"]
            ] == [
                (1_001, 11.0, "websocket", 3),
                (2_000, 42.0, "grpc", 9),
            ]
            assert [(e["ts_ns"], e["to_transport"]) for e in hist["switches"]] == [(1_500, "grpc")]
            code, window = await http_json(
                f"{gw.http_url}/api/vehicles/VIN-B/link-history?start_ns=1500&end_ns=2500", token=token
            )
            assert code == 200 and [s["ts_ns"] for s in window["status"]] == [2_000]
            assert len(window["switches"]) == 1
            code, _ = await http_json(f"{gw.http_url}/api/vehicles/NOPE/status", token=token)
            assert code == 404
            code, _ = await http_json(f"{gw.http_url}/api/vehicles/VIN-A/link-history")
            assert code == 401
            for v in vehicles.values():
                await v.close()

    run(scenario(), timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Makefile APT_PACKAGES)")
def test_docs_page_renders_the_operations_without_internet(tmp_path):
    cfg = local_config(tmp_path)
    store = OperatorStore(cfg.database)
    store.add("vera", Role.VIEWER, PASSWORD)
    store.close()

    async def scenario() -> tuple[list[str], list[str]]:
        async with Gateway(cfg) as gw:
            # no name resolves and only loopback is reachable: a CDN asset would fail to load
            browser = await Browser.start("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
            try:
                await browser.call("Page.navigate", url=gw.http_url + "/login")
                await browser.wait_for("document.getElementById('login-button')?.disabled === false")
                await browser.js(
                    "document.getElementById('username').value = 'vera';"
                    f"document.getElementById('password').value = '{PASSWORD}';"
                    "document.getElementById('login-button').click(); true"
                )
                await browser.wait_for("location.pathname === '/'", what="logged in")
                await browser.call("Page.navigate", url=gw.http_url + "/docs")
                await browser.wait_for(
                    "document.querySelectorAll('.opblock-summary-path').length > 10",
                    what="Swagger UI operations",
                )
                paths = await browser.js(
                    "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent)"
                )
                loaded = await browser.js("performance.getEntriesByType('resource').map(e => e.name)")
            finally:
                await browser.close()
            return paths, loaded

    paths, loaded = run(scenario(), timeout=120)
    flat = [p.replace("\u200b", "") for p in paths]
    for path in (
        "/api/fleet",
        "/api/vehicles/{vehicle_id}/status",
        "/api/vehicles/{vehicle_id}/link-history",
    ):
        assert path in flat, flat
    assert any(u.endswith("/static/swagger-ui-bundle.js") for u in loaded), loaded
    assert all(u.startswith("http://127.0.0.1:") for u in loaded), loaded

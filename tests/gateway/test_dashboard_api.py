"""The dashboard's routes (fleet page, GNSS track, CSV) on a real gateway: auth, limits, what they return."""

from __future__ import annotations

import asyncio
import csv
import io
import urllib.request

import pytest

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.dashboard_api import MAX_PAGE, fleet_page, merge_fleet
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.v1 import link_pb2

from .helpers import http_json, local_config, operator_token, run
from .test_dashboard import V, dashboard_routes, populate  # noqa: F401 (fixture)


async def wait_until(check, timeout: float = 30.0, what: str = "") -> None:
    """Poll an async condition until it holds, or fail naming it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never got {what}")
        await asyncio.sleep(0.05)


async def vehicle_with_status(gw: Gateway, vid: str, rtt_ms: float, records: int) -> WsVehicle:
    v = await WsVehicle.connect(gw.ws_url)
    await v.open(hello(vid))
    await v.send(
        link_pb2.Uplink(
            status=link_pb2.VehicleStatus(
                ts_ns=1_000, outbox_records=records, outbox_bytes=100 * records, transport="grpc",
                rtt_ms=rtt_ms, loss=0.01,
            )
        )
    )  # fmt: skip
    return v


def test_merge_and_page_at_10k_vehicles():
    stored = {
        f"VIN{i:05d}": {
            "vehicle_id": f"VIN{i:05d}", "revoked": i % 100 == 0, "last_seen_ns": i, "acked_seq": i,
            "status_ts_ns": i, "transport": "grpc", "rtt_ms": float(i % 500), "loss": None,
            "outbox_records": i % 7, "outbox_bytes": i, "frames": i,
        }
        for i in range(10_000)
    }  # fmt: skip
    live = [
        {"vehicle_id": "VIN00007", "connected": True, "transport": "websocket", "rtt_ms": 999.0, "loss": 0.5,
         "switches": 3, "acked_seq": 7, "samples": 70, "frames": None, "outbox_records": None,
         "outbox_bytes": None},
        {"vehicle_id": "NEW-1", "connected": True, "transport": "grpc", "rtt_ms": None, "loss": None,
         "switches": 0, "acked_seq": 0, "samples": 0, "frames": None, "outbox_records": None,
         "outbox_bytes": None},
    ]  # fmt: skip
    rows = merge_fleet(live, stored, now_ns=123)
    assert len(rows) == 10_001
    page = fleet_page(rows, "", None, "rtt", "desc", 0, 5)
    assert page["counts"] == {"up": 2, "down": 9_899, "revoked": 100, "all": 10_001}
    assert page["total"] == 10_001
    assert page["rows"][0]["vehicle_id"] == "VIN00007"  # the live RTT wins over the stored one
    assert page["rows"][0]["transport"] == "websocket" and page["rows"][0]["last_seen_ns"] == 123
    assert page["rows"][0]["outbox_records"] == 0  # the live row has no status yet: the stored one stays
    assert [r["rtt_ms"] for r in page["rows"][1:]] == [499.0] * 4
    last = fleet_page(rows, "", None, "rtt", "asc", 10_000, 5)["rows"]
    assert [r["vehicle_id"] for r in last] == ["NEW-1"]  # no RTT: last in either order
    hits = fleet_page(rows, "vin0000", "revoked", "id", "asc", 0, 50)
    assert hits["total"] == 1 and hits["rows"][0]["vehicle_id"] == "VIN00000"
    assert fleet_page(rows, "nope", None, "id", "asc", 0, 50)["total"] == 0


@pytest.mark.usefixtures("dashboard_routes")
def test_fleet_page_merges_live_and_stored_with_auth_and_limits(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    viewer = operator_token(cfg.database, "viewer")
    admin = operator_token(cfg.database, "admin")

    async def scenario():
        async with Gateway(cfg) as gw:  # first run: three vehicles report, one is revoked
            vs = [await vehicle_with_status(gw, f"VIN-A{i}", 10.0 * (i + 1), i) for i in range(3)]

            async def stored():
                _, body = await http_json(f"{gw.http_url}/api/vehicles", token=viewer)
                return sum(1 for v in body if v["status"]) == 3

            await wait_until(stored, what="three stored statuses")
            assert (await http_json(f"{gw.http_url}/api/vehicles/VIN-A2/revoke", "POST", token=admin))[
                0
            ] == 200
            for v in vs:
                await v.close()
        async with Gateway(cfg) as gw:  # second run: only VIN-A1 comes back; the others are in the database
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello("VIN-A1"))

            async def back():
                _, page = await http_json(f"{gw.http_url}/api/fleet/page", token=viewer)
                return page["counts"]["up"] == 1

            await wait_until(back, what="VIN-A1 live again")
            base = f"{gw.http_url}/api/fleet/page"
            out = {"anon": await http_json(base)}
            out["page"] = await http_json(base + "?sort=rtt&order=desc&limit=2", token=viewer)
            out["next"] = await http_json(base + "?sort=rtt&order=desc&limit=2&offset=2", token=viewer)
            out["search"] = await http_json(base + "?q=a1", token=viewer)
            out["down"] = await http_json(base + "?state=down", token=viewer)
            for name, query in {
                "limit": f"limit={MAX_PAGE + 1}",
                "sort": "sort=colour",
                "order": "order=sideways",
                "q": "q=" + "x" * 65,
                "offset": "offset=-1",
                "state": "state=lost",
            }.items():
                out["bad_" + name] = await http_json(f"{base}?{query}", token=viewer)
            await v.close()
            return out

    out = run(scenario(), timeout=90)
    assert out["anon"][0] == 401
    status, page = out["page"]
    assert status == 200
    assert page["counts"] == {"up": 1, "down": 1, "revoked": 1, "all": 3}
    assert page["total"] == 3 and page["limit"] == 2
    assert [r["vehicle_id"] for r in page["rows"]] == ["VIN-A2", "VIN-A1"]  # RTT 30, 20 (stored)
    assert [r["link_state"] for r in page["rows"]] == ["revoked", "up"]
    assert page["rows"][1]["outbox_records"] == 1 and page["rows"][1]["outbox_bytes"] == 100
    assert [r["vehicle_id"] for r in out["next"][1]["rows"]] == ["VIN-A0"]
    assert [r["vehicle_id"] for r in out["search"][1]["rows"]] == ["VIN-A1"]
    assert [r["vehicle_id"] for r in out["down"][1]["rows"]] == ["VIN-A0"]
    for name in ("limit", "sort", "order", "q", "offset", "state"):
        status, body = out["bad_" + name]
        assert status == 422, (name, body)
        assert body["detail"][0]["loc"] == ["query", name], body  # names the parameter at fault
        assert body["detail"][0]["msg"], body


def _get(url: str, token: str | None) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.mark.usefixtures("dashboard_routes")
def test_track_and_csv_of_the_gnss_trace(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    viewer = operator_token(cfg.database, "viewer")

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await populate(gw)
            base = f"{gw.http_url}/api/vehicles/{V}"
            sig = "gnss_pos.Latitude"
            csv_url = f"{base}/series.csv?signal={sig}"
            out = {
                "track": await http_json(base + "/track?max_points=300", token=viewer),
                "track_anon": await http_json(base + "/track"),
                "track_bad": await http_json(base + "/track?max_points=1", token=viewer),
                "track_unknown": await http_json(f"{gw.http_url}/api/vehicles/NOPE/track", token=viewer),
                "series": await http_json(f"{base}/series?signal={sig}&max_points=100000", token=viewer),
                "csv": await asyncio.to_thread(_get, csv_url, viewer),
                "csv_small": await asyncio.to_thread(_get, csv_url + "&max_points=50", viewer),
                "csv_anon": await asyncio.to_thread(_get, csv_url, None),
                "csv_nosig": await asyncio.to_thread(_get, f"{base}/series.csv?signal=No.Such", viewer),
                "csv_big": await asyncio.to_thread(_get, csv_url + "&max_points=100001", viewer),
            }  # fmt: skip
            await v.close()
            return out

    out = run(scenario(), timeout=90)
    status, track = out["track"]
    assert status == 200, track
    assert (track["latitude"], track["longitude"]) == ("gnss_pos.Latitude", "gnss_pos.Longitude")
    assert 10 < len(track["points"]) <= 300
    ts = [p[0] for p in track["points"]]
    assert ts == sorted(ts)
    assert all(-90 <= p[1] <= 90 and -180 <= p[2] <= 180 for p in track["points"])
    assert out["track_anon"][0] == 401
    assert out["track_bad"][0] == 422 and out["track_bad"][1]["detail"][0]["loc"] == ["query", "max_points"]
    assert out["track_unknown"][0] == 404

    series = out["series"][1]
    status, headers, text = out["csv"]
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["ts_ns", "time_utc", "value"]
    assert len(rows) - 1 == series["count"] == len(series["points"])
    assert [int(rows[1][0]), float(rows[1][2])] == series["points"][0]
    assert rows[1][1].endswith("+00:00")  # times carry their zone
    small = list(csv.reader(io.StringIO(out["csv_small"][2])))
    assert small[0] == ["ts_ns", "time_utc", "value", "min", "max"] and len(small) - 1 <= 50
    assert out["csv_anon"][0] == 401
    assert out["csv_nosig"][0] == 404 and "No.Such" in out["csv_nosig"][2]
    assert out["csv_big"][0] == 422 and "max_points" in out["csv_big"][2]

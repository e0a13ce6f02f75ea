"""Every dashboard view in headless Chromium, on a real gateway: fleet paging/search/sort/counts, the link
and backlog plots with the switches marked, several signals on one time axis, the GNSS track, CSV, zones."""

from __future__ import annotations

import base64
import json

import pytest

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.gateway.operators import OperatorStore, Role
from vehicle_mw.v1 import link_pb2

from .helpers import local_config, run
from .test_dashboard import (
    ARTIFACTS,
    CHROMIUM,
    PASSWORD,
    Browser,
    dashboard_routes,  # noqa: F401 (fixture)
    decoded_trace,
)
from .test_dashboard_api import vehicle_with_status

V = "VIN-VIEWS-01"
FLEET = 59  # plus V: two pages of 50


async def populate(gw: Gateway) -> list[WsVehicle]:
    """V sends the GNSS trace, 10 statuses (5 on grpc, then 5 on websocket) and the switch between them;
    59 more vehicles send one status each (RTT: their number / 10 ms)."""
    catalog, batches = decoded_trace()
    v = await WsVehicle.connect(gw.ws_url)
    await v.open(hello(V, catalog_hash=catalog.hash))
    await v.send(link_pb2.Uplink(catalog=catalog))
    for b in batches:
        await v.send(b)
    await v.wait_ack(len(batches))
    t0 = batches[0].batch.columns.source_ts_ns[0]
    for k in range(10):
        grpc = k < 5
        if k == 5:
            await v.send(
                link_pb2.Uplink(
                    link_event=link_pb2.LinkEvent(
                        ts_ns=t0 + k * 10**9 - 10**8, from_transport="grpc", to_transport="websocket",
                        reason="grpc RTT 412 ms > 300 ms for 3 s", rtt_ms=412.0, rttvar_ms=40.0, loss=0.02,
                    )
                )
            )  # fmt: skip
        await v.send(
            link_pb2.Uplink(
                status=link_pb2.VehicleStatus(
                    ts_ns=t0 + k * 10**9, frames=100 * k, outbox_records=17 + k, outbox_bytes=6144 + k,
                    transport="grpc" if grpc else "websocket", rtt_ms=400.0 + k if grpc else 20.0 + k,
                    loss=0.02 if grpc else 0.004,
                )
            )
        )  # fmt: skip
    others = [await vehicle_with_status(gw, f"VIN-FLEET-{i:02d}", i / 10, i) for i in range(FLEET)]
    return [v, *others]


async def login(browser: Browser, url: str) -> None:
    await browser.call("Page.navigate", url=url + "/")
    await browser.wait_for(
        "location.pathname === '/login' && document.getElementById('login-button')?.disabled === false"
    )
    await browser.js(
        "document.getElementById('username').value = 'dora';"
        f"document.getElementById('password').value = {json.dumps(PASSWORD)};"
        "document.getElementById('login-button').click(); true"
    )
    await browser.wait_for("location.pathname === '/'", what="the dashboard after logging in")


TEXT = "document.getElementById('{}')?.textContent"
ROWS = "[...document.querySelectorAll('#fleet tbody tr')].map(r => r.dataset.vehicle)"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Makefile APT_PACKAGES)")
@pytest.mark.usefixtures("dashboard_routes")
def test_every_dashboard_view(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-views.png"
    shot.unlink(missing_ok=True)
    seen: dict = {}

    async def scenario() -> None:
        cfg = local_config(tmp_path, allow_anonymous=True, gateway_id="gw-views")
        store = OperatorStore(cfg.database)
        store.add("dora", Role.VIEWER, PASSWORD)
        store.close()
        async with Gateway(cfg) as gw:
            vehicles = await populate(gw)
            browser = await Browser.start()
            try:
                # a zone without summer time, so the expected offset holds all year
                await browser.call("Emulation.setTimezoneOverride", timezoneId="Asia/Tokyo")
                await login(browser, gw.http_url)
                b = browser
                # fleet: counts, paging (page 1 of 2), then page 2
                await b.wait_for(f"{TEXT.format('page-info')} === '1–50 of 60'", what="first page")
                seen["counts"] = await b.js(
                    "Object.fromEntries([...document.querySelectorAll('#fleet-counts [data-count]')]"
                    ".map(e => [e.dataset.count, e.textContent]))"
                )
                seen["page1"] = await b.js(ROWS)
                await b.js("document.getElementById('page-next').click(); true")
                await b.wait_for(f"{TEXT.format('page-info')} === '51–60 of 60'", what="second page")
                seen["page2"] = await b.js(ROWS)
                # sort by RTT, descending (two clicks on the header)
                th = "document.querySelector('#fleet th[data-sort=\"rtt\"]')"
                await b.js(f"{th}.click(); true")
                await b.wait_for(
                    f"{th}.dataset.order === 'asc' && {TEXT.format('page-info')} === '1–50 of 60'"
                )
                await b.js(f"{th}.click(); true")
                await b.wait_for(f"{th}.dataset.order === 'desc' && {ROWS}[0] === '{V}'", what="RTT desc")
                seen["by_rtt_desc"] = await b.js(ROWS + ".slice(0, 3)")
                # search
                await b.js(
                    "const s = document.getElementById('fleet-search'); s.value = 'views';"
                    " s.dispatchEvent(new Event('input')); true"
                )
                await b.wait_for(f"{TEXT.format('page-info')} === '1–1 of 1'", what="search result")
                seen["search"] = await b.js(ROWS)
                row = f"document.querySelector('tr[data-vehicle=\"{V}\"]')"
                seen["row"] = await b.js(f"[...{row}.cells].map(c => c.textContent)")
                seen["zone"] = await b.js(TEXT.format("timezone"))
                # per vehicle (VIN-FLEET-00 was selected on load): link, backlog, signals, track
                await b.js(f"{row}.click(); true")
                await b.wait_for(f"{TEXT.format('selected-vehicle')} === '{V}'")
                lp = "document.getElementById('link-plot')"
                await b.wait_for(
                    f"{lp}.dataset.points === '10' && !!{lp}.querySelector('canvas')", what="link plot"
                )
                seen["link"] = await b.js(
                    f"({{switches: {lp}.dataset.switches, transports: {lp}.dataset.transports,"
                    f" legend: {lp}.querySelector('.u-legend').textContent,"
                    f" info: {TEXT.format('link-info')}}})"
                )
                bp = "document.getElementById('backlog-plot')"
                await b.wait_for(f"{bp}.dataset.points === '10' && !!{bp}.querySelector('canvas')")
                seen["backlog"] = await b.js(
                    f"({{legend: {bp}.querySelector('.u-legend').textContent,"
                    f" info: {TEXT.format('backlog-info')}}})"
                )
                seen["switch_rows"] = await b.js(
                    "[...document.querySelectorAll('#link-events tbody tr')].map(r => r.textContent)"
                )
                sp = "document.getElementById('signals-plot')"
                await b.wait_for(f"({sp}.dataset.series || '').split(',').length === 2", what="two signals")
                seen["default_signals"] = await b.js(f"{sp}.dataset.series")
                await b.js(
                    "const q = document.getElementById('signal-search'); q.value = 'itude';"
                    " q.dispatchEvent(new Event('input')); true"
                )
                seen["signal_search"] = await b.js(
                    "[...document.querySelectorAll('#signal-list label')].map(l => l.dataset.signal)"
                )
                await b.js(
                    "document.querySelector('#signal-list label[data-signal=\"gnss_pos.Longitude\"] input')"
                    ".click(); true"
                )
                await b.wait_for(f"{sp}.dataset.series.includes('gnss_pos.Longitude')", what="a third signal")
                await b.wait_for(f"!!{sp}.querySelector('canvas')")
                seen["signals"] = await b.js(
                    f"({{series: {sp}.dataset.series, points: Number({sp}.dataset.points),"
                    f" legend: {sp}.querySelector('.u-legend').textContent, info: {TEXT.format('plot-info')},"
                    " links: [...document.querySelectorAll('#csv-links a')].map(a => a.dataset.signal)})"
                )
                seen["csv"] = await b.js(
                    "fetch(document.querySelector('#csv-links a[data-signal=\"gnss_pos.Longitude\"]').href)"
                    ".then(r => r.text().then(t => [r.headers.get('content-type'), t.split('\\n')]))"
                )
                tr = "document.getElementById('track')"
                await b.wait_for(f"Number({tr}.dataset.points) > 10", what="a GNSS track")
                seen["track"] = await b.js(
                    f"(() => {{ const c = {tr};"
                    " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                    " let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i]) { n++; } }"
                    " return {painted: n, points: Number(c.dataset.points),"
                    f" info: {TEXT.format('track-info')}}}; }})()"
                )
                shown = await b.call("Page.captureScreenshot", format="png")
                shot.write_bytes(base64.b64decode(shown["data"]))
            finally:
                await browser.close()
            for v in vehicles:
                await v.close()

    run(scenario(), timeout=150)
    assert seen["counts"] == {"all": "60", "up": "60", "down": "0", "revoked": "0"}
    assert seen["page1"][:2] == ["VIN-FLEET-00", "VIN-FLEET-01"] and len(seen["page1"]) == 50
    assert seen["page2"] == [f"VIN-FLEET-{i}" for i in range(50, 59)] + [V]
    assert seen["by_rtt_desc"] == [V, "VIN-FLEET-58", "VIN-FLEET-57"]  # V: 29 ms, the others: at most 5.8
    assert seen["search"] == [V]
    assert seen["zone"] == "times in Asia/Tokyo (UTC+09:00)"
    cells = seen["row"]
    assert cells[:5] == [V, "up", "websocket", "29.0", "0.4 %"], cells
    assert cells[9] == "26 rec / 6153 B" and cells[10].endswith("UTC+09:00"), cells
    link = seen["link"]
    assert link["switches"] == "1" and link["transports"] == "grpc,websocket"
    for label in ("grpc RTT ms", "grpc loss %", "websocket RTT ms", "websocket loss %"):
        assert label in link["legend"], link
    assert link["info"] == "10 status reports, 1 switches"
    assert "records" in seen["backlog"]["legend"] and "bytes" in seen["backlog"]["legend"]
    assert seen["backlog"]["info"].startswith("latest 26 rec / 6153 B at ")
    assert seen["backlog"]["info"].endswith("UTC+09:00")
    assert len(seen["switch_rows"]) == 1 and "grpc RTT 412 ms > 300 ms for 3 s" in seen["switch_rows"][0]
    assert "UTC+09:00" in seen["switch_rows"][0]
    found = seen["signal_search"]
    assert {"gnss_pos.Latitude", "gnss_pos.Longitude"} <= set(found), found
    assert all("itude" in s.lower() for s in found), found
    signals = seen["signals"]
    names = signals["series"].split(",")
    assert len(names) == 3 and "gnss_pos.Longitude" in names
    assert seen["default_signals"].split(",")[0] in names
    for n in names:
        assert n in signals["legend"] and n in signals["info"], signals
    assert signals["links"] == names
    assert signals["points"] > 30
    ctype, lines = seen["csv"]
    assert ctype.startswith("text/csv") and lines[0] == "ts_ns,time_utc,value" and len(lines) > 10
    track = seen["track"]
    assert track["points"] > 10 and track["painted"] > 200, track
    assert track["info"].startswith("gnss_pos.Latitude / gnss_pos.Longitude: ")
    assert shot.stat().st_size > 20_000

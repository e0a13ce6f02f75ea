"""The dashboard in headless Chromium: log in on the real page, what it shows, a screenshot in artifacts/."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import shutil
import tempfile

import can
import cantools
import pytest
from websockets.asyncio.client import connect as ws_connect

from vehicle_mw.gateway import Gateway, server
from vehicle_mw.gateway.dashboard_api import add_dashboard_routes
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.gateway.operators import OperatorStore, Role
from vehicle_mw.manifest.gateway import GatewayLimits
from vehicle_mw.v1 import link_pb2

from .helpers import ROOT, local_config, run

DATA = ROOT / "vehicle_mw" / "demo" / "data"
ARTIFACTS = ROOT / "artifacts"
V = "VIN-DASHBOARD-01"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "dashboard test password"


def decoded_trace() -> tuple[link_pb2.Catalog, list[link_pb2.Uplink]]:
    """The real GNSS trace decoded with its DBC into a catalog and sample batches (one per 200 frames)."""
    db = cantools.database.load_file(str(DATA / "gnss.dbc"))
    ids: dict[str, int] = {}
    infos = []
    for msg in db.messages:
        for sig in msg.signals:
            name = f"{msg.name}.{sig.name}"
            ids[name] = len(ids) + 1
            infos.append(link_pb2.SignalInfo(id=ids[name], name=name, unit=sig.unit or "", source="can:can0"))
    batches, cols, seq = [], link_pb2.SampleColumns(), 0
    for n, frame in enumerate(can.LogReader(str(DATA / "gnss_drive.log")), start=1):
        try:
            msg = db.get_message_by_frame_id(frame.arbitration_id)
            values = msg.decode(frame.data, decode_choices=False)
        except (KeyError, ValueError, cantools.database.DecodeError):
            continue
        for sig, value in values.items():
            cols.signal_id.append(ids[f"{msg.name}.{sig}"])
            cols.source_id.append(1)
            cols.source_ts_ns.append(int(frame.timestamp * 1e9))
            cols.source_seq.append(n)
            cols.value.append(float(value))
        if n % 200 == 0:
            seq += 1
            batches.append(link_pb2.Uplink(batch=link_pb2.SampleBatch(seq=seq, columns=cols)))
            cols = link_pb2.SampleColumns()
    batches.append(link_pb2.Uplink(batch=link_pb2.SampleBatch(seq=seq + 1, columns=cols)))
    return link_pb2.Catalog(hash=b"gnss-demo", signals=infos), batches


@pytest.fixture
def dashboard_routes(monkeypatch):
    """Gateways built in this test carry the dashboard routes (until api.build_app registers them)."""
    original = server.build_app
    if "add_dashboard_routes" in inspect.getsource(original):
        return  # build_app registers them itself already

    def build(core, queries, auth):
        app = original(core, queries, auth)
        add_dashboard_routes(app, core, queries, auth.require(Role.VIEWER))
        return app

    monkeypatch.setattr(server, "build_app", build)


async def populate(gw: Gateway) -> WsVehicle:
    """One vehicle that sent the whole trace, a transport switch and a status; left connected."""
    catalog, batches = decoded_trace()
    v = await WsVehicle.connect(gw.ws_url)
    await v.open(hello(V, catalog_hash=catalog.hash))
    await v.send(link_pb2.Uplink(catalog=catalog))
    for b in batches:
        await v.send(b)
    await v.wait_ack(len(batches))
    await v.send(
        link_pb2.Uplink(
            link_event=link_pb2.LinkEvent(
                ts_ns=batches[0].batch.columns.source_ts_ns[0],
                from_transport="grpc",
                to_transport="websocket",
                reason="grpc RTT 412 ms > 300 ms for 3 s",
                rtt_ms=412.0,
                rttvar_ms=40.0,
                loss=0.02,
            )
        )
    )
    await v.send(
        link_pb2.Uplink(
            status=link_pb2.VehicleStatus(
                ts_ns=1,
                frames=4024,
                samples=sum(len(b.batch.columns.value) for b in batches),
                outbox_records=17,
                outbox_bytes=6144,
                transport="websocket",
                rtt_ms=23.5,
                loss=0.004,
            )
        )
    )
    return v


class Browser:
    """Headless Chromium driven over the DevTools protocol, so the test waits on page conditions."""

    def __init__(self, proc: asyncio.subprocess.Process, ws, profile: str):
        self.proc, self.ws, self.profile = proc, ws, profile
        self.session: str | None = None
        self._next_id = 0

    @classmethod
    async def start(cls, *extra_args: str) -> Browser:
        profile = tempfile.mkdtemp(prefix="vmw-chromium-")
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *extra_args,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1280,1000",
            "--remote-debugging-port=0",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        while True:  # Chromium prints its DevTools address on stderr once it listens
            line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
            if not line:
                raise RuntimeError("chromium exited before its DevTools endpoint was up")
            if line.startswith("DevTools listening on "):
                break
        asyncio.get_running_loop().create_task(_drain(proc.stderr))
        ws = await ws_connect(line.split(" on ", 1)[1].strip(), max_size=64 * 1024 * 1024)
        browser = cls(proc, ws, profile)
        target = await browser.call("Target.createTarget", url="about:blank")
        attached = await browser.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        browser.session = attached["sessionId"]
        await browser.call("Page.enable")
        return browser

    async def call(self, method: str, **params):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        await self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    async def js(self, expression: str):
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60.0, what: str = "") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await self.js(expression):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"page never got {what or expression}; at {await self.js('location.href')}"
                )
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.call("Browser.close")
        await self.ws.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Makefile APT_PACKAGES)")
def test_dashboard_shows_fleet_link_state_and_plots(tmp_path, dashboard_routes):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)

    async def scenario() -> str:
        cfg = local_config(
            tmp_path, allow_anonymous=True, gateway_id="gw-test", limits=GatewayLimits(command_timeout_s=1)
        )
        store = OperatorStore(cfg.database)
        store.add("dora", Role.OPERATOR, PASSWORD)
        store.close()
        async with Gateway(cfg) as gw:
            v = await populate(gw)
            browser = await Browser.start()
            try:
                await browser.call("Page.navigate", url=gw.http_url + "/")
                await browser.wait_for(
                    "location.pathname === '/login'"
                    " && document.getElementById('login-button')?.disabled === false"
                )
                await browser.js(
                    f"document.getElementById('username').value = 'dora';"
                    f"document.getElementById('password').value = {json.dumps(PASSWORD)};"
                    "document.getElementById('login-button').click(); true"
                )
                await browser.wait_for("location.pathname === '/'", what="the dashboard after logging in")
                # ?. : the page may still be parsing when its URL is already '/'
                await browser.wait_for("document.getElementById('feed-state')?.textContent === 'live'")
                row = f"document.querySelector('tr[data-vehicle=\"{V}\"]')"
                await browser.wait_for(f"!!{row} && {row}.textContent.includes('6144 B')")
                await browser.wait_for("document.querySelectorAll('#link-events tbody tr').length > 0")
                await browser.wait_for("Number(document.getElementById('signals-plot').dataset.points) > 10")
                await browser.wait_for("document.getElementById('plot-info').textContent.includes('samples')")
                await browser.wait_for("!!document.querySelector('#signals-plot canvas')")
                shown = await browser.call("Page.captureScreenshot", format="png")
                shot.write_bytes(base64.b64decode(shown["data"]))
                dom = await browser.js("document.documentElement.outerHTML")
                cookies = await browser.call("Network.getCookies", urls=[gw.http_url + "/"])
                await browser.js(
                    "document.getElementById('command-payload').value = '{\"status_period_s\": 1}';"
                    "document.querySelector('#command-form button').click(); true"
                )
                await browser.wait_for("document.getElementById('command-result').textContent !== ''")
                result = await browser.js("document.getElementById('command-result').textContent")
            finally:
                await browser.close()
            await v.close()
            return dom, cookies["cookies"], result

    dom, cookies, command_result = run(scenario(), timeout=150)
    session = next(c for c in cookies if c["name"] == "vmw_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert "dora (operator)" in dom
    # the vehicle above answers no commands: the form's POST passed login, CSRF and Origin checks
    assert "did not acknowledge" in command_result, command_result
    assert 'data-vehicle="VIN-DASHBOARD-01"' in dom
    assert "gateway gw-test" in dom  # filled in from the live WebSocket feed
    assert '<span id="feed-state" class="good">live</span>' in dom
    row = dom.split('data-vehicle="VIN-DASHBOARD-01"', 1)[1].split("</tr>", 1)[0]
    for shown in (
        'class="up">up<',
        "<td>websocket</td>",
        "<td>23.5</td>",
        "<td>0.4 %</td>",
        "<td>1</td>",
        "<td>4024</td>",
        "17 rec / 6144 B",
    ):
        assert shown in row, f"fleet row lacks {shown!r}: {row}"
    assert "grpc RTT 412 ms &gt; 300 ms for 3 s" in dom  # link history
    plotted = dom.split('id="signals-plot"', 1)[1].split(">", 1)[0]
    assert int(plotted.split('data-points="', 1)[1].split('"', 1)[0]) > 10, plotted
    assert 'class="uplot' in dom.split('id="signals-plot"', 1)[1]  # drawn by the vendored uPlot
    assert "samples" in dom.split('id="plot-info">', 1)[1].split("<", 1)[0]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one

"""The dashboard in headless Chromium: what the page shows, plus a screenshot in artifacts/."""

from __future__ import annotations

import asyncio
import shutil
import tempfile

import can
import cantools
import pytest

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.v1 import link_pb2

from .helpers import ROOT, local_config, run

DATA = ROOT / "vehicle_mw" / "demo" / "data"
ARTIFACTS = ROOT / "artifacts"
V = "VIN-DASHBOARD-01"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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


async def chromium(url: str, *args: str) -> str:
    profile = tempfile.mkdtemp(prefix="vmw-chromium-")
    try:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=6000",
            "--window-size=1280,1000",
            *args,
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, f"chromium exited {proc.returncode}"
        return out.decode()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Makefile APT_PACKAGES)")
def test_dashboard_shows_fleet_link_state_and_plots(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)

    async def scenario() -> str:
        async with Gateway(local_config(tmp_path, allow_anonymous=True, gateway_id="gw-test")) as gw:
            v = await populate(gw)
            dom = await chromium(gw.http_url + "/", "--dump-dom")
            await chromium(gw.http_url + "/", f"--screenshot={shot}")
            await v.close()
            return dom

    dom = run(scenario(), timeout=150)
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
    assert 'id="plot" width="1100" height="300" data-points="' in dom
    points = int(dom.split('data-points="', 1)[1].split('"', 1)[0])
    assert points > 10
    assert "samples" in dom.split('id="plot-info">', 1)[1].split("<", 1)[0]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one

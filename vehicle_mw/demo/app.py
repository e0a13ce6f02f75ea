"""``vmw demo``: a simulated vehicle replays a real CAN trace into a local gateway, end to end.

Vehicle: CAN replay -> frame ring -> native decode -> sample ring -> executor task -> durable
outbox -> channel Uplink negotiating gRPC/WebSocket. Cloud: the fleet gateway on SQLite with its
dashboard. Both run in this process (the vehicle stages on their own threads), over loopback TLS
with the vehicle authenticated by its client certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pathlib
import shutil
import signal
import time
from dataclasses import dataclass

from vehicle_mw.channel import Uplink
from vehicle_mw.demo.catalog import catalog_message
from vehicle_mw.demo.pipeline import VehiclePipeline
from vehicle_mw.demo.summary import LiveSummary, Snapshot
from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.pki import make_ca, make_server_cert, make_vehicle_cert
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig, TlsConfig
from vehicle_mw.manifest.gateway import GatewayConfig, GatewayTls
from vehicle_mw.signals import load_catalog
from vehicle_mw.store import Outbox
from vehicle_mw.v1 import link_pb2

DATA = pathlib.Path(__file__).resolve().parent / "data"
TRACE = DATA / "gnss_drive.log"
DBC = DATA / "gnss.dbc"
VEHICLE_ID = "VMWDEMO0000000001"
DEMO_OPERATOR = "demo"
log = logging.getLogger("vehicle_mw.demo")


@dataclass(frozen=True)
class DemoOptions:
    workdir: pathlib.Path
    duration_s: float | None = None
    speed: float = 1.0
    http_port: int = 7400
    tls: bool = True
    quiet: bool = False


@dataclass(frozen=True)
class DemoReport:
    frames: int
    samples: int
    acked_seq: int
    stored_samples: int
    transport: str | None
    dashboard_url: str
    database: pathlib.Path


def _pki(workdir: pathlib.Path):
    folder = workdir / "pki"
    if not (folder / f"{VEHICLE_ID}.crt").exists():
        ca = make_ca(folder)
        make_server_cert(ca, folder)
        make_vehicle_cert(ca, folder, VEHICLE_ID)
    return folder


def _gateway_config(opts: DemoOptions) -> GatewayConfig:
    gw = GatewayConfig(
        gateway_id="gw-demo",
        database=str(opts.workdir / "gateway.sqlite"),
        grpc_port=0,
        ws_port=0,
        http_port=opts.http_port,
        sqlite_synchronous="normal",
        allow_anonymous=not opts.tls,
    )
    if not opts.tls:
        return gw
    pki = _pki(opts.workdir)
    tls = GatewayTls(
        cert=str(pki / "localhost.crt"),
        key=str(pki / "localhost.key"),
        client_ca=str(pki / "vmw-ca.crt"),
        require_client_cert=True,
    )
    return gw.model_copy(update={"tls": tls})


def _vehicle_config(opts: DemoOptions, gateway: Gateway) -> ChannelConfig:
    tls = None
    if opts.tls:
        pki = opts.workdir / "pki"
        tls = TlsConfig(
            ca_file=str(pki / "vmw-ca.crt"),
            cert_file=str(pki / f"{VEHICLE_ID}.crt"),
            key_file=str(pki / f"{VEHICLE_ID}.key"),
            server_name="localhost",
        )
    return ChannelConfig(
        vehicle_id=VEHICLE_ID,
        software_version="vmw-demo",
        grpc_target=gateway.grpc_target,
        websocket_url=gateway.ws_url,
        tls=tls,
        outbox=OutboxConfig(directory=str(opts.workdir / "outbox"), fsync="batch"),
        status_interval_s=1.0,
    )


def _demo_login(gateway: Gateway) -> str:
    """A fresh password for the demo's admin operator (new each run, printed with the dashboard URL)."""
    import secrets

    from vehicle_mw.gateway.operators import Role

    store = gateway.operators
    assert store is not None
    password = secrets.token_urlsafe(12)
    if store.get(DEMO_OPERATOR) is None:
        store.add(DEMO_OPERATOR, Role.ADMIN, password)
    else:
        store.set_password(DEMO_OPERATOR, password)
    return password


async def run_demo(opts: DemoOptions, stop: asyncio.Event | None = None) -> DemoReport:
    """Run until ``stop`` is set, SIGINT/SIGTERM, or ``duration_s`` elapses; then drain and stop."""
    opts.workdir.mkdir(parents=True, exist_ok=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if opts.tls and shutil.which("openssl") is None:
        log.warning("the openssl command is missing: running the demo without TLS")
        opts = dataclasses.replace(opts, tls=False)
    gw_cfg = _gateway_config(opts)
    catalog = load_catalog(DBC)
    async with Gateway(gw_cfg) as gateway:
        car_cfg = _vehicle_config(opts, gateway)
        outbox = Outbox(car_cfg.outbox.directory, car_cfg.outbox)
        pipeline = VehiclePipeline(TRACE, catalog, outbox, opts.speed)

        def status() -> dict[str, int]:
            c = pipeline.counters()
            return {"frames": c.frames, "samples": c.samples}

        async def on_command(cmd: link_pb2.Command) -> tuple[bool, str]:
            return True, f"{cmd.kind} applied ({len(cmd.payload)} bytes)"

        uplink = Uplink(
            car_cfg, outbox, catalog_message(catalog), on_command=on_command, status_source=status
        )
        summary = LiveSummary(f"{gateway.http_url}/", quiet=opts.quiet)
        summary.announce(gateway, catalog, TRACE)
        summary.note(f"login      user {DEMO_OPERATOR}  password {_demo_login(gateway)}")
        task = asyncio.create_task(uplink.run())
        pipeline.start()
        started = time.monotonic()

        def snapshot() -> Snapshot:
            c = pipeline.counters()
            view = uplink.links().get(uplink.active) if uplink.active else None
            st = outbox.stats()
            state = gateway.core.vehicles.get(VEHICLE_ID)
            return Snapshot(
                elapsed_s=time.monotonic() - started,
                frames=c.frames,
                samples=c.samples,
                undecoded=c.undecoded_frames,
                loops=c.loops,
                transport=uplink.active,
                rtt_ms=view.srtt_ms if view else None,
                loss=view.loss if view else None,
                switches=uplink.switches,
                backlog_batches=st.backlog_batches,
                backlog_records=st.backlog_records,
                acked_seq=st.acked_seq,
                stored_samples=state.samples_stored if state else 0,
            )

        try:
            with summary.live(snapshot):
                deadline = None if opts.duration_s is None else started + opts.duration_s
                while not stop.is_set():
                    if pipeline.error is not None:
                        raise pipeline.error
                    timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout)
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                summary.note("stopping: draining the rings and the outbox ...")
                await asyncio.to_thread(pipeline.stop)
                await uplink.wait_until(lambda: outbox.acked_seq >= outbox.high_seq, timeout=30)
                final = snapshot()
        finally:
            uplink.stop()
            await task
            outbox.close()
        summary.final(final)
        return DemoReport(
            frames=final.frames,
            samples=final.samples,
            acked_seq=final.acked_seq,
            stored_samples=final.stored_samples,
            transport=final.transport,
            dashboard_url=f"{gateway.http_url}/",
            database=pathlib.Path(gw_cfg.database),
        )


__all__ = ["DemoOptions", "DemoReport", "run_demo"]

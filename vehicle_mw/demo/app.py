"""``vmw demo``: a simulated vehicle replays a real CAN trace into a local gateway, end to end.

Vehicle: the shipping runtime (``vehicle_mw.runtime``) built from the manifests the demo writes
into its workdir -- CAN replay -> frame ring -> native decoder -> sample ring -> durable outbox ->
uplink negotiating gRPC/WebSocket. Cloud: the fleet gateway on SQLite with its dashboard. Between
them, one link-impairment proxy per transport; a script makes the gRPC link bad for a while so
the channel moves to WebSocket and back. All in this process, over loopback mutual TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pathlib
import secrets
import shutil
import signal
import time
from dataclasses import dataclass

from vehicle_mw.channel.uplink import SwitchEvent
from vehicle_mw.demo.impairment import ImpairmentScript, proxied_links, run_script
from vehicle_mw.demo.manifests import DBC, TRACE, VEHICLE_ID, channel_manifest, machine_manifest, write
from vehicle_mw.demo.summary import LiveSummary, Snapshot, describe
from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.pki import make_ca, make_server_cert, make_vehicle_cert
from vehicle_mw.manifest.gateway import GatewayConfig, GatewayTls
from vehicle_mw.runtime import VehicleRuntime

DEMO_OPERATOR = "demo"
DRAIN_S = 30.0
log = logging.getLogger("vehicle_mw.demo")


@dataclass(frozen=True)
class DemoOptions:
    workdir: pathlib.Path
    duration_s: float | None = None
    speed: float = 1.0
    http_port: int = 7400
    tls: bool = True
    quiet: bool = False
    script: ImpairmentScript = ImpairmentScript()
    deployment: str = "vmw-demo"  # ring names /vmw.<deployment>.*: one demo per name at a time


@dataclass(frozen=True)
class DemoReport:
    frames: int
    samples: int
    acked_seq: int
    stored_samples: int
    transport: str | None
    switches: tuple[SwitchEvent, ...]
    dashboard_url: str
    database: pathlib.Path
    machine_manifest: pathlib.Path
    channel_manifest: pathlib.Path


def _pki(workdir: pathlib.Path) -> pathlib.Path:
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


def _fresh_start(workdir: pathlib.Path) -> None:
    """Each run replays the trace from its start: the previous run's outbox, counters and database go
    (a kept outbox would see the new run's frames as repeats; the PKI is kept)."""
    for name in ("outbox", "state"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    for db in workdir.glob("gateway.sqlite*"):
        db.unlink()


def _demo_login(database: str) -> str:
    """The demo's admin operator with a fresh password (new each run, printed with the dashboard
    URL), created before the gateway starts so its dashboard has an operator from the first moment."""
    from vehicle_mw.gateway.operators import OperatorStore, Role

    password = secrets.token_urlsafe(12)
    with OperatorStore(database) as store:
        if store.get(DEMO_OPERATOR) is None:
            store.add(DEMO_OPERATOR, Role.ADMIN, password)
        else:
            store.set_password(DEMO_OPERATOR, password)
    return password


async def run_demo(opts: DemoOptions, stop: asyncio.Event | None = None) -> DemoReport:
    """Run until ``stop`` is set, SIGINT/SIGTERM, or ``duration_s`` elapses; then drain and stop."""
    opts.workdir.mkdir(parents=True, exist_ok=True)
    _fresh_start(opts.workdir)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if opts.tls and shutil.which("openssl") is None:
        log.warning("the openssl command is missing: running the demo without TLS")
        opts = dataclasses.replace(opts, tls=False)
    gw_cfg = _gateway_config(opts)
    password = _demo_login(gw_cfg.database)
    async with Gateway(gw_cfg) as gateway, proxied_links(gateway.grpc_target, gateway.ws_url) as links:
        summary = LiveSummary(f"{gateway.http_url}/", quiet=opts.quiet)
        machine = write(
            opts.workdir / "machine.yaml", machine_manifest(opts.deployment, opts.speed), "machine manifest"
        )
        channel = write(
            opts.workdir / "channel.yaml",
            channel_manifest(links.grpc_target, links.websocket_url, opts.tls),
            "channel manifest",
        )
        runtime = VehicleRuntime.from_manifests(machine, channel)
        summary.note(f"dashboard  {gateway.http_url}/")
        summary.note(f"login      user {DEMO_OPERATOR}  password {password}")
        summary.note(
            f"gateway    grpc {gateway.grpc_target}  websocket {gateway.ws_url}  api {gateway.http_url}/docs"
        )
        summary.note(
            f"links      grpc via proxy {links.grpc_target}  websocket via proxy {links.websocket_url}"
        )
        summary.note(
            f"vehicle    runtime from {machine} + {channel.name}: replaying {TRACE.name} "
            f"with {len(runtime.catalog)} signals from {DBC.name}"
        )
        switch_log: list[SwitchEvent] = []

        def on_switch(ev: SwitchEvent) -> None:
            switch_log.append(ev)
            summary.note(f"link       {describe(ev)}")

        await asyncio.to_thread(runtime.start)
        uplink = runtime.stage("uplink").uplink
        assert uplink is not None
        uplink.add_switch_listener(on_switch)
        started = time.monotonic()
        script = None
        if opts.script.fits(opts.duration_s):
            script = asyncio.create_task(
                run_script(opts.script, links.grpc, lambda: uplink.active, summary.note)
            )
        elif opts.script.at_s is not None:
            summary.note("script     skipped: the run is too short to show the switch and the way back")

        def snapshot() -> Snapshot:
            state = gateway.core.vehicles.get(VEHICLE_ID)
            return Snapshot(
                elapsed_s=time.monotonic() - started,
                counters=runtime.counters(),
                stored_samples=state.samples_stored if state else 0,
                switch_log=tuple(switch_log),
            )

        try:
            with summary.live(snapshot):
                deadline = None if opts.duration_s is None else started + opts.duration_s
                while not stop.is_set():
                    if runtime.error is not None:
                        raise runtime.error
                    timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout)
                    if deadline is not None and time.monotonic() >= deadline:
                        break
            summary.note("stopping: draining the rings and the outbox ...")
            if script is not None:
                script.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await script
            final_counters = await asyncio.to_thread(_stop_and_count, runtime)
            await _wait_stored(gateway, final_counters)
        except BaseException:
            await asyncio.to_thread(runtime.stop, 2.0)
            raise
        state = gateway.core.vehicles.get(VEHICLE_ID)
        final = Snapshot(
            time.monotonic() - started,
            final_counters,
            state.samples_stored if state else 0,
            tuple(switch_log),
        )
        summary.final(final)
        u = final_counters.get("uplink", {})
        return DemoReport(
            frames=final.frames,
            samples=final.samples,
            acked_seq=int(u.get("acked_seq", 0)),
            stored_samples=final.stored_samples,
            transport=final.transport,
            switches=tuple(switch_log),
            dashboard_url=f"{gateway.http_url}/",
            database=pathlib.Path(gw_cfg.database),
            machine_manifest=machine,
            channel_manifest=channel,
        )


def _stop_and_count(runtime: VehicleRuntime) -> dict:
    """Stop the runtime (it drains rings and outbox) and return its counters taken after the drain."""
    runtime.stop(DRAIN_S)
    return runtime.final_counters


async def _wait_stored(gateway: Gateway, counters: dict, timeout: float = 10.0) -> None:
    """The gateway stores acknowledged batches asynchronously: wait (bounded) until it has them all."""
    want = int(counters.get("uplink", {}).get("samples_stored", 0))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = gateway.core.vehicles.get(VEHICLE_ID)
        if state is not None and state.samples_stored >= want:
            return
        await asyncio.sleep(0.05)


__all__ = ["DBC", "TRACE", "VEHICLE_ID", "DemoOptions", "DemoReport", "run_demo"]

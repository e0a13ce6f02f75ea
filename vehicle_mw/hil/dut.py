"""The device under test: the vehicle_mw runtime on the bench buses, optionally up to a gateway.

CAN ingest (one reader per bus) -> native decoder -> samples. Every frame and sample is also
kept here as evidence for the assertions. With ``uplink`` the samples go into a durable outbox
that the negotiating channel drains, over two :class:`LinkProxy` (gRPC, WebSocket) that the
scenario impairs, into a local gateway on SQLite.
"""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
import threading

import numpy as np

from vehicle_mw.can import CallbackSink, CanIngest
from vehicle_mw.hil.link_proxy import LinkProxy
from vehicle_mw.manifest.can import CanBus
from vehicle_mw.manifest.hil import BenchConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.signals import Decoder, SignalCatalog, load_catalog

EVIDENCE_FRAME = np.dtype([("timestamp_ns", "<u8"), ("can_id", "<u4"), ("bus_id", "<u2"), ("flags", "u1")])


def bench_can_buses(bench: BenchConfig, base: pathlib.Path) -> list[CanBus]:
    """The bench buses as runtime ``CanBus`` entries (bus id = position), paths made absolute."""
    return [
        CanBus(
            name=b.name,
            interface=b.interface,
            channel=b.channel,
            bitrate=b.bitrate,
            databases=[str((base / d).resolve()) for d in b.databases],
            options=b.options,
        )
        for b in bench.buses
    ]


class RuntimeUnderTest:
    """CAN ingest + decoder on all bench buses; keeps frames and samples as evidence."""

    def __init__(self, buses: list[CanBus]):
        self.buses = buses
        self.catalog: SignalCatalog = load_catalog(buses)
        self._decoder = Decoder(self.catalog)
        self._lock = threading.Lock()
        self._frames: list[np.ndarray] = []
        self._samples: list[np.ndarray] = []
        self.sample_count = 0
        self.on_samples = None  # callable(samples) -> None, e.g. Outbox.append
        self.ingest = CanIngest(buses, CallbackSink(self._on_frames))

    def _on_frames(self, frames: np.ndarray) -> None:
        evidence = np.empty(len(frames), EVIDENCE_FRAME)
        for name in EVIDENCE_FRAME.names:
            evidence[name] = frames[name]
        with self._lock:
            samples = self._decoder.decode_array(frames)
            self._frames.append(evidence)
            if len(samples):
                self._samples.append(samples)
                self.sample_count += len(samples)
                if self.on_samples is not None:
                    self.on_samples(samples)

    def start(self, timeout: float = 5.0) -> None:
        self.ingest.start()
        for reader in self.ingest.readers:
            if not reader.wait_open(timeout):
                raise TimeoutError(f"bus {reader.cfg.name!r} did not open within {timeout} s")

    def stop(self) -> None:
        self.ingest.stop()

    def frames(self) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._frames) if self._frames else np.empty(0, EVIDENCE_FRAME)

    def samples(self) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._samples) if self._samples else np.empty(0, SAMPLE_DTYPE)

    def error_frames(self, bus_id: int) -> int:
        return self.ingest.status()[bus_id].error_frames


class UplinkRig:
    """Gateway on SQLite + one LinkProxy per transport + outbox + running Uplink."""

    def __init__(
        self, workdir: pathlib.Path, vehicle_id: str, catalog: SignalCatalog, probe_interval_s: float
    ):
        self.workdir = workdir
        self.vehicle_id = vehicle_id
        self.catalog = catalog
        self.probe_interval_s = probe_interval_s
        self.proxies: dict[str, LinkProxy] = {}
        self.appended = 0
        self.switches: list[tuple[int, str]] = []  # (time_ns, new transport)

    async def start(self) -> None:
        from vehicle_mw.channel import Uplink
        from vehicle_mw.runtime.catalog import catalog_message
        from vehicle_mw.gateway import Gateway
        from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig, PolicyConfig
        from vehicle_mw.manifest.gateway import GatewayConfig
        from vehicle_mw.store import Outbox

        self.database = self.workdir / "gateway.sqlite"
        gw_cfg = GatewayConfig(
            gateway_id="gw-hil",
            database=str(self.database),
            grpc_port=0,
            ws_port=0,
            http_port=None,
            sqlite_synchronous="normal",
            allow_anonymous=True,
        )
        gw = Gateway(gw_cfg)
        await gw.__aenter__()
        self.gateway = gw
        for name, port, seed in (("grpc", gw.grpc_port, 1), ("websocket", gw.ws_port, 2)):
            proxy = LinkProxy(gw_cfg.host, port, name=name, seed=seed)
            await proxy.start()
            self.proxies[name] = proxy
        cfg = ChannelConfig(
            vehicle_id=self.vehicle_id,
            software_version="vmw-hil",
            grpc_target=f"127.0.0.1:{self.proxies['grpc'].port}",
            websocket_url=f"ws://127.0.0.1:{self.proxies['websocket'].port}/v1/link",
            outbox=OutboxConfig(directory=str(self.workdir / "outbox"), fsync="none"),
            policy=PolicyConfig(min_dwell_s=0.5, flap_penalty_s=0.2, flap_half_life_s=5),
            probe_interval_s=self.probe_interval_s,
            backoff_initial_s=0.05,
            backoff_max_s=0.5,
            connect_timeout_s=1.0,
        )
        self.outbox = Outbox(cfg.outbox.directory, cfg.outbox)
        self.uplink = Uplink(cfg, self.outbox, catalog_message(self.catalog))
        self.uplink.add_switch_listener(self._on_switch)
        self.task = asyncio.create_task(self.uplink.run())

    def _on_switch(self, event) -> None:
        self.switches.append((int(event.ts * 1e9), event.to_transport))

    def append(self, samples: np.ndarray) -> None:
        self.outbox.append(samples)
        self.appended += len(samples)

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until data flows over the preferred transport, so every run starts from the same state."""
        prefer = self.uplink.config.policy.prefer
        return await self.uplink.wait_until(lambda: self.uplink.active == prefer, timeout)

    async def drain(self, timeout: float) -> bool:
        return await self.uplink.wait_until(lambda: self.outbox.stats().backlog_batches == 0, timeout)

    def stored(self) -> tuple[int, int]:
        """(samples stored, distinct samples stored) for this vehicle at the gateway."""
        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            row = db.execute(
                "SELECT COUNT(*), COUNT(DISTINCT printf('%d/%d/%d', s.source_id, s.source_seq, s.signal_id)) "
                "FROM samples s JOIN vehicles v ON v.key = s.vehicle_key WHERE v.vehicle_id = ?",
                (self.vehicle_id,),
            ).fetchone()
        finally:
            db.close()
        return int(row[0]), int(row[1])

    async def close(self) -> None:
        """Tear down whatever :meth:`start` got to (it may have failed half-way)."""
        if hasattr(self, "task"):
            self.uplink.stop()
            await asyncio.wait_for(self.task, 10)
        for proxy in self.proxies.values():
            await proxy.stop()
        if hasattr(self, "gateway"):
            await self.gateway.__aexit__(None, None, None)
        if hasattr(self, "outbox"):
            self.outbox.close()


__all__ = ["EVIDENCE_FRAME", "RuntimeUnderTest", "UplinkRig", "bench_can_buses"]

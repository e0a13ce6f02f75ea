"""The device under test: the shipping vehicle runtime (``vehicle_mw.runtime``) on the bench buses.

The bench's buses become a machine manifest, its ``dut`` section a channel manifest whose gRPC and
WebSocket targets are two :class:`LinkProxy` (the scenario impairs them) in front of a local
gateway on SQLite; ``VehicleRuntime.from_manifests`` builds the DUT from them -- bus readers ->
frame rings -> native decoder -> sample rings -> durable outbox -> uplink, exactly what a vehicle
runs. The verdicts' evidence comes from that runtime, not from a second decode path: the samples
are the ones the gateway stored, the frames are the decoded frames those samples came from (one
per bus and source sequence, with its receive time and CAN id), the counts are the runtime's.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pathlib
import sqlite3
import time
from typing import Any

import numpy as np

from vehicle_mw.hil.link_proxy import LinkProxy
from vehicle_mw.manifest.can import CanBus
from vehicle_mw.manifest.hil import BenchConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.native.records import VALUE_F64 as _F64
from vehicle_mw.runtime import VehicleRuntime
from vehicle_mw.runtime.manifest_writer import write_manifest


def _write(path: pathlib.Path, doc: dict[str, Any], what: str) -> pathlib.Path:
    return write_manifest(path, doc, what, written_by="`vmw hil run`", docs="docs/hil.md, docs/deployment.md")


EVIDENCE_FRAME = np.dtype([("timestamp_ns", "<u8"), ("can_id", "<u4"), ("bus_id", "<u2"), ("flags", "u1")])
_RUNS = itertools.count()


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


def machine_manifest(buses: list[CanBus], deployment: str) -> dict[str, Any]:
    return {
        "name": deployment,
        "function_groups": [{"name": "Telematics", "states": ["Off", "Driving"], "initial": "Driving"}],
        "can": [b.model_dump(exclude_none=True, exclude_defaults=True) | {"name": b.name} for b in buses],
        "runtime": {"deployment": deployment, "channel": "channel.yaml", "state_dir": "state"},
    }


def channel_manifest(
    vehicle_id: str, grpc_port: int, ws_port: int, probe_interval_s: float
) -> dict[str, Any]:
    """Fast policy and reconnects, so a scenario of seconds sees switches and recoveries."""
    return {
        "vehicle_id": vehicle_id,
        "software_version": "vmw-hil",
        "grpc_target": f"127.0.0.1:{grpc_port}",
        "websocket_url": f"ws://127.0.0.1:{ws_port}/v1/link",
        "outbox": {"directory": "outbox", "fsync": "none"},
        "policy": {"min_dwell_s": 0.5, "flap_penalty_s": 0.2, "flap_half_life_s": 5},
        "probe_interval_s": probe_interval_s,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "connect_timeout_s": 1.0,
    }


class RuntimeUnderTest:
    """Gateway + one LinkProxy per transport + the vehicle runtime built from manifests."""

    def __init__(self, buses: list[CanBus], workdir: pathlib.Path, vehicle_id: str, probe_interval_s: float):
        self.buses = buses
        self.workdir = workdir
        self.vehicle_id = vehicle_id
        self.probe_interval_s = probe_interval_s
        self.proxies: dict[str, LinkProxy] = {}
        self.switches: list[tuple[int, str]] = []  # (time_ns, new transport)
        self.runtime: VehicleRuntime | None = None
        self.final: dict[str, dict[str, Any]] = {}
        self.database = workdir / "gateway.sqlite"
        self.deployment = f"hil-{os.getpid()}-{next(_RUNS)}"
        folder = workdir / "vehicle"
        folder.mkdir(parents=True, exist_ok=True)
        self.machine = _write(
            folder / "machine.yaml", machine_manifest(buses, self.deployment), "HIL DUT machine"
        )
        self.channel = folder / "channel.yaml"

    @property
    def catalog(self):
        if self.runtime is None:
            from vehicle_mw.signals import load_catalog

            return load_catalog(self.buses)
        return self.runtime.catalog

    async def start(self, open_timeout: float = 5.0, connect_timeout: float = 10.0) -> None:
        from vehicle_mw.gateway import Gateway
        from vehicle_mw.manifest.gateway import GatewayConfig

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
        doc = channel_manifest(
            self.vehicle_id, self.proxies["grpc"].port, self.proxies["websocket"].port, self.probe_interval_s
        )
        _write(self.channel, doc, "HIL DUT channel")
        self.runtime = VehicleRuntime.from_manifests(self.machine, self.channel)
        await asyncio.to_thread(self.runtime.start)
        uplink = self.runtime.stage("uplink").uplink
        assert uplink is not None
        uplink.add_switch_listener(self._on_switch)
        self.uplink = uplink
        names = [b.name for b in self.buses]
        if not await asyncio.to_thread(
            self.runtime.wait_for,
            lambda c: all(c["can"]["buses"][n]["state"] == "up" for n in names),
            open_timeout,
        ):
            raise TimeoutError(f"bench buses {names} did not open within {open_timeout} s")

    def _on_switch(self, event) -> None:
        self.switches.append((int(event.ts * 1e9), event.to_transport))

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until data flows over the preferred transport, so every run starts from the same state."""
        prefer = self.uplink.config.policy.prefer
        return await self.uplink.wait_until(lambda: self.uplink.active == prefer, timeout)

    async def stop(self, drain_s: float = 15.0) -> bool:
        """Stop the runtime (producers first, rings and outbox drained to the gateway, bounded by
        ``drain_s``); True when everything appended was acknowledged and stored."""
        assert self.runtime is not None
        await asyncio.to_thread(self.runtime.stop, drain_s)
        self.final = self.runtime.final_counters
        u = self.final.get("uplink", {})
        drained = u.get("acked_seq", 0) >= u.get("high_seq", 0)
        deadline = time.monotonic() + 5.0
        while self.stored()[0] < self.appended and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the gateway writes acknowledged batches asynchronously
        return drained and self.stored()[0] >= self.appended

    def counters(self) -> dict[str, dict[str, Any]]:
        """The runtime's counters (live while running, the final ones after stop)."""
        if self.runtime is not None and not self.final:
            return self.runtime.counters()
        return self.final

    @property
    def appended(self) -> int:
        return int(self.counters().get("uplink", {}).get("samples_stored", 0))

    def frames_ingested(self) -> int:
        return sum(int(b.get("frames", 0)) for b in self.counters().get("can", {}).get("buses", {}).values())

    def error_frames(self, bus_id: int) -> int:
        return int(self.counters()["can"]["buses"][self.buses[bus_id].name].get("error_frames", 0))

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    _MINE = "FROM samples s JOIN vehicles v ON v.key = s.vehicle_key WHERE v.vehicle_id = ?"

    def samples(self) -> np.ndarray:
        """The samples the gateway stored for this vehicle (the runtime's output, after the uplink)."""
        rows = self._query(
            f"SELECT s.ts_ns, s.source_seq, s.signal_id, s.source_id, s.value {self._MINE} ORDER BY s.ts_ns",
            (self.vehicle_id,),
        )
        out = np.zeros(len(rows), SAMPLE_DTYPE)
        if rows:
            cols = list(zip(*rows, strict=True))
            for name, col in zip(
                ("timestamp_ns", "source_seq", "signal_id", "source_id", "value"), cols, strict=True
            ):
                out[name] = col
            out["kind"] = _F64  # stored as REAL: the value is a float whatever its CAN kind
        return out

    def frames(self) -> np.ndarray:
        """One record per decoded frame: (bus = source_id, source_seq) with its time and CAN id."""
        frame_of = {s.id: s.frame_id for s in self.catalog.signals}
        rows = self._query(
            f"SELECT s.source_id, s.source_seq, MIN(s.ts_ns), MIN(s.signal_id) {self._MINE} "
            "GROUP BY s.source_id, s.source_seq ORDER BY 3",
            (self.vehicle_id,),
        )
        out = np.zeros(len(rows), EVIDENCE_FRAME)
        for i, (bus, _seq, ts, sig) in enumerate(rows):
            out[i] = (ts, frame_of.get(sig, 0), bus, 0)
        return out

    def stored(self) -> tuple[int, int]:
        """(samples stored, distinct samples stored) for this vehicle at the gateway."""
        row = self._query(
            f"SELECT COUNT(*), COUNT(DISTINCT printf('%d/%d/%d', s.source_id, s.source_seq, s.signal_id)) "
            f"{self._MINE}",
            (self.vehicle_id,),
        )[0]
        return int(row[0]), int(row[1])

    async def close(self) -> None:
        """Tear down whatever :meth:`start` got to (it may have failed half-way)."""
        if self.runtime is not None and not self.final:
            await asyncio.to_thread(self.runtime.stop, 2.0)
            self.final = self.runtime.final_counters
        for proxy in self.proxies.values():
            await proxy.stop()
        if hasattr(self, "gateway"):
            await self.gateway.__aexit__(None, None, None)


__all__ = ["EVIDENCE_FRAME", "RuntimeUnderTest", "bench_can_buses"]

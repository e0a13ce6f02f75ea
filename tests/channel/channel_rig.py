"""A vehicle and a gateway wired through two impairment proxies, for end-to-end channel tests."""

from __future__ import annotations

import asyncio
import pathlib
from dataclasses import dataclass, field

import numpy as np
from mini_gateway import MiniGateway

from vehicle_mw.channel import Uplink
from vehicle_mw.hil import LinkProxy
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig, PolicyConfig
from vehicle_mw.native.records import SAMPLE_DTYPE, VALUE_BOOL, VALUE_F64, VALUE_I64, VALUE_U64
from vehicle_mw.store import Outbox

VEHICLE = "VIN-TEST-0001"


def make_samples(start: int, n: int) -> np.ndarray:
    """n samples with unique source_seq start..start+n-1 (the identity checked at the gateway)."""
    s = np.zeros(n, SAMPLE_DTYPE)
    s["source_seq"] = np.arange(start, start + n, dtype=np.uint64)
    s["signal_id"] = s["source_seq"] % 7
    s["timestamp_ns"] = 1_700_000_000_000_000_000 + s["source_seq"] * 1000
    s["value"] = s["source_seq"] * 0.5
    return s


def mixed_samples() -> np.ndarray:
    s = np.zeros(5, SAMPLE_DTYPE)
    s["signal_id"] = [1, 2, 3, 4, 5]
    s["source_seq"] = [10, 11, 12, 13, 2**63 + 5]
    s["timestamp_ns"] = 1_700_000_000_123_456_789
    s["kind"] = [VALUE_F64, VALUE_I64, VALUE_U64, VALUE_BOOL, VALUE_F64]
    s["value"][0] = 3.25
    s["value"][4] = -0.5
    s["value"].view("<i8")[1] = -(2**62) - 3
    s["value"].view("<u8")[2] = 2**64 - 7
    s["value"].view("<i8")[3] = 1
    return s


@dataclass
class Rig:
    """Gateway + proxies + outbox + running Uplink; ``await rig.close()`` tears all down."""

    gateway: MiniGateway
    proxies: dict[str, LinkProxy]
    outbox: Outbox
    uplink: Uplink
    task: asyncio.Task
    appended: int = 0
    extra: dict = field(default_factory=dict)

    def feed(self, n: int) -> None:
        self.outbox.append(make_samples(self.appended, n))
        self.appended += n

    async def drained(self, timeout: float) -> bool:
        return await self.uplink.wait_until(lambda: self.outbox.stats().backlog_batches == 0, timeout)

    async def close(self) -> None:
        self.uplink.stop()
        await asyncio.wait_for(self.task, 10)
        for p in self.proxies.values():
            await p.stop()
        await self.gateway.stop()
        self.outbox.close()


async def start_rig(tmp: pathlib.Path, policy: PolicyConfig | None = None, **config: object) -> Rig:
    gw = MiniGateway(str(tmp / "gateway.db"))
    await gw.start()
    pg = LinkProxy("127.0.0.1", gw.grpc_port, name="grpc", seed=1)
    pw = LinkProxy("127.0.0.1", gw.ws_port, name="websocket", seed=2)
    await pg.start()
    await pw.start()
    settings: dict = {
        "vehicle_id": VEHICLE,
        "grpc_target": f"127.0.0.1:{pg.port}",
        "websocket_url": f"ws://127.0.0.1:{pw.port}/v1/link",
        "outbox": OutboxConfig(directory=str(tmp / "outbox"), fsync="none", max_batch_samples=64),
        "policy": policy or PolicyConfig(min_dwell_s=0.5, flap_penalty_s=0.2, flap_half_life_s=5),
        "probe_interval_s": 0.1,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "connect_timeout_s": 1.0,
    }
    settings.update(config)
    cfg = ChannelConfig(**settings)
    outbox = Outbox(cfg.outbox.directory, cfg.outbox)
    uplink = Uplink(cfg, outbox)
    task = asyncio.create_task(uplink.run())
    return Rig(gw, {"grpc": pg, "websocket": pw}, outbox, uplink, task)


def assert_exactly_once(rig: Rig) -> None:
    stored = rig.gateway.stored_samples(VEHICLE)
    seqs = np.sort(stored["source_seq"])
    assert len(seqs) == rig.appended, f"stored {len(seqs)} samples, appended {rig.appended}"
    assert np.array_equal(seqs, np.arange(rig.appended, dtype=np.uint64)), "lost or duplicated samples"

"""Several ready batches in one message, only to a gateway that advertises it; exactly once either way."""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3

import numpy as np
import pytest
from channel_rig import make_samples
from mini_gateway import MiniGateway

from vehicle_mw.channel import Uplink
from vehicle_mw.gateway import Gateway
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig
from vehicle_mw.manifest.gateway import GatewayConfig
from vehicle_mw.store import Outbox

BATCH = 256
BATCHES = 40


def _uplink(tmp: pathlib.Path, url: str, **kwargs) -> tuple[Outbox, Uplink]:
    cfg = ChannelConfig(
        vehicle_id="VIN-BUNDLES",
        websocket_url=url,
        outbox=OutboxConfig(directory=str(tmp / "outbox"), fsync="none", max_batch_samples=BATCH),
        max_inflight_batches=16,
    )
    box = Outbox(cfg.outbox.directory, cfg.outbox)
    box.append(make_samples(0, BATCH * BATCHES))  # a backlog: many batches ready at once
    return box, Uplink(cfg, box, **kwargs)


async def _drain(gw: MiniGateway, tmp: pathlib.Path, **kwargs) -> Uplink:
    box, up = _uplink(tmp, f"ws://127.0.0.1:{gw.ws_port}/v1/link", **kwargs)
    task = asyncio.create_task(up.run())
    try:
        assert await up.wait_until(lambda: up.backlog == 0, 20), f"backlog {up.backlog} left"
    finally:
        up.stop()
        await task
        box.close()
    stored = gw.stored_samples("VIN-BUNDLES")
    assert np.array_equal(stored["source_seq"], np.arange(BATCH * BATCHES)), "not exactly once, in order"
    assert gw.stats.malformed == 0 and gw.stats.duplicates == 0
    return up


@pytest.mark.parametrize(
    ("advertised", "max_bytes", "kwargs", "bundled"),
    [
        (64, 1 << 20, {}, True),
        (0, 1 << 20, {}, False),  # a gateway from before SampleBatches gets one batch per message
        (64, 1 << 20, {"bundle_bytes": 0}, False),  # bundling off on the vehicle
        (3, 1 << 20, {}, True),  # never more batches than advertised
        (64, 24 * 1024, {}, True),  # nor more bytes than the gateway's message limit
    ],
)
def test_backlog_goes_in_bundles_only_where_accepted(tmp_path, advertised, max_bytes, kwargs, bundled):
    async def scenario() -> None:
        gw = MiniGateway(
            str(tmp_path / "gw.db"), max_message_bytes=max_bytes, max_batches_per_message=advertised
        )
        await gw.start()
        try:
            up = await _drain(gw, tmp_path, **kwargs)
        finally:
            await gw.stop()
        assert up.batches_sent >= BATCHES
        if bundled:
            assert gw.stats.bundles > 0 and up.messages_sent < up.batches_sent, (up.messages_sent, gw.stats)
            # the smallest bound on a bundle (count, or bytes of ~5 KB batches) sets the fewest messages
            per = min(advertised, max_bytes // 5200)
            assert up.messages_sent >= BATCHES // per
        else:
            assert gw.stats.bundles == 0 and up.messages_sent == up.batches_sent

    asyncio.run(scenario())


def test_bundles_reach_the_real_gateway_exactly_once(tmp_path):
    cfg = GatewayConfig.model_validate(
        dict(
            database=str(tmp_path / "gw.sqlite"),
            grpc_port=0,
            ws_port=0,
            http_port=0,
            sqlite_synchronous="normal",
            allow_anonymous=True,
        )
    )

    async def scenario() -> int:
        async with Gateway(cfg) as gw:
            box, up = _uplink(tmp_path, gw.ws_url)
            task = asyncio.create_task(up.run())
            try:
                assert await up.wait_until(lambda: up.backlog == 0, 20), f"backlog {up.backlog} left"
            finally:
                up.stop()
                await task
                box.close()
            assert up.messages_sent < up.batches_sent
        conn = sqlite3.connect(cfg.database)
        try:
            return [r[0] for r in conn.execute("SELECT source_seq FROM samples ORDER BY source_seq")]
        finally:
            conn.close()

    assert asyncio.run(scenario()) == list(range(BATCH * BATCHES))

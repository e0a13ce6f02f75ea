"""Malformed and oversized frames: a clear error, and the session survives or closes cleanly."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from channel_rig import VEHICLE
from mini_gateway import MiniGateway
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from vehicle_mw.channel import PROTOCOL_VERSION, Uplink
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig
from vehicle_mw.store import Outbox
from vehicle_mw.v1 import link_pb2, link_pb2_grpc


def hello() -> bytes:
    up = link_pb2.Uplink()
    up.hello.protocol_version = PROTOCOL_VERSION
    up.hello.vehicle_id = VEHICLE
    return up.SerializeToString()


def probe(i: int) -> bytes:
    up = link_pb2.Uplink()
    up.probe.id = i
    return up.SerializeToString()


async def _ws_gateway_rejects_bad_frames(tmp_path) -> None:
    gw = MiniGateway(str(tmp_path / "gw.db"), max_message_bytes=64 * 1024)
    await gw.start()
    try:
        async with connect(f"ws://127.0.0.1:{gw.ws_port}/v1/link", max_size=1 << 20) as ws:
            await ws.send(hello())
            assert link_pb2.Downlink.FromString(await ws.recv()).WhichOneof("msg") == "welcome"
            for bad, needle in (
                (b"\xff\xff\xff\xff", "not a Uplink"),
                ("text", "text frame"),
                (b"", "no message"),
            ):
                await ws.send(bad)
                err = link_pb2.Downlink.FromString(await ws.recv())
                assert err.error.code == link_pb2.Error.MALFORMED and needle in err.error.message
            await ws.send(probe(42))  # the session survived
            assert link_pb2.Downlink.FromString(await ws.recv()).echo.id == 42
            await ws.send(b"\0" * (65 * 1024))  # beyond max_size: closed cleanly with 1009
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert gw.stats.malformed == 3
    finally:
        await gw.stop()


def test_websocket_gateway_rejects_malformed_and_oversized_frames(tmp_path):
    asyncio.run(_ws_gateway_rejects_bad_frames(tmp_path))


async def _grpc_oversized(tmp_path) -> None:
    gw = MiniGateway(str(tmp_path / "gw.db"), max_message_bytes=64 * 1024)
    await gw.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.grpc_port}") as channel:
            call = link_pb2_grpc.VehicleLinkStub(channel).Session()
            await call.write(link_pb2.Uplink.FromString(hello()))
            assert (await call.read()).WhichOneof("msg") == "welcome"
            await call.write(link_pb2.Uplink(probe=link_pb2.Probe(id=1)))
            assert (await call.read()).echo.id == 1
            big = link_pb2.Uplink()
            big.batch.seq = 1
            big.batch.compressed_columns = b"\0" * (128 * 1024)
            big.batch.compression = link_pb2.COMPRESSION_ZLIB
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call.write(big)
                await call.read()
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await gw.stop()


def test_grpc_gateway_refuses_oversized_message_with_resource_exhausted(tmp_path):
    asyncio.run(_grpc_oversized(tmp_path))


async def _hostile_gateway(tmp_path) -> None:
    """A WebSocket 'gateway' answering Hello with a Welcome, then garbage."""
    sessions = 0

    async def handler(ws):
        nonlocal sessions
        sessions += 1
        await ws.recv()
        down = link_pb2.Downlink()
        down.welcome.protocol_version = PROTOCOL_VERSION
        await ws.send(down.SerializeToString())
        await ws.send(b"\xff\xfe\xfd")
        await ws.wait_closed()

    server = await serve(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = ChannelConfig(
        vehicle_id=VEHICLE,
        websocket_url=f"ws://127.0.0.1:{port}/v1/link",
        outbox=OutboxConfig(directory=str(tmp_path / "ob"), fsync="none"),
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
    )
    box = Outbox(cfg.outbox.directory, cfg.outbox)
    up = Uplink(cfg, box)
    task = asyncio.create_task(up.run())
    try:
        link = up.sessions["websocket"]
        assert await up.wait_until(lambda: link.connects >= 3, 15)  # dropped and reconnected, no crash
        assert "not a Downlink" in link.last_error
        assert not task.done()
    finally:
        up.stop()
        await task
        server.close()
        box.close()


def test_vehicle_drops_a_session_that_sends_garbage_and_reconnects(tmp_path):
    asyncio.run(_hostile_gateway(tmp_path))

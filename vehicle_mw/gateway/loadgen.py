"""Minimal simulated vehicles speaking the link protocol, for tests, load tests and benchmarks.

Not the vehicle runtime (that is ``vehicle_mw.channel``): no outbox, no negotiation. Each client
sends Hello, waits for Welcome, then lets the caller send Uplinks and read Downlinks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid

import grpc
from grpc import aio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from vehicle_mw.v1 import link_pb2

SESSION_METHOD = "/vehicle_mw.v1.VehicleLink/Session"


def hello(
    vehicle_id: str,
    token: str = "",
    resume_after_seq: int = 0,
    catalog_hash: bytes = b"",
    transport: str = "websocket",
    version: int = link_pb2.PROTOCOL_VERSION_CURRENT,
) -> link_pb2.Uplink:
    """A Hello envelope."""
    return link_pb2.Uplink(
        hello=link_pb2.Hello(
            protocol_version=version,
            vehicle_id=vehicle_id,
            software_version="loadgen",
            catalog_hash=catalog_hash,
            resume_after_seq=resume_after_seq,
            session_id=uuid.uuid4().hex,
            transport=transport,
            auth_token=token,
        )
    )


def batch(
    seq: int,
    signal_ids: list[int],
    values: list[float],
    source_seq: list[int],
    ts_ns: list[int] | None = None,
    source_id: int = 1,
) -> link_pb2.Uplink:
    """A SampleBatch envelope with uncompressed columns."""
    n = len(signal_ids)
    now = time.time_ns()
    cols = link_pb2.SampleColumns(
        signal_id=signal_ids,
        source_id=[source_id] * n,
        source_ts_ns=ts_ns or [now] * n,
        source_seq=source_seq,
        value=values,
    )
    return link_pb2.Uplink(batch=link_pb2.SampleBatch(seq=seq, created_ns=now, columns=cols))


class SimVehicle:
    """Common part of the WebSocket and gRPC clients."""

    welcome: link_pb2.Welcome | None = None

    async def send(self, up: link_pb2.Uplink) -> None:
        await self.send_raw(up.SerializeToString())

    async def send_raw(self, data: bytes) -> None:
        raise NotImplementedError

    async def recv(self, timeout: float = 10.0) -> link_pb2.Downlink | None:
        """The next Downlink, or None when the gateway closed the connection."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def done_writing(self) -> None:
        """Half-close (gRPC); nothing to do on WebSocket."""

    async def open(self, up: link_pb2.Uplink, timeout: float = 10.0) -> link_pb2.Downlink | None:
        """Send Hello; return the first Downlink (Welcome, or the Error refusing us)."""
        await self.send(up)
        first = await self.recv(timeout)
        if first is not None and first.WhichOneof("msg") == "welcome":
            self.welcome = first.welcome
        return first

    async def next(self, timeout: float = 10.0) -> link_pb2.Downlink | None:
        """The next Downlink that is not a Probe (probes are answered with an Echo)."""
        while True:
            down = await self.recv(timeout)
            if down is None or down.WhichOneof("msg") != "probe":
                return down
            await self.send(link_pb2.Uplink(echo=link_pb2.Echo(id=down.probe.id, sent_ns=down.probe.sent_ns)))

    async def wait_ack(self, seq: int, timeout: float = 10.0) -> int:
        """Read Downlinks until an Ack covers ``seq`` (answers probes and ignores the rest)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            down = await self.recv(max(0.0, deadline - loop.time()))
            if down is None:
                raise ConnectionError("gateway closed the connection before the ack")
            kind = down.WhichOneof("msg")
            if kind == "ack" and down.ack.acked_seq >= seq:
                return down.ack.acked_seq
            if kind == "error":
                raise ConnectionError(f"gateway error {down.error.code}: {down.error.message}")
            if kind == "probe":
                await self.send(
                    link_pb2.Uplink(echo=link_pb2.Echo(id=down.probe.id, sent_ns=down.probe.sent_ns))
                )


class WsVehicle(SimVehicle):
    """A vehicle over WebSocket."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws

    @classmethod
    async def connect(cls, url: str, ssl_ctx: ssl.SSLContext | None = None) -> WsVehicle:
        ws = await connect(
            url, ssl=ssl_ctx, max_size=None, compression=None, open_timeout=30, ping_interval=None
        )
        return cls(ws)

    async def send_raw(self, data: bytes) -> None:
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            raise ConnectionError(f"gateway connection closed: {exc}") from None

    async def recv(self, timeout: float = 10.0) -> link_pb2.Downlink | None:
        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed:
            return None
        return link_pb2.Downlink.FromString(data)

    async def close(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.close()


class GrpcVehicle(SimVehicle):
    """A vehicle over a gRPC bidirectional stream."""

    def __init__(self, channel: aio.Channel):
        self.channel = channel
        self.call = channel.stream_stream(SESSION_METHOD)()

    @classmethod
    async def connect(
        cls, target: str, credentials: grpc.ChannelCredentials | None = None, server_name: str | None = None
    ) -> GrpcVehicle:
        opts = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        if credentials is None:
            channel = aio.insecure_channel(target, options=opts)
        else:
            channel = aio.secure_channel(target, credentials, options=opts)
        return cls(channel)

    async def send_raw(self, data: bytes) -> None:
        try:
            await self.call.write(data)
        except aio.AioRpcError:
            if not self.call.done():
                raise
            # the gateway already ended the stream (e.g. after an Error): reads tell why

    async def recv(self, timeout: float = 10.0) -> link_pb2.Downlink | None:
        try:
            data = await asyncio.wait_for(self.call.read(), timeout)
        except aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL):
                return None
            raise
        if data is aio.EOF:
            return None
        return link_pb2.Downlink.FromString(data)

    async def done_writing(self) -> None:
        with contextlib.suppress(aio.AioRpcError):
            await self.call.done_writing()

    async def close(self) -> None:
        try:
            await self.call.done_writing()
        except Exception:  # noqa: BLE001 - the stream may already be gone
            pass
        self.call.cancel()
        await self.channel.close()


__all__ = ["GrpcVehicle", "SimVehicle", "WsVehicle", "batch", "hello"]

"""WebSocket endpoint ``/v1/link``: one serialized Uplink / Downlink per binary frame."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from vehicle_mw.gateway.core import GatewayCore
from vehicle_mw.gateway.identity import names_from_peercert
from vehicle_mw.gateway.session import LinkSession, ProtocolViolation
from vehicle_mw.v1 import link_pb2

PATH = "/v1/link"


async def _frames(ws: ServerConnection) -> AsyncIterator[bytes]:
    try:
        async for frame in ws:
            if isinstance(frame, str):
                raise ProtocolViolation(link_pb2.Error.MALFORMED, "text frame; the link uses binary frames")
            yield frame
    except ConnectionClosed:
        return


async def _discard(ws: ServerConnection) -> None:
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


async def _writer(ws: ServerConnection, out: asyncio.Queue) -> None:
    try:
        while (data := await out.get()) is not None:
            await ws.send(data)
    except ConnectionClosed:
        pass


def _only_link_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path != PATH:
        return connection.respond(404, f"the vehicle link is at {PATH}\n")
    return None


async def serve_websocket(core: GatewayCore, host: str, port: int, ssl_ctx: ssl.SSLContext | None) -> Server:
    """Start the WebSocket endpoint; the returned server's sockets tell the bound port."""
    limits = core.config.limits

    async def handler(ws: ServerConnection) -> None:
        sslobj = ws.transport.get_extra_info("ssl_object")
        names = names_from_peercert(sslobj.getpeercert()) if sslobj is not None else frozenset()
        peer = "{}:{}".format(*ws.remote_address[:2])
        out: asyncio.Queue = asyncio.Queue()
        session = LinkSession(core, "websocket", peer, names, out.put_nowait)
        writer = asyncio.create_task(_writer(ws, out))
        try:
            reason = await session.run(_frames(ws))
        finally:
            out.put_nowait(None)
            await writer
        # keep reading (and discarding) so that a flooding peer's close frame is seen promptly
        drain = asyncio.create_task(_discard(ws))
        await ws.close(1000 if reason == "peer closed" else 1008, reason[:120])
        drain.cancel()

    return await serve(
        handler,
        host,
        port,
        ssl=ssl_ctx,
        process_request=_only_link_path,
        max_size=limits.max_message_bytes * 2,
        max_queue=4,
        compression=None,
        ping_interval=20,
        ping_timeout=20,
        write_limit=64 * 1024,
    )


__all__ = ["PATH", "serve_websocket"]

"""WebSocket endpoint ``/v1/link``: one serialized Uplink / Downlink per binary frame."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from vehicle_mw.gateway.core import GatewayCore
from vehicle_mw.gateway.identity import cert_identity
from vehicle_mw.gateway.session import LinkSession, ProtocolViolation
from vehicle_mw.v1 import link_pb2

PATH = "/v1/link"
MAX_UNREAD_BYTES = 1 << 20


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


def _send_now(ws: ServerConnection, session: LinkSession, data: bytes) -> None:
    """Write one binary frame without a task or queue per connection (the downlink is small:
    Welcome, Acks, Echoes, Commands). A vehicle that stops reading is cut, not buffered forever."""
    if ws.protocol.state is not State.OPEN:
        return
    if ws.transport.get_write_buffer_size() > MAX_UNREAD_BYTES:
        session.close(f"vehicle leaves more than {MAX_UNREAD_BYTES} downlink bytes unread")
        return
    ws.protocol.send_binary(data)
    try:
        ws.send_data()
    except OSError:
        session.close("connection lost while sending")


def _allow_full_frames(ws: ServerConnection, max_size: int) -> None:
    """Authenticated: frames up to the message limit (before, only a Hello-sized frame is read, so
    an unauthenticated peer cannot make the gateway buffer a large frame)."""
    ws.protocol.max_message_size = max_size


def _only_link_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path != PATH:
        return connection.respond(404, f"the vehicle link is at {PATH}\n")
    return None


async def serve_websocket(core: GatewayCore, host: str, port: int, ssl_ctx: ssl.SSLContext | None) -> Server:
    """Start the WebSocket endpoint; the returned server's sockets tell the bound port."""
    limits = core.config.limits

    async def handler(ws: ServerConnection) -> None:
        sslobj = ws.transport.get_extra_info("ssl_object")
        cert = cert_identity(sslobj.getpeercert(binary_form=True) if sslobj is not None else None)
        peer = "{}:{}".format(*ws.remote_address[:2])
        session = LinkSession(core, "websocket", peer, cert, lambda data: _send_now(ws, session, data))
        session.on_authenticated = lambda: _allow_full_frames(ws, limits.max_message_bytes * 2)
        reason = await session.run(_frames(ws))
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
        max_size=limits.max_hello_bytes,  # raised per connection once the Hello is authenticated
        max_queue=4,
        compression=None,
        ping_interval=20,
        ping_timeout=20,
        write_limit=64 * 1024,
        open_timeout=limits.handshake_timeout_s,
        **({"ssl_handshake_timeout": limits.handshake_timeout_s} if ssl_ctx is not None else {}),
    )


__all__ = ["PATH", "serve_websocket"]

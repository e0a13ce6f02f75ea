"""gRPC endpoint: service ``vehicle_mw.v1.VehicleLink``, method ``Session`` (bidirectional stream).

Registered with raw-bytes (de)serializers so that a malformed message reaches the session, which
answers with a protocol Error instead of a bare gRPC status.

gRPC's C core accepts connections and does TLS and HTTP/2 itself: Python sees a connection only
when its first stream starts, so a gRPC connection counts among the unauthenticated ones from
its stream's start to the Welcome (WebSocket counts from accept). What bounds the part before is
gRPC's own: a TLS/HTTP/2 handshake deadline (``grpc.server_handshake_timeout_ms``), a connection
quota (``grpc.max_allowed_incoming_connections``: the descriptor limit minus headroom, so gRPC
alone cannot take the descriptors the WebSocket endpoint, SQLite and the HTTP API need), and
connections without a stream are closed after ``GRPC_IDLE_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import AsyncIterator

import grpc
from grpc import aio

from vehicle_mw.gateway.core import GatewayCore
from vehicle_mw.gateway.identity import cert_identity
from vehicle_mw.gateway.session import LinkSession

SERVICE = "vehicle_mw.v1.VehicleLink"
DRAIN_S = 1.0
FD_HEADROOM = 256  # descriptors gRPC's connection quota leaves to the rest of the process
GRPC_IDLE_S = 30.0  # a connection with no stream (a vehicle opens one at once) is closed after this


def connection_quota() -> int:
    """Most gRPC connections at once: the descriptor soft limit less :data:`FD_HEADROOM`."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, soft - FD_HEADROOM)


async def _drain(requests: AsyncIterator[bytes]) -> None:
    async for _ in requests:
        pass


async def _gated(requests: AsyncIterator[bytes], gate: asyncio.Semaphore) -> AsyncIterator[bytes]:
    """Read a stream's first message only while holding ``gate``.

    gRPC buffers a whole message once a read is pending; a stream whose first message is not
    being read stays within its HTTP/2 flow-control window (64 KiB). So at most ``gate``'s size
    unauthenticated streams can make the gateway hold a large message, however many are open.
    Waiting counts against the Hello timeout of the session."""
    it = requests.__aiter__()
    async with gate:
        try:
            first = await it.__anext__()
        except StopAsyncIteration:
            return
    yield first
    async for message in it:
        yield message


def _handler(core: GatewayCore):
    gate = asyncio.Semaphore(core.config.limits.grpc_preauth_reads)

    async def session_rpc(
        requests: AsyncIterator[bytes], context: aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        auth = context.auth_context() or {}
        cert = cert_identity(b"".join(auth.get("x509_pem_cert", [])))
        out: asyncio.Queue = asyncio.Queue()
        session = LinkSession(core, "grpc", context.peer(), cert, out.put_nowait)
        task = asyncio.create_task(session.run(_gated(requests, gate)))
        task.add_done_callback(lambda _t: out.put_nowait(None))
        try:
            while (data := await out.get()) is not None:
                yield data
            # Ended by the gateway (e.g. after an Error): let the vehicle's in-flight writes land
            # before the status, else gRPC may drop the Error we just sent.
            with contextlib.suppress(TimeoutError, grpc.RpcError):
                await asyncio.wait_for(_drain(requests), DRAIN_S)
        finally:
            if not task.done():
                session.close("stream ended")
                await asyncio.gather(task, return_exceptions=True)

    return session_rpc


async def serve_grpc(
    core: GatewayCore, host: str, port: int, credentials: grpc.ServerCredentials | None
) -> tuple[aio.Server, int]:
    """Start the gRPC endpoint; returns the server and the bound port."""
    limit = core.config.limits.max_message_bytes * 2
    server = aio.server(
        options=[
            ("grpc.so_reuseport", 0),  # a second gateway on the same port is an error, not a share
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
            # one vehicle needs one stream; thousands of idle streams on one connection are an attack
            ("grpc.max_concurrent_streams", core.config.limits.grpc_max_streams_per_connection),
            # no BDP-driven window growth: a new stream's window stays 64 KiB until its message is read,
            # so unauthenticated streams cannot push large messages the gateway has not asked for
            ("grpc.http2.bdp_probe", 0),
            ("grpc.server_handshake_timeout_ms", int(core.config.limits.handshake_timeout_s * 1000)),
            ("grpc.max_allowed_incoming_connections", connection_quota()),
            ("grpc.max_connection_idle_ms", int(max(GRPC_IDLE_S, core.config.limits.hello_timeout_s) * 1000)),
        ]
    )
    handler = grpc.stream_stream_rpc_method_handler(_handler(core))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Session": handler}),))
    address = f"{host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    return server, bound


__all__ = ["SERVICE", "connection_quota", "serve_grpc"]

"""The two ways an Uplink/Downlink stream reaches the gateway: a gRPC bidi call, a WebSocket.

Both offer the same three coroutines (``send``, ``recv``, ``close``) so everything above them
is transport-agnostic. TLS and mutual TLS come from :class:`~vehicle_mw.manifest.channel.TlsConfig`.
"""

from __future__ import annotations

import abc
import asyncio
import pathlib
import ssl

import websockets
from websockets.asyncio.client import connect as ws_connect

from vehicle_mw.channel.protocol import ProtocolError, parse_frame
from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.channel import TlsConfig
from vehicle_mw.v1 import link_pb2

GRPC = "grpc"
WEBSOCKET = "websocket"
SESSION_METHOD = "/vehicle_mw.v1.VehicleLink/Session"


class LinkClosed(VehicleMwError):
    """The transport ended (peer closed, connection lost, refused)."""


def _read(path: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise VehicleMwError(f"TLS file {path}: {exc.strerror}") from None


def client_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """Verifying client context; loads the client certificate for mutual TLS."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca_file)
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    return ctx


class Transport(abc.ABC):
    """One open Uplink/Downlink stream."""

    name: str
    peer: str

    @abc.abstractmethod
    async def send(self, message: link_pb2.Uplink | bytes) -> None:
        """Send one Uplink (a message, or its serialized bytes)."""

    @abc.abstractmethod
    async def recv(self) -> link_pb2.Downlink:
        """Next downlink message; raises LinkClosed at the end and ProtocolError on garbage."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class GrpcTransport(Transport):
    """``VehicleLink.Session`` bidirectional stream over grpcio aio."""

    name = GRPC

    def __init__(self, target: str, tls: TlsConfig | None, max_message_bytes: int) -> None:
        import grpc  # here, not at module level: a WebSocket-only vehicle never pays grpcio's ~20 MB

        self.peer = f"grpc://{target}"
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.enable_retries", 0),
            ("grpc.initial_reconnect_backoff_ms", 100),
        ]
        if tls is None:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        else:
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(tls.ca_file),
                private_key=_read(tls.key_file) if tls.key_file else None,
                certificate_chain=_read(tls.cert_file) if tls.cert_file else None,
            )
            self._channel = grpc.aio.secure_channel(target, creds, options=options)
        # requests may be pre-serialized bytes (batches from vehicle_mw.channel.wire) or messages
        self._call = self._channel.stream_stream(
            SESSION_METHOD, request_serializer=_serialize, response_deserializer=link_pb2.Downlink.FromString
        )()

    async def send(self, message: link_pb2.Uplink | bytes) -> None:
        import grpc

        try:
            await self._call.write(message)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, RuntimeError, asyncio.InvalidStateError) as exc:
            raise LinkClosed(f"{self.peer}: send failed: {_grpc_reason(exc)}") from None

    async def recv(self) -> link_pb2.Downlink:
        import grpc

        try:
            msg = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise LinkClosed(f"{self.peer}: {_grpc_reason(exc)}") from None
        if msg is grpc.aio.EOF:
            raise LinkClosed(f"{self.peer}: stream ended by the gateway")
        if msg.WhichOneof("msg") is None:
            raise ProtocolError(self.peer, "empty or unknown Downlink (no message set)")
        return msg

    async def close(self) -> None:
        self._call.cancel()
        await self._channel.close(grace=None)


def _serialize(message: link_pb2.Uplink | bytes) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


def _grpc_reason(exc: Exception) -> str:
    import grpc

    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__


class WebSocketTransport(Transport):
    """One serialized Uplink/Downlink per binary WebSocket frame."""

    name = WEBSOCKET

    def __init__(
        self, ws: websockets.asyncio.client.ClientConnection, url: str, max_message_bytes: int
    ) -> None:
        self._ws = ws
        self.peer = url
        self._max = max_message_bytes

    @classmethod
    async def connect(
        cls, url: str, tls: TlsConfig | None, max_message_bytes: int, timeout: float
    ) -> WebSocketTransport:
        kwargs: dict = {}
        if url.startswith("wss://"):
            if tls is None:
                raise VehicleMwError(f"{url}: wss:// needs a tls configuration")
            kwargs["ssl"] = client_ssl_context(tls)
            if tls.server_name:
                kwargs["server_hostname"] = tls.server_name
        try:
            ws = await ws_connect(
                url,
                max_size=max_message_bytes,
                open_timeout=timeout,
                ping_interval=None,  # the link monitor probes; keepalive pings would hide half-open links
                close_timeout=1.0,
                compression=None,
                **kwargs,
            )
        except (OSError, websockets.exceptions.WebSocketException, TimeoutError, ssl.SSLError) as exc:
            raise LinkClosed(f"{url}: connect failed: {exc}") from None
        return cls(ws, url, max_message_bytes)

    async def send(self, message: link_pb2.Uplink | bytes) -> None:
        data = message if isinstance(message, bytes) else message.SerializeToString()
        try:
            await self._ws.send(data)
        except (websockets.exceptions.ConnectionClosed, OSError) as exc:
            raise LinkClosed(f"{self.peer}: send failed: {exc}") from None

    async def recv(self) -> link_pb2.Downlink:
        try:
            data = await self._ws.recv()
        except websockets.exceptions.ConnectionClosed as exc:
            raise LinkClosed(f"{self.peer}: closed ({exc})") from None
        except OSError as exc:
            raise LinkClosed(f"{self.peer}: {exc}") from None
        return parse_frame(data, link_pb2.Downlink, self.peer, self._max)

    async def close(self) -> None:
        try:
            await self._ws.close()
        except Exception:  # noqa: BLE001 - closing a broken socket may fail in many ways; it is gone either way
            pass


__all__ = [
    "GRPC",
    "WEBSOCKET",
    "GrpcTransport",
    "LinkClosed",
    "Transport",
    "WebSocketTransport",
    "client_ssl_context",
]

"""TLS settings for the vehicle endpoints: an ``ssl`` context for WebSocket, credentials for gRPC."""

from __future__ import annotations

import pathlib
import ssl

import grpc

from vehicle_mw.gateway.errors import GatewayError
from vehicle_mw.manifest.gateway import GatewayTls


def _read(path: str, what: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise GatewayError(f"TLS {what} {path}: {exc.strerror}") from None


def server_ssl_context(tls: GatewayTls) -> ssl.SSLContext:
    """TLS 1.2+ server context; asks for client certificates when ``client_ca`` is set."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # no TLS 1.3 session tickets: vehicles' clients do not resume sessions, and each handshake would
    # encrypt and send two tickets (~16 KB more per connection while they are written, and CPU)
    ctx.num_tickets = 0
    try:
        ctx.load_cert_chain(tls.cert, tls.key)
        if tls.client_ca:
            ctx.load_verify_locations(tls.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise GatewayError(f"TLS configuration ({tls.cert}, {tls.key}, {tls.client_ca}): {exc}") from None
    return ctx


def grpc_server_credentials(tls: GatewayTls) -> grpc.ServerCredentials:
    """gRPC server credentials; mTLS only when ``require_client_cert`` (gRPC cannot ask optionally)."""
    pair = (_read(tls.key, "key"), _read(tls.cert, "certificate"))
    if tls.client_ca and tls.require_client_cert:
        return grpc.ssl_server_credentials(
            [pair], root_certificates=_read(tls.client_ca, "client CA"), require_client_auth=True
        )
    return grpc.ssl_server_credentials([pair])


__all__ = ["grpc_server_credentials", "server_ssl_context"]

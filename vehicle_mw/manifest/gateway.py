"""The fleet gateway's configuration (``vmw gateway serve --config gateway.yaml``)."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Literal

from pydantic import Field, model_validator

from vehicle_mw.manifest.loading import StrictModel


class GatewayTls(StrictModel):
    """Server certificate and, for mTLS, the CA that signs vehicle certificates."""

    cert: str = Field(description="PEM server certificate (chain) file")
    key: str = Field(description="PEM private key of the server certificate")
    client_ca: str | None = Field(
        None, description="PEM CA bundle that signs vehicle certificates; enables client certificates"
    )
    require_client_cert: bool = Field(
        False,
        description="refuse connections without a valid client certificate (gRPC only asks for client "
        "certificates when this is true; WebSocket asks whenever client_ca is set)",
    )


class GatewayLimits(StrictModel):
    """Per-message and per-vehicle limits; exceeding one closes that connection with an Error."""

    max_message_bytes: int = Field(4 * 1024 * 1024, gt=0, description="largest Uplink accepted")
    messages_per_s: float = Field(5000.0, gt=0, description="sustained Uplink messages per vehicle")
    bytes_per_s: float = Field(64 * 1024 * 1024, gt=0, description="sustained Uplink bytes per vehicle")
    burst_s: float = Field(2.0, gt=0, description="bucket depth in seconds of the sustained rates")
    hello_timeout_s: float = Field(10.0, gt=0, description="time a new connection has to send Hello")
    command_timeout_s: float = Field(10.0, gt=0, description="how long a REST command waits for CommandAck")
    max_batch_samples: int = Field(
        65536, gt=0, description="most samples one SampleBatch may carry (vehicles send at most 65536)"
    )
    max_decompressed_bytes: int = Field(
        8 * 1024 * 1024, gt=0, description="largest SampleColumns a compressed batch may inflate to"
    )
    max_inflight_samples: int = Field(
        262144, gt=0, description="samples per vehicle awaiting commit before its links are not read"
    )
    max_hello_bytes: int = Field(
        16 * 1024, gt=0, description="largest message (and WebSocket frame) before a session is authenticated"
    )
    handshake_timeout_s: float = Field(10.0, gt=0, description="time a connection has to finish TLS")
    max_preauth_connections: int = Field(
        4096, gt=0, description="connections not yet authenticated, all together; beyond, new ones are closed"
    )
    grpc_max_streams_per_connection: int = Field(
        4, gt=0, description="concurrent gRPC streams one connection may open (a vehicle needs one)"
    )
    grpc_preauth_reads: int = Field(
        8, gt=0, description="gRPC streams whose first message is read at once (bounds pre-auth memory)"
    )
    revocation_poll_s: float = Field(
        0.5, gt=0, description="how often the gateway looks for revocations written by the CLI or API"
    )
    http_timeout_s: float = Field(
        10.0, gt=0, description="HTTP API: idle keep-alive and incomplete-request timeout"
    )
    http_max_connections: int = Field(
        1024, gt=0, description="HTTP API: concurrent connections and requests (beyond: 503)"
    )


class GatewayAuth(StrictModel):
    """Operator authentication of the HTTP API (always on; operators live in the database)."""

    session_ttl_s: float = Field(8 * 3600.0, gt=0, description="dashboard login lifetime")
    login_max_failures: int = Field(
        5, ge=1, description="failed logins per user and per client address before logins are refused"
    )
    login_window_s: float = Field(300.0, gt=0, description="window of login_max_failures")
    cookie_secure: bool | None = Field(
        None,
        description="mark the session cookie Secure; null: when http_tls is on (set true behind a TLS proxy)",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="extra browser origins (scheme://host:port) allowed to call the API, e.g. a TLS proxy's; "
        "the API's own origin is always allowed",
    )


class GatewayConfig(StrictModel):
    """Everything ``vmw gateway serve`` needs; every field has a local-development default."""

    gateway_id: str = Field("gw-local", description="name sent in Welcome and shown on the dashboard")
    host: str = Field("127.0.0.1", description="default bind address of every endpoint")
    grpc_host: str | None = Field(None, description="bind address of the gRPC endpoint (null: host)")
    ws_host: str | None = Field(None, description="bind address of the WebSocket endpoint (null: host)")
    http_host: str | None = Field(
        None,
        description="bind address of the operator API, dashboard and /metrics (null: host); a non-loopback "
        "address needs at least one operator in the database",
    )
    grpc_port: int | None = Field(
        7401, ge=0, le=65535, description="gRPC VehicleLink port (0: any, null: off)"
    )
    ws_port: int | None = Field(
        7402, ge=0, le=65535, description="WebSocket /v1/link port (0: any, null: off)"
    )
    http_port: int | None = Field(
        7400, ge=0, le=65535, description="REST API, dashboard and /metrics port (0: any, null: off)"
    )
    database: str = Field("gateway.sqlite", description="SQLite database file")
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "full", description="'full' survives power loss; 'normal' survives a process crash (WAL)"
    )
    storage: dict[str, Any] | None = Field(
        None,
        description="where vehicle data lives: {backend: sqlite|postgresql|jetstream, ...backend fields}; "
        "null: sqlite in 'database' (operators and the audit log stay in 'database' whatever the backend)",
    )
    tls: GatewayTls | None = Field(None, description="TLS for the vehicle endpoints; null: plaintext")
    http_tls: bool = Field(False, description="serve the operator API over HTTPS with tls.cert and tls.key")
    token_secret_file: str | None = Field(
        None, description="file holding the HMAC-SHA256 secret that signs vehicle tokens"
    )
    allow_anonymous: bool = Field(
        False, description="accept vehicles with neither certificate nor token (local development only)"
    )
    allow_unregistered: bool = Field(
        True, description="an authenticated vehicle not yet in the database is registered on first connect"
    )
    metrics_max_vehicles: int = Field(
        1000,
        ge=0,
        description="most vehicles with their own gauges on /metrics (RTT, loss, transport, backlog); "
        "connected and most recently changed first, the oldest dropped (bounds label cardinality)",
    )
    limits: GatewayLimits = Field(default_factory=GatewayLimits)
    auth: GatewayAuth = Field(default_factory=GatewayAuth)

    @model_validator(mode="after")
    def _http_tls_needs_certificate(self) -> GatewayConfig:
        if self.http_tls and self.tls is None:
            raise ValueError("http_tls: needs tls.cert and tls.key")
        return self

    def relative_to(self, folder: str | pathlib.Path) -> GatewayConfig:
        """A copy whose relative file paths (database, TLS files, token secret) are joined to ``folder``:
        paths in a gateway file mean the file's own folder, wherever the gateway is started from."""

        def join(path: str | None) -> str | None:
            if path is None or os.path.isabs(path) or path == ":memory:" or path.startswith("file:"):
                return path
            return os.path.normpath(os.path.join(folder, path))

        update: dict = {"database": join(self.database), "token_secret_file": join(self.token_secret_file)}
        if self.tls is not None:
            update["tls"] = self.tls.model_copy(
                update={
                    "cert": join(self.tls.cert),
                    "key": join(self.tls.key),
                    "client_ca": join(self.tls.client_ca),
                }
            )
        return self.model_copy(update=update)

    def bind(self, endpoint: Literal["grpc", "ws", "http"]) -> str:
        """The address ``endpoint`` listens on: its own ``<endpoint>_host`` or the shared ``host``."""
        return getattr(self, f"{endpoint}_host") or self.host


def load_gateway_config(path: str | pathlib.Path) -> GatewayConfig:
    """A gateway file, checked (errors name the file and key), its relative paths resolved against
    the file's folder (:meth:`GatewayConfig.relative_to`)."""
    from vehicle_mw.manifest import load_manifest

    return load_manifest(path, GatewayConfig).relative_to(pathlib.Path(path).parent)


__all__ = ["GatewayAuth", "GatewayConfig", "GatewayLimits", "GatewayTls", "load_gateway_config"]

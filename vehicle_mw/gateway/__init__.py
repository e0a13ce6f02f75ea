"""Fleet gateway: vehicles connect over gRPC or WebSocket, are authenticated, stored exactly once.

    from vehicle_mw.gateway import Gateway
    from vehicle_mw.manifest.gateway import GatewayConfig

    async with Gateway(GatewayConfig(database="fleet.sqlite")) as gw:
        print(gw.ws_url, gw.grpc_target, gw.http_url)

Endpoints: gRPC ``vehicle_mw.v1.VehicleLink/Session`` at ``host:grpc_port``; WebSocket
``ws(s)://host:ws_port/v1/link`` (one serialized Uplink/Downlink per binary frame); REST API,
dashboard and ``/metrics`` at ``http://host:http_port``. Storage goes through :class:`Sink`
(:class:`SqliteSink` by default). Identity: client certificate (CN/SAN) or a token from
:func:`issue_token`; see ``docs/gateway.md``.
"""

from vehicle_mw.gateway.errors import CommandError, GatewayError, TokenError
from vehicle_mw.gateway.queries import SqliteQueries
from vehicle_mw.gateway.server import Gateway
from vehicle_mw.gateway.sink import Sink, VehicleRecord
from vehicle_mw.gateway.sqlite_sink import SqliteSink, set_revoked
from vehicle_mw.gateway.tokens import TokenClaims, issue_token, load_secret, new_secret_file, verify_token

__all__ = [
    "CommandError",
    "Gateway",
    "GatewayError",
    "Sink",
    "SqliteQueries",
    "SqliteSink",
    "TokenClaims",
    "TokenError",
    "VehicleRecord",
    "issue_token",
    "load_secret",
    "new_secret_file",
    "set_revoked",
    "verify_token",
]

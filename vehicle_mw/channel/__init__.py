"""Vehicle side of the cloud link: gRPC and WebSocket, negotiated from measured RTT and loss.

Usage (one asyncio task; producers may append from any thread)::

    from vehicle_mw.channel import Uplink
    from vehicle_mw.manifest.channel import ChannelConfig
    from vehicle_mw.store import Outbox

    config = ChannelConfig(vehicle_id="VIN123", grpc_target="gw:50051",
                           websocket_url="ws://gw:8080/v1/link")     # + tls=TlsConfig(...) outside tests
    outbox = Outbox(config.outbox.directory, config.outbox)
    uplink = Uplink(config, outbox, catalog)       # catalog: link_pb2.Catalog or None
    task = asyncio.create_task(uplink.run())
    outbox.append(samples)                         # numpy SAMPLE_DTYPE array; durable at once
    ...
    uplink.stop(); await task; outbox.close()

Observable state:

- ``uplink.active``: transport carrying data ("grpc" | "websocket" | None before the first link);
- ``uplink.links()``: per transport a :class:`LinkView` (up, alive, srtt_ms, rttvar_ms, loss);
- ``uplink.backlog`` (batches not acknowledged), ``uplink.acked_seq``, ``outbox.stats()``;
- ``uplink.switches`` and ``uplink.events`` (:class:`SwitchEvent` with reason and measurements;
  each one is also sent uplink as a LinkEvent and counted in ``vmw_channel_switches_total``);
- ``uplink.add_switch_listener(cb)``, ``await uplink.wait_until(predicate, timeout)``;
- ``uplink.force_switch()``, ``uplink.sessions[name].reconnect()`` for operators and tests.

Commands from the gateway go to ``on_command(cmd) -> (ok, detail)`` (sync or async); "ping" is
answered by default. See docs/channel.md for the policy and its configuration keys.
"""

from vehicle_mw.channel.monitor import LinkMonitor, LinkView
from vehicle_mw.channel.negotiator import Decision, Negotiator
from vehicle_mw.channel.protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    batch_message,
    batch_samples,
    columns_from_samples,
    error_downlink,
    parse_frame,
    samples_from_columns,
)
from vehicle_mw.channel.session import LinkSession, SessionRefused, backoff_delay
from vehicle_mw.channel.transports import GRPC, WEBSOCKET, LinkClosed, client_ssl_context
from vehicle_mw.channel.uplink import SwitchEvent, Uplink

__all__ = [
    "GRPC",
    "PROTOCOL_VERSION",
    "WEBSOCKET",
    "Decision",
    "LinkClosed",
    "LinkMonitor",
    "LinkSession",
    "LinkView",
    "Negotiator",
    "ProtocolError",
    "SessionRefused",
    "SwitchEvent",
    "Uplink",
    "backoff_delay",
    "batch_message",
    "batch_samples",
    "client_ssl_context",
    "columns_from_samples",
    "error_downlink",
    "parse_frame",
    "samples_from_columns",
]

"""Process-wide protections of the gateway: descriptor limit, log floods, HTTP slowloris.

10k vehicles per process need far more than the default 1,024 descriptors, so the soft
RLIMIT_NOFILE is raised to the hard limit at start (and logged). Repeated log lines (EMFILE at
accept, refused peers) go through one :class:`~vehicle_mw.gateway.log_limit.RateLimitFilter`.
uvicorn never times out a request whose head arrives slowly; :class:`HeadDeadlineH11Protocol`
closes a connection that has not sent a complete request head within the timeout.

asyncio allocates (and zero-fills) a 256 KiB read buffer per TLS connection as soon as it is
accepted, before any handshake: 2,000 idle TCP connections on a TLS port cost 500 MB. The
gateway process uses 32 KiB (two TLS records; reads of large frames just take more calls).
"""

from __future__ import annotations

import json
import logging
import resource
from asyncio import sslproto
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from vehicle_mw.gateway.log_limit import RateLimitFilter, install
from vehicle_mw.manifest.gateway import GatewayLimits

log = logging.getLogger("vehicle_mw.gateway")
FLOOD_LOGGERS = (
    "vehicle_mw.gateway",
    "vehicle_mw.gateway.session",
    "vehicle_mw.gateway.sqlite",
    "asyncio",
    "uvicorn.error",
    "websockets",
    "websockets.server",
)
LOG_FILTER = RateLimitFilter()
TLS_READ_BUFFER = 32 * 1024


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one; returns (soft, hard) now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.warning(json.dumps({"event": "fd_limit_raised", "from": soft, "to": hard}))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning(
                json.dumps({"event": "fd_limit_unchanged", "soft": soft, "hard": hard, "error": str(exc)})
            )
    return soft, hard


def protect_process() -> None:
    """What every gateway process does at start (idempotent)."""
    raise_fd_limit()
    install(FLOOD_LOGGERS, LOG_FILTER)
    sslproto.SSLProtocol.max_size = min(sslproto.SSLProtocol.max_size, TLS_READ_BUFFER)


class HeadDeadlineH11Protocol(H11Protocol):
    """h11 connection that must send each request head within ``timeout_keep_alive`` seconds."""

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._head_cycle = self.cycle
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_timeout)

    def _head_timeout(self) -> None:
        if self.cycle is self._head_cycle and not self.transport.is_closing():
            self.transport.close()  # no complete request head since armed: slowloris or idle

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._head_cycle and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)


def uvicorn_limits(limits: GatewayLimits) -> dict[str, Any]:
    """uvicorn.Config arguments bounding the HTTP API: timeouts, concurrency, request head size."""
    return {
        "http": HeadDeadlineH11Protocol,
        "timeout_keep_alive": limits.http_timeout_s,
        "limit_concurrency": limits.http_max_connections,
        "h11_max_incomplete_event_size": 16 * 1024,
    }


__all__ = ["LOG_FILTER", "HeadDeadlineH11Protocol", "protect_process", "raise_fd_limit", "uvicorn_limits"]

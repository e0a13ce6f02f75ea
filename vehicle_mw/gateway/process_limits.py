"""Process-wide protections of the gateway: descriptor limit, log floods, HTTP slowloris.

10k vehicles per process need far more than the default 1,024 descriptors, so the soft
RLIMIT_NOFILE is raised to the hard limit at start (and logged). Repeated log lines (EMFILE at
accept, refused peers) go through one :class:`~vehicle_mw.gateway.log_limit.RateLimitFilter`.
uvicorn never times out a request whose head arrives slowly; :class:`HeadDeadlineH11Protocol`
closes a connection that has not sent a complete request head within the timeout.

asyncio allocates (and zero-fills) a 256 KiB read buffer per TLS connection as soon as it is
accepted, before any handshake: 2,000 idle TCP connections on a TLS port cost 500 MB. The
gateway process uses 32 KiB (two TLS records; reads of large frames just take more calls).

A closed TLS connection's state (OpenSSL's SSL object, that read buffer) stays allocated until
Python's cyclic garbage collector runs: asyncio's socket transport is in a reference cycle
(``_read_ready_cb`` is its own bound method), as are exceptions with their tracebacks. Under
reconnect churn (hostile peers cut at their first frame and coming back at once) that garbage
was ~1,700 dead connections, ~150 MB. :func:`protect_process` makes ``SSLProtocol`` drop that
state the moment the connection is lost, and :class:`HeapTrimmer` hands freed heap back to the
kernel (glibc keeps it otherwise, so RSS would stay at the high-water mark of a burst).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import gc
import json
import logging
import os
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


_SSLPROTO_STATE = ("_sslobj", "_extra", "_incoming", "_ssl_buffer", "_ssl_buffer_view")


def _release_tls_state(connection_lost: Any) -> Any:
    """Wrap ``SSLProtocol.connection_lost``: afterwards nothing uses the SSL object or buffers
    (every path that would is guarded by the UNWRAPPED state), so free them now, not at GC time."""

    def lost(self: sslproto.SSLProtocol, exc: Exception | None) -> None:
        connection_lost(self, exc)
        if not all(hasattr(self, a) for a in _SSLPROTO_STATE):  # another asyncio than 3.11/3.12's
            return  # (the state is then freed by the garbage collector, as without this wrapper)
        sslobj = self._sslobj
        if sslobj is not None:
            # exceptions of the TLS shutdown keep ssl.SSLObject's frames (and it) in their traceback:
            # free the OpenSSL object it wraps (``ssl._ssl._SSLSocket``), whoever holds the wrapper
            sslobj._sslobj = None
        self._sslobj = None
        self._extra.pop("ssl_object", None)
        self._incoming.read()
        self._ssl_buffer = bytearray()
        self._ssl_buffer_view = memoryview(self._ssl_buffer)

    lost.releases_tls_state = True  # type: ignore[attr-defined]
    return lost


class DescriptorReserve:
    """One spare descriptor, given up when accept() fails with EMFILE so the gateway can still
    accept (and close, or keep) the waiting connection, then taken again."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self.refill()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def refill(self) -> bool:
        if self._fd is None:
            try:
                self._fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return False
        return True

    def release(self) -> bool:
        if self._fd is None:
            return False
        os.close(self._fd)
        self._fd = None
        return True

    def close(self) -> None:
        self.release()


OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio logs EMFILE at accept (its own servers: the HTTP API) with a traceback per retry:
    one rate-limited line instead. Everything else goes to the default handler."""
    exc = context.get("exception")
    if (
        isinstance(exc, OSError)
        and exc.errno in OUT_OF_DESCRIPTORS
        and "accept" in context.get("message", "")
    ):
        sock = context.get("socket")
        port = sock.getsockname()[1] if sock is not None else None
        log.error(json.dumps({"event": "accept_out_of_descriptors", "port": port, "error": exc.strerror}))
        return
    loop.default_exception_handler(context)


class HeapTrimmer:
    """Return freed heap to the kernel after bursts (glibc ``malloc_trim``), at most once per period.

    Connections come and go in bursts; glibc keeps the freed memory mapped (RSS stays at the
    burst's peak, for every later burst too). A trim of a fragmented 250 MB heap took 40-60 ms on
    a loaded machine, so it runs once per burst (see :meth:`trim_if_worth_it`), not periodically."""

    def __init__(self, period_s: float = 1.0, min_free_bytes: int = 16 << 20):
        self.period_s = period_s
        self.min_free_bytes = min_free_bytes
        self.trims = 0
        name = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(name) if name else None
        self._mallinfo2 = getattr(self._libc, "mallinfo2", None) if self._libc else None
        if self._mallinfo2 is not None:
            self._mallinfo2.restype = _MallInfo2
        self._task: asyncio.Task | None = None
        self._floor: int | None = None  # free heap bytes at the last trim, or the lowest since

    @property
    def available(self) -> bool:
        return self._libc is not None and hasattr(self._libc, "malloc_trim")

    def free_bytes(self) -> int | None:
        """Heap bytes free inside glibc's arenas (``mallinfo2().fordblks``), None if unknown."""
        return int(self._mallinfo2().fordblks) if self._mallinfo2 is not None else None

    def trim_if_worth_it(self) -> bool:
        """Trim when at least ``min_free_bytes`` more are free than at the last trim (or the lowest
        since): after a burst once, not every period (free chunks stay counted after a trim, and a
        trim of a fragmented heap takes tens of milliseconds)."""
        if not self.available:
            return False
        free = self.free_bytes()
        if free is not None:
            self._floor = free if self._floor is None else min(self._floor, free)
            if free - self._floor < self.min_free_bytes:
                return False
        self._libc.malloc_trim(0)  # type: ignore[union-attr]
        self.trims += 1
        self._floor = self.free_bytes()
        return True

    def start(self) -> None:
        if self.available and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            self.trim_if_worth_it()


_startup_frozen = False


def freeze_startup_heap() -> bool:
    """Move what exists after start (modules, protobuf descriptors, the app) out of the collector's
    reach, once per process; returns whether it did now.

    A full collection walks every tracked object: under a reconnect flood the gateway's took
    150-350 ms, and every session's acks waited behind it. Objects made at start live as long as
    the process, so walking them is pure cost (``gc.freeze``, as CPython documents for servers)."""
    global _startup_frozen
    if _startup_frozen:
        return False
    _startup_frozen = True
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()
    return True


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def protect_process() -> None:
    """What every gateway process does at start (idempotent); call it in the running event loop."""
    raise_fd_limit()
    install(FLOOD_LOGGERS, LOG_FILTER)
    sslproto.SSLProtocol.max_size = min(sslproto.SSLProtocol.max_size, TLS_READ_BUFFER)
    if not getattr(sslproto.SSLProtocol.connection_lost, "releases_tls_state", False):
        sslproto.SSLProtocol.connection_lost = _release_tls_state(sslproto.SSLProtocol.connection_lost)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(_quiet_accept_errors)


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


__all__ = [
    "LOG_FILTER",
    "OUT_OF_DESCRIPTORS",
    "DescriptorReserve",
    "HeadDeadlineH11Protocol",
    "HeapTrimmer",
    "protect_process",
    "raise_fd_limit",
    "uvicorn_limits",
]

"""Userspace TCP proxy that impairs a link: delay, jitter, bandwidth cap, loss stalls, cut, blackhole.

The kernel here has no netem, so impairments are applied to the byte stream between the vehicle
and the gateway. Every setting changes at runtime (``proxy.impair(delay_ms=200)``) and applies to
open connections at once. Loss on TCP shows up as a retransmission delay, so ``loss`` holds a
chunk (and everything behind it) for ``loss_penalty_ms``; ``stall`` holds all data until cleared;
``blackhole`` silently drops data with the connection left open (a half-open link); ``cut``
aborts every connection (and with ``refuse=True`` refuses new ones until ``restore()``).

A small JSON-lines control port lets other processes (``vmw linkproxy``) do the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import time
from dataclasses import dataclass

from vehicle_mw.errors import VehicleMwError

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


class LinkProxyError(VehicleMwError):
    """A bad impairment setting or an unusable control request."""


@dataclass
class Impairment:
    """Current impairment of one proxied link (both directions)."""

    delay_ms: float = 0.0  # one way, added in each direction
    jitter_ms: float = 0.0  # uniform +- around delay_ms (order is kept, as TCP would)
    bandwidth_kbps: float = 0.0  # per direction; 0 = unlimited
    loss: float = 0.0  # probability that a chunk is held for loss_penalty_ms
    loss_penalty_ms: float = 200.0
    stall: bool = False  # hold all data until cleared
    blackhole: bool = False  # drop all data, keep connections open
    refuse: bool = False  # refuse new connections

    def validate(self) -> None:
        for name in ("delay_ms", "jitter_ms", "bandwidth_kbps", "loss_penalty_ms"):
            if getattr(self, name) < 0:
                raise LinkProxyError(f"impairment {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.loss <= 1.0:
            raise LinkProxyError(f"impairment loss must be within 0..1, got {self.loss}")


@dataclass(eq=False)
class _Conn:
    client_writer: asyncio.StreamWriter
    upstream_writer: asyncio.StreamWriter
    tasks: list[asyncio.Task]
    dropped: bool = False


class LinkProxy:
    """One listening port forwarding to one upstream, with a runtime-adjustable :class:`Impairment`."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        name: str = "link",
        seed: int | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listen = (listen_host, listen_port)
        self.name = name
        self.impairment = Impairment()
        self.port = 0
        self.bytes_forwarded = 0
        self.bytes_dropped = 0
        self.connections_total = 0
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None
        self._control: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._rng = random.Random(seed)

    # ------------------------------------------------------------------ control (Python)

    def impair(self, **settings: float | bool) -> Impairment:
        """Change some settings (names of :class:`Impairment`); returns the new impairment."""
        unknown = set(settings) - {f.name for f in dataclasses.fields(Impairment)}
        if unknown:
            raise LinkProxyError(f"{self.name}: unknown impairment setting(s) {sorted(unknown)}")
        new = dataclasses.replace(self.impairment, **settings)
        new.validate()
        was_blackhole = self.impairment.blackhole
        self.impairment = new
        if was_blackhole and not new.blackhole:
            self._abort(only_dropped=True)  # their byte streams have holes: nothing can resume them
        self._changed.set()
        self._changed = asyncio.Event()
        return new

    def clear(self) -> Impairment:
        """Back to a clean link (connections that lost bytes in a blackhole are aborted)."""
        return self.impair(**dataclasses.asdict(Impairment()))

    def cut(self, refuse: bool = False) -> None:
        """Abort every connection now; with ``refuse`` also refuse new ones until :meth:`restore`."""
        if refuse:
            self.impair(refuse=True)
        self._abort(only_dropped=False)

    def restore(self) -> None:
        self.impair(refuse=False)

    @property
    def connections(self) -> int:
        return len(self._conns)

    def status(self) -> dict:
        return {
            "name": self.name,
            "listen": f"{self.listen[0]}:{self.port}",
            "upstream": f"{self.upstream[0]}:{self.upstream[1]}",
            "connections": self.connections,
            "connections_total": self.connections_total,
            "bytes_forwarded": self.bytes_forwarded,
            "bytes_dropped": self.bytes_dropped,
            "impairment": dataclasses.asdict(self.impairment),
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, control_port: int | None = None) -> None:
        self._server = await asyncio.start_server(self._accept, self.listen[0], self.listen[1])
        self.port = self._server.sockets[0].getsockname()[1]
        if control_port is not None:
            self._control = await asyncio.start_server(self._control_client, self.listen[0], control_port)

    @property
    def control_port(self) -> int | None:
        return self._control.sockets[0].getsockname()[1] if self._control else None

    async def stop(self) -> None:
        for server in (self._server, self._control):
            if server is not None:
                server.close()
        self._abort(only_dropped=False)
        for server in (self._server, self._control):
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 2)

    async def __aenter__(self) -> LinkProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ data path

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.impairment.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            log.info("%s: upstream %s:%s unreachable: %s", self.name, *self.upstream, exc)
            writer.transport.abort()
            return
        self.connections_total += 1
        conn = _Conn(client_writer=writer, upstream_writer=up_writer, tasks=[])
        self._conns.add(conn)
        conn.tasks = [
            asyncio.create_task(self._direction(conn, reader, up_writer)),
            asyncio.create_task(self._direction(conn, up_reader, writer)),
        ]
        try:
            await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._close_conn(conn, abort=False)

    async def _direction(
        self, conn: _Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        feeder = asyncio.create_task(self._feed(conn, reader, queue))
        try:
            last_at = 0.0
            while True:
                at, data = await queue.get()
                while self.impairment.stall:
                    await self._changed.wait()
                now = time.monotonic()
                if at > now:
                    await asyncio.sleep(at - now)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                bw = self.impairment.bandwidth_kbps
                if bw > 0:  # pace: this chunk may not leave before the previous one's airtime ended
                    start = max(time.monotonic(), last_at)
                    last_at = start + len(data) * 8 / (bw * 1000)
                    delay = last_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                writer.write(data)
                self.bytes_forwarded += len(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            feeder.cancel()

    async def _feed(self, conn: _Conn, reader: asyncio.StreamReader, queue: asyncio.Queue) -> None:
        last = 0.0
        try:
            while True:
                data = await reader.read(CHUNK)
                imp = self.impairment
                if data and imp.blackhole:
                    conn.dropped = True
                    self.bytes_dropped += len(data)
                    continue
                delay = imp.delay_ms + (
                    self._rng.uniform(-imp.jitter_ms, imp.jitter_ms) if imp.jitter_ms else 0.0
                )
                if data and imp.loss and self._rng.random() < imp.loss:
                    delay += imp.loss_penalty_ms
                at = max(last, time.monotonic() + max(0.0, delay) / 1000.0)
                last = at
                queue.put_nowait((at, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((0.0, b""))

    def _abort(self, only_dropped: bool) -> None:
        for conn in list(self._conns):
            if not only_dropped or conn.dropped:
                self._close_conn(conn, abort=True)

    def _close_conn(self, conn: _Conn, abort: bool) -> None:
        if conn not in self._conns:
            return
        self._conns.discard(conn)
        for t in conn.tasks:
            t.cancel()
        for w in (conn.client_writer, conn.upstream_writer):
            if abort:
                w.transport.abort()
            else:
                w.close()

    # ------------------------------------------------------------------ control (JSON lines)

    async def _control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = self.apply_command(json.loads(line))
                except (ValueError, LinkProxyError, TypeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()

    def apply_command(self, request: dict) -> dict:
        """``{"cmd": "set"|"clear"|"cut"|"restore"|"status", ...settings}`` -> status reply."""
        if not isinstance(request, dict):
            raise LinkProxyError("control request must be a JSON object")
        cmd = request.pop("cmd", "status")
        if cmd == "set":
            self.impair(**request)
        elif cmd == "clear":
            self.clear()
        elif cmd == "cut":
            self.cut(refuse=bool(request.get("refuse", False)))
        elif cmd == "restore":
            self.restore()
        elif cmd != "status":
            raise LinkProxyError(f"unknown control command {cmd!r} (set, clear, cut, restore, status)")
        return {"ok": True, **self.status()}


async def control_request(host: str, port: int, request: dict, timeout: float = 5.0) -> dict:
    """Send one control request to a running proxy's control port; return its reply."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        raise LinkProxyError(f"link proxy control {host}:{port} unreachable: {exc}") from None
    try:
        writer.write((json.dumps(request) + "\n").encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    reply = json.loads(line)
    if not reply.get("ok"):
        raise LinkProxyError(f"link proxy {host}:{port}: {reply.get('error')}")
    return reply


__all__ = ["Impairment", "LinkProxy", "LinkProxyError", "control_request"]

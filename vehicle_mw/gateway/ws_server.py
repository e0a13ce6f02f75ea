"""WebSocket endpoint ``/v1/link``: one serialized Uplink / Downlink per binary frame.

The gateway accepts connections itself (not asyncio's server loop) so that a connection counts
among the unauthenticated ones from ``accept()`` to its Welcome, TLS handshake included
(``limits.max_preauth_connections``; beyond, the socket is closed before any TLS work), and so
that running out of descriptors is handled: a reserve descriptor lets the gateway accept the
waiting connection, the oldest unauthenticated connections are shed to make room, and one
rate-limited log line says so (no traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
import ssl
from collections.abc import AsyncIterator

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from vehicle_mw.gateway.core import GatewayCore, PreauthSlot
from vehicle_mw.gateway.event_loop import demote, promote
from vehicle_mw.gateway.identity import cert_identity
from vehicle_mw.gateway.process_limits import OUT_OF_DESCRIPTORS, DescriptorReserve
from vehicle_mw.gateway.session import LinkSession, ProtocolViolation
from vehicle_mw.v1 import link_pb2

PATH = "/v1/link"
MAX_UNREAD_BYTES = 1 << 20
BACKLOG = 1024
ACCEPTS_PER_WAKEUP = 32  # then the loop serves other connections (authenticated sessions) again
SHED_PER_EMFILE = 8  # oldest unauthenticated connections closed when accept() runs out of descriptors
EMFILE_PAUSE_S = 0.05  # accepting resumes once the shed connections' descriptors are closed
EMFILE_LOG_EVERY_S = 10.0  # one log line per period while descriptors are exhausted, with counts
# TLS handshakes computed at once. A connection in its TLS handshake holds ~100-200 KB (OpenSSL
# state, read buffer, the WebSocket connection); hostile peers cut at their first frame come back
# all together, so without a bound a burst of N reconnects costs N of those at the same moment.
# A connection takes a place only once its ClientHello has arrived (an idle TCP connection costs
# a descriptor, not TLS state) and keeps it until the TLS handshake ends (at most
# limits.handshake_timeout_s from accept).
TLS_HANDSHAKES_AT_ONCE = 128
log = logging.getLogger("vehicle_mw.gateway")


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


class _Downlink:
    """The session's ``send``: writes one binary frame without a task or queue per connection (the
    downlink is small: Welcome, Acks, Echoes, Commands). A vehicle that stops reading is cut, not
    buffered forever. The handler drops ``session`` when the session ends, so that no reference
    cycle keeps a closed connection (and its TLS state) alive until the garbage collector runs."""

    __slots__ = ("session", "ws")

    def __init__(self, ws: ServerConnection):
        self.ws = ws
        self.session: LinkSession | None = None

    def __call__(self, data: bytes) -> None:
        ws = self.ws
        if ws.protocol.state is not State.OPEN:
            return
        session = self.session
        if ws.transport.get_write_buffer_size() > MAX_UNREAD_BYTES:
            if session is not None:
                session.close(f"vehicle leaves more than {MAX_UNREAD_BYTES} downlink bytes unread")
            return
        ws.protocol.send_binary(data)
        try:
            ws.send_data()
        except OSError:
            if session is not None:
                session.close("connection lost while sending")


def _only_link_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path != PATH:
        return connection.respond(404, f"the vehicle link is at {PATH}\n")
    return None


class _LinkConnection(ServerConnection):
    """A ServerConnection that carries the pre-auth slot taken at accept and frees it when lost.

    It also keeps a lost connection from becoming cyclic garbage: websockets keeps the exceptions
    that ended it (``connection_exc``, the parser's ``parser_exc``) and their tracebacks reach back
    through the frames to the connection, and its parser generator (suspended for good once the
    protocol is CLOSED) holds the protocol that holds it. Left to the collector, a reconnect flood's dead
    connections piled up until one full collection freed ~70,000 objects in 200 ms while every
    session waited. The exceptions stay (they are the ``__cause__`` of a later ConnectionClosed);
    only their tracebacks go, and the finished parser is closed, so reference counting frees the
    connection when it ends."""

    preauth: PreauthSlot | None = None
    promoted_fd = -1  # its socket, once served with the sessions (gateway.event_loop.promote)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.preauth is not None:
            self.preauth.release()
        if self.promoted_fd >= 0:
            demote(self.promoted_fd)
            self.promoted_fd = -1
        super().connection_lost(exc)  # the protocol is CLOSED now: its parser never steps again
        self.protocol.parser.close()
        for kept in (self.connection_exc, self.protocol.parser_exc, exc):
            if kept is not None:
                kept.__traceback__ = None


def _listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address of ``host`` (one port for all)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    socks: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _name, addr in infos:
            if (family, addr[0]) in seen:
                continue
            seen.add((family, addr[0]))
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            bound_port = socks[0].getsockname()[1] if len(socks) > 1 else port
            sock.bind((addr[0], bound_port, *addr[2:]))
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


class LinkServer:
    """The WebSocket endpoint: own accept loop feeding a websockets :class:`Server`."""

    def __init__(self, core: GatewayCore, ssl_ctx: ssl.SSLContext | None, ws: Server, socks: list):
        self.core = core
        self.ssl_ctx = ssl_ctx
        self.ws = ws
        self._socks = socks
        self._loop = asyncio.get_running_loop()
        self._reserve = DescriptorReserve()
        self._handshakes: set[asyncio.Task] = set()
        self._tls_gate = asyncio.Semaphore(TLS_HANDSHAKES_AT_ONCE)
        self._closed = False
        self._make_connection = None  # set by serve_websocket
        self.shed_total = 0
        self.refused_at_accept = 0
        self.emfile_events = 0
        self._emfile_logged: tuple[float, int, int] | None = None  # (time, events, shed) at last line
        for sock in socks:  # one reader per descriptor: this replaces asyncio's own accept callback
            self._loop.add_reader(sock.fileno(), self._accept_ready, sock)

    @property
    def sockets(self):
        return self.ws.sockets

    # ------------------------------------------------------------------ accept

    def _accept_ready(self, sock: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in OUT_OF_DESCRIPTORS:
                    self._out_of_descriptors(sock, exc)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue  # the peer gave up while queued
                log.error(json.dumps({"event": "accept_failed", "error": str(exc)}))
                return
            self._admit(conn)
            if not self._reserve.held:
                self._reserve.refill()

    def _out_of_descriptors(self, sock: socket.socket, exc: OSError) -> None:
        """accept() hit EMFILE: shed the oldest unauthenticated connections, use the reserve
        descriptor to take the waiting connection (kept if room was made, else closed), pause."""
        shed = self.core.shed_oldest_preauth(SHED_PER_EMFILE)
        self.shed_total += shed
        taken = "none"
        if self._reserve.release():
            try:
                conn, _addr = sock.accept()
            except OSError:
                pass
            else:
                if shed:
                    taken = "admitted"
                    self._admit(conn)
                else:
                    taken = "closed"
                    self.refused_at_accept += 1
                    conn.close()
        self.emfile_events += 1
        now = self._loop.time()
        last = self._emfile_logged
        if last is None or now - last[0] >= EMFILE_LOG_EVERY_S:
            log.warning(
                json.dumps(
                    {
                        "event": "accept_out_of_descriptors",
                        "port": sock.getsockname()[1],
                        "error": exc.strerror,
                        "times": self.emfile_events - (last[1] if last else 0),
                        "shed_preauth": self.shed_total - (last[2] if last else 0),
                        "waiting_connection": taken,
                        "preauth": self.core.preauth_count,
                        "sessions": len(self.core.sessions),
                    }
                )
            )
            self._emfile_logged = (now, self.emfile_events, self.shed_total)
        self._loop.remove_reader(sock.fileno())
        self._loop.call_later(EMFILE_PAUSE_S, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if self._closed or sock.fileno() < 0:
            return
        self._reserve.refill()
        self._loop.add_reader(sock.fileno(), self._accept_ready, sock)

    def _admit(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        holder: dict = {}

        def shed() -> None:
            task, ws = holder.get("task"), holder.get("ws")
            if ws is not None and getattr(ws, "transport", None) is not None:
                ws.transport.abort()
            elif task is not None:
                task.cancel()  # TLS handshake in progress: asyncio closes the transport
            else:
                conn.close()

        slot = self.core.admit_preauth("websocket", shed)
        if slot is None:  # over the total bound: closed before any TLS work
            self.refused_at_accept += 1
            conn.close()
            return

        def factory() -> ServerConnection:
            ws = self._make_connection()
            ws.preauth = slot
            holder["ws"] = ws
            return ws

        task = self._loop.create_task(self._handshake(conn, factory, slot))
        holder["task"] = task
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, conn: socket.socket, factory, slot: PreauthSlot) -> None:
        timeout = self.core.config.limits.handshake_timeout_s
        try:
            if self.ssl_ctx is None:
                await self._loop.connect_accepted_socket(factory, conn)
                return
            async with asyncio.timeout(timeout):  # TLS handshake: from accept, waiting included
                await self._readable(conn)  # the ClientHello is here (or EOF): worth TLS state now
                async with self._tls_gate:
                    await self._loop.connect_accepted_socket(
                        factory, conn, ssl=self.ssl_ctx, ssl_handshake_timeout=timeout
                    )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, asyncio.CancelledError):
            slot.release()  # failed, timed out or shed: asyncio closed the socket (or it is closed here)
            if conn.fileno() >= 0:
                conn.close()

    async def _readable(self, conn: socket.socket) -> None:
        ready = self._loop.create_future()
        fd = conn.fileno()
        self._loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            self._loop.remove_reader(fd)

    # ------------------------------------------------------------------ shutdown

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for task in list(self._handshakes):
                task.cancel()
            self.ws.close()  # closes the first listening socket (and removes its reader)
            for sock in self._socks[1:]:
                self._loop.remove_reader(sock.fileno())
                sock.close()
            self._reserve.close()

    async def wait_closed(self) -> None:
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)
        await self.ws.wait_closed()


async def serve_websocket(
    core: GatewayCore, host: str, port: int, ssl_ctx: ssl.SSLContext | None
) -> LinkServer:
    """Start the WebSocket endpoint; the returned server's sockets tell the bound port."""
    limits = core.config.limits

    async def handler(ws: ServerConnection) -> None:
        sslobj = ws.transport.get_extra_info("ssl_object")
        cert = cert_identity(sslobj.getpeercert(binary_form=True) if sslobj is not None else None)
        del sslobj
        peer = "{}:{}".format(*ws.remote_address[:2])
        downlink = _Downlink(ws)
        session = LinkSession(core, "websocket", peer, cert, downlink)
        downlink.session = session
        slot = getattr(ws, "preauth", None)
        if slot is not None:
            session.adopt_preauth(slot)
            if not slot.held:  # shed or released while the WebSocket handshake ran
                return

        # authenticated: frames up to the message limit (before, only a Hello-sized frame is read,
        # so an unauthenticated peer cannot make the gateway buffer a large frame)
        def authenticated() -> None:
            ws.protocol.max_message_size = limits.max_message_bytes * 2
            ws.promoted_fd = promote(ws.transport)  # served before handshakes from now on

        session.on_authenticated = authenticated
        try:
            reason = await session.run(_frames(ws))
        finally:
            session.on_authenticated = None
            downlink.session = None
        # keep reading (and discarding) so that a flooding peer's close frame is seen promptly
        drain = asyncio.create_task(_discard(ws))
        await ws.close(1000 if reason == "peer closed" else 1008, reason[:120])
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain

    socks = _listening_sockets(host, port)
    try:
        ws_server = await serve(
            handler,
            sock=socks[0],  # asyncio's server owns (and closes) it; LinkServer's reader replaces its accept
            backlog=BACKLOG,
            process_request=_only_link_path,
            compression=None,
            open_timeout=limits.handshake_timeout_s,
        )
    except Exception:
        for sock in socks:
            sock.close()
        raise
    server = LinkServer(core, ssl_ctx, ws_server, socks)

    def make_connection() -> ServerConnection:
        protocol = ServerProtocol(
            max_size=limits.max_hello_bytes,  # raised per connection once the Hello is authenticated
            logger=ws_server.logger,
        )
        return _LinkConnection(
            protocol,
            ws_server,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=10,
            max_queue=4,
            write_limit=64 * 1024,
        )

    server._make_connection = make_connection
    return server


__all__ = ["PATH", "LinkServer", "serve_websocket"]

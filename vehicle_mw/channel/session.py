"""One transport kept connected: handshake, probes, reader, writer, reconnect with backoff + jitter.

A :class:`LinkSession` runs whether or not its link carries data: the standby link is probed like
the active one, so the negotiator always has fresh measurements for both. A link from which
nothing arrived for two probe intervals is torn down and reconnected (half-open detection).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from vehicle_mw.channel import metrics
from vehicle_mw.channel.monitor import LinkMonitor
from vehicle_mw.channel.protocol import PROTOCOL_VERSION, ProtocolError
from vehicle_mw.channel.transports import GRPC, GrpcTransport, LinkClosed, Transport, WebSocketTransport
from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.channel import ChannelConfig
from vehicle_mw.v1 import link_pb2

log = logging.getLogger(__name__)


class SessionRefused(VehicleMwError):
    """The gateway answered the Hello with an Error (version, identity, catalog...)."""

    def __init__(self, peer: str, code: int, message: str) -> None:
        self.code = code
        self.message = message
        name = link_pb2.Error.Code.Name(code) if code in link_pb2.Error.Code.values() else str(code)
        super().__init__(f"{peer}: session refused: {name}: {message}")


class SessionHooks(Protocol):
    """What a LinkSession tells its owner (the Uplink)."""

    def hello(self, transport: str) -> link_pb2.Uplink: ...
    def catalog(self) -> link_pb2.Uplink | None: ...
    def on_welcome(self, session: LinkSession, welcome: link_pb2.Welcome) -> None: ...
    def on_state(self, session: LinkSession) -> None: ...
    def on_downlink(self, session: LinkSession, message: link_pb2.Downlink) -> None: ...


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [initial/2, min(cap, initial * 2**attempt)]."""
    ceiling = min(cap, initial * (2 ** min(attempt, 30)))
    return rng.uniform(min(initial / 2, ceiling), ceiling)


REFUSED_BACKOFF_INITIAL_S = 1.0  # a refusal (identity, revocation, version) is not cured in 100 ms
REFUSED_BACKOFF_MAX_S = 60.0


def refused_delay(refusals: int, rng: random.Random) -> float:
    """Delay after the ``refusals``-th refusal in a row (1-based): exponential with equal jitter, uniform
    in [c/2, c] for c = min(60 s, 1 s * 2**(refusals-1)), so even the shortest draws double."""
    ceiling = min(REFUSED_BACKOFF_MAX_S, REFUSED_BACKOFF_INITIAL_S * (2 ** min(max(refusals - 1, 0), 30)))
    return rng.uniform(ceiling / 2, ceiling)


class LinkSession:
    """Keeps one transport (``grpc`` or ``websocket``) connected and measured."""

    def __init__(self, name: str, config: ChannelConfig, hooks: SessionHooks) -> None:
        self.name = name
        self.config = config
        self.hooks = hooks
        self.monitor = LinkMonitor(name, config.probe_interval_s, config.loss_window)
        self.epoch = 0  # increments with every established session
        self.up = False
        self.last_error = ""
        self.connects = 0
        self.welcome = link_pb2.Welcome()  # of the current (or last) session: what the gateway accepts
        self._queue: asyncio.Queue[link_pb2.Uplink | bytes] = asyncio.Queue()
        self._transport: Transport | None = None
        self._stop = asyncio.Event()
        self._kick = asyncio.Event()
        self._rng = random.Random()
        self._closing: set[asyncio.Task] = set()
        self.refusals = 0  # refusals in a row (the gateway answered with an Error refusing the session)
        self._refused_reason = ""  # the last one logged as a warning

    # ---------------------------------------------------------------- owner API

    def send(self, message: link_pb2.Uplink | bytes) -> bool:
        """Queue a message on the current session; False when the link is not up."""
        if not self.up:
            return False
        self._queue.put_nowait(message)
        return True

    def bundle_limits(self) -> tuple[int, int]:
        """(batches, bytes) one message may carry on this session: (1, _) unless the gateway's
        Welcome advertised SampleBatches; bytes is its max_message_bytes (0: not announced)."""
        w = self.welcome
        return max(1, w.max_batches_per_message), w.max_message_bytes

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def stop(self) -> None:
        self._stop.set()

    def reconnect(self) -> None:
        """Drop the current session now (tests, operator action); it reconnects by itself."""
        self._kick.set()

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff, until :meth:`stop`; then wait for closes."""
        try:
            await self._run()
        finally:
            if self._closing:
                await asyncio.wait(list(self._closing), timeout=3.0)

    async def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            established_at: float | None = None
            refused: SessionRefused | None = None
            try:
                established_at = await self._session_once()
            except SessionRefused as exc:
                self.last_error = str(exc)
                refused = exc
            except (LinkClosed, ProtocolError, TimeoutError, OSError, VehicleMwError) as exc:
                self.last_error = str(exc)
                log.info("%s link: %s", self.name, exc)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we are being stopped
                self.last_error = f"{self.name}: transport call cancelled under us"  # grpc does this
                log.info("%s link: %s", self.name, self.last_error)
            except Exception as exc:  # noqa: BLE001 - whatever a transport library throws, the link lives on
                self.last_error = f"{self.name}: {type(exc).__name__}: {exc}"
                log.warning("%s link: unexpected %r", self.name, exc)
            finally:
                if self.up:
                    self.up = False
                    self.monitor.reset(time.monotonic(), up=False)
                    metrics.LINK_UP.labels(self.name).set(0)
                    self.hooks.on_state(self)
            if self._stop.is_set():
                break
            if established_at is None:
                metrics.CONNECT_FAILURES.labels(self.name).inc()
                attempt += 1
            else:
                attempt = 0
            if refused is not None:
                self.refusals += 1
                delay = refused_delay(self.refusals, self._rng)
                # the reason at the default level, once per reason (the backoff bounds the rest)
                first = refused.message != self._refused_reason
                self._refused_reason = refused.message
                (log.warning if first else log.info)(
                    "%s link: %s (refusal %d in a row, next try in %.1f s)",
                    self.name,
                    refused,
                    self.refusals,
                    delay,
                )
            else:
                if established_at is not None:
                    self.refusals = 0
                    self._refused_reason = ""
                delay = backoff_delay(
                    attempt, self.config.backoff_initial_s, self.config.backoff_max_s, self._rng
                )
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                pass

    # ---------------------------------------------------------------- one session

    async def _open(self) -> Transport:
        cfg = self.config
        if self.name == GRPC:
            assert cfg.grpc_target
            return GrpcTransport(cfg.grpc_target, cfg.tls, cfg.max_message_bytes)
        assert cfg.websocket_url
        return await WebSocketTransport.connect(
            cfg.websocket_url, cfg.tls, cfg.max_message_bytes, cfg.connect_timeout_s
        )

    async def _handshake(self, transport: Transport) -> link_pb2.Welcome:
        await transport.send(self.hooks.hello(self.name))
        first = await transport.recv()
        kind = first.WhichOneof("msg")
        if kind == "error":
            raise SessionRefused(transport.peer, first.error.code, first.error.message)
        if kind != "welcome":
            raise ProtocolError(transport.peer, f"expected Welcome, got {kind}")
        if first.welcome.protocol_version != PROTOCOL_VERSION:
            raise ProtocolError(transport.peer, f"gateway speaks protocol {first.welcome.protocol_version}")
        return first.welcome

    async def _session_once(self) -> float | None:
        self._kick.clear()
        deadline = self.config.connect_timeout_s
        transport: Transport | None = None
        try:
            started = time.monotonic()
            transport = await self._bounded(self._open(), deadline, "connect")
            left = max(0.0, deadline - (time.monotonic() - started))
            welcome = await self._bounded(self._handshake(transport), left, "Hello/Welcome")
            self.hooks.on_welcome(self, welcome)
            if not welcome.catalog_known:
                catalog = self.hooks.catalog()
                if catalog is not None:
                    await self._bounded(transport.send(catalog), deadline, "Catalog")
            self._transport = transport
            self.welcome = welcome
            self._queue = asyncio.Queue()
            self.epoch += 1
            self.connects += 1
            self.monitor.reset(time.monotonic(), up=True)
            self.up = True
            metrics.CONNECTS.labels(self.name).inc()
            metrics.LINK_UP.labels(self.name).set(1)
            self.hooks.on_state(self)
            established = time.monotonic()
            await self._serve(transport)
            return established
        finally:
            if transport is not None:  # closing a blackholed link may take its close timeout: not here
                closing = asyncio.get_running_loop().create_task(_close_quietly(transport))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            self._transport = None

    async def _serve(self, transport: Transport) -> None:
        tasks = [
            asyncio.create_task(self._reader(transport), name=f"{self.name}-reader"),
            asyncio.create_task(self._writer(transport), name=f"{self.name}-writer"),
            asyncio.create_task(self._prober(), name=f"{self.name}-prober"),
            asyncio.create_task(self._stop.wait(), name=f"{self.name}-stop"),
            asyncio.create_task(self._kick.wait(), name=f"{self.name}-kick"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            # bounded: a transport call that does not honour its cancel must not hold the reconnect
            _, stuck = await asyncio.wait(tasks, timeout=2.0)
            for t in stuck:
                self._abandon(t)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        if self._kick.is_set():
            raise LinkClosed(f"{self.name}: reconnect requested")

    async def _bounded(self, coro: Awaitable, timeout: float, what: str):
        """Await ``coro`` for at most ``timeout`` s without relying on the transport honouring a cancel."""
        task = asyncio.ensure_future(coro)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            self._abandon(task)
            raise TimeoutError(f"{self.name}: {what} not done within {timeout:.1f} s")
        if task.cancelled():
            raise LinkClosed(f"{self.name}: {what} cancelled by the transport")
        return task.result()

    def _abandon(self, task: asyncio.Future) -> None:
        """Keep a cancelled-but-unfinished task referenced until it ends; swallow its outcome."""
        self._closing.add(task)
        task.add_done_callback(lambda t: (self._closing.discard(t), t.cancelled() or t.exception()))

    async def _reader(self, transport: Transport) -> None:
        while True:
            message = await transport.recv()
            now = time.monotonic()
            self.monitor.inbound(now)
            kind = message.WhichOneof("msg")
            if kind == "echo":
                self.monitor.echo_received(message.echo.id, now)
            elif kind == "probe":
                up = link_pb2.Uplink()
                up.echo.id = message.probe.id
                up.echo.sent_ns = message.probe.sent_ns
                self._queue.put_nowait(up)
            elif kind == "error":
                code = message.error.code
                if code in (
                    link_pb2.Error.UNAUTHENTICATED,
                    link_pb2.Error.PERMISSION_DENIED,
                    link_pb2.Error.UNSUPPORTED_VERSION,
                ):
                    raise SessionRefused(transport.peer, code, message.error.message)  # logged by _run
                log.warning(
                    "%s: gateway error %s: %s",
                    transport.peer,
                    link_pb2.Error.Code.Name(code) if code in link_pb2.Error.Code.values() else code,
                    message.error.message,
                )
                self.hooks.on_downlink(self, message)
            else:
                self.hooks.on_downlink(self, message)

    async def _writer(self, transport: Transport) -> None:
        while True:
            await transport.send(await self._queue.get())

    async def _prober(self) -> None:
        interval = self.config.probe_interval_s
        next_probe = time.monotonic()
        while True:
            now = time.monotonic()
            if self.monitor.dead(now):
                raise LinkClosed(
                    f"{self.name}: half-open: nothing received for {now - self.monitor.last_inbound:.2f} s"
                )
            if now >= next_probe:
                up = link_pb2.Uplink()
                up.probe.id = self.monitor.probe_sent(now)
                up.probe.sent_ns = time.time_ns()
                self._queue.put_nowait(up)
                next_probe = now + interval
                view = self.monitor.view(now)
                metrics.RTT_MS.labels(self.name).set(view.srtt_ms)
                metrics.RTTVAR_MS.labels(self.name).set(view.rttvar_ms)
                metrics.LOSS.labels(self.name).set(view.loss)
                self.hooks.on_state(self)
            await asyncio.sleep(interval / 4)


async def _close_quietly(transport: Transport) -> None:
    try:
        await asyncio.wait_for(transport.close(), 2.0)
    except Exception:  # noqa: BLE001 - the link is being discarded; nothing useful to do with the error
        pass


Handler = Callable[[link_pb2.Command], Awaitable[tuple[bool, str]] | tuple[bool, str]]

__all__ = ["Handler", "LinkSession", "SessionHooks", "SessionRefused", "backoff_delay", "refused_delay"]

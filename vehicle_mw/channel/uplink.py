"""The vehicle side of the cloud link: outbox -> negotiated transport -> gateway, nothing lost or doubled.

Both transports stay connected and probed; the :class:`Negotiator` picks the one carrying data.
A switch is make-before-break (the target is already up and measured) and the new link resumes
right after the last acknowledged batch, so in-flight batches on the old link may arrive twice at
the gateway, which drops them by (vehicle, seq). The outbox forgets only acknowledged batches.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from vehicle_mw.channel import metrics
from vehicle_mw.channel.monitor import LinkView
from vehicle_mw.channel.negotiator import Decision, Negotiator
from vehicle_mw.channel.protocol import PROTOCOL_VERSION
from vehicle_mw.channel.session import Handler, LinkSession
from vehicle_mw.channel.transports import GRPC, WEBSOCKET
from vehicle_mw.channel.wire import BUNDLE_OVERHEAD, batch_from_columns, bundle_from_batches
from vehicle_mw.manifest.channel import ChannelConfig
from vehicle_mw.store import Outbox
from vehicle_mw.v1 import link_pb2

log = logging.getLogger(__name__)

BUNDLE_BYTES = 256 * 1024  # default byte budget of one message carrying several ready batches


@dataclass(frozen=True, slots=True)
class SwitchEvent:
    """A transport switch as it happened (also sent uplink as LinkEvent)."""

    ts: float  # time.time()
    from_transport: str
    to_transport: str
    reason: str
    rtt_ms: float
    rttvar_ms: float
    loss: float


class Uplink:
    """Delivers every batch of ``outbox`` over gRPC or WebSocket, whichever serves best right now."""

    def __init__(
        self,
        config: ChannelConfig,
        outbox: Outbox,
        catalog: link_pb2.Catalog | None = None,
        *,
        on_command: Handler | None = None,
        session_id: str | None = None,
        status_source: Callable[[], dict[str, int]] | None = None,
        writer_syncs: bool = False,
        bundle_bytes: int = BUNDLE_BYTES,
    ) -> None:
        """``writer_syncs``: the thread appending to the outbox also calls ``sync_if_due()`` (the
        runtime's drain thread does), so the uplink need not fsync on its event loop.
        ``bundle_bytes``: when several stored batches are ready and the gateway accepts SampleBatches,
        one message carries as many as fit this budget (and the gateway's message limit); 0: never."""
        self.bundle_bytes = bundle_bytes
        self.config = config
        self.writer_syncs = writer_syncs
        self.outbox = outbox
        self.catalog_msg = catalog
        self.session_id = session_id or str(uuid.uuid4())
        self.on_command = on_command
        self.status_source = status_source
        self.negotiator = Negotiator(config.policy)
        self.sessions: dict[str, LinkSession] = {}
        if config.grpc_target:
            self.sessions[GRPC] = LinkSession(GRPC, config, self)
        if config.websocket_url:
            self.sessions[WEBSOCKET] = LinkSession(WEBSOCKET, config, self)
        self.events: collections.deque[SwitchEvent] = collections.deque(maxlen=1000)
        self.batches_sent = 0
        self.messages_sent = 0  # batch-carrying messages (a bundle counts once)
        self._fill_scheduled = False
        # acks reach the outbox on one worker thread while run() runs: forgetting batches may write
        # the outbox state (fsync with the manifest's fsync policy) and unlink segments, which must
        # not stall the event loop; the window and the resume point follow _acked at once
        self._ack_pool: ThreadPoolExecutor | None = None
        self._acked = outbox.acked_seq  # highest cumulative ack received (the outbox catches up)
        self._ack_queued = False
        self._ack_queued = False
        self._listeners: list[Callable[[SwitchEvent], None]] = []
        self._wake = asyncio.Event()  # asyncio primitives bind to the loop on first use (3.10+)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._cursor = 0
        self._cursor_owner: tuple[str, int] | None = None
        self._inflight: collections.deque[int] = collections.deque()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # ---------------------------------------------------------------- observable state

    @property
    def active(self) -> str | None:
        """Transport carrying data now ("grpc" / "websocket"), None before the first link is up."""
        return self.negotiator.active

    @property
    def switches(self) -> int:
        return self.negotiator.switches

    @property
    def acked_seq(self) -> int:
        """Highest batch the outbox has forgotten as acknowledged."""
        return self.outbox.acked_seq

    @property
    def backlog(self) -> int:
        """Batches in the outbox not yet acknowledged."""
        return self.outbox.high_seq - self.outbox.acked_seq

    def links(self) -> dict[str, LinkView]:
        """RTT, RTT variance, loss and liveness of every link."""
        now = time.monotonic()
        return {name: s.monitor.view(now) for name, s in self.sessions.items()}

    def add_switch_listener(self, callback: Callable[[SwitchEvent], None]) -> None:
        self._listeners.append(callback)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait (bounded) until ``predicate()`` holds; re-checked on every state change and ack."""
        if predicate():
            return True
        waiter = (predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter[1]
            return True
        except TimeoutError:
            return predicate()
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _notify(self) -> None:
        """Resolve the waiters whose predicate holds now (synchronously: no task wake-up per ack)."""
        for waiter in list(self._waiters):
            predicate, future = waiter
            if future.done():
                continue
            try:
                if predicate():
                    future.set_result(None)
            except Exception as exc:  # noqa: BLE001 - the waiter's own predicate failed: tell the waiter
                future.set_exception(exc)

    # ---------------------------------------------------------------- control

    def stop(self) -> None:
        self._stopping = True
        for s in self.sessions.values():
            s.stop()
        self._poke()

    def force_switch(self, to: str | None = None, reason: str = "forced") -> bool:
        """Move data to ``to`` (default: the other link) now if that link is up; for tests and operators."""
        target = to or next((n for n in self.sessions if n != self.active), None)
        if target is None or target == self.active or not self.sessions[target].up:
            return False
        view = self.sessions[self.active].monitor.view(time.monotonic()) if self.active else None
        self._switch(Decision(self.active, target, reason, view))
        self._poke()
        return True

    async def run(self) -> None:
        """Run until :meth:`stop`; never raises for link problems (they are retried)."""
        self._loop = asyncio.get_running_loop()
        self._ack_pool = ThreadPoolExecutor(1, thread_name_prefix="uplink-ack")
        self.outbox.add_listener(self._on_append)
        tasks = [asyncio.create_task(s.run(), name=f"link-{n}") for n, s in self.sessions.items()]
        try:
            await self._pump()
        finally:
            for s in self.sessions.values():
                s.stop()
            self.outbox.remove_listener(self._on_append)
            await asyncio.gather(*tasks, return_exceptions=True)
            pool, self._ack_pool = self._ack_pool, None
            await asyncio.to_thread(pool.shutdown)  # every received ack is in the outbox on return
            self._notify()

    # ---------------------------------------------------------------- SessionHooks

    def hello(self, transport: str) -> link_pb2.Uplink:
        up = link_pb2.Uplink()
        h = up.hello
        h.protocol_version = PROTOCOL_VERSION
        h.vehicle_id = self.config.vehicle_id
        h.software_version = self.config.software_version
        h.catalog_hash = self.catalog_msg.hash if self.catalog_msg is not None else b""
        h.resume_after_seq = max(self._acked, self.outbox.acked_seq)
        h.session_id = self.session_id
        h.transport = transport
        h.auth_token = self.config.auth_token
        return up

    def catalog(self) -> link_pb2.Uplink | None:
        if self.catalog_msg is None:
            return None
        up = link_pb2.Uplink()
        up.catalog.CopyFrom(self.catalog_msg)
        return up

    def on_welcome(self, session: LinkSession, welcome: link_pb2.Welcome) -> None:
        self._ack(welcome.acked_seq)

    def on_state(self, session: LinkSession) -> None:
        self._poke()

    def on_downlink(self, session: LinkSession, message: link_pb2.Downlink) -> None:
        kind = message.WhichOneof("msg")
        if kind == "ack":
            self._ack(message.ack.acked_seq)
        elif kind == "command":
            asyncio.get_running_loop().create_task(self._command(session, message.command))
        elif kind == "error":
            pass  # logged by the session; non-fatal codes keep the session

    # ---------------------------------------------------------------- internals

    def _on_append(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        self._wake.set()

    def _ack(self, seq: int) -> None:
        if seq <= max(self._acked, self.outbox.acked_seq):
            return
        self._acked = seq
        pool = self._ack_pool
        if self._loop is None or pool is None:
            self._apply_ack(seq)
            self._poke()
            return
        if not self._ack_queued:  # a queued job applies the newest ack when it runs: one hop per burst
            self._ack_queued = True
            pool.submit(self._ack_job, self._loop)
        # refill the window soon: an ack needs no negotiator round, so the pump task is not woken
        # once per batch; acks read in one go (a burst for a bundle or a group commit) refill once,
        # so the freed room can go out as one message
        if not self._fill_scheduled:
            self._fill_scheduled = True
            self._loop.call_soon(self._fill_soon)

    def _ack_job(self, loop: asyncio.AbstractEventLoop) -> None:
        self._ack_queued = False  # before reading _acked: a newer ack queues another job
        self._apply_ack(self._acked, loop)

    def _ack_job(self, loop: asyncio.AbstractEventLoop) -> None:
        self._ack_queued = False  # before reading _acked: a newer ack queues another job
        self._apply_ack(self._acked, loop)

    def _apply_ack(self, seq: int, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Forget what ``seq`` acknowledges (on the ack thread while running), then tell the waiters
        on ``loop``."""
        before = self.outbox.acked_seq
        try:
            self.outbox.ack(seq)
        except Exception as exc:  # noqa: BLE001 - closed or failing outbox: the batches stay and are resent
            log.warning("outbox: ack %d not applied: %s", seq, exc)
            return
        metrics.BATCHES_ACKED.inc(max(0, self.outbox.acked_seq - before))
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._notify)
            except RuntimeError:  # the loop closed meanwhile
                pass

    async def _command(self, session: LinkSession, cmd: link_pb2.Command) -> None:
        ok, detail = (
            (True, "pong") if cmd.kind == "ping" else (False, f"no handler for command kind {cmd.kind!r}")
        )
        if self.on_command is not None:
            try:
                result = self.on_command(cmd)
                ok, detail = await result if inspect.isawaitable(result) else result
            except Exception as exc:  # noqa: BLE001 - a failing handler is reported to the gateway, not fatal
                ok, detail = False, f"{type(exc).__name__}: {exc}"
        up = link_pb2.Uplink()
        up.command_ack.id = cmd.id
        up.command_ack.ok = ok
        up.command_ack.detail = detail
        session.send(up)

    def _switch(self, decision: Decision) -> None:
        self.negotiator.commit(decision, time.monotonic())
        m = decision.measurements
        ev = SwitchEvent(
            ts=time.time(),
            from_transport=decision.from_link or "",
            to_transport=decision.to_link,
            reason=decision.reason,
            rtt_ms=m.srtt_ms if m else 0.0,
            rttvar_ms=m.rttvar_ms if m else 0.0,
            loss=m.loss if m else 0.0,
        )
        self.events.append(ev)
        for name in self.sessions:
            metrics.ACTIVE.labels(name).set(1 if name == decision.to_link else 0)
        metrics.SWITCHES.labels(
            ev.from_transport or "none", ev.to_transport, metrics.reason_class(ev.reason)
        ).inc()
        log.info(
            "channel: %s -> %s: %s (rtt %.1f ms, loss %.2f)",
            ev.from_transport or "-",
            ev.to_transport,
            ev.reason,
            ev.rtt_ms,
            ev.loss,
        )
        up = link_pb2.Uplink()
        le = up.link_event
        le.ts_ns = int(ev.ts * 1e9)
        le.from_transport = ev.from_transport
        le.to_transport = ev.to_transport
        le.reason = ev.reason
        le.rtt_ms = ev.rtt_ms
        le.rttvar_ms = ev.rttvar_ms
        le.loss = ev.loss
        self.sessions[decision.to_link].send(up)
        for listener in list(self._listeners):
            listener(ev)

    def _send_status(self) -> None:
        if self.active is None:
            return
        st = self.outbox.stats()
        up = link_pb2.Uplink()
        s = up.status
        s.ts_ns = time.time_ns()
        extra = self.status_source() if self.status_source else {}
        s.frames = int(extra.get("frames", 0))
        s.samples = int(extra.get("samples", 0))
        s.outbox_records = st.backlog_records
        s.outbox_bytes = st.disk_bytes
        s.evicted = st.evicted_records
        s.corrupt = st.corrupt_records
        s.transport = self.active
        view = self.sessions[self.active].monitor.view(time.monotonic())
        s.rtt_ms = view.srtt_ms
        s.loss = view.loss
        self.sessions[self.active].send(up)
        metrics.BACKLOG.set(st.backlog_batches)
        metrics.EVICTED.set(st.evicted_records)

    def _fill_soon(self) -> None:
        self._fill_scheduled = False
        self._fill()

    def _fill(self) -> None:
        """Send batches after the cursor on the active link, up to the in-flight window."""
        name = self.active
        if name is None:
            return
        session = self.sessions[name]
        if not session.up:
            return
        owner = (name, session.epoch)
        acked = max(self._acked, self.outbox.acked_seq)
        if owner != self._cursor_owner:  # new link or new session: resume after the last ack
            self._cursor_owner = owner
            self._cursor = acked
            self._inflight.clear()
        while self._inflight and self._inflight[0] <= acked:
            self._inflight.popleft()
        self._cursor = max(self._cursor, acked)
        room = self.config.max_inflight_batches - len(self._inflight)
        if room <= 0:
            return
        if not self.writer_syncs:
            self.outbox.sync_if_due()
        compress = self.config.compression == "zlib"
        max_batches, max_bytes = session.bundle_limits()
        budget = min(self.bundle_bytes, max_bytes or self.bundle_bytes) - BUNDLE_OVERHEAD
        group: list[bytes] = []
        size = 0
        for b in self.outbox.pending(self._cursor, room):
            msg = batch_from_columns(b.seq, b.columns, b.evicted_before, compress, b.evicted_batches_before)
            if group and (len(group) >= max_batches or size + len(msg) > budget):
                self._send_group(session, group)
                group, size = [], 0
            group.append(msg)
            size += len(msg)
            self._cursor = b.seq
            self._inflight.append(b.seq)
            self.batches_sent += 1
            metrics.BATCHES_SENT.labels(name).inc()
        if group:
            self._send_group(session, group)

    def _send_group(self, session: LinkSession, group: list[bytes]) -> None:
        """One batch as it always went (any gateway reads it), several as one SampleBatches."""
        session.send(group[0] if len(group) == 1 else bundle_from_batches(group))
        self.messages_sent += 1

    async def _pump(self) -> None:
        next_status = time.monotonic() + self.config.status_interval_s
        while not self._stopping:
            self._wake.clear()
            now = time.monotonic()
            decision = self.negotiator.decide(self.links(), now)
            if decision is not None:
                self._switch(decision)
            self._fill()
            if now >= next_status:
                self.outbox.sync()
                self._send_status()
                next_status = now + self.config.status_interval_s
            self._notify()
            try:
                async with asyncio.timeout(self.config.probe_interval_s / 2):  # no task per round
                    await self._wake.wait()
            except TimeoutError:
                pass


__all__ = ["SwitchEvent", "Uplink"]

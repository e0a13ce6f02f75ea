"""One vehicle connection speaking the link protocol, independent of the transport carrying it.

A transport hands :meth:`LinkSession.run` the raw Uplink messages as bytes and gives the session a
non-blocking ``send`` for serialized Downlinks. The session authenticates the Hello, stores what
arrives, acknowledges cumulatively after commit, and answers any violation with one Error before
the transport closes the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError

from vehicle_mw.gateway.errors import ProtocolViolation
from vehicle_mw.gateway.identity import CertIdentity
from vehicle_mw.gateway.tokens import TokenClaims
from vehicle_mw.gateway.validate import (
    batch_columns,
    check_link_event,
    check_status,
    unknown_signal_ids,
)
from vehicle_mw.v1 import link_pb2

if TYPE_CHECKING:
    from vehicle_mw.gateway.core import GatewayCore, PreauthSlot
    from vehicle_mw.gateway.fleet import VehicleState

log = logging.getLogger("vehicle_mw.gateway.session")
Code = link_pb2.Error.Code
# Batches one Uplink.batches may carry (advertised in the Welcome); each still counts against the
# message rate limit and max_batch_samples, and the whole message against max_message_bytes.
MAX_BATCHES_PER_MESSAGE = 64


def log_event(event: str, **fields: object) -> None:
    """Structured log line: one JSON object per event."""
    log.info(json.dumps({"event": event, **fields}, default=str))


class LinkSession:
    """The gateway's half of one vehicle connection."""

    __slots__ = (
        "_close_reason",
        "_expected_catalog",
        "_max_batches",
        "_preauth",
        "on_authenticated",
        "_probe_id",
        "_send",
        "_task",
        "_welcomed",
        "batches",
        "cert",
        "core",
        "peer",
        "rtt_ms",
        "samples",
        "session_id",
        "session_key",
        "token",
        "transport",
        "vehicle",
    )

    def __init__(
        self,
        core: GatewayCore,
        transport: str,
        peer: str,
        cert: CertIdentity,
        send: Callable[[bytes], None],
    ):
        self.core = core
        self.transport = transport
        self.peer = peer
        self.cert = cert
        self.token: TokenClaims | None = None  # the token that authenticated the Hello, if any
        self._send = send
        self.vehicle: VehicleState | None = None
        self.session_id = ""
        self.session_key: int | None = None
        self.batches = 0
        self.samples = 0
        self.rtt_ms: float | None = None
        self._close_reason: str | None = None
        self._task: asyncio.Task | None = None
        self._probe_id = 0
        self._expected_catalog: bytes | None = None
        self._welcomed = False
        self._max_batches = 1  # batches per message this session accepts (set with the Welcome)
        # the transport may hand over a slot it took at accept (WebSocket: counted from the TLS handshake)
        self._preauth: PreauthSlot | None = None
        self.on_authenticated: Callable[[], None] | None = None  # the transport lifts its pre-auth bounds

    # ------------------------------------------------------------------ io helpers

    def send(self, downlink: link_pb2.Downlink) -> None:
        if self._close_reason is None:
            self._send(downlink.SerializeToString())

    def send_after_welcome(self, downlink: link_pb2.Downlink) -> None:
        """Fan-out messages (acks of another link) wait for the Welcome: it is always the first."""
        if self._welcomed:
            self.send(downlink)

    def refuse(self, code: int, message: str) -> None:
        """End the session from outside with an Error telling the vehicle why (e.g. revoked)."""
        if self._close_reason is None:
            self.core.metrics.refused.labels(Code.Name(code)).inc()
            self.send(link_pb2.Downlink(error=link_pb2.Error(code=code, message=message)))
            self.close(f"{Code.Name(code)}: {message}")

    def close(self, reason: str) -> None:
        """End the session from outside (superseded, storage failure, shutdown)."""
        if self._close_reason is None:
            self._close_reason = reason
            if self._task is not None and self._task is not asyncio.current_task():
                self._task.cancel()

    def probe(self) -> None:
        """Measure RTT from the gateway side (the Echo sets ``rtt_ms``); only after the Welcome."""
        if not self._welcomed:
            return
        self._probe_id += 1
        self.send(link_pb2.Downlink(probe=link_pb2.Probe(id=self._probe_id, sent_ns=time.time_ns())))

    # ------------------------------------------------------------------ main loop

    async def run(self, incoming: AsyncIterator[bytes]) -> str:
        """Serve the connection until it ends; returns why it ended."""
        self._task = asyncio.current_task()
        self.core.metrics.connections.labels(self.transport).inc()
        reason = "peer closed"
        try:
            self._enter_preauth()
            it = incoming.__aiter__()
            try:  # a timeout scope, not wait_for: its task would keep the ending exception in a cycle
                async with asyncio.timeout(self.core.config.limits.hello_timeout_s):
                    first = await it.__anext__()
            except TimeoutError:
                self.core.metrics.preauth_refused.labels("hello_timeout").inc()
                raise ProtocolViolation(Code.MALFORMED, "no Hello within the hello timeout") from None
            except StopAsyncIteration:
                return "closed before Hello"
            await self._on_hello(self._parse(first))
            room = self.core.config.limits.max_inflight_samples
            async for raw in it:
                self._dispatch(self._parse(raw))
                if self.vehicle is not None and self.vehicle.inflight_samples > room:
                    await self.vehicle.wait_room(room)  # back-pressure: stop reading until commits catch up
        except ProtocolViolation as exc:
            reason = f"{Code.Name(exc.code)}: {exc.message}"
            self.core.metrics.refused.labels(Code.Name(exc.code)).inc()
            log.warning(
                json.dumps(
                    {
                        "event": "session_error",
                        "vehicle": self.vehicle_id,
                        "peer": self.peer,
                        "transport": self.transport,
                        "code": Code.Name(exc.code),
                        "reason": exc.message,
                    }
                )
            )
            self._send(
                link_pb2.Downlink(
                    error=link_pb2.Error(code=exc.code, message=exc.message)
                ).SerializeToString()
            )
        except asyncio.CancelledError:
            if self._close_reason is None:
                raise
        except Exception as exc:  # noqa: BLE001 - a transport failure ends this session only
            reason = f"{type(exc).__name__}: {exc}"
            log.error(
                json.dumps(
                    {
                        "event": "session_failed",
                        "vehicle": self.vehicle_id,
                        "peer": self.peer,
                        "transport": self.transport,
                        "error": reason,
                    }
                ),
                exc_info=True,
            )
        finally:
            self._leave_preauth()
            if self._close_reason is not None:
                reason = self._close_reason
            self._close_reason = self._close_reason or reason
            self.core.detach(self, reason)
        return reason

    def adopt_preauth(self, slot: PreauthSlot) -> None:
        """Use the pre-auth slot the transport took at accept instead of taking one at start."""
        self._preauth = slot

    def _enter_preauth(self) -> None:
        """Count this connection among the unauthenticated ones; refuse it beyond the total bound."""
        if self._preauth is not None:
            return
        slot = self.core.admit_preauth(self.transport, lambda: self.close("shed before authentication"))
        if slot is None:
            limit = self.core.config.limits.max_preauth_connections
            raise ProtocolViolation(
                Code.RATE_LIMITED, f"gateway has {limit} unauthenticated connections already; retry later"
            )
        self._preauth = slot

    def _leave_preauth(self) -> None:
        if self._preauth is not None:
            self._preauth.release()
            self._preauth = None

    @property
    def vehicle_id(self) -> str:
        return self.vehicle.vehicle_id if self.vehicle else ""

    def _parse(self, raw: bytes) -> link_pb2.Uplink:
        limits = self.core.config.limits
        self.core.metrics.bytes_in.labels(self.transport).inc(len(raw))
        bound = limits.max_message_bytes if self._welcomed else limits.max_hello_bytes
        if self._preauth is not None:
            self.core.metrics.preauth_bytes.labels(self.transport).inc(len(raw))
        if len(raw) > bound:
            if not self._welcomed:
                self.core.metrics.preauth_refused.labels("too_large").inc()
            what = "message" if self._welcomed else "message before authentication"
            raise ProtocolViolation(Code.MESSAGE_TOO_LARGE, f"{what} of {len(raw)} bytes exceeds {bound}")
        if self.vehicle is not None and not (
            self.vehicle.messages.take() and self.vehicle.bytes.take(len(raw))
        ):
            raise ProtocolViolation(
                Code.RATE_LIMITED,
                f"vehicle {self.vehicle_id} exceeds {limits.messages_per_s:g} messages/s or "
                f"{limits.bytes_per_s:g} bytes/s",
            )
        msg = link_pb2.Uplink()
        try:
            msg.ParseFromString(raw)
        except DecodeError:
            raise ProtocolViolation(
                Code.MALFORMED, f"{len(raw)}-byte message is not a valid Uplink"
            ) from None
        if msg.WhichOneof("msg") is None:
            raise ProtocolViolation(Code.MALFORMED, "Uplink carries no message")
        return msg

    # ------------------------------------------------------------------ hello

    async def _on_hello(self, msg: link_pb2.Uplink) -> None:
        if msg.WhichOneof("msg") != "hello":
            raise ProtocolViolation(
                Code.MALFORMED, f"first message must be Hello, got {msg.WhichOneof('msg')}"
            )
        hello = msg.hello
        if hello.protocol_version != link_pb2.PROTOCOL_VERSION_CURRENT:
            raise ProtocolViolation(
                Code.UNSUPPORTED_VERSION,
                f"protocol_version {hello.protocol_version} not supported; accepted: "
                f"{link_pb2.PROTOCOL_VERSION_CURRENT}",
            )
        refusal, state = await self.core.attach(hello, self)
        if refusal is not None:
            raise ProtocolViolation(refusal.code, refusal.message)
        assert state is not None
        self.vehicle = state
        self._leave_preauth()
        if self.on_authenticated is not None:
            self.on_authenticated()
        self.session_id = hello.session_id or uuid.uuid4().hex
        state.raise_floor(hello.resume_after_seq)
        sink = self.core.sink
        await sink.register_vehicle(state.vehicle_id, hello.software_version)
        self.session_key = await sink.open_session(
            state.vehicle_id, self.session_id, self.transport, self.peer, time.time_ns()
        )
        catalog_known = not hello.catalog_hash or hello.catalog_hash == state.catalog_hash
        # never more per bundle than the rate limit's burst: such a bundle could never be taken
        self._max_batches = max(1, min(MAX_BATCHES_PER_MESSAGE, int(state.messages.capacity)))
        self.send(
            link_pb2.Downlink(
                welcome=link_pb2.Welcome(
                    protocol_version=link_pb2.PROTOCOL_VERSION_CURRENT,
                    acked_seq=state.acked_seq,
                    catalog_known=catalog_known,
                    gateway_id=self.core.config.gateway_id,
                    max_message_bytes=self.core.config.limits.max_message_bytes,
                    max_batches_per_message=self._max_batches,
                )
            )
        )
        self._expected_catalog = None if catalog_known else bytes(hello.catalog_hash)
        self._welcomed = True
        log_event(
            "session_open",
            vehicle=state.vehicle_id,
            transport=self.transport,
            peer=self.peer,
            session=self.session_id,
            acked_seq=state.acked_seq,
            catalog_known=catalog_known,
        )
        self.probe()

    # ------------------------------------------------------------------ messages

    def _dispatch(self, msg: link_pb2.Uplink) -> None:
        kind = msg.WhichOneof("msg")
        state = self.vehicle
        assert state is not None
        sink = self.core.sink
        if kind == "batch":
            state.session = self  # the link carrying data is the one commands go down
            self._on_batch(msg.batch)
        elif kind == "batches":
            state.session = self
            self._on_batches(msg.batches.batches)
        elif kind == "catalog":
            state.catalog_hash = bytes(msg.catalog.hash) or (self._expected_catalog or b"")
            state.catalog_ids = frozenset(s.id for s in msg.catalog.signals) or None
            self._expected_catalog = None
            _quiet(sink.write_catalog(state.vehicle_id, msg.catalog))
        elif kind == "probe":
            self.send(link_pb2.Downlink(echo=link_pb2.Echo(id=msg.probe.id, sent_ns=msg.probe.sent_ns)))
        elif kind == "echo":
            self.rtt_ms = (time.time_ns() - msg.echo.sent_ns) / 1e6
        elif kind == "link_event":
            ev = msg.link_event
            check_link_event(ev)
            state.last_link_event = ev
            if ev.from_transport and ev.from_transport != ev.to_transport:
                state.switches += 1
            _quiet(sink.write_link_event(state.vehicle_id, ev))
        elif kind == "status":
            check_status(msg.status)
            state.session = self
            state.last_status = msg.status
            _quiet(sink.write_status(state.vehicle_id, msg.status))
        elif kind == "command_ack":
            self.core.command_acked(state.vehicle_id, msg.command_ack)
        elif kind == "hello":
            raise ProtocolViolation(Code.MALFORMED, "second Hello in one session")

    def _on_batches(self, batches) -> None:
        """A bundle: each batch handled exactly as if it had come alone, in order; a refused one ends
        the session there (the ones before it stay queued for commit and are acknowledged)."""
        n = len(batches)
        if not 1 <= n <= self._max_batches or self._max_batches < 2:
            raise ProtocolViolation(
                Code.MESSAGE_TOO_LARGE if n else Code.MALFORMED,
                f"Uplink.batches carries {n} batches; this gateway accepts 1 to {self._max_batches}"
                " per message (Welcome.max_batches_per_message)",
            )
        state = self.vehicle
        assert state is not None
        # the message rate limit counts batches: a bundle buys no more batches per second than singles
        if n > 1 and not state.messages.take(n - 1):
            limits = self.core.config.limits
            raise ProtocolViolation(
                Code.RATE_LIMITED,
                f"vehicle {self.vehicle_id} exceeds {limits.messages_per_s:g} batches/s "
                f"(a bundle of {n} batches counts {n})",
            )
        for batch in batches:
            self._on_batch(batch)

    def _on_batch(self, batch: link_pb2.SampleBatch) -> None:
        state = self.vehicle
        assert state is not None
        if self._expected_catalog is not None:
            raise ProtocolViolation(
                Code.UNKNOWN_CATALOG, "send Catalog before batches (Welcome.catalog_known=false)"
            )
        if batch.seq == 0:
            raise ProtocolViolation(Code.MALFORMED, "SampleBatch.seq must start at 1")
        if batch.evicted_batches_before:
            if batch.evicted_batches_before >= batch.seq:
                raise ProtocolViolation(
                    Code.MALFORMED,
                    f"batch {batch.seq}: evicted_batches_before={batch.evicted_batches_before} too large",
                )
            before = state.acked_seq
            state.skip_evicted(batch.seq - batch.evicted_batches_before, batch.seq - 1)
            if state.acked_seq != before:
                _quiet(self.core.sink.write_acked(state.vehicle_id, state.acked_seq))
        if state.is_duplicate(batch.seq):
            state.duplicates += 1
            self.core.metrics.batches.labels("duplicate").inc()
            if batch.seq <= state.acked_seq:
                self.send(link_pb2.Downlink(ack=link_pb2.Ack(acked_seq=state.acked_seq)))
            return
        limits = self.core.config.limits
        columns = batch_columns(batch, limits.max_batch_samples, limits.max_decompressed_bytes)
        unknown = unknown_signal_ids(columns, state.catalog_ids)
        if unknown:
            state.unknown_signals += len(columns.signal_id)
            self.core.metrics.batches.labels("unknown_signal").inc()
            shown = ", ".join(str(i) for i in sorted(unknown)[:10])
            raise ProtocolViolation(
                Code.MALFORMED, f"batch {batch.seq}: signal ids not in the vehicle's catalog: {shown}"
            )
        state.inflight.add(batch.seq)
        n = len(columns.signal_id)
        state.add_inflight(n)
        fut = self.core.sink.write_batch(state.vehicle_id, batch, columns)
        fut.add_done_callback(lambda f, seq=batch.seq, n=n: self._on_durable(f, seq, n))

    def _on_durable(self, fut: asyncio.Future, seq: int, samples: int) -> None:
        state = self.vehicle
        assert state is not None
        state.done_inflight(samples, self.core.config.limits.max_inflight_samples)
        if fut.cancelled() or fut.exception() is not None:
            state.inflight.discard(seq)
            err = "cancelled" if fut.cancelled() else str(fut.exception())
            self.core.metrics.batches.labels("storage_failed").inc()
            self._send(
                link_pb2.Downlink(
                    error=link_pb2.Error(code=Code.INTERNAL, message=f"batch {seq}: storage failed: {err}")
                ).SerializeToString()
            )
            self.close(f"INTERNAL: batch {seq}: storage failed: {err}")
            return
        stored = fut.result()
        moved = state.durable(seq)
        if stored:
            self.batches += 1
            self.samples += samples
            state.batches_stored += 1
            state.samples_stored += samples
            self.core.metrics.batches.labels("stored").inc()
            self.core.metrics.samples.inc(samples)
        else:
            state.duplicates += 1
            self.core.metrics.batches.labels("duplicate").inc()
        if moved:
            _quiet(self.core.sink.write_acked(state.vehicle_id, state.acked_seq))
        # cumulative acks are idempotent: tell every link of the vehicle (this one may be gone)
        ack = link_pb2.Downlink(ack=link_pb2.Ack(acked_seq=state.acked_seq))
        for session in state.sessions:
            session.send_after_welcome(ack)
        if self not in state.sessions:
            self.send_after_welcome(ack)


def _quiet(fut: asyncio.Future) -> None:
    """Fire-and-forget write: its failure is logged by the sink, not raised here."""
    fut.add_done_callback(lambda f: f.cancelled() or f.exception())


__all__ = ["LinkSession", "ProtocolViolation", "log_event"]  # ProtocolViolation: re-exported

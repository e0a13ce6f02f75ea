"""The transport-independent heart of the gateway: who is connected, and what goes down to them."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vehicle_mw.gateway.errors import CommandError
from vehicle_mw.gateway.fleet import VehicleState
from vehicle_mw.gateway.identity import Refusal, identify
from vehicle_mw.gateway.metrics import GatewayMetrics
from vehicle_mw.gateway.process_limits import HeapTrimmer
from vehicle_mw.gateway.revocation import Revocation, RevokedTokens
from vehicle_mw.gateway.sink import Sink, VehicleRecord
from vehicle_mw.manifest.gateway import GatewayConfig
from vehicle_mw.v1 import link_pb2

if TYPE_CHECKING:
    from vehicle_mw.gateway.session import LinkSession

log = logging.getLogger("vehicle_mw.gateway")
Code = link_pb2.Error.Code


def _nothing() -> None:
    pass


class PreauthSlot:
    """One unauthenticated connection, from accept (or stream start) to its Welcome or its end.

    ``shed`` closes the connection at once (used when descriptors run out); :meth:`release` is
    idempotent and called when the session is welcomed or the connection is gone."""

    __slots__ = ("_core", "held", "shed", "since", "transport")

    def __init__(self, core: GatewayCore, transport: str, shed: Callable[[], None]):
        self._core = core
        self.transport = transport
        self.shed = shed
        self.since = time.monotonic()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.shed = _nothing  # drop the closure (it refers to the connection: no cycle kept)
            self._core._preauth.pop(self, None)
            self._core.metrics.preauth_connections.labels(self.transport).dec()


class GatewayCore:
    """Vehicles, their live sessions, and downlink commands awaiting acknowledgement."""

    def __init__(self, config: GatewayConfig, sink: Sink, token_secret: bytes | None):
        self.config = config
        self.sink = sink
        self.token_secret = token_secret
        self.metrics = GatewayMetrics()
        self.vehicles: dict[str, VehicleState] = {}
        self.sessions: set[LinkSession] = set()
        self._command_ids = itertools.count(int(time.time()) << 20)
        self._pending: dict[tuple[str, int], asyncio.Future[link_pb2.CommandAck]] = {}
        self._loading: dict[str, asyncio.Future[VehicleRecord | None]] = {}
        self.revoked_tokens = RevokedTokens()
        # connections not yet authenticated, oldest first (bounded: limits.max_preauth_connections)
        self._preauth: dict[PreauthSlot, None] = {}
        self._revocation_key = 0
        self._watcher: asyncio.Task | None = None
        self.heap_trimmer = HeapTrimmer()  # freed heap back to the kernel after connection bursts

    @property
    def preauth_count(self) -> int:
        """Unauthenticated connections now (WebSocket: TLS handshakes in progress included)."""
        return len(self._preauth)

    def admit_preauth(self, transport: str, shed: Callable[[], None]) -> PreauthSlot | None:
        """A slot for a new unauthenticated connection, or None (counted) beyond the total bound."""
        if len(self._preauth) >= self.config.limits.max_preauth_connections:
            self.metrics.preauth_refused.labels("over_limit").inc()
            return None
        slot = PreauthSlot(self, transport, shed)
        self._preauth[slot] = None
        self.metrics.preauth_connections.labels(transport).inc()
        return slot

    def shed_oldest_preauth(self, count: int) -> int:
        """Close the ``count`` oldest unauthenticated connections (descriptors ran out); returns how many."""
        oldest = list(itertools.islice(self._preauth, count))
        for slot in oldest:
            shed = slot.shed
            slot.release()
            self.metrics.preauth_refused.labels("shed").inc()
            shed()
        return len(oldest)

    async def start(self) -> None:
        """Load revocations and keep watching for new ones (call after the sink started)."""
        await self.load_revocations()
        await self.sink.attach(self)  # e.g. answer commands relayed from other replicas
        self._watcher = asyncio.create_task(self.watch_revocations(self.config.limits.revocation_poll_s))
        self.heap_trimmer.start()

    def stop(self) -> None:
        self.heap_trimmer.stop()
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    async def attach(
        self, hello: link_pb2.Hello, session: LinkSession
    ) -> tuple[Refusal | None, VehicleState | None]:
        """Authenticate a Hello and bind the session to its vehicle (ending any older session)."""
        refusal, claims = identify(
            hello,
            session.cert,
            self.token_secret,
            self.config.allow_anonymous,
            self.revoked_tokens.why_refused,
        )
        session.token = claims
        if refusal is None:
            vid = hello.vehicle_id
            state = self.vehicles.get(vid)
            if state is None:
                record = await self._load(vid)
                state = self.vehicles.get(vid)  # another session may have loaded it meanwhile
                if state is None and record is not None and record.revoked:
                    refusal = Refusal(Code.PERMISSION_DENIED, f"vehicle {vid} is revoked")
                elif state is None and record is None and not self.config.allow_unregistered:
                    refusal = Refusal(
                        Code.PERMISSION_DENIED, f"vehicle {vid} is not registered at this gateway"
                    )
                elif state is None:
                    lim = self.config.limits
                    state = VehicleState.from_record(
                        record or VehicleRecord(vid), lim.messages_per_s, lim.bytes_per_s, lim.burst_s
                    )
                    self.vehicles[vid] = state
        if refusal is not None:
            log.warning(
                json.dumps(
                    {
                        "event": "refused",
                        "vehicle": hello.vehicle_id,
                        "peer": session.peer,
                        "transport": session.transport,
                        "code": Code.Name(refusal.code),
                        "reason": refusal.message,
                    }
                )
            )
            return refusal, None
        for older in [s for s in state.sessions if s.transport == session.transport]:
            older.close(f"superseded by a new {session.transport} session from {session.peer}")
            self._unlink(state, older)
        state.sessions.append(session)
        if state.session is None:
            state.session = session
        self.sessions.add(session)
        self.metrics.sessions.labels(session.transport).inc()
        return None, state

    async def _load(self, vehicle_id: str) -> VehicleRecord | None:
        fut = self._loading.get(vehicle_id)
        if fut is None:
            fut = asyncio.ensure_future(self.sink.load_vehicle(vehicle_id))
            self._loading[vehicle_id] = fut
            fut.add_done_callback(lambda _f: self._loading.pop(vehicle_id, None))
        return await asyncio.shield(fut)

    def revoke(self, vehicle_id: str) -> None:
        """Forget the cached state and end the live sessions of a vehicle revoked in the database."""
        state = self.vehicles.pop(vehicle_id, None)
        for session in list(state.sessions) if state is not None else []:
            session.refuse(Code.PERMISSION_DENIED, f"vehicle {vehicle_id} is revoked")

    # ------------------------------------------------------------------ revocations

    async def load_revocations(self) -> None:
        """Apply the revocations recorded since the last call (CLI or API writes them to the database)."""
        for rev in await self.sink.revocations_since(self._revocation_key):
            self._revocation_key = rev.key
            self._apply_revocation(rev)

    async def watch_revocations(self, period_s: float) -> None:
        """Poll for new revocations so that ``vmw gateway revoke`` takes effect on a running gateway."""
        while True:
            try:
                await self.load_revocations()
            except Exception as exc:  # noqa: BLE001 - a failed poll is retried, never ends the watcher
                log.error(json.dumps({"event": "revocation_poll_failed", "error": str(exc)}))
            await asyncio.sleep(period_s)

    def _apply_revocation(self, rev: Revocation) -> None:
        self.revoked_tokens.apply(rev)
        if rev.kind == "vehicle":
            self.revoke(rev.vehicle_id)
        elif rev.kind in ("token", "tokens_before"):
            state = self.vehicles.get(rev.vehicle_id)
            for session in list(state.sessions) if state is not None else []:
                why = self.revoked_tokens.why_refused(session.token) if session.token else None
                if why:
                    session.refuse(Code.PERMISSION_DENIED, why)
        if rev.kind in ("vehicle", "admit", "token", "tokens_before"):
            log.warning(json.dumps({"event": "revocation", "vehicle": rev.vehicle_id, "kind": rev.kind}))

    def detach(self, session: LinkSession, reason: str) -> None:
        """The session ended: free its slot, record its end."""
        if session in self.sessions:
            self.sessions.discard(session)
            self.metrics.sessions.labels(session.transport).dec()
        state = session.vehicle
        if state is not None:
            self._unlink(state, session)
        if session.session_key is not None:
            self.sink.close_session(
                session.session_key, time.time_ns(), reason, session.batches, session.samples
            )
            log.info(
                json.dumps(
                    {
                        "event": "session_closed",
                        "vehicle": session.vehicle_id,
                        "reason": reason,
                        "batches": session.batches,
                        "samples": session.samples,
                    }
                )
            )

    @staticmethod
    def _unlink(state: VehicleState, session: LinkSession) -> None:
        if session in state.sessions:
            state.sessions.remove(session)
        if state.session is session:
            state.session = state.sessions[-1] if state.sessions else None

    # ------------------------------------------------------------------ downlink

    async def send_command(
        self, vehicle_id: str, kind: str, payload: bytes, *, local_only: bool = False
    ) -> link_pb2.CommandAck:
        """Send a Command to a connected vehicle and wait for its CommandAck; a vehicle held by
        another replica is reached through the sink's relay (when the storage has one)."""
        state = self.vehicles.get(vehicle_id)
        if (state is None or state.session is None) and not local_only and self.sink.relays_commands:
            return await self.sink.relay_command(vehicle_id, kind, payload)
        if state is None or state.session is None:
            self.metrics.commands.labels("not_connected").inc()
            raise CommandError(f"vehicle {vehicle_id} is not connected")
        command = link_pb2.Command(id=next(self._command_ids), kind=kind, payload=payload)
        fut: asyncio.Future[link_pb2.CommandAck] = asyncio.get_running_loop().create_future()
        self._pending[(vehicle_id, command.id)] = fut
        sent_ns = time.time_ns()
        state.session.send(link_pb2.Downlink(command=command))
        try:
            ack = await asyncio.wait_for(fut, self.config.limits.command_timeout_s)
        except TimeoutError:
            self.metrics.commands.labels("timeout").inc()
            await self.sink.write_command(vehicle_id, command, sent_ns, None)
            raise CommandError(
                f"vehicle {vehicle_id} did not acknowledge command {command.id} within "
                f"{self.config.limits.command_timeout_s:g} s"
            ) from None
        finally:
            self._pending.pop((vehicle_id, command.id), None)
        self.metrics.commands.labels("ok" if ack.ok else "rejected").inc()
        await self.sink.write_command(vehicle_id, command, sent_ns, ack)
        return ack

    def command_acked(self, vehicle_id: str, ack: link_pb2.CommandAck) -> None:
        fut = self._pending.get((vehicle_id, ack.id))
        if fut is not None and not fut.done():
            fut.set_result(ack)

    # ------------------------------------------------------------------ live view

    def live_fleet(self) -> list[dict[str, Any]]:
        """What the dashboard shows per vehicle right now (in-memory, no database read)."""
        return [self._live_row(vid, state) for vid, state in sorted(self.vehicles.items())]

    def live_vehicle(self, vehicle_id: str) -> dict[str, Any] | None:
        """One row of :meth:`live_fleet`, or None for a vehicle this process does not know."""
        state = self.vehicles.get(vehicle_id)
        return None if state is None else self._live_row(vehicle_id, state)

    def _live_row(self, vid: str, state) -> dict[str, Any]:
        st, ev, s = state.last_status, state.last_link_event, state.session
        return {
            "vehicle_id": vid,
            "connected": s is not None,
            "transport": (st.transport if st and st.transport else None) or (s.transport if s else None),
            "peer": s.peer if s else None,
            "rtt_ms": (st.rtt_ms if st and st.rtt_ms else None) or (s.rtt_ms if s else None),
            "loss": st.loss if st else None,
            "switches": state.switches,
            "last_switch_reason": ev.reason if ev else None,
            "acked_seq": state.acked_seq,
            "batches": state.batches_stored,
            "samples": state.samples_stored,
            "duplicates": state.duplicates,
            "frames": st.frames if st else None,
            "outbox_records": st.outbox_records if st else None,
            "outbox_bytes": st.outbox_bytes if st else None,
            "evicted": st.evicted if st else None,
            "corrupt": st.corrupt if st else None,
        }


__all__ = ["GatewayCore", "PreauthSlot"]

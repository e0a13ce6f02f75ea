"""The storage interface of the gateway: what a sink must make durable, and what it recalls.

The gateway calls these from its event loop; each write returns an awaitable that completes only
once the write is durable (so an Ack can follow). SQLite is the embedded default
(:class:`~vehicle_mw.gateway.sqlite_sink.SqliteSink`); a PostgreSQL or NATS JetStream sink
implements the same methods. ``write_batch`` must be idempotent per (vehicle, seq). A vehicle's
writes must become durable in the order they were made; across vehicles a sink should be fair (the
SQLite sink forms its group commits round-robin per vehicle, so one vehicle's flood of large
batches does not hold back another's small ones).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from vehicle_mw.v1 import link_pb2


@dataclass
class VehicleRecord:
    """What the sink remembers about a vehicle, loaded when it connects."""

    vehicle_id: str
    acked_seq: int = 0  # contiguous durable watermark (persisted lazily)
    stored_above: set[int] = field(default_factory=set)  # durable seqs above acked_seq
    catalog_hash: bytes = b""
    revoked: bool = False
    catalog_ids: frozenset[int] | None = None  # signal ids of the stored catalog; None: no catalog


class Sink(abc.ABC):
    """Durable storage for everything vehicles send."""

    # called with (writes, seconds) after each commit, when the sink commits in groups (for metrics)
    on_commit: Callable[[int, float], None] | None = None
    # True when relay_command reaches vehicles connected to other gateway processes
    relays_commands: bool = False

    async def attach(self, core) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Called once the gateway core runs (a shared sink may serve its vehicles to other replicas)."""

    async def relay_command(self, vehicle_id: str, kind: str, payload: bytes) -> link_pb2.CommandAck:
        """Send a command to a vehicle held by another gateway process."""
        raise NotImplementedError

    @abc.abstractmethod
    async def start(self) -> None:
        """Open storage and start writing."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Finish pending writes and close."""

    @abc.abstractmethod
    async def load_vehicle(self, vehicle_id: str) -> VehicleRecord | None:
        """The vehicle's record, or None when it never connected."""

    async def revocations_since(self, after_key: int) -> list:
        """Revocations (:class:`~vehicle_mw.gateway.revocation.Revocation`) newer than ``after_key``;
        a sink without a revocation table has none."""
        return []

    @abc.abstractmethod
    def register_vehicle(self, vehicle_id: str, software_version: str) -> asyncio.Future[None]:
        """Create (or refresh) the vehicle's row."""

    @abc.abstractmethod
    def write_batch(
        self, vehicle_id: str, batch: link_pb2.SampleBatch, columns: link_pb2.SampleColumns
    ) -> asyncio.Future[bool]:
        """Store a batch's samples unless (vehicle, seq) is stored; True when stored now."""

    @abc.abstractmethod
    def write_acked(self, vehicle_id: str, acked_seq: int) -> asyncio.Future[None]:
        """Remember the vehicle's contiguous durable watermark (an optimisation for reload)."""

    @abc.abstractmethod
    def write_catalog(self, vehicle_id: str, catalog: link_pb2.Catalog) -> asyncio.Future[None]:
        """Store the vehicle's signal catalog (replacing the previous one)."""

    @abc.abstractmethod
    def write_link_event(self, vehicle_id: str, event: link_pb2.LinkEvent) -> asyncio.Future[None]:
        """Store a transport switch or link state change."""

    @abc.abstractmethod
    def write_status(self, vehicle_id: str, status: link_pb2.VehicleStatus) -> asyncio.Future[None]:
        """Store a periodic vehicle status."""

    @abc.abstractmethod
    def open_session(
        self, vehicle_id: str, session_id: str, transport: str, peer: str, opened_ns: int
    ) -> asyncio.Future[int]:
        """Record a new connection; returns its session key."""

    @abc.abstractmethod
    def close_session(
        self, session_key: int, closed_ns: int, reason: str, batches: int, samples: int
    ) -> None:
        """Record the end of a connection (fire and forget)."""

    @abc.abstractmethod
    def write_command(
        self, vehicle_id: str, command: link_pb2.Command, sent_ns: int, ack: link_pb2.CommandAck | None
    ) -> asyncio.Future[None]:
        """Record a downlink command and its acknowledgement (None: not acknowledged)."""


__all__ = ["Sink", "VehicleRecord"]

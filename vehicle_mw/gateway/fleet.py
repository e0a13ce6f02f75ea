"""In-memory state per vehicle: the ack watermark, the rate limiter and the live sessions.

A vehicle may hold one session per transport at once (the channel keeps its standby link open to
probe it); they share this state, so a batch sent over both is stored once, and acks go to all.

The watermark is the highest seq such that every batch up to it is durable; it only grows.
Batches above it that are durable (or evicted) wait in ``stored_above`` (ranges) for the gap to fill.

Back-pressure: a vehicle with more than its share of samples on the way to storage is not read
from until commits catch up (:meth:`VehicleState.wait_room`), so one vehicle's ingest cannot
fill the gateway's memory or the writer's queue ahead of the others.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vehicle_mw.gateway.seq_ranges import SeqRanges
from vehicle_mw.gateway.sink import VehicleRecord
from vehicle_mw.v1 import link_pb2

if TYPE_CHECKING:
    from vehicle_mw.gateway.session import LinkSession


class TokenBucket:
    """Sustained ``rate`` per second with a burst of ``rate * burst_s``."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst_s: float):
        self.rate = rate
        self.capacity = rate * burst_s
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self, amount: float = 1.0) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


@dataclass(slots=True)
class VehicleState:
    """One vehicle as the gateway sees it while the process runs."""

    vehicle_id: str
    acked_seq: int
    stored_above: SeqRanges
    catalog_hash: bytes
    messages: TokenBucket
    bytes: TokenBucket
    inflight: set[int] = field(default_factory=set)
    sessions: list[LinkSession] = field(default_factory=list)  # at most one per transport
    session: LinkSession | None = None  # the primary: the one that most recently carried data
    last_status: link_pb2.VehicleStatus | None = None
    last_link_event: link_pb2.LinkEvent | None = None
    switches: int = 0
    batches_stored: int = 0
    samples_stored: int = 0
    duplicates: int = 0
    inflight_samples: int = 0
    unknown_signals: int = 0  # samples refused because their signal id is not in the catalog
    catalog_ids: frozenset[int] | None = None  # None: catalog not known in this process
    token_id: str = ""
    _room: asyncio.Event | None = None

    @classmethod
    def from_record(
        cls, record: VehicleRecord, msg_rate: float, byte_rate: float, burst_s: float
    ) -> VehicleState:
        return cls(
            record.vehicle_id,
            record.acked_seq,
            SeqRanges(record.stored_above),
            record.catalog_hash,
            TokenBucket(msg_rate, burst_s),
            TokenBucket(byte_rate, burst_s),
            catalog_ids=record.catalog_ids,
        )

    def is_duplicate(self, seq: int) -> bool:
        """Already durable or already on its way to the sink."""
        return seq <= self.acked_seq or seq in self.stored_above or seq in self.inflight

    def raise_floor(self, seq: int) -> None:
        """The vehicle says everything up to ``seq`` was acknowledged (and deleted on its side)."""
        if seq > self.acked_seq:
            self.acked_seq = seq
            self.stored_above.drop_through(seq)
            self._advance()

    def skip_evicted(self, first: int, last: int) -> None:
        """Batches ``first..last`` were evicted by the vehicle's outbox: they never come, never stall."""
        if last <= self.acked_seq:
            return
        if first <= self.acked_seq + 1:
            self.raise_floor(last)
            return
        self.stored_above.add(first, last)
        self._advance()

    def durable(self, seq: int) -> bool:
        """Record that ``seq`` is durable; True when the watermark moved."""
        self.inflight.discard(seq)
        before = self.acked_seq
        if seq > self.acked_seq:
            self.stored_above.add(seq)
            self._advance()
        return self.acked_seq != before

    def _advance(self) -> None:
        last = self.stored_above.take_from(self.acked_seq + 1)
        if last is not None:
            self.acked_seq = last

    # ------------------------------------------------------------------ back-pressure

    def add_inflight(self, samples: int) -> None:
        self.inflight_samples += samples

    def done_inflight(self, samples: int, limit: int) -> None:
        self.inflight_samples -= samples
        if self._room is not None and self.inflight_samples <= limit:
            self._room.set()

    async def wait_room(self, limit: int) -> None:
        """Return once at most ``limit`` samples of this vehicle await storage."""
        while self.inflight_samples > limit:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()


__all__ = ["TokenBucket", "VehicleState"]

"""In-memory state per vehicle: the ack watermark, the rate limiter and the live sessions.

A vehicle may hold one session per transport at once (the channel keeps its standby link open to
probe it); they share this state, so a batch sent over both is stored once, and acks go to all.

The watermark is the highest seq such that every batch up to it is durable; it only grows.
Batches above it that are durable wait in ``stored_above`` for the gap to fill.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
    stored_above: set[int]
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

    @classmethod
    def from_record(
        cls, record: VehicleRecord, msg_rate: float, byte_rate: float, burst_s: float
    ) -> VehicleState:
        return cls(
            record.vehicle_id,
            record.acked_seq,
            set(record.stored_above),
            record.catalog_hash,
            TokenBucket(msg_rate, burst_s),
            TokenBucket(byte_rate, burst_s),
        )

    def is_duplicate(self, seq: int) -> bool:
        """Already durable or already on its way to the sink."""
        return seq <= self.acked_seq or seq in self.stored_above or seq in self.inflight

    def raise_floor(self, seq: int) -> None:
        """The vehicle says everything up to ``seq`` was acknowledged (and deleted on its side)."""
        if seq > self.acked_seq:
            self.acked_seq = seq
            self.stored_above = {s for s in self.stored_above if s > seq}
            self._advance()

    def skip_evicted(self, first: int, last: int) -> None:
        """Batches ``first..last`` were evicted by the vehicle's outbox: they never come, never stall."""
        if last <= self.acked_seq:
            return
        if first <= self.acked_seq + 1:
            self.raise_floor(last)
            return
        self.stored_above.update(range(first, last + 1))
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
        while self.acked_seq + 1 in self.stored_above:
            self.acked_seq += 1
            self.stored_above.remove(self.acked_seq)


__all__ = ["TokenBucket", "VehicleState"]

"""The shared-memory rings of a deployment: stable names, open-or-attach, and cleanup.

Names derive from the deployment name only (``/vmw.<deployment>.<stage>.<source>.<kind>``), never
from a pid, so a restarted stage process re-attaches to the ring it left (records committed before
a kill are still there) and a restarted deployment rejoins the rings of its previous run. Each ring
has one producer and one consumer (SPSC): one frame ring per bus (bus reader -> decoder), one sample
ring per bus (decoder -> outbox) and per SOME/IP service (consumer -> outbox).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from vehicle_mw.native import FRAME_SIZE, SAMPLE_SIZE, SlotRing
from vehicle_mw.native.segments import SHM_DIR
from vehicle_mw.runtime.deployment import Deployment

log = logging.getLogger("vehicle_mw.runtime")


@dataclass(frozen=True)
class RingPlan:
    """Names and capacities of every ring of one deployment."""

    deployment: str
    buses: tuple[str, ...]
    services: tuple[str, ...]
    frame_slots: int
    sample_slots: int

    @classmethod
    def of(cls, dep: Deployment) -> RingPlan:
        rt = dep.machine.runtime
        return cls(
            dep.name,
            tuple(b.name for b in dep.buses),
            tuple(s.service.name for s in dep.services),
            rt.frame_ring_slots,
            rt.sample_ring_slots,
        )

    @property
    def prefix(self) -> str:
        return f"/vmw.{self.deployment}."

    def frames(self, bus: str) -> str:
        return f"{self.prefix}can.{bus}.frames"

    def bus_samples(self, bus: str) -> str:
        return f"{self.prefix}decode.{bus}.samples"

    def service_samples(self, service: str) -> str:
        return f"{self.prefix}someip.{service}.samples"

    def all_names(self) -> list[str]:
        names = [self.frames(b) for b in self.buses] + [self.bus_samples(b) for b in self.buses]
        return names + [self.service_samples(s) for s in self.services]

    def open_frames(self, bus: str) -> SlotRing:
        return SlotRing.open(self.frames(bus), FRAME_SIZE, self.frame_slots)

    def open_bus_samples(self, bus: str) -> SlotRing:
        return SlotRing.open(self.bus_samples(bus), SAMPLE_SIZE, self.sample_slots)

    def open_service_samples(self, service: str) -> SlotRing:
        return SlotRing.open(self.service_samples(service), SAMPLE_SIZE, self.sample_slots)

    def existing(self) -> list[str]:
        """Segments in /dev/shm under this deployment's prefix."""
        stem = self.prefix.lstrip("/")
        return sorted("/" + e for e in os.listdir(SHM_DIR) if e.startswith(stem))

    def reclaim_unplanned(self) -> list[str]:
        """At deployment start: unlink segments of this deployment that the current manifests no
        longer plan (a removed bus, ...). Planned ones are kept and rejoined with what they hold."""
        planned = set(self.all_names())
        removed = [name for name in self.existing() if name not in planned]
        for name in removed:
            _unlink(name)
        if removed:
            log.info("reclaimed ring segments no longer planned: %s", ", ".join(removed))
        return removed

    def unlink_all(self) -> list[str]:
        """At clean shutdown (rings drained): remove every segment of this deployment."""
        names = self.existing()
        for name in names:
            _unlink(name)
        return names


def _unlink(name: str) -> None:
    try:
        os.unlink(os.path.join(SHM_DIR, name.lstrip("/")))
    except FileNotFoundError:
        pass


def next_seq(ring: SlotRing, *, replay: bool) -> int:
    """The sequence number a (re)started bus reader continues with, from the ring's shared counters.

    A replay retries what a full ring refused, so its next frame is the push count; a live bus drops
    what the ring refuses, and those frames had numbers too (pushed + dropped), never to be reused."""
    st = ring.stats()
    return int(st.pushed if replay else st.pushed + st.dropped)


__all__ = ["RingPlan", "next_seq"]

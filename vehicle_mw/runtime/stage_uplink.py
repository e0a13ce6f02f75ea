"""Stage ``uplink``: sample rings -> durable outbox (exactly once) -> the channel's Uplink.

One thread takes samples from every sample ring (the decoder's per bus, the SOME/IP consumers'
per service) by peek -> append to the outbox -> release: a record leaves its ring only once it is in
the outbox, and what a restart offers again is dropped by the outbox's high-water marks. What all
rings hold is appended as one batch, every ``outbox.linger_ms``: the per-batch cost (framing,
send, ack, the gateway's insert) is paid per window, not per ring and wakeup. The Uplink
(gRPC/WebSocket negotiation, see docs/channel.md) runs on its own asyncio loop in a second thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

import numpy as np

from vehicle_mw.channel import Uplink
from vehicle_mw.native import SAMPLE_DTYPE, SlotRing
from vehicle_mw.runtime.campaigns import RuntimeCampaigns
from vehicle_mw.runtime.dedup import DedupOutbox
from vehicle_mw.runtime.deployment import Deployment
from vehicle_mw.runtime.rings import RingPlan
from vehicle_mw.runtime.stage import Stage, StageFailed, wait_empty
from vehicle_mw.v1 import link_pb2

log = logging.getLogger("vehicle_mw.runtime")

PEEK_MAX = 4096
IDLE_WAIT_S = 0.001  # with linger_ms 0: the poll period while every ring is empty
CAMPAIGN_LINGER_S = 0.1  # with active campaigns: their windows last seconds, their cost is per batch


class UplinkStage(Stage):
    """Owns the outbox and the Uplink of the deployment."""

    name = "uplink"

    def __init__(self, dep: Deployment, plan: RingPlan, catalog: link_pb2.Catalog):
        self.dep = dep
        self.rings: list[SlotRing] = [plan.open_bus_samples(b.name) for b in dep.buses]
        self.rings += [plan.open_service_samples(s.service.name) for s in dep.services]
        cfg = dep.channel
        self.outbox = DedupOutbox(cfg.outbox.directory, cfg.outbox)
        self.catalog = catalog
        self.campaigns = RuntimeCampaigns(  # docs/campaigns.md; none active: the drain is unchanged
            dep.state_dir,
            catalog,
            cfg.vehicle_id,
            cfg.software_version,
            max_batch_samples=cfg.outbox.max_batch_samples,
        )
        self.samples_in = 0
        self.samples_stored = 0
        self._stop_drain = threading.Event()
        self._drain_thread = threading.Thread(target=self._drain_loop, name="uplink-drain", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._uplink: Uplink | None = None
        self._uplink_ready = threading.Event()
        self._link_thread = threading.Thread(target=self._run_link, name="uplink-link", daemon=True)
        self.error: BaseException | None = None
        self._last_transport: str | None = None

    # ---------------------------------------------------------------- rings -> outbox
    def _drain_once(self) -> int:
        """Peek every ring, append what they hold as one batch, then release them all."""
        with contextlib.ExitStack() as peeks:  # an exception leaves every record in its ring
            parts = []
            for ring in self.rings:
                view = peeks.enter_context(ring.peek(PEEK_MAX))
                if len(view):
                    parts.append(np.frombuffer(view, SAMPLE_DTYPE))
            if not parts:
                return 0
            n = sum(len(p) for p in parts)
            self.samples_in += n
            if self.campaigns.running:  # only what the active campaigns select, with their priorities
                self.samples_stored += self.outbox.append_new(parts, self.campaigns.select)
            else:
                self.samples_stored += self.outbox.append_new(parts)
            return n

    def _drain_loop(self) -> None:
        linger = self.dep.channel.outbox.linger_ms / 1000.0
        full = self.dep.channel.outbox.max_batch_samples
        try:
            while not self._stop_drain.is_set():
                moved = self._drain_once()
                self.outbox.sync_if_due()  # here, not on the link's event loop: an fsync blocks
                if moved < full:  # (a full window: catching up, go on at once)
                    wait = linger if linger or moved else IDLE_WAIT_S
                    if self.campaigns.running:  # their per-batch cost is paid per CAMPAIGN_LINGER_S
                        wait = max(wait, CAMPAIGN_LINGER_S)
                    self._stop_drain.wait(wait)
            self._drain_once()
        except BaseException as exc:  # noqa: BLE001 - poll() turns it into a stage failure
            self.error = exc
            log.exception("outbox drain failed")

    # ---------------------------------------------------------------- outbox -> gateway
    def _status(self) -> dict[str, int]:
        return {"samples": self.samples_stored}

    def _run_link(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            from vehicle_mw.runtime.commands import RuntimeCommands, outbox_flush, stage_counters

            commands = (
                RuntimeCommands(  # ping / status / flush / campaign from the operator (docs/runtime.md)
                    stage_counters(self.dep.state_dir, {self.name: self.counters}),
                    outbox_flush(self.outbox),
                    campaign=self.campaigns.accept,
                )
            )
            self._uplink = Uplink(
                self.dep.channel,
                self.outbox,
                self.catalog,
                status_source=self._status,
                on_command=commands,
                writer_syncs=True,  # the drain loop syncs after its appends
            )
            self._uplink.add_switch_listener(self._switched)
            self._uplink_ready.set()
            await self._uplink.run()

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
            log.exception("uplink failed")

    def _switched(self, ev: Any) -> None:
        log.info(
            "link switch",
            extra={
                "from": ev.from_transport,
                "to": ev.to_transport,
                "reason": ev.reason,
                "rtt_ms": ev.rtt_ms,
            },
        )

    @property
    def uplink(self) -> Uplink | None:
        return self._uplink

    # ---------------------------------------------------------------- Stage
    def start(self) -> None:
        self._link_thread.start()
        self._uplink_ready.wait(10)
        self._drain_thread.start()

    def poll(self) -> None:
        if self.error is not None:
            raise StageFailed(f"uplink stage: {self.error}")
        if not self._drain_thread.is_alive() or not self._link_thread.is_alive():
            raise StageFailed("uplink stage: a worker thread stopped")
        self.outbox.sync_if_due()
        self.campaigns.refresh()
        active = self._uplink.active if self._uplink else None
        if active != self._last_transport:
            log.info("transport", extra={"transport": active, "previous": self._last_transport})
            self._last_transport = active

    def counters(self) -> dict[str, Any]:
        st = self.outbox.stats()
        out: dict[str, Any] = {
            "samples_in": self.samples_in,
            "samples_stored": self.samples_stored,
            "duplicates_dropped": self.outbox.high_water.duplicates,
            "backlog_batches": st.backlog_batches,
            "backlog_samples": st.backlog_records,
            "acked_seq": st.acked_seq,
            "high_seq": st.high_seq,
            "evicted_samples": st.evicted_records,
            "ring_drops": sum(int(r.stats().dropped) for r in self.rings),
        }
        if self.campaigns.has_any():
            out["campaigns"] = self.campaigns.counters()
        up = self._uplink
        if up is not None:
            out["transport"] = up.active
            out["switches"] = up.switches
            out["links"] = {
                name: {"up": v.up, "rtt_ms": round(v.srtt_ms, 3), "loss": round(v.loss, 4)}
                for name, v in up.links().items()
            }
        return out

    def drain(self, timeout: float) -> None:
        """Empty the sample rings into the outbox, then wait (bounded) for the gateway's acks."""
        wait_empty(self.rings, timeout)
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while self.outbox.acked_seq < self.outbox.high_seq and time.monotonic() < deadline:
            self.outbox.sync_if_due()
            pause.wait(0.02)

    def stop(self) -> None:
        self._stop_drain.set()
        self._drain_thread.join(5.0)
        if self._loop is not None and self._uplink is not None:
            self._loop.call_soon_threadsafe(self._uplink.stop)
        self._link_thread.join(10.0)
        self.outbox.close()
        for ring in self.rings:
            ring.close()


__all__ = ["UplinkStage"]

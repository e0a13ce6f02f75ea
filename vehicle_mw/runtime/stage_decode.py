"""Stage ``decode``: per bus, the native decode loop from its frame ring into its sample ring.

The loop (``vmw_decode_loop``, all in C, GIL released) peeks frames, decodes them, pushes their
samples and only then releases the frames; a decoder killed in between decodes those frames again
after its restart, and the outbox drops the repeated samples by source sequence (runtime/dedup.py).
"""

from __future__ import annotations

import logging
from typing import Any

from vehicle_mw.runtime.deployment import Deployment
from vehicle_mw.runtime.rings import RingPlan
from vehicle_mw.runtime.stage import Stage, StageFailed, wait_empty
from vehicle_mw.signals import SignalCatalog
from vehicle_mw.signals.transport import decoder_thread

log = logging.getLogger("vehicle_mw.runtime")


class DecodeStage(Stage):
    """One decoder thread per bus (a Decoder is not thread-safe; each has its own)."""

    name = "decode"

    def __init__(self, dep: Deployment, plan: RingPlan, catalog: SignalCatalog):
        self.dep = dep
        self.frames = [plan.open_frames(b.name) for b in dep.buses]
        self.samples = [plan.open_bus_samples(b.name) for b in dep.buses]
        self.threads = [  # DecoderThread, or TransportDecoderThread on a bus with j1939_tp / isotp
            decoder_thread(catalog, i, f, s, name=f"decode-{b.name}")
            for i, (b, f, s) in enumerate(zip(dep.buses, self.frames, self.samples, strict=True))
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def poll(self) -> None:
        for b, t in zip(self.dep.buses, self.threads, strict=True):
            if not t.alive:
                raise StageFailed(f"decoder of bus {b.name} stopped: {t.error}")

    def counters(self) -> dict[str, Any]:
        out = {}
        for b, t, s in zip(self.dep.buses, self.threads, self.samples, strict=True):
            st = t.stats()
            ring = s.stats()
            out[b.name] = {
                "frames": st.frames,
                "decoded": st.decoded,
                "unknown_ids": st.unknown,
                "too_short": st.too_short,
                "samples": st.samples,
                "sample_ring_drops": int(ring.dropped),
                "sample_ring_fill": len(s),
            }
            if hasattr(t, "transport_counters"):
                out[b.name]["transport"] = t.transport_counters()
        return {"buses": out}

    def drain(self, timeout: float) -> None:
        wait_empty(self.frames, timeout)

    def stop(self) -> None:
        for t in self.threads:
            t.stop()
        for ring in (*self.frames, *self.samples):
            ring.close()


__all__ = ["DecodeStage"]

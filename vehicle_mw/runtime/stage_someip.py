"""Stage ``someip``: the SOME/IP services of the machine manifest, consumed into sample rings.

Each service's events become samples (signal ids and VSS names from its service-instance manifest)
in a sample ring of its own, which the outbox stage drains like the decoder's. A consumer numbers its
events from 0; the stage offsets them by its start time in microseconds, so a restarted stage's
sequence numbers are higher than any it used before (fewer than one event per microsecond) and the
outbox's per-source marks never mistake new events for repeats. Needs the ``someip`` extra.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import numpy as np

from vehicle_mw.manifest import ManifestError
from vehicle_mw.native import SAMPLE_DTYPE, SlotRing
from vehicle_mw.runtime.deployment import Deployment
from vehicle_mw.runtime.rings import RingPlan
from vehicle_mw.runtime.stage import Stage, StageFailed

log = logging.getLogger("vehicle_mw.runtime")

ENDPOINT = "someip"  # the machine manifest's network endpoint whose address SOME/IP uses


def interface_ip(dep: Deployment) -> str:
    """The address the SOME/IP runtime binds: the machine manifest's ``network`` entry ``someip``."""
    for ep in dep.machine.network:
        if ep.name == ENDPOINT:
            return ep.address
    raise ManifestError(
        str(dep.machine_path),
        [("network", f"SOME/IP services are listed: a network endpoint {ENDPOINT!r} must give the address")],
    )


class SequencedSink:
    """Pushes a consumer's sample records into the ring with ``source_seq`` offset by ``base``."""

    def __init__(self, ring: SlotRing, base: int):
        self.ring, self.base = ring, base
        self.pushed = 0
        self.dropped = 0

    def push_batch(self, buf: memoryview) -> int:
        records = np.frombuffer(buf, SAMPLE_DTYPE).copy()
        records["source_seq"] += np.uint64(self.base)
        n = int(self.ring.push_batch(records))
        self.pushed += n
        self.dropped += len(records) - n
        return n


class SomeIpStage(Stage):
    name = "someip"

    def __init__(self, dep: Deployment, plan: RingPlan):
        self.dep = dep
        self.ip = interface_ip(dep)
        base = time.time_ns() // 1000
        names = [s.service.name for s in dep.services]
        self.sinks = {n: SequencedSink(plan.open_service_samples(n), base) for n in names}
        self.consumers: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="someip", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        from vehicle_mw.someip import SomeIpRuntime

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with SomeIpRuntime(self.ip) as rt:
                for s in self.dep.services:
                    self.consumers[s.service.name] = await rt.consume(s.service, self.sinks[s.service.name])
                    log.info(
                        "someip consumer started", extra={"service": s.service.name, "file": str(s.path)}
                    )
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - poll() reports it
            self.error = exc
            log.exception("someip stage failed")
        finally:
            self._ready.set()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)

    def poll(self) -> None:
        if self.error is not None or not self._thread.is_alive():
            raise StageFailed(f"someip stage stopped: {self.error}")

    def counters(self) -> dict[str, Any]:
        out = {}
        for name, sink in self.sinks.items():
            c = self.consumers.get(name)
            out[name] = {
                "available": bool(c is not None and c.available.is_set()),
                "events": c.stats.events if c is not None else 0,
                "samples": sink.pushed,
                "ring_drops": sink.dropped,
            }
        return {"services": out}

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        for sink in self.sinks.values():
            sink.ring.close()


__all__ = ["SequencedSink", "SomeIpStage", "interface_ip"]

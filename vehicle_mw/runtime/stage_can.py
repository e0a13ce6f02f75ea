"""Stage ``can``: one reader per bus of the machine manifest, each into its own frame ring.

A live bus is a :class:`vehicle_mw.can.BusReader` (any python-can interface, reopened with backoff);
a bus with ``interface: replay`` replays its log with the log's timing (all replayed buses in one
thread). Either way a restarted stage
continues the sequence numbers from its frame ring's shared counters: a replay skips the frames the
ring already got (nothing twice, nothing lost), a live bus never reuses a number.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vehicle_mw.can import BusReader, ReplayError
from vehicle_mw.can.replay import replay_logs, replay_steps
from vehicle_mw.native import SlotRing
from vehicle_mw.runtime.deployment import Deployment
from vehicle_mw.runtime.rings import RingPlan, next_seq
from vehicle_mw.runtime.stage import Stage

log = logging.getLogger("vehicle_mw.runtime")
# Replayed buses hand frames on in batches of 5 ms, never early, each frame stamped with its due
# time: a wakeup per frame cost more CPU than the rest of the runtime together (~100 us a wakeup on
# a VM), and 5 ms is a tenth of the 50 ms receive -> durable budget (p99 was 30 ms at 2 ms and at
# 5 ms). A replay bus stands in for a bus feeding this runtime, not for a bus's timing on the wire.
REPLAY_WINDOW_MS = 5.0


class ReplayBus:
    """A bus whose frames come from a log file (``interface: replay``); :class:`ReplayThread`
    replays it together with the deployment's other replayed buses."""

    def __init__(self, dep: Deployment, bus_id: int, ring: SlotRing):
        self.dep, self.bus_id, self.ring = dep, bus_id, ring
        self.cfg = dep.machine.can[bus_id]
        self.state = "opening"
        self.last_error = ""
        self.resumed_at = next_seq(ring, replay=True)

    def steps(self, stop: threading.Event):
        """This bus's replay as a generator (:func:`vehicle_mw.can.replay_steps`), or None if its
        log cannot be opened (the error is logged naming the manifest field)."""
        try:
            steps = replay_steps(
                self.dep.bus_file(self.bus_id),
                self.ring,
                speed=1.0 if self.cfg.speed is None else self.cfg.speed,
                loops=0 if self.cfg.loop else 1,
                bus_id=self.bus_id,
                stop=stop,
                resume={self.bus_id: self.resumed_at},
                window_ms=REPLAY_WINDOW_MS,
            )
        except ReplayError as exc:
            self.failed(exc)
            return None
        self.state = "up"
        return steps

    def failed(self, exc: BaseException) -> None:
        self.state = "failed"
        if isinstance(exc, ReplayError):
            self.last_error = str(exc)
            log.error("%s: %s", self.dep.field(self.bus_id, "file"), exc)
        else:  # a reader bug must not take the other buses down
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("%s: replay failed", self.dep.field(self.bus_id, "file"), exc_info=exc)

    def counters(self) -> dict[str, Any]:
        st = self.ring.stats()
        return {"state": self.state, "frames": int(st.pushed), "dropped": 0, "last_error": self.last_error}


class ReplayThread:
    """One thread replaying every replayed bus, as one adapter's channels share its transfers:
    one wakeup serves every bus with a batch due (a wakeup costs ~100 us of CPU on a VM, and a
    thread per bus woke ~600 times a second for three logs). A bus whose log fails stops alone."""

    def __init__(self, buses: list[ReplayBus]):
        self.buses = buses
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)

    def start(self) -> None:
        if self.buses:
            self._thread.start()

    def _run(self) -> None:
        live = [(bus, bus.steps(self._stop)) for bus in self.buses]
        live = [(bus, steps) for bus, steps in live if steps is not None]
        results = replay_logs([steps for _bus, steps in live], self._stop)
        for (bus, _steps), result in zip(live, results, strict=True):
            if isinstance(result, BaseException):
                bus.failed(result)
            else:
                bus.state = "stopped" if self._stop.is_set() else "done"

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)


class CanStage(Stage):
    """Every bus of the deployment, each read into its frame ring."""

    name = "can"

    def __init__(self, dep: Deployment, plan: RingPlan):
        self.dep = dep
        self.rings = [plan.open_frames(b.name) for b in dep.buses]
        self.readers: list[ReplayBus | BusReader] = []
        self._failures_logged: dict[int, int] = {}
        for i, (cfg, ring) in enumerate(zip(dep.buses, self.rings, strict=True)):
            if cfg.is_replay:
                self.readers.append(ReplayBus(dep, i, ring))
            else:
                self.readers.append(BusReader(cfg, i, ring, start_seq=next_seq(ring, replay=False)))
        self.replay = ReplayThread([r for r in self.readers if isinstance(r, ReplayBus)])

    def start(self) -> None:
        self.replay.start()
        for i, r in enumerate(self.readers):
            if isinstance(r, BusReader):
                r.start()
            log.info(
                "bus started", extra={"bus": self.dep.buses[i].name, "interface": self.dep.buses[i].interface}
            )

    def poll(self) -> None:
        for i, r in enumerate(self.readers):
            if isinstance(r, BusReader) and r.status.failures != self._failures_logged.get(i, 0):
                self._failures_logged[i] = r.status.failures
                cfg = self.dep.buses[i]
                log.error(
                    "%s: %s %s cannot be used (%s); retrying with backoff, the other buses keep running",
                    self.dep.field(i, "interface"),
                    cfg.interface,
                    cfg.channel,
                    r.status.last_error,
                )

    def counters(self) -> dict[str, Any]:
        buses = {}
        for i, r in enumerate(self.readers):
            name = self.dep.buses[i].name
            if isinstance(r, BusReader):
                st = r.status
                ring = self.rings[i].stats()
                buses[name] = {
                    "state": st.state,
                    "frames": int(ring.pushed),
                    "dropped": int(ring.dropped),
                    "error_frames": st.error_frames,
                    "failures": st.failures,
                    "last_error": st.last_error,
                }
            else:
                buses[name] = r.counters()
        return {"buses": buses}

    def drain(self, timeout: float) -> None:
        """A producer's drain is to stop reading: then everything it read is in its rings, and the
        counters taken after the drain (``VehicleRuntime.final_counters``) are the final ones."""
        self._stop_reading()

    def _stop_reading(self) -> None:
        self.replay.stop()
        for r in self.readers:
            if isinstance(r, BusReader):
                r.stop()

    def stop(self) -> None:
        self._stop_reading()
        for ring in self.rings:
            ring.close()


__all__ = ["CanStage", "ReplayBus", "ReplayThread"]

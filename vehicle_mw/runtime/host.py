"""Runs stages: start, poll with health reporting, publish counters, drain and stop in order.

In a stage process the host reports to the execution manager's supervision: ``report_running``
once the stage is up, a heartbeat and the checkpoints ``poll_start`` / ``poll_end`` per poll (alive,
deadline and logical supervision of the real work loop). In threads mode the same calls are no-ops.
"""

from __future__ import annotations

import logging
import pathlib
import threading
import time

from vehicle_mw.exec import client
from vehicle_mw.runtime import counters
from vehicle_mw.runtime.stage import Stage

log = logging.getLogger("vehicle_mw.runtime")

POLL_S = 0.1  # 10 heartbeats/s
PUBLISH_S = 0.5
CHECKPOINTS = ("poll_start", "poll_end")


def _checkpoint(name: str) -> None:
    try:
        client.checkpoint(name)
    except ValueError:
        pass  # the manifest declared other checkpoints: alive supervision still works


class StageHost:
    """Hosts stages in this process, in dependency order (consumers first, producers last)."""

    def __init__(self, stages: list[Stage], state_dir: pathlib.Path):
        self.stages = stages
        self.state_dir = state_dir
        self.started: list[Stage] = []
        self.last_counters: dict[str, dict] = {}  # per stage, taken after its drain at stop()

    def start(self) -> None:
        for st in self.stages:
            st.start()
            self.started.append(st)
            log.info("stage started", extra={"stage": st.name})
        self.publish()
        client.report_running()

    def poll(self) -> None:
        _checkpoint(CHECKPOINTS[0])
        for st in self.started:
            st.poll()
        _checkpoint(CHECKPOINTS[1])
        client.heartbeat()

    def publish(self) -> None:
        for st in self.started:
            try:
                counters.publish(self.state_dir, st.name, st.counters())
            except OSError as exc:
                log.warning("cannot publish counters of %s to %s: %s", st.name, self.state_dir, exc)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set (a StageFailed propagates: the process exits and is restarted)."""
        last = 0.0
        while not stop.is_set():
            self.poll()
            now = time.monotonic()
            if now - last >= PUBLISH_S:
                self.publish()
                last = now
            stop.wait(POLL_S)

    def stop(self, drain_s: float = 10.0) -> None:
        """Producers first: each stage lets its input rings drain into the next before it stops."""
        for st in reversed(self.started):
            st.drain(drain_s)
            self.last_counters[st.name] = st.counters()
            st.stop()
            counters.remove(self.state_dir, st.name)
            log.info("stage stopped", extra={"stage": st.name})
        self.started = []


__all__ = ["CHECKPOINTS", "StageHost"]

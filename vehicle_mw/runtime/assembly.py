"""The vehicle runtime: every stage of a deployment, as threads of this process or supervised processes.

Threads mode (small ECUs, the default): the stages run here, hosted by one polling thread.
Process mode (an execution manifest is given): the execution manager (vehicle_mw.exec) launches one
process per stage with the scheduling, supervision and restart policy the manifest gives it; this
process owns the rings (it creates them, so their creator stays alive while stages come and go) and
reads the stages' counters from their files.
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
import time
from collections.abc import Callable
from typing import Any

from vehicle_mw.native import SlotRing
from vehicle_mw.runtime import counters as counter_files
from vehicle_mw.runtime.deployment import ENV_CHANNEL, ENV_MACHINE, Deployment, load_deployment
from vehicle_mw.runtime.host import StageHost
from vehicle_mw.runtime.rings import RingPlan
from vehicle_mw.runtime.signals import deployment_catalog, load_can_catalog
from vehicle_mw.runtime.stage import Stage
from vehicle_mw.runtime.stages import build_stage, stage_names
from vehicle_mw.v1 import link_pb2

log = logging.getLogger("vehicle_mw.runtime")


class VehicleRuntime:
    """One deployment's pipeline: bus readers -> frame rings -> decoders -> sample rings -> outbox ->
    uplink (+ SOME/IP consumers -> sample rings). ``start()``, ``counters()``, ``stop()``."""

    def __init__(self, deployment: Deployment, execution: str | os.PathLike[str] | None = None):
        self.deployment = deployment
        self.execution = pathlib.Path(execution).resolve() if execution is not None else None
        self.plan = RingPlan.of(deployment)
        self.catalog, self.database_errors = load_can_catalog(deployment)
        self._rings: list[SlotRing] = []
        self._host: StageHost | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.manager: Any = None  # the ExecutionManager in process mode
        self.error: BaseException | None = None
        self.final_counters: dict[str, dict[str, Any]] = {}  # threads mode: per stage, after the drain

    @classmethod
    def from_manifests(
        cls,
        machine: str | os.PathLike[str],
        channel: str | os.PathLike[str] | None = None,
        execution: str | os.PathLike[str] | None = None,
    ) -> VehicleRuntime:
        return cls(load_deployment(machine, channel), execution)

    @property
    def mode(self) -> str:
        return "threads" if self.execution is None else "processes"

    @property
    def state_dir(self) -> pathlib.Path:
        return self.deployment.state_dir

    def catalog_message(self) -> link_pb2.Catalog:
        """The Catalog message the uplink sends the gateway (CAN + SOME/IP signals, VSS paths)."""
        return deployment_catalog(self.deployment, self.catalog)

    # ---------------------------------------------------------------- lifecycle
    def _open_rings(self) -> None:
        self.plan.reclaim_unplanned()
        p = self.plan
        self._rings = [p.open_frames(b) for b in p.buses] + [p.open_bus_samples(b) for b in p.buses]
        self._rings += [p.open_service_samples(s) for s in p.services]

    def start(self) -> VehicleRuntime:
        self._open_rings()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log.info(
            "runtime starting",
            extra={"deployment": self.deployment.name, "mode": self.mode, "buses": len(self.plan.buses)},
        )
        if self.execution is None:
            self._start_threads()
        else:
            self._start_processes()
        return self

    def _start_threads(self) -> None:
        stages: list[Stage] = []
        for name in stage_names(self.deployment):
            stages.append(build_stage(name, self.deployment, self.plan, self.catalog))
        self._host = StageHost(stages, self.state_dir)
        self._host.start()
        self._thread = threading.Thread(target=self._poll_threads, name="vmw-runtime", daemon=True)
        self._thread.start()

    def _poll_threads(self) -> None:
        try:
            assert self._host is not None
            self._host.run(self._stop)
        except BaseException as exc:  # noqa: BLE001 - kept for the caller (vmw vehicle run exits non-zero)
            self.error = exc
            log.error("runtime stage failed: %s", exc)

    def _start_processes(self) -> None:
        from vehicle_mw.exec import ExecutionManager

        self.manager = ExecutionManager.from_file(self.execution)
        for app in self.manager.apps.values():  # the stages load the same manifests as this process
            app.extra[ENV_MACHINE] = str(self.deployment.machine_path)
            app.extra[ENV_CHANNEL] = str(self.deployment.channel_path)
        self.manager.start()

    @property
    def stages(self) -> list[Stage]:
        """Threads mode: the stage objects (e.g. ``runtime.stage('uplink').uplink``)."""
        return list(self._host.stages) if self._host is not None else []

    def stage(self, name: str) -> Stage:
        for st in self.stages:
            if st.name == name:
                return st
        raise KeyError(f"no stage {name!r} in this process ({self.mode} mode)")

    def counters(self) -> dict[str, dict[str, Any]]:
        """Per stage: its counters (threads mode: live; process mode: the stages' last published)."""
        if self._host is not None:
            return {st.name: st.counters() for st in self._host.started}
        return {name: doc.get("counters", {}) for name, doc in counter_files.read_all(self.state_dir).items()}

    def wait_for(self, predicate: Callable[[dict[str, dict[str, Any]]], bool], timeout: float) -> bool:
        """Poll ``predicate(counters())`` until true or ``timeout`` (bounded waits for tests and tools)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate(self.counters()):
                    return True
            except (KeyError, TypeError):
                pass  # a stage has not published yet
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self, drain_s: float = 10.0) -> None:
        """Stop producers first, let every ring drain into the outbox and the outbox to the gateway
        (bounded by ``drain_s`` each), then remove the rings -- unless records are still in them."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self._host is not None:
            self._host.stop(drain_s)
            self.final_counters = self._host.last_counters
            self._host = None
        if self.manager is not None:
            self.manager.shutdown()
            self.manager = None
        left = [r.name for r in self._rings if len(r)]
        for ring in self._rings:
            ring.close()
        self._rings = []
        if left:
            log.warning("rings kept for the next start (records still in them): %s", ", ".join(left))
        else:
            self.plan.unlink_all()
        log.info("runtime stopped", extra={"deployment": self.deployment.name})

    def __enter__(self) -> VehicleRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["VehicleRuntime"]

"""The vehicle runtime: the one assembly of the vehicle pipeline, built from manifests alone.

Stages: bus readers -> frame ring per bus -> native decoder -> sample ring per bus (and per SOME/IP
service, from its consumer) -> durable outbox (exactly once, by source sequence) -> uplink (gRPC /
WebSocket). Threads of this process by default; one supervised process per stage when an execution
manifest is given. See docs/runtime.md (architecture) and docs/deployment.md (integrator's guide).

Python API::

    from vehicle_mw.runtime import VehicleRuntime, load_deployment

    rt = VehicleRuntime.from_manifests("machine.yaml", "channel.yaml")        # threads mode
    rt = VehicleRuntime.from_manifests("machine.yaml", "channel.yaml", "execution.yaml")  # processes
    # or from models: VehicleRuntime(load_deployment("machine.yaml", "channel.yaml"))
    rt.start()
    rt.counters()          # {"can": {"buses": {...}}, "decode": {...}, "uplink": {...}} per stage
    rt.wait_for(lambda c: c["uplink"]["acked_seq"] > 0, timeout=10)
    rt.catalog_message()   # the link_pb2.Catalog the uplink sends the gateway (CAN + SOME/IP, VSS)
    rt.stage("uplink").uplink   # threads mode: the live channel Uplink (active transport, links())
    rt.stop()              # producers first, rings drained into the outbox, outbox to the gateway

``catalog_message(catalog, services)`` builds the Catalog for any SignalCatalog (the demo uses it).
Counters of a running runtime (any mode, any process): ``read_counters(state_dir)`` -- what
``vmw vehicle status`` prints.
"""

import importlib
from typing import Any

_HOMES = {  # imported on first use: a stage process loads only what its stage needs
    "VehicleRuntime": "assembly",
    "CatalogError": "catalog",
    "catalog_message": "catalog",
    "read_counters": "counters",
    "DedupOutbox": "dedup",
    "HighWater": "dedup",
    "Deployment": "deployment",
    "load_deployment": "deployment",
    "configure_logging": "logs",
    "RingPlan": "rings",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'vehicle_mw.runtime' has no attribute {name!r}")
    module = importlib.import_module(f"vehicle_mw.runtime.{_HOMES[name]}")
    return getattr(module, "read_all" if name == "read_counters" else name)


__all__ = sorted(_HOMES)

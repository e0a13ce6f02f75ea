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

from vehicle_mw.runtime.assembly import VehicleRuntime
from vehicle_mw.runtime.catalog import CatalogError, catalog_message
from vehicle_mw.runtime.counters import read_all as read_counters
from vehicle_mw.runtime.dedup import DedupOutbox, HighWater
from vehicle_mw.runtime.deployment import Deployment, load_deployment
from vehicle_mw.runtime.logs import configure_logging
from vehicle_mw.runtime.rings import RingPlan

__all__ = [
    "CatalogError",
    "DedupOutbox",
    "Deployment",
    "HighWater",
    "RingPlan",
    "VehicleRuntime",
    "catalog_message",
    "configure_logging",
    "load_deployment",
    "read_counters",
]

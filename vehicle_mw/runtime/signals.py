"""The deployment's signals: the CAN catalog (one bad database costs its bus only) and the catalog
message for the gateway, the same in every stage that needs them."""

from __future__ import annotations

import logging

from vehicle_mw.runtime.catalog import catalog_message
from vehicle_mw.runtime.deployment import Deployment
from vehicle_mw.signals import DatabaseError, SignalCatalog, load_catalog
from vehicle_mw.v1 import link_pb2

log = logging.getLogger("vehicle_mw.runtime")


def load_can_catalog(dep: Deployment) -> tuple[SignalCatalog, dict[int, DatabaseError]]:
    """The catalog of every bus whose databases load; the others are logged (file and field) and
    decode nothing, while their frames still flow and count as unknown ids."""
    errors: dict[int, DatabaseError] = {}
    catalog = load_catalog(dep.buses, base_dir=dep.base_dir, errors=errors)
    for bus_id, exc in sorted(errors.items()):
        log.error("%s: %s; this bus decodes nothing, the others run", dep.field(bus_id, "databases"), exc)
    return catalog, errors


def deployment_catalog(dep: Deployment, catalog: SignalCatalog) -> link_pb2.Catalog:
    """What the uplink sends the gateway: CAN signals (with VSS paths) and SOME/IP signals."""
    return catalog_message(catalog, [s.service for s in dep.services])


__all__ = ["deployment_catalog", "load_can_catalog"]

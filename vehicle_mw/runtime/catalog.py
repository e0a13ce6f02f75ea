"""What the vehicle tells the gateway about its signals: the CAN catalog plus the SOME/IP signals.

The link protocol's ``Catalog`` lists every signal with id, name, unit, VSS path, kind, choices and
source (``can:<bus>`` or ``someip:<service>``); its hash covers all of it, so both ends know they
speak of the same signals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.signals import SignalCatalog
from vehicle_mw.v1 import link_pb2

_KINDS = {
    "float": link_pb2.VALUE_KIND_F64,
    "int": link_pb2.VALUE_KIND_I64,
    "uint": link_pb2.VALUE_KIND_U64,
    "bool": link_pb2.VALUE_KIND_BOOL,
}


class CatalogError(VehicleMwError):
    """Two signals with one id (e.g. a SOME/IP signal_id that a CAN signal already has)."""


def _someip_rows(services: Iterable[SomeIpService]) -> list[dict]:
    rows = []
    for svc in services:
        for owner in [*svc.events, *svc.fields]:
            for sig in owner.signals:
                rows.append(
                    {
                        "id": sig.signal_id,
                        "name": f"{svc.name}.{owner.name}.{sig.path}",
                        "vss": sig.vss or "",
                        "source": f"someip:{svc.name}",
                    }
                )
    return rows


def catalog_message(catalog: SignalCatalog, services: Iterable[SomeIpService] = ()) -> link_pb2.Catalog:
    """Every signal with its id, name, unit, VSS path, kind and choices. Without services the hash is
    the CAN catalog's sha256; with them, the sha256 over it and the SOME/IP signals."""
    extra = _someip_rows(services)
    taken = {s.id: s.name for s in catalog.signals}
    for row in extra:
        if row["id"] in taken:
            raise CatalogError(
                f"{row['source']}: signal_id {row['id']} ({row['name']}) is already {taken[row['id']]!r}"
            )
        taken[row["id"]] = row["name"]
    digest = catalog.hash
    if extra:
        digest = hashlib.sha256((catalog.hash + json.dumps(extra, sort_keys=True)).encode()).hexdigest()
    msg = link_pb2.Catalog(hash=bytes.fromhex(digest))
    for s in catalog.signals:
        info = msg.signals.add(
            id=s.id,
            name=s.name,
            unit=s.unit or "",
            vss_path=s.vss or "",
            kind=_KINDS.get(s.kind, link_pb2.VALUE_KIND_F64),
            source=f"can:{s.bus}",
        )
        for value, label in (s.choices or {}).items():
            info.choices[int(value)] = str(label)
    for row in extra:  # the value kind comes with each sample; F64 is what the catalog can promise
        msg.signals.add(
            id=row["id"],
            name=row["name"],
            vss_path=row["vss"],
            kind=link_pb2.VALUE_KIND_F64,
            source=row["source"],
        )
    return msg


__all__ = ["CatalogError", "catalog_message"]

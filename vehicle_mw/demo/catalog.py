"""The vehicle's signal catalog as the link protocol's Catalog message."""

from __future__ import annotations

from vehicle_mw.signals import SignalCatalog
from vehicle_mw.v1 import link_pb2

_KINDS = {
    "float": link_pb2.VALUE_KIND_F64,
    "int": link_pb2.VALUE_KIND_I64,
    "uint": link_pb2.VALUE_KIND_U64,
    "bool": link_pb2.VALUE_KIND_BOOL,
}


def catalog_message(catalog: SignalCatalog) -> link_pb2.Catalog:
    """Every signal with its id, name, unit, VSS path, kind and choices; hash = the catalog's sha256."""
    msg = link_pb2.Catalog(hash=bytes.fromhex(catalog.hash))
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
    return msg


__all__ = ["catalog_message"]

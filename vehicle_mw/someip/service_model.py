"""The manifest's service as someipy objects (``Service`` with eventgroups and methods)."""

from __future__ import annotations

from typing import Any

from someipy import Event, EventGroup, Method, Service, TransportLayerProtocol

from vehicle_mw.manifest.someip import SomeIpService

_PROTOCOLS = {"udp": TransportLayerProtocol.UDP, "tcp": TransportLayerProtocol.TCP}


def event_protocols(service: SomeIpService) -> dict[int, str]:
    """Protocol of every event and field notifier, by event id."""
    out = {e.id: e.protocol for e in service.events}
    out.update({f.notifier: f.protocol for f in service.fields if f.notifier is not None})
    return out


def method_protocols(service: SomeIpService) -> dict[int, str]:
    """Protocol of every method and field getter/setter, by method id."""
    out = {m.id: m.protocol for m in service.methods}
    for f in service.fields:
        for method_id in (f.getter, f.setter):
            if method_id is not None:
                out[method_id] = f.protocol
    return out


def someipy_service(service: SomeIpService, handlers: dict[int, Any] | None = None) -> Service:
    """A someipy ``Service``; ``handlers`` (method id -> someipy handler) for a provider."""
    protocols = event_protocols(service)
    result = Service()
    result.id = service.service_id
    result.major_version = service.major_version
    result.minor_version = service.minor_version
    for group in service.eventgroups:
        events = [Event(id=i, protocol=_PROTOCOLS[protocols[i]]) for i in group.events]
        result.eventgroups[group.id] = EventGroup(id=group.id, events=events)
    for method_id, proto in method_protocols(service).items():
        result.methods[method_id] = Method(method_id, _PROTOCOLS[proto], (handlers or {}).get(method_id))
    return result


__all__ = ["someipy_service", "event_protocols", "method_protocols"]

"""SOME/IP service-instance manifest: ids, versions, events, methods, fields, SD and data types.

One manifest describes one service instance; the same file drives a consumer
(``vmw someip consume``) and a provider (``vmw someip provide``). Payload types
declared here build the codecs in :mod:`vehicle_mw.someip.codec`, so no code is
generated and nothing is rebuilt when a service changes.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from vehicle_mw.manifest.loading import StrictModel

PRIMITIVES = (
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "float32",
    "float64",
    "bool",
)

LengthFieldSize = Literal[0, 1, 2, 4]
MAX_SIGNALS_PER_EVENT = 256  # samples one event may produce (the consumer's batch headroom)
Protocol = Literal["udp", "tcp"]


class ArrayType(StrictModel):
    """Array of ``array`` elements: fixed when ``length`` is given, else dynamic with a length field."""

    array: TypeRef = Field(description="element type: a primitive, a name from 'types', or an inline type")
    length: int | None = Field(None, ge=0, description="number of elements of a fixed-length array")
    length_field_size: LengthFieldSize = Field(4, description="bytes of the length field of a dynamic array")


class StringType(StrictModel):
    """String: dynamic (length field, BOM, terminator) or fixed ``length`` bytes (NUL padded)."""

    string: Literal["utf-8", "utf-16be", "utf-16le"] = Field("utf-8", description="encoding")
    length: int | None = Field(None, ge=1, description="bytes of a fixed-length string")
    length_field_size: LengthFieldSize = Field(4, description="bytes of the length field of a dynamic string")


class StructMember(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: TypeRef


class StructType(StrictModel):
    """Struct: members in order; an optional length field in front (SOME/IP 'struct with length')."""

    struct: list[StructMember] = Field(min_length=1)
    length_field_size: LengthFieldSize = Field(0, description="bytes of the length field before the struct")


TypeRef = str | ArrayType | StringType | StructType


class Endpoint(StrictModel):
    ip: str | None = Field(None, description="IPv4 address; default: the runtime's interface address")
    port: int = Field(ge=1, le=65535)

    @field_validator("ip")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.IPv4Address(value)
        return value


class SignalMapping(StrictModel):
    """Where a sample comes from in a decoded payload, and what it is called."""

    path: str = Field(
        "", description="member path in the decoded value: '' (whole), 'a.b', 'wheels[2].speed'"
    )
    signal_id: int = Field(ge=0, lt=2**32, description="signal id of the sample records")
    vss: str | None = Field(None, description="VSS name, e.g. Vehicle.Speed")


class EventDef(StrictModel):
    id: int = Field(ge=0x8000, le=0xFFFE, description="event id (0x8000..0xFFFE)")
    name: str
    type: TypeRef
    protocol: Protocol = "udp"
    signals: list[SignalMapping] = Field(default_factory=list)


class MethodDef(StrictModel):
    id: int = Field(ge=0, le=0x7FFF, description="method id (0x0000..0x7FFF)")
    name: str
    request: TypeRef | None = Field(None, description="request payload type; none = empty payload")
    response: TypeRef | None = Field(None, description="response payload type; none = empty payload")
    protocol: Protocol = "udp"


class FieldDef(StrictModel):
    """A field: getter/setter methods and a notifier event sent on change and on subscribe."""

    name: str
    type: TypeRef
    initial: object = Field(None, description="value the provider starts with (sent to new subscribers)")
    getter: int | None = Field(None, ge=0, le=0x7FFF)
    setter: int | None = Field(None, ge=0, le=0x7FFF)
    notifier: int | None = Field(None, ge=0x8000, le=0xFFFE)
    protocol: Protocol = "udp"
    signals: list[SignalMapping] = Field(default_factory=list)


class EventGroupDef(StrictModel):
    id: int = Field(ge=1, le=0xFFFF)
    events: list[int] = Field(description="event ids (notifier ids of fields count as events)")


class ServiceDiscovery(StrictModel):
    multicast_address: str = Field("224.224.224.245", description="SD multicast group")
    port: int = Field(30490, ge=1, le=65535)
    ttl: int = Field(3, ge=1, le=0xFFFFFF, description="TTL of offers and subscriptions, seconds")
    cyclic_offer_delay_ms: int = Field(1000, ge=10, description="period of cyclic offers")


class SomeIpService(StrictModel):
    """One SOME/IP service instance, as offered by a provider and used by consumers."""

    name: str
    service_id: int = Field(ge=1, le=0xFFFE)
    instance_id: int = Field(ge=1, le=0xFFFE)
    major_version: int = Field(1, ge=0, le=0xFE)
    minor_version: int = Field(0, ge=0, le=0xFFFFFFFE)
    byte_order: Literal["big", "little"] = Field(
        "big", description="payload byte order (SOME/IP default: big)"
    )
    endpoint: Endpoint = Field(description="provider endpoint (UDP and TCP share the port)")
    consumer_endpoint: Endpoint = Field(
        description="consumer endpoint: events and method responses arrive here"
    )
    source_id: int = Field(0, ge=0, le=0xFFFF, description="source_id of the samples this service produces")
    sd: ServiceDiscovery = Field(default_factory=ServiceDiscovery)
    types: dict[str, TypeRef] = Field(default_factory=dict, description="named payload types")
    events: list[EventDef] = Field(default_factory=list)
    methods: list[MethodDef] = Field(default_factory=list)
    fields: list[FieldDef] = Field(default_factory=list)
    eventgroups: list[EventGroupDef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> SomeIpService:
        event_ids = [e.id for e in self.events] + [f.notifier for f in self.fields if f.notifier is not None]
        method_ids = [m.id for m in self.methods]
        method_ids += [i for f in self.fields for i in (f.getter, f.setter) if i is not None]
        for kind, ids in (("event", event_ids), ("method", method_ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} ids: {[hex(i) for i in dupes]}")
        for group in self.eventgroups:
            unknown = [hex(i) for i in group.events if i not in event_ids]
            if unknown:
                raise ValueError(f"eventgroup {group.id:#x} names unknown events {unknown}")
        for item in [*self.events, *self.fields]:
            if len(item.signals) > MAX_SIGNALS_PER_EVENT:
                raise ValueError(
                    f"{item.name} maps {len(item.signals)} signals, at most {MAX_SIGNALS_PER_EVENT}"
                )
        signal_ids = [s.signal_id for e in self.events for s in e.signals]
        signal_ids += [s.signal_id for f in self.fields for s in f.signals]
        dupes = sorted({i for i in signal_ids if signal_ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate signal ids: {dupes}")
        return self


for _model in (ArrayType, StructMember, StructType):
    _model.model_rebuild()

__all__ = [
    "PRIMITIVES",
    "MAX_SIGNALS_PER_EVENT",
    "ArrayType",
    "StringType",
    "StructMember",
    "StructType",
    "TypeRef",
    "Endpoint",
    "SignalMapping",
    "EventDef",
    "MethodDef",
    "FieldDef",
    "EventGroupDef",
    "ServiceDiscovery",
    "SomeIpService",
]

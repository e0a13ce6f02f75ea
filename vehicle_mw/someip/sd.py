"""SOME/IP-SD entries and IPv4 endpoint options: a small encoder and a defensive decoder.

Used to read captures, to check what goes on the wire and to build test input;
service discovery itself runs in the someipy daemon.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.someip import wire

SD_SERVICE, SD_METHOD = 0xFFFF, 0x8100
FIND, OFFER, SUBSCRIBE, SUBSCRIBE_ACK = 0x00, 0x01, 0x06, 0x07
TCP, UDP = 0x06, 0x11
_ENTRY = struct.Struct(">BBBBHHB3s4s")
_ENDPOINT = struct.Struct(">HBB4sBBH")
OPTION_IPV4_ENDPOINT, OPTION_IPV4_MULTICAST = 0x04, 0x14


class SdError(VehicleMwError):
    """An SD message that cannot be read; the message says where and why."""


@dataclass(frozen=True)
class Option:
    kind: int  # OPTION_IPV4_ENDPOINT / OPTION_IPV4_MULTICAST / other
    address: str = ""
    protocol: int = 0
    port: int = 0


@dataclass
class Entry:
    type: int
    service_id: int
    instance_id: int
    major_version: int
    ttl: int
    minor_version: int = 0  # service entries
    eventgroup_id: int = 0  # eventgroup entries
    options: list[Option] = field(default_factory=list)

    @property
    def name(self) -> str:
        stop = self.ttl == 0
        names = {
            FIND: "Find",
            OFFER: "StopOffer" if stop else "Offer",
            SUBSCRIBE: "StopSubscribe" if stop else "Subscribe",
            SUBSCRIBE_ACK: "SubscribeNack" if stop else "SubscribeAck",
        }
        return names.get(self.type, f"type{self.type:#04x}")


def is_sd(message: wire.Message) -> bool:
    return (message.service_id, message.method_id) == (SD_SERVICE, SD_METHOD)


def decode(payload: bytes | memoryview) -> list[Entry]:
    """Entries of an SD payload (after the SOME/IP header), options resolved."""
    buf = bytes(payload)
    if len(buf) < 12:
        raise SdError(f"SD payload of {len(buf)} bytes is shorter than flags + two length fields")
    (entries_len,) = struct.unpack_from(">I", buf, 4)
    if entries_len % 16 or 8 + entries_len + 4 > len(buf):
        raise SdError(f"entries length {entries_len} does not fit the {len(buf)}-byte payload")
    (options_len,) = struct.unpack_from(">I", buf, 8 + entries_len)
    opt_start = 12 + entries_len
    if opt_start + options_len > len(buf):
        raise SdError(f"options length {options_len} runs past the payload")
    options: list[Option] = []
    off = opt_start
    while off < opt_start + options_len:
        if off + 3 > len(buf):
            raise SdError(f"option header at {off} truncated")
        length, kind = struct.unpack_from(">HB", buf, off)
        if off + 3 + length > opt_start + options_len:
            raise SdError(f"option at {off} of length {length} runs past the options array")
        if kind in (OPTION_IPV4_ENDPOINT, OPTION_IPV4_MULTICAST) and length == 9:
            _, _, _, addr, _, proto, port = _ENDPOINT.unpack_from(buf, off)
            options.append(Option(kind, str(ipaddress.IPv4Address(addr)), proto, port))
        else:
            options.append(Option(kind))
        off += 3 + length
    entries = []
    for off in range(8, 8 + entries_len, 16):
        etype, i1, i2, nums, sid, iid, major, ttl3, tail = _ENTRY.unpack_from(buf, off)
        ttl = int.from_bytes(ttl3, "big")
        refs = list(range(i1, i1 + (nums >> 4))) + list(range(i2, i2 + (nums & 0xF)))
        if any(r >= len(options) for r in refs):
            raise SdError(f"entry at {off} refers to option {max(refs)} of {len(options)}")
        entry = Entry(etype, sid, iid, major, ttl, options=[options[r] for r in refs])
        if etype in (FIND, OFFER):
            entry.minor_version = int.from_bytes(tail, "big")
        else:
            entry.eventgroup_id = int.from_bytes(tail[2:], "big")
        entries.append(entry)
    return entries


def encode(entries: list[Entry], session_id: int = 1, reboot: bool = True, unicast: bool = True) -> bytes:
    """A complete SD message (SOME/IP header included); each entry carries its own options."""
    options: list[bytes] = []
    body = b""
    for e in entries:
        first = len(options)
        for o in e.options:
            options.append(
                _ENDPOINT.pack(9, o.kind, 0, ipaddress.IPv4Address(o.address).packed, 0, o.protocol, o.port)
            )
        tail = (
            e.minor_version.to_bytes(4, "big")
            if e.type in (FIND, OFFER)
            else e.eventgroup_id.to_bytes(4, "big")
        )
        body += _ENTRY.pack(
            e.type,
            first if e.options else 0,
            0,
            len(e.options) << 4,
            e.service_id,
            e.instance_id,
            e.major_version,
            e.ttl.to_bytes(3, "big"),
            tail,
        )
    opts = b"".join(options)
    flags = (0x80 if reboot else 0) | (0x40 if unicast else 0)
    payload = (
        bytes([flags, 0, 0, 0]) + struct.pack(">I", len(body)) + body + struct.pack(">I", len(opts)) + opts
    )
    return wire.build(SD_SERVICE, SD_METHOD, payload, session_id=session_id, interface_version=1)


__all__ = [
    "Entry",
    "Option",
    "SdError",
    "decode",
    "encode",
    "is_sd",
    "FIND",
    "OFFER",
    "SUBSCRIBE",
    "SUBSCRIBE_ACK",
    "TCP",
    "UDP",
    "OPTION_IPV4_ENDPOINT",
    "OPTION_IPV4_MULTICAST",
]

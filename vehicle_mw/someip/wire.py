"""SOME/IP header layout and a compact parser for datagrams holding one or more messages.

Kept independent of someipy: the event fast path and the malformed-input accounting
both run on it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

HEADER = struct.Struct(">HHIHHBBBB")
HEADER_SIZE = HEADER.size  # 16
PROTOCOL_VERSION = 1

REQUEST = 0x00
REQUEST_NO_RETURN = 0x01
NOTIFICATION = 0x02
RESPONSE = 0x80
ERROR = 0x81

E_OK = 0x00
E_UNKNOWN_METHOD = 0x03


class Message(NamedTuple):
    service_id: int
    method_id: int
    client_id: int
    session_id: int
    interface_version: int
    message_type: int
    return_code: int
    payload: memoryview


def build(
    service_id: int,
    method_id: int,
    payload: bytes,
    *,
    client_id: int = 0,
    session_id: int = 1,
    interface_version: int = 1,
    message_type: int = NOTIFICATION,
    return_code: int = E_OK,
) -> bytes:
    """One serialized SOME/IP message."""
    return (
        HEADER.pack(
            service_id,
            method_id,
            len(payload) + 8,
            client_id,
            session_id,
            PROTOCOL_VERSION,
            interface_version,
            message_type,
            return_code,
        )
        + payload
    )


class Malformed(NamedTuple):
    offset: int
    reason: str


def split(datagram: bytes | memoryview) -> Iterator[Message | Malformed]:
    """Every message of a datagram in order; a bad header ends the datagram with a :class:`Malformed`.

    A length field is trusted only if it stays inside the datagram, so a wrong
    length cannot make the parser read past the end or loop.
    """
    view = memoryview(datagram)
    off, end = 0, len(view)
    while off < end:
        if end - off < HEADER_SIZE:
            yield Malformed(off, f"{end - off} bytes left, shorter than a SOME/IP header")
            return
        sid, mid, length, cid, sess, pv, iv, mt, rc = HEADER.unpack_from(view, off)
        if length < 8:
            yield Malformed(off, f"length field {length} < 8")
            return
        if off + 8 + length > end:
            yield Malformed(
                off, f"length field {length} runs {off + 8 + length - end} bytes past the datagram"
            )
            return
        if pv != PROTOCOL_VERSION:
            yield Malformed(off, f"protocol version {pv}")
        else:
            yield Message(sid, mid, cid, sess, iv, mt, rc, view[off + HEADER_SIZE : off + 8 + length])
        off += 8 + length


__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "Message",
    "Malformed",
    "build",
    "split",
    "REQUEST",
    "REQUEST_NO_RETURN",
    "NOTIFICATION",
    "RESPONSE",
    "ERROR",
    "E_OK",
    "E_UNKNOWN_METHOD",
]

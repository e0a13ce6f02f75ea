"""SOME/IP datagrams: the header splitter every received UDP/TCP payload goes through, and SD inside.

``split`` never raises: a bad header becomes a ``Malformed`` item that ends the datagram.
Messages it yields must lie inside the datagram; SD messages go on to the SD decoder.
"""

from __future__ import annotations

from vehicle_mw.someip import sd, wire

EXPECTED = (sd.SdError,)


def one_input(data: bytes) -> None:
    total = 0
    items = list(wire.split(data))
    for i, item in enumerate(items):
        if isinstance(item, wire.Malformed):
            assert i == len(items) - 1 or "protocol version" in item.reason
            continue
        total += wire.HEADER_SIZE + len(item.payload)
        assert total <= len(data)
    for item in items:
        if isinstance(item, wire.Message) and sd.is_sd(item):
            sd.decode(item.payload)

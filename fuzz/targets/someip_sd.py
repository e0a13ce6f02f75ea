"""SOME/IP-SD payloads (entries and options arrays) through the defensive SD decoder.

Every entry it returns has its option references resolved and a 24-bit TTL.
"""

from __future__ import annotations

from vehicle_mw.someip import sd

EXPECTED = (sd.SdError,)


def one_input(data: bytes) -> None:
    entries = sd.decode(data)
    for e in entries:
        assert all(r.kind >= 0 for r in e.options)
        assert 0 <= e.ttl < 1 << 24

"""The E2E profiles' header layouts, and the provider side (protect).

Layouts (AUTOSAR E2E protocol specification; all fields big-endian, at ``offset`` bytes into the
data element, ``length`` = the whole protected element):

=======  ===========  ======================================================  ==============
profile  header size  fields                                                  counter range
=======  ===========  ======================================================  ==============
P04      12 bytes     length u16, counter u16, data id u32, CRC-32 (P4)       0..0xFFFF
P05      3 bytes      CRC-16 (CCITT), counter u8; data id (u16) only in CRC   0..0xFF
P07      20 bytes     CRC-64 (P7), length u32, counter u32, data id u32       0..0xFFFFFFFF
=======  ===========  ======================================================  ==============

The writes and CRCs are ``autosar-e2e``'s (C). Its own ``increment_counter`` reads the counter
back from the buffer, so a fresh buffer per sample would always say 1: :class:`E2EProtector`
keeps the sender's counter itself and writes it before protecting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import e2e

from vehicle_mw.e2e.errors import E2EConfigError


@dataclass(frozen=True)
class Profile:
    """One E2E profile: where its counter sits and the library's protect/check."""

    name: str
    header_size: int
    counter_at: int  # offset of the counter inside the header
    counter_size: int
    data_id_bits: int
    protect: Callable[..., None]
    check: Callable[..., bool]

    @property
    def counter_max(self) -> int:
        return (1 << (8 * self.counter_size)) - 1

    def counter(self, data: bytes | bytearray | memoryview, offset: int = 0) -> int:
        start = offset + self.counter_at
        return int.from_bytes(data[start : start + self.counter_size], "big")

    def write_counter(self, data: bytearray | memoryview, value: int, offset: int = 0) -> None:
        start = offset + self.counter_at
        data[start : start + self.counter_size] = value.to_bytes(self.counter_size, "big")


PROFILES: dict[str, Profile] = {
    "P04": Profile("P04", 12, 2, 2, 32, e2e.p04.e2e_p04_protect, e2e.p04.e2e_p04_check),
    "P05": Profile("P05", 3, 2, 1, 16, e2e.p05.e2e_p05_protect, e2e.p05.e2e_p05_check),
    "P07": Profile("P07", 20, 12, 4, 32, e2e.p07.e2e_p07_protect, e2e.p07.e2e_p07_check),
}


def profile(name: str) -> Profile:
    """The profile called ``name`` (``P04``/``4``/``profile_04`` all work), or a clear error."""
    key = str(name).upper().replace("PROFILE", "").strip("_ ")
    key = f"P{int(key.lstrip('P')):02d}" if key.lstrip("P").isdigit() else key
    if key not in PROFILES:
        raise E2EConfigError(f"unknown E2E profile {name!r}; supported: {', '.join(PROFILES)}")
    return PROFILES[key]


def check_layout(prof: Profile, data_id: int, offset: int, length: int | None) -> None:
    """Reject what can never be protected: a data id wider than the profile's, a header that does
    not fit in ``length``, a negative offset."""
    if not 0 <= data_id < (1 << prof.data_id_bits):
        raise E2EConfigError(
            f"E2E {prof.name}: data id {data_id:#x} does not fit in {prof.data_id_bits} bits"
        )
    if offset < 0:
        raise E2EConfigError(f"E2E {prof.name}: offset must be >= 0, got {offset}")
    if length is not None and length < offset + prof.header_size:
        raise E2EConfigError(
            f"E2E {prof.name}: a {length}-byte element cannot hold the {prof.header_size}-byte header "
            f"at offset {offset}"
        )


class E2EProtector:
    """The sender of one data element: counter, then length/data id/CRC, in place."""

    def __init__(self, name: str, data_id: int, *, offset: int = 0, first_counter: int = 0) -> None:
        self.profile = profile(name)
        check_layout(self.profile, data_id, offset, None)
        self.data_id = data_id
        self.offset = offset
        self.next_counter = first_counter & self.profile.counter_max

    def protect(self, data: bytearray) -> bytearray:
        """Write the E2E header into ``data`` (the whole element, header space included) and
        return it; the counter advances by one per call and wraps at the profile's maximum."""
        prof = self.profile
        if len(data) < self.offset + prof.header_size:
            raise E2EConfigError(
                f"E2E {prof.name}: {len(data)}-byte element has no room for the "
                f"{prof.header_size}-byte header at offset {self.offset}"
            )
        prof.write_counter(data, self.next_counter, self.offset)
        prof.protect(data, self.data_id, length=len(data), offset=self.offset, increment_counter=False)
        self.next_counter = (self.next_counter + 1) & prof.counter_max
        return data


__all__ = ["PROFILES", "E2EProtector", "Profile", "check_layout", "profile"]

"""Shared-memory ring segments whose bytes come from the fuzzer: attach, then use the handle.

The input is written as a POSIX shared-memory segment and attached as a SlotRing, ByteRing and
MpmcRing (the first byte picks which). A damaged header must be refused at attach with a
``RingError`` naming the segment (``RingCorrupt`` for impossible fields), and a handle that did
attach must report damage it meets as ``RingError`` too, never read or write out of bounds.
"""

from __future__ import annotations

import os

from fuzz.harness import Input
from vehicle_mw.native import ByteRing, MpmcRing, SlotRing
from vehicle_mw.native.ring_types import RingError

KINDS = (SlotRing, ByteRing, MpmcRing)
NAME = f"vmw-fuzz-ring-{os.getpid()}"
EXPECTED = (RingError,)


def write_segment(name: str, data: bytes) -> None:
    fd = os.open(f"/dev/shm/{name}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def one_input(data: bytes) -> None:
    inp = Input(data)
    kind = KINDS[inp.byte() % len(KINDS)]
    write_segment(NAME, inp.rest())
    try:
        ring = kind.attach(NAME)
        try:
            len(ring)
            ring.stats()
            for _ in range(4):
                if ring.pop() is None:
                    break
            if isinstance(ring, ByteRing):
                ring.push(b"x" * 8)
            else:
                ring.push(bytes(min(ring.slot_size, 1 << 16)))
        finally:
            ring.close()
    finally:
        try:
            os.unlink(f"/dev/shm/{NAME}")
        except FileNotFoundError:
            pass

"""On-disk record format of outbox segments, and the scan that finds where a torn tail starts.

A segment is a plain append-only file of records::

    header  <4s I Q I B B H>  magic "VMWB", payload length, batch seq, sample count,
                               priority, kind, reserved
    payload                    count * SAMPLE_SIZE bytes (vmw_sample records)
    crc32   <I>                zlib.crc32 over header + payload

One ``os.writev`` per record. A record whose header, payload or CRC is short or wrong marks the
end of the valid data: everything from there on is a torn tail and is cut, never replayed.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from vehicle_mw.native.records import SAMPLE_SIZE

MAGIC = b"VMWB"
HEADER = struct.Struct("<4sIQIBBH")
TRAILER = struct.Struct("<I")
KIND_BATCH = 1
OVERHEAD = HEADER.size + TRAILER.size


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where one batch lives: enough to read it back with a single pread."""

    seq: int
    count: int
    priority: int
    offset: int  # of the header
    size: int  # header + payload + crc

    @property
    def payload_offset(self) -> int:
        return self.offset + HEADER.size


def record_parts(
    seq: int, priority: int, payload: bytes | memoryview
) -> tuple[bytes, bytes | memoryview, bytes]:
    """Header, payload, CRC trailer: one record for a single ``os.writev`` without copying the payload."""
    count = len(payload) // SAMPLE_SIZE
    head = HEADER.pack(MAGIC, len(payload), seq, count, priority, KIND_BATCH, 0)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head, payload, TRAILER.pack(crc)


def encode_record(seq: int, priority: int, payload: bytes | memoryview) -> bytes:
    """Header + payload + CRC as one buffer."""
    return b"".join(record_parts(seq, priority, payload))


def scan(fd: int, file_size: int) -> tuple[list[RecordRef], int]:
    """Read a segment from the start; return its valid records and the offset where validity ends."""
    refs: list[RecordRef] = []
    offset = 0
    for ref in _iter_valid(fd, file_size):
        refs.append(ref)
        offset = ref.offset + ref.size
    return refs, offset


def _iter_valid(fd: int, file_size: int) -> Iterator[RecordRef]:
    offset = 0
    chunk = 1 << 20
    while offset + OVERHEAD <= file_size:
        head = os.pread(fd, HEADER.size, offset)
        if len(head) < HEADER.size:
            return
        magic, length, seq, count, priority, kind, _ = HEADER.unpack(head)
        if magic != MAGIC or kind != KIND_BATCH or length != count * SAMPLE_SIZE:
            return
        end = offset + HEADER.size + length + TRAILER.size
        if end > file_size:
            return
        crc = zlib.crc32(head)
        pos = offset + HEADER.size
        while pos < offset + HEADER.size + length:
            n = min(chunk, offset + HEADER.size + length - pos)
            crc = zlib.crc32(os.pread(fd, n, pos), crc)
            pos += n
        (stored,) = TRAILER.unpack(os.pread(fd, TRAILER.size, pos))
        if stored != crc:
            return
        yield RecordRef(seq=seq, count=count, priority=priority, offset=offset, size=end - offset)
        offset = end


__all__ = ["MAGIC", "HEADER", "TRAILER", "OVERHEAD", "RecordRef", "encode_record", "record_parts", "scan"]

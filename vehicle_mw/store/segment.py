"""On-disk record format of outbox segments, and the scan that finds where a torn tail starts.

A segment is a plain append-only file of records::

    header  <4s I Q I B B H>  magic "VMWB", payload length, batch seq, sample count,
                               priority, kind, reserved
    payload                    kind 2 (KIND_COLUMNS, written now): the batch's serialized
                               ``SampleColumns`` (link.proto), the bytes that go on the wire;
                               kind 1 (KIND_SAMPLES, written before): count * SAMPLE_SIZE bytes of
                               vmw_sample records. Both kinds are read.
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
from vehicle_mw.native.wire import columns_bound

MAGIC = b"VMWB"
HEADER = struct.Struct("<4sIQIBBH")
TRAILER = struct.Struct("<I")
KIND_SAMPLES = 1  # payload: vmw_sample records (the format of earlier versions; still read)
KIND_COLUMNS = 2  # payload: serialized SampleColumns (what append writes)
OVERHEAD = HEADER.size + TRAILER.size


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where one batch lives: enough to read it back with a single pread."""

    seq: int
    count: int
    priority: int
    offset: int  # of the header
    size: int  # header + payload + crc
    kind: int = KIND_COLUMNS

    @property
    def payload_offset(self) -> int:
        return self.offset + HEADER.size

    @property
    def payload_size(self) -> int:
        return self.size - OVERHEAD


def record_parts(
    seq: int, priority: int, payload: bytes | memoryview, count: int, kind: int = KIND_COLUMNS
) -> tuple[bytes, bytes | memoryview, bytes]:
    """Header, payload, CRC trailer: one record for a single ``os.writev`` without copying the payload."""
    head = HEADER.pack(MAGIC, len(payload), seq, count, priority, kind, 0)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head, payload, TRAILER.pack(crc)


def encode_record(
    seq: int, priority: int, payload: bytes | memoryview, count: int, kind: int = KIND_COLUMNS
) -> bytes:
    """Header + payload + CRC as one buffer."""
    return b"".join(record_parts(seq, priority, payload, count, kind))


def _plausible(kind: int, length: int, count: int) -> bool:
    if kind == KIND_SAMPLES:
        return length == count * SAMPLE_SIZE
    return kind == KIND_COLUMNS and length <= columns_bound(count)


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
        if magic != MAGIC or not _plausible(kind, length, count):
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
        yield RecordRef(seq=seq, count=count, priority=priority, offset=offset, size=end - offset, kind=kind)
        offset = end


__all__ = [
    "HEADER",
    "KIND_COLUMNS",
    "KIND_SAMPLES",
    "MAGIC",
    "OVERHEAD",
    "TRAILER",
    "RecordRef",
    "encode_record",
    "record_parts",
    "scan",
]

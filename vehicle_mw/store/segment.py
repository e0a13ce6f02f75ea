"""On-disk record format of outbox segments, and the scan that resynchronizes after damage.

A segment is a plain append-only file of records::

    header  <4s I Q I B B H I>  magic "VMWH", payload length, batch seq, sample count, priority,
                                kind, reserved, crc32 of the 24 header bytes before it
    payload                     kind 2 (KIND_COLUMNS, written now): the batch's serialized
                                ``SampleColumns`` (link.proto), the bytes that go on the wire;
                                kind 1 (KIND_SAMPLES, written before): count * SAMPLE_SIZE bytes of
                                vmw_sample records. Both kinds are read.
    crc32   <I>                 zlib.crc32 over header + payload

Segments of earlier versions use magic "VMWB" and a 24-byte header without the header CRC
(``HEADER_V1``); they are still read, also mixed with new records in one file.

The magic is a sync marker: after a bad record the scan looks for the next magic whose record
checks out (header and full CRC), so one flipped bit costs only the damaged record. The header
CRC tells whether a damaged record's seq and sample count can be trusted (the loss is then counted
in samples). Damage that is followed by no valid record up to the end of the file is a torn tail.
:func:`parse_segment` is the pure parser (bytes in, records and damage out; used by the fuzzers).
"""

from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass, field

from vehicle_mw.native.records import SAMPLE_SIZE
from vehicle_mw.native.wire import columns_bound

MAGIC = b"VMWH"  # records written now: header with its own CRC
MAGIC_V1 = b"VMWB"  # records of earlier versions: no header CRC
HEADER = struct.Struct("<4sIQIBBHI")
HEADER_V1 = struct.Struct("<4sIQIBBH")
TRAILER = struct.Struct("<I")
KIND_SAMPLES = 1  # payload: vmw_sample records (the format of earlier versions; still read)
KIND_COLUMNS = 2  # payload: serialized SampleColumns (what append writes)
OVERHEAD = HEADER.size + TRAILER.size
_MIN_RECORD = HEADER_V1.size + TRAILER.size


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where one batch lives: enough to read it back with a single pread."""

    seq: int
    count: int
    priority: int
    offset: int  # of the header
    size: int  # header + payload + crc
    kind: int = KIND_COLUMNS
    header_size: int = HEADER.size

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_size

    @property
    def payload_size(self) -> int:
        return self.size - self.header_size - TRAILER.size


@dataclass(frozen=True, slots=True)
class Damage:
    """A stretch of a segment that holds no valid record.

    ``known`` lists (seq, sample count) of damaged records whose header could be trusted;
    ``unknown_bytes`` is the part of the stretch no trusted header accounts for.
    """

    offset: int
    size: int
    known: tuple[tuple[int, int], ...] = ()
    unknown_bytes: int = 0


@dataclass(slots=True)
class SegmentScan:
    """What :func:`parse_segment` found in one segment."""

    records: list[RecordRef] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)  # stretches followed by a valid record
    tail: Damage | None = None  # a stretch with no valid record after it (torn or damaged tail)

    @property
    def valid_end(self) -> int:
        """Where the data worth keeping ends (the tail, if any, starts here)."""
        if self.tail is not None:
            return self.tail.offset
        return self.records[-1].offset + self.records[-1].size if self.records else 0


def record_parts(
    seq: int, priority: int, payload: bytes | memoryview, count: int, kind: int = KIND_COLUMNS
) -> tuple[bytes, bytes | memoryview, bytes]:
    """Header, payload, CRC trailer: one record for a single ``os.writev`` without copying the payload."""
    head = HEADER_V1.pack(MAGIC, len(payload), seq, count, priority, kind, 0)
    head += TRAILER.pack(zlib.crc32(head))
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


def _header_at(buf, offset: int, size: int) -> tuple[RecordRef, bool] | None:
    """The record a header at ``offset`` claims (not yet CRC-checked), and whether the header is trusted.

    None when there is no plausible header there or the record would run past the end.
    """
    magic = bytes(buf[offset : offset + 4])
    if magic == MAGIC:
        if offset + HEADER.size > size:
            return None
        _, length, seq, count, priority, kind, _, hcrc = HEADER.unpack_from(buf, offset)
        trusted = hcrc == zlib.crc32(buf[offset : offset + HEADER_V1.size])
        head_size = HEADER.size
    elif magic == MAGIC_V1:
        if offset + HEADER_V1.size > size:
            return None
        _, length, seq, count, priority, kind, _ = HEADER_V1.unpack_from(buf, offset)
        trusted = False
        head_size = HEADER_V1.size
    else:
        return None
    if not _plausible(kind, length, count):
        return None
    end = offset + head_size + length + TRAILER.size
    return RecordRef(seq, count, priority, offset, end - offset, kind, head_size), trusted


def _valid_at(buf, offset: int, size: int) -> RecordRef | None:
    """The record at ``offset`` if it is complete and its CRC matches."""
    found = _header_at(buf, offset, size)
    if found is None:
        return None
    ref, _ = found
    end = ref.offset + ref.size
    if end > size:
        return None
    body_end = end - TRAILER.size
    (stored,) = TRAILER.unpack_from(buf, body_end)
    if stored != zlib.crc32(buf[offset:body_end]):
        return None
    if ref.header_size == HEADER.size:
        (hcrc,) = TRAILER.unpack_from(buf, offset + HEADER_V1.size)
        if hcrc != zlib.crc32(buf[offset : offset + HEADER_V1.size]):
            return None  # the full CRC matched by chance over a bad header: impossible in practice
    return ref


def _next_valid(buf, start: int, size: int) -> RecordRef | None:
    """The first valid record that starts at or after ``start`` (resynchronization on the magics)."""
    pos = start
    while pos + _MIN_RECORD <= size:
        hits = [h for h in (buf.find(MAGIC, pos), buf.find(MAGIC_V1, pos)) if h >= 0]
        if not hits:
            return None
        hit = min(hits)
        ref = _valid_at(buf, hit, size)
        if ref is not None:
            return ref
        pos = hit + 1
    return None


def _describe(buf, start: int, stop: int, size: int, prev_seq: int, next_seq: int | None) -> Damage:
    """Account for the bad stretch ``start..stop``: walk the damaged records whose header is trusted.

    Only headers with a matching header CRC are trusted; records of the earlier format have none,
    so their loss is counted by the seq gap and in bytes.
    """
    known: list[tuple[int, int]] = []
    pos = start
    while pos < stop:
        found = _header_at(buf, pos, size)
        if found is None:
            break
        ref, trusted = found
        end = ref.offset + ref.size
        last = known[-1][0] if known else prev_seq
        if not trusted or end > stop or ref.seq <= last or (next_seq is not None and ref.seq >= next_seq):
            break
        known.append((ref.seq, ref.count))
        pos = end
    return Damage(offset=start, size=stop - start, known=tuple(known), unknown_bytes=stop - pos)


def parse_segment(buf: bytes | memoryview, prev_seq: int = 0) -> SegmentScan:
    """Parse one segment's bytes: its valid records in order, the damaged stretches, a bad tail.

    ``prev_seq`` is the last valid seq before this segment (0 if none). Never raises on any input.
    ``buf`` may be ``bytes`` or an ``mmap`` (anything with ``find`` and the buffer protocol).
    """
    size = len(buf)
    out = SegmentScan()
    pos = 0
    last_seq = prev_seq
    while pos < size:
        ref = _valid_at(buf, pos, size) if pos + _MIN_RECORD <= size else None
        if ref is not None and ref.seq > last_seq:
            out.records.append(ref)
            last_seq = ref.seq
            pos = ref.offset + ref.size
            continue
        nxt = _next_valid(buf, pos + 1, size)
        while nxt is not None and nxt.seq <= last_seq:  # never deliver a seq twice or out of order
            nxt = _next_valid(buf, nxt.offset + 1, size)
        if nxt is None:
            out.tail = _describe(buf, pos, size, size, last_seq, None)
            break
        out.damage.append(_describe(buf, pos, nxt.offset, size, last_seq, nxt.seq))
        pos = nxt.offset
    return out


def scan(fd: int, file_size: int) -> tuple[list[RecordRef], int]:
    """Parse the segment open on ``fd``: its valid records and the offset where its bad tail starts."""
    if file_size == 0:
        return [], 0
    with mmap.mmap(fd, file_size, access=mmap.ACCESS_READ) as buf:
        found = parse_segment(buf)
    return found.records, found.valid_end


__all__ = [
    "HEADER",
    "HEADER_V1",
    "KIND_COLUMNS",
    "KIND_SAMPLES",
    "MAGIC",
    "MAGIC_V1",
    "OVERHEAD",
    "TRAILER",
    "Damage",
    "RecordRef",
    "SegmentScan",
    "encode_record",
    "parse_segment",
    "record_parts",
    "scan",
]

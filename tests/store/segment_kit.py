"""Test helpers for segment files: records in the format of earlier versions, bit flips by field."""

from __future__ import annotations

import zlib

from vehicle_mw.store.segment import HEADER_V1, KIND_COLUMNS, MAGIC_V1, TRAILER


def encode_record_v1(seq: int, priority: int, payload: bytes, count: int, kind: int = KIND_COLUMNS) -> bytes:
    """A record as earlier versions wrote it: "VMWB" header without header CRC, payload, CRC."""
    head = HEADER_V1.pack(MAGIC_V1, len(payload), seq, count, priority, kind, 0)
    return head + payload + TRAILER.pack(zlib.crc32(payload, zlib.crc32(head)))

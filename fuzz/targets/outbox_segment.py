"""Outbox segment files on arbitrary bytes: the recovery scan, and reading batches back.

First byte: bit 0 set makes the harness repair every record's CRC trailer it can find (so the
fuzzer gets past the checksum into headers and payloads); bit 1 set opens a whole ``Outbox`` on
the folder (recovery as after a crash) instead of only scanning the segment. A damaged tail must
be cut, never raise; a payload that does not decode must be a clear error.
"""

from __future__ import annotations

import os
import zlib

from google.protobuf.message import DecodeError

from fuzz.harness import Input
from fuzz.targets._scratch import scratch_dir
from vehicle_mw.channel.protocol import ProtocolError
from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.store.outbox import Outbox, OutboxError
from vehicle_mw.store.segment import HEADER, MAGIC, OVERHEAD, TRAILER, scan

CONFIG = OutboxConfig(max_bytes=1 << 20, segment_bytes=1 << 16, fsync="none")
EXPECTED = (OutboxError, ProtocolError, DecodeError)


def repair_crcs(data: bytes) -> bytes:
    """Rewrite the CRC of each record that a header's length delimits (the rest is left alone)."""
    buf = bytearray(data)
    off = 0
    while off + OVERHEAD <= len(buf) and buf[off : off + 4] == MAGIC:
        length = HEADER.unpack_from(buf, off)[1]
        end = off + HEADER.size + length
        if end + TRAILER.size > len(buf):
            break
        TRAILER.pack_into(buf, end, zlib.crc32(bytes(buf[off:end])))
        off = end + TRAILER.size
    return bytes(buf)


def one_input(data: bytes) -> None:
    inp = Input(data)
    mode = inp.byte()
    body = inp.rest()
    if mode & 1:
        body = repair_crcs(body)
    folder = scratch_dir("outbox")
    path = folder / f"seg-{1:020d}.log"
    path.write_bytes(body)
    if mode & 2:
        box = Outbox(folder, CONFIG)
        try:
            for batch in box.pending(0, 64):
                assert len(batch.samples) == batch.count
        finally:
            box.close()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        refs, end = scan(fd, len(body))
    finally:
        os.close(fd)
    assert end <= len(body)
    assert all(a.offset + a.size <= b.offset for a, b in zip(refs, refs[1:], strict=False))

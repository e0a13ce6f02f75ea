"""Serialized ``Uplink{batch}`` straight from numpy columns, without a Python object per sample.

Protobuf's packed repeated fields are plain byte runs (fixed64/double: little-endian words;
integers: varints), so a whole SampleColumns is built in one native call (``native/src/wire.c``),
or, as the reference, with a few vectorized numpy operations.
The bytes are exactly what ``link_pb2`` would produce and any protobuf parser reads them
(``tests/channel/test_wire.py`` checks both).
"""

from __future__ import annotations

import time
import zlib

import numpy as np

from vehicle_mw.native._lib import ffi as _ffi
from vehicle_mw.native._lib import lib as _lib
from vehicle_mw.native.records import VALUE_F64, VALUE_U64
from vehicle_mw.native.wire import columns_bytes

_LEN = 2  # wire type: length-delimited
_I64 = 1  # wire type: 64-bit
_VARINT = 0


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varints(values: np.ndarray) -> bytes:
    """Concatenated varints of an unsigned 64-bit array (vectorized; only as wide as the largest value)."""
    v = np.ascontiguousarray(values, dtype=np.uint64)
    if v.size == 0:
        return b""
    width = max(1, (int(v.max()).bit_length() + 6) // 7)
    if width == 1:
        return v.astype(np.uint8).tobytes()
    groups = np.empty((v.size, width), dtype=np.uint8)
    length = np.ones(v.size, dtype=np.int64)
    for k in range(width):
        groups[:, k] = ((v >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        if k:
            length += v >= np.uint64(1 << (7 * k))
    k = np.arange(width)
    groups[k[None, :] < (length - 1)[:, None]] |= 0x80
    return groups[k[None, :] < length[:, None]].tobytes()


def _field(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _packed(number: int, payload: bytes) -> bytes:
    if not payload:
        return b""
    return _field(number, _LEN) + _varint(len(payload)) + payload


def columns_bytes_numpy(samples: np.ndarray) -> bytes:
    """Serialized ``SampleColumns`` of a SAMPLE_DTYPE array, with numpy only (same bytes)."""
    kinds = samples["kind"]
    values = np.ascontiguousarray(samples["value"])
    parts = [
        _packed(1, varints(samples["signal_id"])),
        _packed(2, varints(samples["source_id"])),
        _packed(3, np.ascontiguousarray(samples["timestamp_ns"], dtype="<u8").tobytes()),
        _packed(4, varints(samples["source_seq"])),
    ]
    if np.any(kinds != VALUE_F64):
        raw = values.view("<i8")
        as_int = kinds != VALUE_F64
        readable = np.where(as_int, raw.astype(np.float64), values)
        readable = np.where(kinds == VALUE_U64, raw.view("<u8").astype(np.float64), readable)
        ints = np.where(as_int, raw, 0)
        zigzag = (ints.astype(np.int64) << 1) ^ (ints.astype(np.int64) >> 63)
        parts += [
            _packed(5, readable.astype("<f8").tobytes()),
            _packed(6, varints(kinds.astype(np.uint64))),
            _packed(7, varints(zigzag.view(np.uint64))),
        ]
    else:
        parts.append(_packed(5, values.astype("<f8", copy=False).tobytes()))
    return b"".join(parts)


def batch_bytes(
    seq: int,
    samples: np.ndarray,
    evicted_before: int = 0,
    compress: bool = False,
    evicted_batches_before: int = 0,
    created_ns: int | None = None,
) -> bytes:
    """Serialized ``Uplink{batch: SampleBatch}`` of sample records, ready for a WebSocket frame or gRPC.

    Uncompressed batches are built in one native call straight from the records (one copy out);
    compressed ones go through :func:`batch_from_columns`.
    """
    created = int(time.time_ns() if created_ns is None else created_ns)
    if not compress and len(samples):
        return _native_batch(seq, samples, evicted_before, evicted_batches_before, created)
    return batch_from_columns(
        seq, columns_bytes(samples), evicted_before, compress, evicted_batches_before, created
    )


def batch_from_columns(
    seq: int,
    columns: bytes,
    evicted_before: int = 0,
    compress: bool = False,
    evicted_batches_before: int = 0,
    created_ns: int | None = None,
) -> bytes:
    """Serialized ``Uplink{batch: SampleBatch}`` around already serialized ``SampleColumns``.

    The outbox stores batches in this encoding, so sending one costs a few header bytes and one
    copy of the columns into the message.
    """
    created = int(time.time_ns() if created_ns is None else created_ns)
    head = [_field(1, _VARINT) + _varint(seq)] if seq else []
    head.append(_field(2, _I64) + created.to_bytes(8, "little"))
    if compress:
        head.append(_field(3, _VARINT) + _varint(1))  # COMPRESSION_ZLIB
        columns = zlib.compress(columns, 1)
        head.append(_field(5, _LEN) + _varint(len(columns)))
    else:
        head.append(_field(4, _LEN) + _varint(len(columns)))
    tail = b""
    if evicted_before:
        tail += _field(6, _VARINT) + _varint(evicted_before)
    if evicted_batches_before:
        tail += _field(7, _VARINT) + _varint(evicted_batches_before)
    inner = b"".join(head)
    size = len(inner) + len(columns) + len(tail)
    return b"".join((_field(3, _LEN) + _varint(size) + inner, columns, tail))


_BATCH_TAG = (3 << 3) | _LEN  # Uplink.batch
_BUNDLED_TAG = (1 << 3) | _LEN  # SampleBatches.batches
BUNDLE_OVERHEAD = 11  # Uplink.batches tag + length varint, at most


def bundle_from_batches(messages: list[bytes]) -> bytes:
    """Serialized ``Uplink{batches: SampleBatches}`` of serialized ``Uplink{batch}`` messages.

    ``Uplink.batch`` (field 3) and ``SampleBatches.batches`` (field 1) are both length-delimited and
    carry the same SampleBatch bytes, so each message only changes its one-byte tag: one copy in all.
    The result is ``BUNDLE_OVERHEAD`` bytes at most larger than the messages together.
    """
    size = sum(len(m) for m in messages)
    parts: list[bytes | memoryview] = [_field(9, _LEN) + _varint(size)]
    tag = bytes((_BUNDLED_TAG,))
    for m in messages:
        if m[0] != _BATCH_TAG:
            raise ValueError("bundle_from_batches: not a serialized Uplink{batch}")
        parts += (tag, memoryview(m)[1:])
    return b"".join(parts)


def _native_batch(
    seq: int, samples: np.ndarray, evicted_before: int, evicted_batches_before: int, created_ns: int
) -> bytes:
    data = np.ascontiguousarray(samples)
    out = np.empty(_lib.vmw_wire_batch_bound(len(data)), np.uint8)  # not zeroed: only the message is read
    start = _ffi.new("size_t *")
    n = _lib.vmw_wire_batch(
        _ffi.from_buffer("vmw_sample[]", data),
        len(data),
        seq,
        created_ns,
        evicted_before,
        evicted_batches_before,
        _ffi.from_buffer(out),
        len(out),
        start,
    )
    return out[start[0] : start[0] + n].tobytes()


__all__ = [
    "BUNDLE_OVERHEAD",
    "batch_bytes",
    "bundle_from_batches",
    "batch_from_columns",
    "columns_bytes",
    "columns_bytes_numpy",
    "varints",
]

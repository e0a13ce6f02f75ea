"""Columnar sample chunks: one row per (batch, signal), its columns compressed together.

A row-per-sample table costs PostgreSQL ~24 bytes of tuple header plus index entries per sample;
a chunk costs them once per batch and signal. Inside a chunk, timestamps and source sequences are
stored as deltas, values as the XOR of each float's bits with the previous one's (slowly changing
signals give long runs of zero bits), every column byte-shuffled (byte 0 of every item, then byte
1, ...), and the whole compressed with zlib level 1. Decoding is vectorised with numpy.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from vehicle_mw.v1 import link_pb2

_HEADER = struct.Struct("<IB")  # samples, flags
_HAS_INT = 1


def _shuffle(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).view(np.uint8).reshape(len(a), a.itemsize).T.tobytes()


def _unshuffle(buf: bytes, n: int, dtype) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    return np.frombuffer(buf, np.uint8).reshape(size, n).T.copy().view(dtype).reshape(n)


def _delta(a: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    if len(a):
        out[0] = a[0]
        np.subtract(a[1:], a[:-1], out=out[1:])
    return out


@dataclass
class Chunk:
    """One signal's samples from one batch, as stored."""

    signal_id: int
    t0: int
    t1: int
    n: int
    data: bytes


def encode_columns(cols: link_pb2.SampleColumns) -> list[Chunk]:
    """The batch's samples split by signal (in their batch order), each chunk encoded."""
    n = len(cols.signal_id)
    if not n:
        return []
    sig = np.fromiter(cols.signal_id, np.uint32, n)
    ts = np.fromiter(cols.source_ts_ns, np.int64, n)
    val = np.fromiter(cols.value, np.float64, n)
    src = np.fromiter(cols.source_id, np.uint32, n) if len(cols.source_id) == n else np.zeros(n, np.uint32)
    sseq = np.fromiter(cols.source_seq, np.int64, n) if len(cols.source_seq) == n else np.zeros(n, np.int64)
    has_int = len(cols.int_value) == n and len(cols.kind) == n and any(cols.kind)
    if has_int:
        ival = np.fromiter(cols.int_value, np.int64, n)
        kind = np.fromiter(cols.kind, np.uint8, n)
    order = np.argsort(sig, kind="stable")
    sig_sorted = sig[order]
    cuts = np.flatnonzero(np.diff(sig_sorted)) + 1
    out = []
    for idx in np.split(order, cuts):
        t = ts[idx]
        bits = val[idx].view(np.uint64)
        xored = bits ^ np.concatenate(([np.uint64(0)], bits[:-1]))
        src_delta = _delta(src[idx].astype(np.int64)).astype(np.int32)
        parts = [_shuffle(_delta(t)), _shuffle(xored), _shuffle(src_delta), _shuffle(_delta(sseq[idx]))]
        if has_int:
            parts += [_shuffle(_delta(ival[idx])), kind[idx].tobytes()]
        body = _HEADER.pack(len(idx), _HAS_INT if has_int else 0) + zlib.compress(b"".join(parts), 1)
        out.append(Chunk(int(sig[idx[0]]), int(t.min()), int(t.max()), len(idx), body))
    return out


@dataclass
class Decoded:
    ts: np.ndarray  # int64 ns
    value: np.ndarray  # float64
    source_id: np.ndarray  # int64
    source_seq: np.ndarray  # int64
    int_value: np.ndarray | None
    kind: np.ndarray | None


def decode(data: bytes) -> Decoded:
    n, flags = _HEADER.unpack_from(data)
    raw = zlib.decompress(memoryview(data)[_HEADER.size :])
    pos = 0

    def take(size: int, dtype) -> np.ndarray:
        nonlocal pos
        a = _unshuffle(raw[pos : pos + size * n], n, dtype)
        pos += size * n
        return a

    ts = np.cumsum(take(8, np.int64))
    bits = np.bitwise_xor.accumulate(take(8, np.uint64)) if n else np.zeros(0, np.uint64)
    src = np.cumsum(take(4, np.int32).astype(np.int64))
    sseq = np.cumsum(take(8, np.int64))
    ival = kind = None
    if flags & _HAS_INT:
        ival = np.cumsum(take(8, np.int64))
        kind = np.frombuffer(raw[pos : pos + n], np.uint8)
    return Decoded(ts, bits.view(np.float64), src, sseq, ival, kind)


__all__ = ["Chunk", "Decoded", "decode", "encode_columns"]

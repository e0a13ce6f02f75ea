"""Sample records <-> protobuf messages of ``link.proto``, and frame checks shared by both ends."""

from __future__ import annotations

import time
import zlib

import numpy as np
from google.protobuf.message import DecodeError

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.native.records import SAMPLE_DTYPE, VALUE_F64
from vehicle_mw.v1 import link_pb2

PROTOCOL_VERSION = link_pb2.PROTOCOL_VERSION_CURRENT


class ProtocolError(VehicleMwError):
    """A peer sent something that is not a valid message of the link protocol."""

    def __init__(self, peer: str, reason: str, code: int = link_pb2.Error.MALFORMED) -> None:
        self.peer = peer
        self.reason = reason
        self.code = code
        super().__init__(f"{peer}: {reason}")


def columns_from_samples(samples: np.ndarray) -> link_pb2.SampleColumns:
    """Column message from a SAMPLE_DTYPE array (integers keep their exact value in int_value)."""
    cols = link_pb2.SampleColumns()
    cols.signal_id.extend(samples["signal_id"].tolist())
    cols.source_id.extend(samples["source_id"].tolist())
    cols.source_ts_ns.extend(samples["timestamp_ns"].tolist())
    cols.source_seq.extend(samples["source_seq"].tolist())
    kinds = samples["kind"]
    if np.any(kinds != VALUE_F64):
        raw = samples["value"].view("<i8")
        as_int = kinds != VALUE_F64
        values = np.where(as_int, raw.astype(np.float64), samples["value"])
        unsigned = kinds == 2
        values = np.where(unsigned, raw.view("<u8").astype(np.float64), values)
        cols.value.extend(values.tolist())
        cols.kind.extend(kinds.tolist())
        cols.int_value.extend(np.where(as_int, raw, 0).tolist())
    else:
        cols.value.extend(samples["value"].tolist())
    return cols


# ValueKind values this side understands (proto3 enums are open: a peer can send any int32)
VALUE_KINDS = {number: name for name, number in link_pb2.ValueKind.items()}
_KIND_NUMBERS = np.array(sorted(VALUE_KINDS), dtype=np.int64)


def check_kinds(cols: link_pb2.SampleColumns, peer: str = "peer", where: str = "") -> None:
    """Refuse a ``kind`` column holding a value outside the ValueKind enum (it would be stored as
    another kind, or wrap around in the one-byte record field), naming the first offending entry."""
    kinds = np.asarray(cols.kind, dtype=np.int64)  # array interface: no Python int per entry
    unknown = ~np.isin(kinds, _KIND_NUMBERS)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        known = ", ".join(f"{k} {v}" for k, v in sorted(VALUE_KINDS.items()))
        raise ProtocolError(
            peer,
            f"{where}SampleColumns.kind[{i}] = {int(kinds[i])} is not a known value kind ({known});"
            f" {int(unknown.sum())} of {len(kinds)} entries unknown",
        )


def check_sample_columns(cols: link_pb2.SampleColumns, peer: str = "peer", where: str = "") -> int:
    """Number of samples of ``cols``; raises ProtocolError when column lengths differ or a ``kind``
    is not a ValueKind (``where``, e.g. ``"batch 7: "``, prefixes the reason). Lengths and one
    vectorized pass over ``kind``: no per-sample work in Python."""
    n = len(cols.signal_id)
    lengths = {
        "source_id": len(cols.source_id),
        "source_ts_ns": len(cols.source_ts_ns),
        "source_seq": len(cols.source_seq),
        "value": len(cols.value),
    }
    if cols.kind:
        lengths["kind"] = len(cols.kind)
        lengths["int_value"] = len(cols.int_value)
    bad = {k: v for k, v in lengths.items() if v != n}
    if bad:
        raise ProtocolError(peer, f"{where}SampleColumns: {n} signal_id but {bad}")
    if cols.kind:
        check_kinds(cols, peer, where)
    return n


def samples_from_columns(cols: link_pb2.SampleColumns, peer: str = "peer", where: str = "") -> np.ndarray:
    """Inverse of :func:`columns_from_samples`, after :func:`check_sample_columns`. Each column is
    assigned whole (numpy reads a repeated field through its array interface: one native copy)."""
    n = check_sample_columns(cols, peer, where)
    out = np.zeros(n, SAMPLE_DTYPE)
    out["signal_id"] = cols.signal_id
    out["source_id"] = cols.source_id
    out["timestamp_ns"] = cols.source_ts_ns
    out["source_seq"] = cols.source_seq
    out["value"] = cols.value
    if cols.kind:
        kinds = np.asarray(cols.kind, dtype=np.uint8)
        out["kind"] = kinds
        ints = np.asarray(cols.int_value, dtype=np.int64)
        as_int = kinds != VALUE_F64
        out["value"].view("<i8")[as_int] = ints[as_int]
    return out


def batch_columns(
    batch: link_pb2.SampleBatch, peer: str = "peer", max_bytes: int = 64 << 20
) -> link_pb2.SampleColumns:
    """Columns of a received SampleBatch (decompressing with a size limit), not yet checked."""
    if batch.compression == link_pb2.COMPRESSION_ZLIB:
        d = zlib.decompressobj()
        try:
            raw = d.decompress(batch.compressed_columns, max_bytes)
        except zlib.error as exc:
            raise ProtocolError(peer, f"batch {batch.seq}: bad zlib data ({exc})") from None
        if d.unconsumed_tail:
            raise ProtocolError(
                peer,
                f"batch {batch.seq}: decompresses beyond {max_bytes} B",
                link_pb2.Error.MESSAGE_TOO_LARGE,
            )
        cols = link_pb2.SampleColumns()
        try:
            cols.ParseFromString(raw)
        except DecodeError as exc:
            raise ProtocolError(peer, f"batch {batch.seq}: compressed columns do not parse ({exc})") from None
        return cols
    if batch.compression != link_pb2.COMPRESSION_NONE:
        raise ProtocolError(peer, f"batch {batch.seq}: unknown compression {batch.compression}")
    return batch.columns


def batch_message(
    seq: int,
    samples: np.ndarray,
    evicted_before: int = 0,
    compress: bool = False,
    evicted_batches_before: int = 0,
) -> link_pb2.Uplink:
    """An Uplink carrying one SampleBatch."""
    up = link_pb2.Uplink()
    b = up.batch
    b.seq = seq
    b.created_ns = time.time_ns()
    b.evicted_before = evicted_before
    b.evicted_batches_before = evicted_batches_before
    cols = columns_from_samples(samples)
    if compress:
        b.compression = link_pb2.COMPRESSION_ZLIB
        b.compressed_columns = zlib.compress(cols.SerializeToString(), 1)
    else:
        b.columns.CopyFrom(cols)
    return up


def batch_samples(batch: link_pb2.SampleBatch, peer: str = "peer", max_bytes: int = 64 << 20) -> np.ndarray:
    """Samples of a received SampleBatch (decompressing with a size limit)."""
    return samples_from_columns(batch_columns(batch, peer, max_bytes), peer, f"batch {batch.seq}: ")


def check_batch(batch: link_pb2.SampleBatch, peer: str = "peer", max_bytes: int = 64 << 20) -> int:
    """Samples in a received SampleBatch, checked as :func:`batch_samples` does, without building them."""
    return check_sample_columns(batch_columns(batch, peer, max_bytes), peer, f"batch {batch.seq}: ")


def parse_frame(data: bytes | str, cls: type, peer: str, max_bytes: int):
    """Parse one WebSocket frame as ``cls`` (Uplink or Downlink) with clear errors."""
    if isinstance(data, str):
        raise ProtocolError(peer, "text frame received; the link protocol uses binary frames only")
    if len(data) > max_bytes:
        raise ProtocolError(
            peer, f"frame of {len(data)} B exceeds {max_bytes} B", link_pb2.Error.MESSAGE_TOO_LARGE
        )
    msg = cls()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise ProtocolError(peer, f"frame of {len(data)} B is not a {cls.__name__} ({exc})") from None
    if msg.WhichOneof("msg") is None:
        raise ProtocolError(peer, f"empty or unknown {cls.__name__} (no message set)")
    return msg


def error_downlink(code: int, message: str) -> link_pb2.Downlink:
    down = link_pb2.Downlink()
    down.error.code = code
    down.error.message = message
    return down


__all__ = [
    "PROTOCOL_VERSION",
    "ProtocolError",
    "batch_message",
    "batch_columns",
    "batch_samples",
    "check_batch",
    "check_kinds",
    "check_sample_columns",
    "columns_from_samples",
    "error_downlink",
    "parse_frame",
    "samples_from_columns",
]

"""The native SampleColumns encoder (``native/src/wire.c``): sample records -> protobuf bytes.

``SampleColumns`` (``proto/vehicle_mw/v1/link.proto``) is how a batch of samples travels to the
gateway; the outbox stores batches in that same encoding, so sending one is a read and a framing,
not an encoding. The numpy reference of the same bytes is ``vehicle_mw.channel.wire``.
"""

from __future__ import annotations

import numpy as np

from vehicle_mw.native._lib import ffi, lib
from vehicle_mw.native.records import SAMPLE_DTYPE


def columns_bytes(samples: np.ndarray) -> bytes:
    """Serialized ``SampleColumns`` of a SAMPLE_DTYPE array (exactly what ``link_pb2`` would produce)."""
    if samples.dtype != SAMPLE_DTYPE:
        raise TypeError(f"columns_bytes needs SAMPLE_DTYPE records, got {samples.dtype}")
    data = np.ascontiguousarray(samples)
    out = np.empty(lib.vmw_wire_columns_bound(len(data)), np.uint8)  # not zeroed: fully overwritten
    n = lib.vmw_wire_columns(ffi.from_buffer("vmw_sample[]", data), len(data), ffi.from_buffer(out), len(out))
    return out[:n].tobytes()


def columns_bound(count: int) -> int:
    """Largest possible ``columns_bytes`` length for ``count`` samples (a sanity bound when reading)."""
    return int(lib.vmw_wire_columns_bound(count))


__all__ = ["columns_bound", "columns_bytes"]

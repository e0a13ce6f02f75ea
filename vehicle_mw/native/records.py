"""numpy views of the fixed record layouts in ``native/include/vmw_records.h``.

A batch popped from a ring is a buffer of N records; ``np.frombuffer(buf, FRAME_DTYPE)``
gives columns without a Python object per record.
"""

from __future__ import annotations

import numpy as np

from vehicle_mw.native._lib import lib

FRAME_EXTENDED = 0x01
FRAME_FD = 0x02
FRAME_BRS = 0x04
FRAME_ESI = 0x08
FRAME_RTR = 0x10
FRAME_ERROR = 0x20

VALUE_F64 = 0
VALUE_I64 = 1
VALUE_U64 = 2
VALUE_BOOL = 3

SAMPLE_CHOICE = 0x01

FRAME_DTYPE = np.dtype(
    [
        ("timestamp_ns", "<u8"),
        ("seq", "<u8"),
        ("can_id", "<u4"),
        ("bus_id", "<u2"),
        ("len", "u1"),
        ("flags", "u1"),
        ("data", "u1", (64,)),
    ]
)

SAMPLE_DTYPE = np.dtype(
    [
        ("timestamp_ns", "<u8"),
        ("source_seq", "<u8"),
        ("signal_id", "<u4"),
        ("source_id", "<u2"),
        ("kind", "u1"),
        ("flags", "u1"),
        ("value", "<f8"),  # reinterpret with .view('<i8') / ('<u8') for integer kinds
    ]
)

FRAME_SIZE = FRAME_DTYPE.itemsize
SAMPLE_SIZE = SAMPLE_DTYPE.itemsize

assert FRAME_SIZE == lib.vmw_can_frame_size(), "FRAME_DTYPE out of sync with vmw_records.h"
assert SAMPLE_SIZE == lib.vmw_sample_size(), "SAMPLE_DTYPE out of sync with vmw_records.h"

__all__ = [
    "FRAME_DTYPE",
    "FRAME_SIZE",
    "SAMPLE_DTYPE",
    "SAMPLE_SIZE",
    "FRAME_EXTENDED",
    "FRAME_FD",
    "FRAME_BRS",
    "FRAME_ESI",
    "FRAME_RTR",
    "FRAME_ERROR",
    "VALUE_F64",
    "VALUE_I64",
    "VALUE_U64",
    "VALUE_BOOL",
    "SAMPLE_CHOICE",
]

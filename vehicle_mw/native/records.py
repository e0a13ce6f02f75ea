"""numpy views of the fixed record layouts in ``native/include/vmw_records.h``, laid out from
the compiled C structs (offsets and sizes from cffi) and its flag constants.

A batch popped from a ring is a buffer of N records; ``np.frombuffer(buf, FRAME_DTYPE)``
gives columns without a Python object per record.
"""

from __future__ import annotations

import numpy as np

from vehicle_mw.native._lib import ffi, lib

FRAME_EXTENDED = lib.VMW_FRAME_EXTENDED
FRAME_FD = lib.VMW_FRAME_FD
FRAME_BRS = lib.VMW_FRAME_BRS
FRAME_ESI = lib.VMW_FRAME_ESI
FRAME_RTR = lib.VMW_FRAME_RTR
FRAME_ERROR = lib.VMW_FRAME_ERROR

VALUE_F64 = lib.VMW_VALUE_F64
VALUE_I64 = lib.VMW_VALUE_I64
VALUE_U64 = lib.VMW_VALUE_U64
VALUE_BOOL = lib.VMW_VALUE_BOOL

SAMPLE_CHOICE = lib.VMW_SAMPLE_CHOICE


def _c_layout(ctype: str, fields: list[tuple]) -> np.dtype:
    """A numpy dtype for C struct ``ctype`` with each field at the offset the compiler gave it
    (``ffi.offsetof``) and the struct's own size; a field whose numpy size differs from its C
    size is an error naming it, so the views cannot silently drift from vmw_records.h."""
    c_fields = dict(ffi.typeof(ctype).fields)
    names, formats, offsets = [], [], []
    for name, fmt, *shape in fields:
        dt = np.dtype((fmt, shape[0])) if shape else np.dtype(fmt)
        c_size = ffi.sizeof(c_fields[name].type)
        if dt.itemsize != c_size:
            raise ImportError(f"{ctype}.{name}: numpy {dt} is {dt.itemsize} bytes, C has {c_size}")
        names.append(name)
        formats.append(dt)
        offsets.append(ffi.offsetof(ctype, name))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": ffi.sizeof(ctype)})


FRAME_DTYPE = _c_layout(
    "vmw_can_frame",
    [
        ("timestamp_ns", "<u8"),
        ("seq", "<u8"),
        ("can_id", "<u4"),
        ("bus_id", "<u2"),
        ("len", "u1"),
        ("flags", "u1"),
        ("data", "u1", (64,)),
    ],
)

SAMPLE_DTYPE = _c_layout(
    "vmw_sample",
    [
        ("timestamp_ns", "<u8"),
        ("source_seq", "<u8"),
        ("signal_id", "<u4"),
        ("source_id", "<u2"),
        ("kind", "u1"),
        ("flags", "u1"),
        ("value", "<f8"),  # reinterpret with .view('<i8') / ('<u8') for integer kinds
    ],
)

FRAME_SIZE = FRAME_DTYPE.itemsize
SAMPLE_SIZE = SAMPLE_DTYPE.itemsize

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

"""The common CAN log formats read at once into frame columns, for replay.

python-can's readers build one ``Message`` per line in Python (~9 us a frame); a replayed bus
reads its log again on every loop. Most real logs are plain classic frames in candump ``.log``
or PCAN ``.trc`` 1.1, which one regular expression over the whole file reads in ~1 us a frame.

The contract is narrow on purpose: :func:`read_columns` accepts a file only when *every* frame
line is in the strict form below, and then yields exactly what python-can's reader would
(``tests/can/test_log_columns.py`` compares both on real traces). Anything else (CAN FD, remote
or error frames, other TRC versions, odd spacing, damaged lines, other formats, files over
``MAX_BYTES``) returns ``None`` and python-can reads the file, its errors included.

- candump ``-L``: ``(1600279140.020108) can0 2A0#480087182102F900`` (3 or 8 hex digit id)
- PCAN-View ``.trc`` ``$FILEVERSION=1.1``: ``  1)  9.0  Rx  0260  8  00 00 00 00 00 00 00 6A``
"""

from __future__ import annotations

import binascii
import pathlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from vehicle_mw.native.records import FRAME_DTYPE, FRAME_EXTENDED

MAX_BYTES = 64 << 20  # larger logs stream through python-can (columns cost ~100 B a frame)
CAN_ERR_FLAG = 0x20000000  # candump: an error frame's id carries it (python-can decodes those)

_CANDUMP = re.compile(
    rb"\((\d+\.\d+)\) (\S+) ([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#((?:[0-9A-Fa-f]{2}){0,8})[ \t]*"
)
_TRC_11 = re.compile(
    rb"[ \t]*\d+\)[ \t]+(\d+\.\d+)[ \t]+(?:Rx|Tx)[ \t]+([0-9A-Fa-f]{4}|[0-9A-Fa-f]{8})[ \t]+([0-8])"
    rb"((?:[ \t]+[0-9A-Fa-f]{2})*)[ \t]*"
)


@dataclass(frozen=True)
class LogColumns:
    """Every frame of a log: records without timestamp, sequence and bus, plus what sets them."""

    records: np.ndarray  # FRAME_DTYPE: can_id, len, flags, data filled
    timestamp_s: np.ndarray  # float64, as python-can's Message.timestamp
    channels: list  # per frame, as python-can's Message.channel (str, or int when all digits)

    def __len__(self) -> int:
        return len(self.records)


def read_columns(path: str | pathlib.Path) -> LogColumns | None:
    """The frames of a plain candump/TRC 1.1 log as columns, or ``None`` (python-can reads it)."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".log", ".trc"):
        return None
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        text = path.read_bytes()
    except OSError:
        return None  # python-can's reader names the file in its error
    if b"\r" in text or b"\0" in text:
        return None  # CRLF or binary: python-can's text mode decides
    if suffix == ".log":
        return _candump(text)
    return _trc_11(text)


def _rows(pattern: re.Pattern, lines: list[bytes]) -> list[tuple] | None:
    """Every line's groups, or None as soon as one line is not in the strict form."""
    rows = []
    for line in lines:
        m = pattern.fullmatch(line)
        if m is None:
            return None
        rows.append(m.groups())
    return rows or None


def _candump(text: bytes) -> LogColumns | None:
    rows = _rows(_CANDUMP, [line for line in text.split(b"\n") if line.strip()])
    if rows is None:
        return None
    ts, chans, ids, payloads = zip(*rows, strict=True)
    can_ids = np.array([int(i, 16) for i in ids], np.uint64)
    if np.any(can_ids & CAN_ERR_FLAG):
        return None  # error frames: python-can's reader makes them
    if not all(c.isascii() for c in chans):
        return None  # python-can decodes the text; a channel name is its call then
    extended = np.array([len(i) > 3 for i in ids], bool)
    channels = [int(c) if c.isdigit() else c.decode() for c in chans]
    return _columns([float(t) for t in ts], can_ids & 0x1FFFFFFF, extended, payloads, channels)


def _trc_11(text: bytes) -> LogColumns | None:
    lines = text.split(b"\n")
    first = next((i for i, line in enumerate(lines) if not line.strip().startswith(b";")), len(lines))
    start = _trc_start_time(lines[:first])  # python-can reads directives before the first frame only
    if start is None:
        return None
    body = [line for line in lines[first:] if line.strip() and not line.strip().startswith(b";")]
    rows = _rows(_TRC_11, body)
    if rows is None:
        return None
    ts_ms, ids, dlcs, payloads = zip(*rows, strict=True)
    data = [p.split() for p in payloads]
    if any(len(d) != int(n) for d, n in zip(data, dlcs, strict=True)):
        return None  # python-can takes exactly dlc bytes; anything else is its call
    can_ids = np.array([int(i, 16) for i in ids], np.uint64)
    extended = np.array([len(i) > 4 for i in ids], bool)
    ts = [float(t) / 1000 + start for t in ts_ms]  # python-can's own arithmetic, bit for bit
    return _columns(ts, can_ids, extended, [b"".join(d) for d in data], [1] * len(ids))


def _trc_start_time(header: list[bytes]) -> float | None:
    """python-can's start time of a TRC 1.1 header (None: another version, or none given)."""
    fields = dict(
        line.strip()[2:].split(b"=", 1) for line in header if line.strip().startswith(b";$") and b"=" in line
    )
    if fields.get(b"FILEVERSION") != b"1.1" or b"STARTTIME" not in fields:
        return None
    try:
        days = float(fields[b"STARTTIME"])
        return (datetime(1899, 12, 30, tzinfo=UTC) + timedelta(days=days)).timestamp()
    except (ValueError, OverflowError):
        return None


def _columns(ts: list[float], can_ids, extended, payloads, channels) -> LogColumns | None:
    n = len(payloads)
    timestamps = np.array(ts, np.float64)
    if not np.all((timestamps >= 0) & (timestamps < 2**63 / 1e9)):
        return None  # python-can's path names the frame with the bad time
    if np.any(can_ids > 0x1FFFFFFF):
        return None
    records = np.zeros(n, FRAME_DTYPE)
    records["can_id"] = can_ids
    records["flags"] = np.where(extended, FRAME_EXTENDED, 0)
    lengths = np.fromiter((len(p) // 2 for p in payloads), np.uint8, n)
    records["len"] = lengths
    raw = binascii.unhexlify(b"".join(payloads))
    data = np.frombuffer(raw, np.uint8)
    ends = np.cumsum(lengths, dtype=np.int64)
    rows = np.repeat(np.arange(n), lengths)
    cols = np.arange(len(data)) - np.repeat(ends - lengths, lengths)
    records["data"][rows, cols] = data
    return LogColumns(records, timestamps, channels)


__all__ = ["LogColumns", "MAX_BYTES", "read_columns"]

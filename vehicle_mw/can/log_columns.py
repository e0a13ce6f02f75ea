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
import functools
import pathlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from vehicle_mw.native.records import FRAME_DTYPE, FRAME_EXTENDED

CHUNK_LINES = 4096
MAX_BYTES = 64 << 20  # larger logs stream through python-can (columns cost ~100 B a frame)
CAN_ERR_FLAG = 0x20000000  # candump: an error frame's id carries it (python-can decodes those)

_END = rb"[ \t]*(?:\n|\Z)"  # trailing blanks, then the line's end
_CANDUMP = re.compile(
    rb"\((\d+\.\d+)\) (\S+) ([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#((?:[0-9A-Fa-f]{2}){0,8})" + _END
)
_TRC_11 = re.compile(
    rb"[ \t]*\d+\)[ \t]+(\d+\.\d+)[ \t]+(?:Rx|Tx)[ \t]+([0-9A-Fa-f]{4}|[0-9A-Fa-f]{8})[ \t]+([0-8])"
    rb"((?:[ \t]+[0-9A-Fa-f]{2})*)" + _END
)
_BLANK = re.compile(rb"[ \t]*(?:\n|\Z)")
_BLANK_OR_COMMENT = re.compile(rb"[ \t]*(?:;[^\n]*)?(?:\n|\Z)")
_TRC_HEADER = re.compile(rb"(?:[ \t]*;[^\n]*(?:\n|\Z))*")


@dataclass(frozen=True)
class LogColumns:
    """Every frame of a log: records without timestamp, sequence and bus, plus what sets them."""

    records: np.ndarray  # FRAME_DTYPE: can_id, len, flags, data filled
    timestamp_s: np.ndarray  # float64, as python-can's Message.timestamp
    channel_names: list  # the log's channels, as python-can's Message.channel (str, or int if digits)
    channel_index: np.ndarray  # per frame, its channel in channel_names

    def __len__(self) -> int:
        return len(self.records)

    @property
    def channels(self) -> list:
        """Per frame, its channel (a list as long as the log: for tools and tests)."""
        return [self.channel_names[i] for i in self.channel_index.tolist()]


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
    try:
        if suffix == ".log":
            return _assemble(_scan(text, 0, _CANDUMP, _BLANK), _candump, text.count(b"\n") + 1)
        header = _TRC_HEADER.match(text)
        assert header is not None  # it matches the empty string
        start = _trc_start_time(header.group(0).split(b"\n"))  # python-can: directives before the first frame
        if start is None:
            return None
        frames = _scan(text, header.end(), _TRC_11, _BLANK_OR_COMMENT)
        return _assemble(frames, functools.partial(_trc_11, start=start), text.count(b"\n") + 1)
    except _NotPlain:
        return None


class _NotPlain(Exception):
    """A line outside the strict form: python-can reads the file."""


def _scan(text: bytes, pos: int, frame: re.Pattern, skip: re.Pattern) -> Iterator[list[tuple]]:
    """The frame lines' groups, ``CHUNK_LINES`` at a time, walking the text line by line (no list
    of lines: the heap does not grow by a whole log's worth of objects); lines ``skip`` matches
    are passed over, any other line raises :class:`_NotPlain`."""
    rows: list[tuple] = []
    end = len(text)
    while pos < end:
        m = frame.match(text, pos)
        if m is not None:
            rows.append(m.groups())
            pos = m.end()
            if len(rows) == CHUNK_LINES:
                yield rows
                rows = []
            continue
        m = skip.match(text, pos)
        if m is None or m.end() == pos:
            raise _NotPlain
        pos = m.end()
    if rows:
        yield rows


def _assemble(chunks: Iterator[list[tuple]], parse, lines: int) -> LogColumns | None:
    """Each chunk of rows into arrays, copied into columns sized for ``lines`` frames (the chunk
    arrays are freed and reused chunk after chunk), then the columns cut to the frames found."""
    names: dict[object, int] = {}
    records = np.zeros(lines, FRAME_DTYPE)  # calloc'd: pages past the last frame are never touched
    ts = np.empty(lines, np.float64)
    index = np.empty(lines, np.uint32)
    n = 0
    for rows in chunks:
        part = parse(rows, names)
        if part is None:
            return None
        k = len(part[0])
        records[n : n + k], ts[n : n + k], index[n : n + k] = part
        n += k
    if not n:
        return None
    for column in (records, ts, index):
        column.resize(n, refcheck=False)  # in place: what was never filled goes back
    return LogColumns(records, ts, list(names), index)


def _candump(rows: list[tuple], names: dict) -> tuple | None:
    ts, chans, ids, payloads = zip(*rows, strict=True)
    can_ids = np.array([int(i, 16) for i in ids], np.uint64)
    if np.any(can_ids & CAN_ERR_FLAG):
        return None  # error frames: python-can's reader makes them
    if not all(c.isascii() for c in chans):
        return None  # python-can decodes the text; a channel name is its call then
    extended = np.array([len(i) > 3 for i in ids], bool)
    index = np.array([_channel(names, int(c) if c.isdigit() else c.decode()) for c in chans], np.uint32)
    return _columns([float(t) for t in ts], can_ids & 0x1FFFFFFF, extended, payloads, index)


def _trc_11(rows: list[tuple], names: dict, start: float) -> tuple | None:
    ts_ms, ids, dlcs, payloads = zip(*rows, strict=True)
    data = [p.split() for p in payloads]
    if any(len(d) != int(n) for d, n in zip(data, dlcs, strict=True)):
        return None  # python-can takes exactly dlc bytes; anything else is its call
    can_ids = np.array([int(i, 16) for i in ids], np.uint64)
    extended = np.array([len(i) > 4 for i in ids], bool)
    ts = [float(t) / 1000 + start for t in ts_ms]  # python-can's own arithmetic, bit for bit
    index = np.full(len(ids), _channel(names, 1), np.uint32)  # python-can: channel 1
    return _columns(ts, can_ids, extended, [b"".join(d) for d in data], index)


def _channel(names: dict, name: object) -> int:
    return names.setdefault(name, len(names))


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


def _columns(ts: list[float], can_ids, extended, payloads, index) -> tuple | None:
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
    data = np.frombuffer(binascii.unhexlify(b"".join(payloads)), np.uint8)
    ends = np.cumsum(lengths, dtype=np.int64)
    rows = np.repeat(np.arange(n), lengths)
    cols = np.arange(len(data)) - np.repeat(ends - lengths, lengths)
    records["data"][rows, cols] = data
    return records, timestamps, index


__all__ = ["LogColumns", "MAX_BYTES", "read_columns"]

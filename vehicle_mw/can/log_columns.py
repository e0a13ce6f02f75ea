"""The common CAN log formats read as frame columns, a chunk at a time, for replay.

python-can's readers build one ``Message`` per line in Python (~9 us a frame); most real logs are
plain classic frames in candump ``.log`` or PCAN ``.trc`` 1.1, which a regular expression per line
reads into arrays in ~3 us a frame. A replay reads such a log in chunks of at most
``CHUNK_LINES`` frames and ``BLOCK_BYTES`` of text, so a replayed bus holds one chunk, not the log.

The contract is narrow on purpose: :func:`open_plain` accepts a file only when *every* frame line
is in the strict form below (it reads the file once to check), and its chunks then hold exactly
what python-can's reader would give (``tests/can/test_log_columns.py`` compares both on real
traces). Anything else (CAN FD, remote or error frames, other TRC versions, odd spacing, damaged
lines, CRLF, other formats) gives ``None`` and python-can reads the file, its errors included.

- candump ``-L``: ``(1600279140.020108) can0 2A0#480087182102F900`` (3 or 8 hex digit id)
- PCAN-View ``.trc`` ``$FILEVERSION=1.1``: ``  1)  9.0  Rx  0260  8  00 00 00 00 00 00 00 6A``
"""

from __future__ import annotations

import binascii
import functools
import pathlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from can.io.canutils import CAN_ERR_FLAG  # candump: an error frame's id carries it

from vehicle_mw.native.records import FRAME_DTYPE, FRAME_EXTENDED

CHUNK_LINES = 256  # frames per chunk at most (22 KB of records)
BLOCK_BYTES = 16 << 10  # text read at a time
# frame records hold ns in 64 bits (year 2262); a time outside is refused (replay names the frame)
MAX_TIMESTAMP_S = 2**63 / 1e9

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
    """Frames of a log: records without timestamp, sequence and bus, plus what sets them."""

    records: np.ndarray  # FRAME_DTYPE: can_id, len, flags, data filled
    timestamp_s: np.ndarray  # float64, as python-can's Message.timestamp
    channel_names: list  # the log's channels so far, as python-can's Message.channel (str, or int)
    channel_index: np.ndarray  # per frame, its channel in channel_names

    def __len__(self) -> int:
        return len(self.records)

    @property
    def channels(self) -> list:
        """Per frame, its channel (a list as long as the frames: for tools and tests)."""
        return [self.channel_names[i] for i in self.channel_index.tolist()]


class LogChanged(Exception):
    """A log that was plain when opened has a line that is not (it changed while replaying)."""


class _NotPlain(Exception):
    """A line outside the strict form: python-can reads the file."""


@dataclass(frozen=True)
class PlainLog:
    """A log checked to be plain; :meth:`chunks` reads its frames, a chunk at a time."""

    path: pathlib.Path
    frame: re.Pattern
    skip: re.Pattern
    body_at: int  # where the frames start (after a TRC header)
    parse: Callable[[list[tuple], dict], tuple | None]

    def chunks(self) -> Iterator[LogColumns]:
        """Every frame, in chunks; :class:`LogChanged` if a line is no longer plain."""
        try:
            yield from self._chunks()
        except _NotPlain as exc:
            raise LogChanged(f"{self.path}: changed while replaying: {exc}") from None

    def _chunks(self) -> Iterator[LogColumns]:
        names: dict[object, int] = {}
        for block in _blocks(self.path, self.body_at):
            for rows in _scan(block, self.frame, self.skip):
                part = self.parse(rows, names)
                if part is None:
                    raise _NotPlain("a frame python-can reads differently")
                yield LogColumns(part[0], part[1], list(names), part[2])


def open_plain(path: str | pathlib.Path) -> PlainLog | None:
    """The log as a :class:`PlainLog` when every line is plain (read once to check), else ``None``."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".log", ".trc"):
        return None
    try:
        if suffix == ".log":
            plain = PlainLog(path, _CANDUMP, _BLANK, 0, _candump)
        else:
            with path.open("rb") as f:
                head = f.read(BLOCK_BYTES)
            header = _TRC_HEADER.match(head)
            assert header is not None  # it matches the empty string
            if header.end() == len(head) and len(head) == BLOCK_BYTES:
                return None  # a header longer than a block: python-can's call
            start = _trc_start_time(header.group(0).split(b"\n"))  # python-can: before the first frame
            if start is None:
                return None
            plain = PlainLog(
                path, _TRC_11, _BLANK_OR_COMMENT, header.end(), functools.partial(_trc_11, start=start)
            )
        frames = sum(len(chunk) for chunk in plain._chunks())
    except (_NotPlain, OSError):
        return None  # OSError: python-can's reader names the file in its error
    return plain if frames else None


def read_columns(path: str | pathlib.Path) -> LogColumns | None:
    """All frames of a plain log as one set of columns (tools and tests), or ``None``."""
    plain = open_plain(path)
    if plain is None:
        return None
    chunks = list(plain.chunks())
    return LogColumns(
        np.concatenate([c.records for c in chunks]),
        np.concatenate([c.timestamp_s for c in chunks]),
        chunks[-1].channel_names,
        np.concatenate([c.channel_index for c in chunks]),
    )


def _blocks(path: pathlib.Path, at: int) -> Iterator[bytes]:
    """The file's text from ``at`` in blocks of whole lines."""
    with path.open("rb") as f:
        f.seek(at)
        rest = b""
        while True:
            block = f.read(BLOCK_BYTES)
            if not block:
                if rest:
                    yield _checked(rest)
                return
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                if len(block) > 4 * BLOCK_BYTES:
                    raise _NotPlain("a line longer than any frame line")
                rest = block
                continue
            yield _checked(block[:cut])
            rest = block[cut:]


def _checked(block: bytes) -> bytes:
    if b"\r" in block or b"\0" in block:
        raise _NotPlain("CRLF or binary data")  # python-can's text mode decides
    return block


def _scan(text: bytes, frame: re.Pattern, skip: re.Pattern) -> Iterator[list[tuple]]:
    """The frame lines' groups, ``CHUNK_LINES`` at a time, walking the text line by line; lines
    ``skip`` matches are passed over, any other line raises :class:`_NotPlain`."""
    rows: list[tuple] = []
    pos, end = 0, len(text)
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
            raise _NotPlain(f"line {text[pos : pos + 60]!r}")
        pos = m.end()
    if rows:
        yield rows


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
    if not np.all((timestamps >= 0) & (timestamps < MAX_TIMESTAMP_S)):
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


__all__ = ["BLOCK_BYTES", "CHUNK_LINES", "LogChanged", "LogColumns", "PlainLog", "open_plain", "read_columns"]

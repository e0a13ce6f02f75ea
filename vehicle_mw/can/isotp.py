"""ISO 15765-2 (ISO-TP) reassembly, as a passive listener on configured id pairs (normal addressing).

The first byte's high nibble (PCI) says what a frame is:

- ``0`` single frame: length in the low nibble (1..7); CAN FD frames longer than 8 bytes put a
  0 there and the length (1..62) in byte 1;
- ``1`` first frame: 12-bit length in the low nibble and byte 1 (8..4095); 0 there is the escape
  sequence, a 32-bit length in bytes 2..5 (> 4095) follows; the frame's length is the connection's
  frame size (8, or up to 64 on CAN FD);
- ``2`` consecutive frame: sequence number in the low nibble (1, 2, ... 15, 0, 1, ...);
- ``3`` flow control, sent on the *other* id of the pair: 0 continue, 1 wait, 2 overflow (abort).

:class:`IsoTpReassembler` keeps one session per (bus, extended, id the data travels on) -- each id
of a pair is one direction -- and returns every complete message. Bounded: at most
``max_sessions`` at once (per reassembler), ``max_bytes`` per link (a longer first frame is counted
and ignored, as a receiver answers it with an overflow). Timeout N_Cr (1000 ms, frame time) since
the last frame of the session or flow control of its pair; :meth:`expire_idle` applies it when no
frame comes, on an injected clock. Wrong sequence numbers end the session (ISO 15765-2 N_WRONG_SN);
a repeated frame (same number, same bytes) is counted as a duplicate and ignored; nothing raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vehicle_mw.can.tp_sessions import SessionTable

MS = 1_000_000
SF, FF, CF, FC = 0, 1, 2, 3
CLASSIC_MAX = 4095


@dataclass(frozen=True)
class IsoTpEndpoint:
    """One direction of a link: messages on ``can_id``, flow control for them on ``flow_id``."""

    bus: int
    can_id: int
    flow_id: int
    extended: bool
    max_bytes: int


@dataclass(frozen=True)
class IsoTpMessage:
    bus: int
    can_id: int  # the id the message travelled on (its database message)
    extended: bool
    data: bytes
    timestamp_ns: int  # of the frame that completed it
    seq: int


@dataclass
class IsoTpCounters:
    messages: int = 0  # complete messages returned (single-frame ones included)
    single_frames: int = 0
    multi_frame: int = 0  # first frames that started a session
    timeouts: int = 0  # sessions dropped by N_Cr
    out_of_sequence: int = 0  # wrong sequence number: session dropped
    duplicates: int = 0  # a consecutive frame repeated byte for byte (ignored)
    aborts: int = 0  # flow control overflow (or invalid flow status) ending a session
    flow_control: int = 0  # flow-control frames seen
    malformed: int = 0  # bad PCI or lengths
    refused_sessions: int = 0  # first frames refused: max_sessions open
    too_long: int = 0  # first frames announcing more than the link's max_bytes
    replaced: int = 0  # a first or single frame while a session was open (the old one is dropped)
    orphan_frames: int = 0  # consecutive frames without a session


@dataclass
class _Session:
    size: int
    frame_len: int  # the first frame's length: every consecutive frame but the last has it
    data: bytearray
    next_sn: int
    last_frame: bytes
    deadline_ns: int


class IsoTpReassembler(SessionTable):
    """Reassembles ISO-TP messages on the given endpoints (see :func:`endpoints`)."""

    def __init__(
        self,
        endpoints: Iterable[IsoTpEndpoint],
        *,
        max_sessions: int = 32,
        n_cr_ns: int = 1000 * MS,
        clock: Callable[[], int] = time.monotonic_ns,
    ):
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._data = {(e.bus, e.extended, e.can_id): e for e in endpoints}
        self._flow = {(e.bus, e.extended, e.flow_id): e for e in self._data.values()}
        self.max_sessions = max_sessions
        self.n_cr_ns = n_cr_ns
        super().__init__(clock)
        self.counters = IsoTpCounters()

    def handles(self, bus: int, extended: bool, can_id: int) -> bool:
        return (bus, extended, can_id) in self._data

    def feed(
        self, bus: int, can_id: int, extended: bool, data: bytes, timestamp_ns: int, seq: int = 0
    ) -> IsoTpMessage | None:
        """One frame on an id of a configured link; the message it completes, or None. Never raises."""
        self._frame_seen(timestamp_ns)
        d = bytes(data)
        key = (bus, extended, can_id)
        ep = self._data.get(key)
        if not d:
            self.counters.malformed += 1
            return None
        pci = d[0] >> 4
        if pci == FC:  # flow control on this id is for the messages of the other direction
            self._flow_control(key, d, timestamp_ns)
            return None
        if ep is None:
            return None
        if pci == SF:
            return self._single(ep, key, d, timestamp_ns, seq)
        if pci == FF:
            self._first(ep, key, d, timestamp_ns)
            return None
        if pci == CF:
            return self._consecutive(ep, key, d, timestamp_ns, seq)
        self.counters.malformed += 1
        return None

    def _flow_control(self, key, d: bytes, ts: int) -> None:
        c = self.counters
        c.flow_control += 1
        ep = self._flow.get(key)
        if ep is None:
            return
        skey = (ep.bus, ep.extended, ep.can_id)
        s = self._sessions.get(skey)
        status = d[0] & 0xF
        if len(d) < 3 or status > 2:
            c.malformed += 1
            if s is not None:  # N_INVALID_FS: the sender gives up
                c.aborts += 1
                del self._sessions[skey]
            return
        if s is None:
            return
        if status == 2:  # overflow: the receiver refused the message
            c.aborts += 1
            del self._sessions[skey]
            return
        s.deadline_ns = ts + self.n_cr_ns  # continue or wait: the sender goes on (or waits) from here

    def _replace(self, key) -> None:
        if self._sessions.pop(key, None) is not None:
            self.counters.replaced += 1

    def _single(self, ep: IsoTpEndpoint, key, d: bytes, ts: int, seq: int) -> IsoTpMessage | None:
        c = self.counters
        n = d[0] & 0xF
        if len(d) <= 8:  # classic: the length in the low nibble
            start, ok = 1, 1 <= n <= len(d) - 1
        else:  # CAN FD frame over 8 bytes: low nibble 0, the length in byte 1
            start = 2
            n = d[1] if n == 0 else 0
            ok = 1 <= n <= len(d) - 2
        if not ok:
            c.malformed += 1
            return None
        if n > ep.max_bytes:
            c.too_long += 1
            return None
        self._replace(key)
        c.single_frames += 1
        c.messages += 1
        return IsoTpMessage(ep.bus, ep.can_id, ep.extended, d[start : start + n], ts, seq)

    def _first(self, ep: IsoTpEndpoint, key, d: bytes, ts: int) -> None:
        c = self.counters
        size = (d[0] & 0xF) << 8 | (d[1] if len(d) > 1 else 0)
        start = 2
        if len(d) < 8:  # a first frame uses the whole frame (8 bytes, or the FD frame size)
            c.malformed += 1
            return
        if size == 0:  # escape sequence: 32-bit length, only for messages over 4095 bytes
            size = int.from_bytes(d[2:6], "big")
            start = 6
            if size <= CLASSIC_MAX:
                c.malformed += 1
                return
        if size < (8 if len(d) <= 8 else len(d) - 1):  # would have fitted a single frame
            c.malformed += 1
            return
        if size > ep.max_bytes:
            c.too_long += 1
            return
        if key not in self._sessions and len(self._sessions) >= self.max_sessions:
            c.refused_sessions += 1
            return
        self._replace(key)
        c.multi_frame += 1
        self._sessions[key] = _Session(size, len(d), bytearray(d[start:]), 1, d, ts + self.n_cr_ns)

    def _consecutive(self, ep: IsoTpEndpoint, key, d: bytes, ts: int, seq: int) -> IsoTpMessage | None:
        c = self.counters
        s = self._sessions.get(key)
        if s is None:
            c.orphan_frames += 1
            return None
        sn = d[0] & 0xF
        if sn != s.next_sn:
            if d == s.last_frame:
                c.duplicates += 1
                return None
            c.out_of_sequence += 1
            del self._sessions[key]
            return None
        need = min(s.frame_len - 1, s.size - len(s.data))
        if len(d) - 1 < need:
            c.malformed += 1
            del self._sessions[key]
            return None
        s.data += d[1 : 1 + need]
        s.next_sn = (sn + 1) & 0xF
        s.last_frame = d
        s.deadline_ns = ts + self.n_cr_ns
        if len(s.data) >= s.size:
            del self._sessions[key]
            c.messages += 1
            return IsoTpMessage(ep.bus, ep.can_id, ep.extended, bytes(s.data[: s.size]), ts, seq)
        return None


def endpoints(bus: int, links) -> list[IsoTpEndpoint]:
    """Both directions of each manifest ``IsoTpLink`` of bus ``bus``."""
    out = []
    for link in links:
        out.append(IsoTpEndpoint(bus, link.response_id, link.request_id, link.extended, link.max_bytes))
        out.append(IsoTpEndpoint(bus, link.request_id, link.response_id, link.extended, link.max_bytes))
    return out


__all__ = ["IsoTpCounters", "IsoTpEndpoint", "IsoTpMessage", "IsoTpReassembler", "endpoints"]

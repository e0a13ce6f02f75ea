"""J1939-21 transport protocol reassembly, as a passive listener: TP.CM (RTS/CTS/EoMA/Abort, BAM) and TP.DT.

A message longer than 8 bytes (9..1785) travels as a connection-management frame (TP.CM, PGN 0xEC00)
announcing size, packet count and the PGN it carries, then packets of 7 bytes (TP.DT, PGN 0xEB00,
sequence number 1..255 in byte 0). Broadcast (BAM) goes to the global address 0xFF without
handshake; connection mode goes to one destination: RTS from the originator, CTS (packets that may
follow, and the next one) and EoMA from the responder, Abort from either side.

:class:`J1939Reassembler` watches both directions and returns each complete message (the PGN it
carries, source and destination address, the bytes), so it can be decoded like a single frame.
What a node would do about a fault is counted instead:

- a session per (bus, source, destination) -- one BAM per source, one connection per pair --
  at most ``max_sessions`` at once and ``max_bytes`` each; more are refused and counted;
- timeouts (J1939-21 5.10.2.4) measured on the frames' own timestamps: T1 750 ms between packets,
  T2 1250 ms after a CTS until data, T3 1250 ms after the last packet of a window (or after an RTS)
  until the next CTS / EoMA, T4 1050 ms after a CTS holding the connection open (0 packets);
  :meth:`expire_idle` applies them when no frame comes, on an injected clock;
- out-of-sequence packets (a BAM is lost; a connection waits for the responder's CTS to repeat),
  duplicates (ignored), aborts, malformed frames, data without a session: counted, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vehicle_mw.can.tp_sessions import SessionTable

TP_CM_PGN = 0xEC00
TP_DT_PGN = 0xEB00
RTS, CTS, EOMA, BAM, ABORT = 16, 17, 19, 32, 255
GLOBAL = 0xFF
MAX_MESSAGE = 1785  # 255 packets x 7 bytes
MIN_MESSAGE = 9

MS = 1_000_000


@dataclass(frozen=True)
class J1939Timeouts:
    """J1939-21 timeouts in ns (defaults from the standard)."""

    t1: int = 750 * MS  # between data packets
    t2: int = 1250 * MS  # after a CTS, until its first packet
    t3: int = 1250 * MS  # after an RTS or a window's last packet, until the responder's CTS / EoMA
    t4: int = 1050 * MS  # after a CTS of 0 packets (hold), until the next CTS


@dataclass(frozen=True)
class J1939Message:
    """A reassembled message: what a single frame of ``can_id`` with ``data`` would have been."""

    bus: int
    pgn: int
    source: int
    destination: int  # GLOBAL for a BAM
    priority: int
    data: bytes
    timestamp_ns: int  # of the frame that completed it
    seq: int  # of the frame that completed it

    @property
    def can_id(self) -> int:
        """29-bit id of the carried PGN from ``source`` (PDU1: destination in PS)."""
        pf = (self.pgn >> 8) & 0xFF
        ps = self.destination if pf < 240 else self.pgn & 0xFF
        return (self.priority & 7) << 26 | (self.pgn & 0x3FF00) << 8 | ps << 8 | self.source


@dataclass
class J1939TpCounters:
    messages: int = 0  # reassembled and returned
    bam: int = 0  # BAM sessions started
    rts: int = 0  # connection-mode sessions started
    aborts: int = 0  # Abort frames seen (either side)
    timeouts: int = 0  # sessions dropped by T1..T4
    out_of_sequence: int = 0  # packets out of order (a BAM is dropped, a connection waits for a CTS)
    duplicates: int = 0  # packets received twice (ignored)
    malformed: int = 0  # frames that are not valid TP.CM / TP.DT (bad length, size/packet mismatch...)
    refused_sessions: int = 0  # RTS/BAM refused: max_sessions sessions already open
    too_long: int = 0  # RTS/BAM announcing more than max_bytes
    replaced: int = 0  # a new RTS/BAM on an open session (the old one is dropped)
    orphan_packets: int = 0  # TP.DT without a session


@dataclass
class _Session:
    bam: bool
    pgn: int
    size: int
    packets: int
    priority: int
    last_ns: int
    deadline_ns: int
    data: bytearray
    received: bytearray  # one flag per packet
    next_packet: int = 1
    window_end: int = 0  # last packet the current CTS allows (connection mode)
    got: int = 0
    keys: tuple = field(default=())


def _le24(b: bytes) -> int:
    return b[0] | b[1] << 8 | b[2] << 16


class J1939Reassembler(SessionTable):
    """Reassembles J1939 TP messages from TP.CM / TP.DT frames of any number of buses.

    ``feed(bus, can_id, data, timestamp_ns, seq)`` takes one frame of PGN 0xEC00 or 0xEB00 and returns
    the :class:`J1939Message` it completes, or None. It never raises on bad input.
    """

    def __init__(
        self,
        *,
        max_sessions: int = 32,
        max_bytes: int = MAX_MESSAGE,
        timeouts: J1939Timeouts | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ):
        if max_sessions < 1 or not MIN_MESSAGE <= max_bytes <= MAX_MESSAGE:
            raise ValueError(f"max_sessions >= 1 and {MIN_MESSAGE} <= max_bytes <= {MAX_MESSAGE}")
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self.timeouts = timeouts or J1939Timeouts()
        super().__init__(clock)
        self.counters = J1939TpCounters()

    # -- timeouts -----------------------------------------------------------------------------------

    # -- frames -------------------------------------------------------------------------------------
    def feed(
        self, bus: int, can_id: int, data: bytes, timestamp_ns: int, seq: int = 0
    ) -> J1939Message | None:
        self._frame_seen(timestamp_ns)
        pf = (can_id >> 16) & 0xFF
        da = (can_id >> 8) & 0xFF
        sa = can_id & 0xFF
        pgn = ((can_id >> 8) & 0x3FF00) | (0 if pf < 240 else da)
        if pgn == TP_CM_PGN:
            self._control(bus, (can_id >> 26) & 7, sa, da, bytes(data), timestamp_ns)
            return None
        if pgn == TP_DT_PGN:
            return self._packet(bus, sa, da, bytes(data), timestamp_ns, seq)
        self.counters.malformed += 1
        return None

    def _control(self, bus: int, priority: int, sa: int, da: int, d: bytes, ts: int) -> None:
        c = self.counters
        if len(d) != 8:
            c.malformed += 1
            return
        control, pgn = d[0], _le24(d[5:8])
        if control in (RTS, BAM):
            if control == BAM and da != GLOBAL or control == RTS and da == GLOBAL:
                c.malformed += 1  # BAM goes to everyone, RTS to one node
                return
            size, packets = d[1] | d[2] << 8, d[3]
            if not MIN_MESSAGE <= size <= MAX_MESSAGE or packets != (size + 6) // 7:
                c.malformed += 1
                return
            if size > self.max_bytes:
                c.too_long += 1
                return
            key = (bus, sa, da)
            if key in self._sessions:
                c.replaced += 1
                del self._sessions[key]
            elif len(self._sessions) >= self.max_sessions:
                c.refused_sessions += 1
                return
            bam = control == BAM
            timeout = self.timeouts.t1 if bam else self.timeouts.t3
            self._sessions[key] = _Session(
                bam,
                pgn,
                size,
                packets,
                priority,
                ts,
                ts + timeout,
                bytearray(packets * 7),
                bytearray(packets + 1),
            )
            if bam:
                c.bam += 1
            else:
                c.rts += 1
            return
        if control in (CTS, EOMA):  # from the responder: the session is keyed (originator, responder)
            s = self._sessions.get((bus, da, sa))
            if s is None or s.bam:
                return  # a connection this listener did not see start (or already complete)
            if s.pgn != pgn:
                c.malformed += 1
                return
            if control == EOMA:
                return  # all packets were seen (the message was returned) or it times out
            count, nxt = d[1], d[2]
            if count == 0:  # hold the connection open
                s.deadline_ns = ts + self.timeouts.t4
                return
            if not 1 <= nxt <= s.packets or nxt + count - 1 > s.packets:
                c.malformed += 1
                return
            s.next_packet, s.window_end = nxt, nxt + count - 1
            s.deadline_ns = ts + self.timeouts.t2
            return
        if control == ABORT:
            c.aborts += 1
            for key in ((bus, sa, da), (bus, da, sa)):
                s = self._sessions.get(key)
                if s is not None and not s.bam and s.pgn == pgn:
                    del self._sessions[key]
            return
        c.malformed += 1

    def _packet(self, bus: int, sa: int, da: int, d: bytes, ts: int, seq: int) -> J1939Message | None:
        c = self.counters
        key = (bus, sa, da)
        s = self._sessions.get(key)
        if s is None:
            c.orphan_packets += 1
            return None
        if not d:
            c.malformed += 1
            return None
        n = d[0]
        if not 1 <= n <= s.packets:
            c.malformed += 1
            return None
        if s.received[n]:  # repeated (e.g. a CTS asked again for packets that did arrive)
            c.duplicates += 1
            if n == s.next_packet:
                s.next_packet = n + 1
                s.deadline_ns = ts + self.timeouts.t1
            return None
        expected = s.next_packet
        if n != expected or (not s.bam and n > s.window_end):
            c.out_of_sequence += 1
            if s.bam:  # a BAM cannot be repeated: the message is lost
                del self._sessions[key]
            return None
        need = min(7, s.size - (n - 1) * 7)
        if len(d) < 1 + need:
            c.malformed += 1
            if s.bam:
                del self._sessions[key]
            return None
        s.data[(n - 1) * 7 : (n - 1) * 7 + need] = d[1 : 1 + need]
        s.received[n] = 1
        s.got += 1
        s.next_packet = n + 1
        s.last_ns = ts
        if s.got == s.packets:
            del self._sessions[key]
            c.messages += 1
            return J1939Message(bus, s.pgn, sa, da, s.priority, bytes(s.data[: s.size]), ts, seq)
        if not s.bam and n == s.window_end:
            s.deadline_ns = ts + self.timeouts.t3  # the responder's next CTS (or EoMA) is due
        else:
            s.deadline_ns = ts + self.timeouts.t1
        return None


__all__ = [
    "ABORT",
    "BAM",
    "CTS",
    "EOMA",
    "MAX_MESSAGE",
    "RTS",
    "TP_CM_PGN",
    "TP_DT_PGN",
    "J1939Message",
    "J1939Reassembler",
    "J1939Timeouts",
    "J1939TpCounters",
]

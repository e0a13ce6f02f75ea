"""A live table of the latest frame per CAN id, its rate and (with databases) its decoded signals.

What ``vmw can monitor`` draws, like cansniffer or ``python -m can.viewer``; kept apart from the
terminal so it can be tested. Decoding runs when a row is drawn (a few times a second per id),
not per frame, so a busy bus costs one dict update per frame.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

import can

RATE_WINDOW_S = 2.0  # the rate is over the frames of the last 2 s; an id silent that long shows 0 Hz
CHANGED_S = 1.0  # a data byte that changed within the last second is highlighted (as cansniffer does)


@dataclass
class _Entry:
    msg: can.Message
    count: int = 0
    arrivals: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))
    changed_at: list[float] = field(default_factory=list)  # per data byte: when it last changed


@dataclass(frozen=True)
class Row:
    """One id as shown: the values are text, ready for any table."""

    can_id: str
    name: str
    count: int
    hz: float
    age_s: float
    dlc: int
    data: str
    signals: str
    changed: tuple[int, ...] = ()  # indexes of the data bytes that changed within CHANGED_S


class MessageTable:
    """Latest frame per (id, extended) with counts and arrival times; thread safe (a reader thread adds,
    a display thread draws). ``databases``: cantools databases, the first that knows an id decodes it."""

    def __init__(self, databases: list | None = None, window_s: float = RATE_WINDOW_S):
        self._databases = list(databases or [])
        self._window_s = window_s
        self._entries: dict[tuple[int, bool], _Entry] = {}
        self._lock = threading.Lock()
        self.frames = 0
        self.error_frames = 0

    def add(self, msg: can.Message, now: float) -> None:
        """Record ``msg`` received at ``now`` (a monotonic time in s)."""
        with self._lock:
            self.frames += 1
            if msg.is_error_frame:
                self.error_frames += 1
                return
            key = (msg.arbitration_id, msg.is_extended_id)
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(msg, changed_at=[float("-inf")] * len(msg.data))
            else:
                old, new, prev = entry.msg.data, msg.data, entry.changed_at
                entry.changed_at = [
                    now if i >= len(old) or old[i] != v else prev[i] for i, v in enumerate(new)
                ]
            entry.msg = msg
            entry.count += 1
            entry.arrivals.append(now)

    def rows(self, now: float) -> list[Row]:
        with self._lock:
            items = sorted(self._entries.items())
            snapshot = [
                (key, e.msg, e.count, self._rate(e.arrivals, now), now - e.arrivals[-1], self._recent(e, now))
                for key, e in items
            ]
        return [self._row(*item) for item in snapshot]

    @staticmethod
    def _recent(entry: _Entry, now: float) -> tuple[int, ...]:
        return tuple(i for i, t in enumerate(entry.changed_at) if now - t <= CHANGED_S)

    def _rate(self, arrivals: collections.deque, now: float) -> float:
        recent = [t for t in arrivals if t >= now - self._window_s]
        if len(recent) < 2 or recent[-1] <= recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    def _row(
        self,
        key: tuple[int, bool],
        msg: can.Message,
        count: int,
        hz: float,
        age: float,
        changed: tuple[int, ...],
    ) -> Row:
        can_id, extended = key
        name, signals = self._decode(msg)
        return Row(
            can_id=f"{can_id:08X}" if extended else f"{can_id:03X}",
            name=name,
            count=count,
            hz=hz,
            age_s=age,
            dlc=msg.dlc,
            data="R" if msg.is_remote_frame else msg.data.hex(" ").upper(),
            signals=signals,
            changed=changed,
        )

    def _decode(self, msg: can.Message) -> tuple[str, str]:
        for db in self._databases:
            try:
                message = db.get_message_by_frame_id(msg.arbitration_id)
            except KeyError:
                continue
            if message.is_extended_frame != msg.is_extended_id:
                continue
            try:
                values = message.decode(bytes(msg.data), decode_choices=True, allow_truncated=True)
            except Exception as exc:  # cantools raises several types for data that does not fit
                return message.name, f"cannot decode: {exc}"
            parts = []
            for name, value in values.items():
                unit = message.get_signal_by_name(name).unit
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                parts.append(f"{name}={shown}{' ' + unit if unit else ''}")
            return message.name, "  ".join(parts)
        return "", ""

    def render(self, now: float, title: str = ""):
        """The table as a rich renderable (rich is imported here: only the terminal view needs it)."""
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title or None, caption=f"{self.frames} frames, {self.error_frames} error frames")
        for header, justify in (
            ("id", "right"),
            ("message", "left"),
            ("count", "right"),
            ("Hz", "right"),
            ("age s", "right"),
            ("dlc", "right"),
            ("data", "left"),
            ("signals", "left"),
        ):
            table.add_column(header, justify=justify, overflow="fold")
        for r in self.rows(now):
            data = Text()
            for i, byte in enumerate(r.data.split(" ")):
                data.append(("" if i == 0 else " ") + byte, style="bold red" if i in r.changed else "")
            table.add_row(
                r.can_id, r.name, str(r.count), f"{r.hz:.1f}", f"{r.age_s:.1f}", str(r.dlc), data, r.signals
            )
        return table


__all__ = ["CHANGED_S", "RATE_WINDOW_S", "MessageTable", "Row"]

"""Restbus: simulated ECUs sending their periodic messages at the DBC cycle times.

Each ECU is one thread that sends every due message, then waits on an event until the next
deadline. Deadlines are absolute (``start + k * period``), so a late wake-up does not drift
the schedule. Steps change signal values, drop a message for a while or silence the ECU.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import can
from cantools.database.can import Message

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.hil import SimulatedEcu

log = logging.getLogger(__name__)


class HilError(VehicleMwError):
    """A bench or scenario that names something the bench does not have, or a harness failure."""


@dataclass
class _Periodic:
    message: Message
    period_s: float
    values: dict[str, float]
    next_due: float = 0.0
    muted_until: float = 0.0
    sent: int = 0
    frame: can.Message | None = None  # encoded from ``encoded_from`` (identity): re-encoded on change
    encoded_from: dict[str, float] | None = None


def _start_value(sig) -> float:
    if sig.initial is not None:  # cantools: the scaled initial value
        return float(sig.initial)
    low = sig.minimum if sig.minimum is not None else 0.0
    high = sig.maximum if sig.maximum is not None else 0.0
    return min(max(0.0, low), high) if high >= low else 0.0


@dataclass
class RestbusEcu:
    """One simulated ECU on one python-can bus."""

    cfg: SimulatedEcu
    messages: dict[str, Message]  # name -> cantools message, from the bus's databases
    bus: can.BusABC | None
    periodic: dict[str, _Periodic] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sent_by_me = [n for n, m in self.messages.items() if self.cfg.name in (m.senders or [])]
        names = self.cfg.messages or sent_by_me
        if not names:
            raise HilError(f"ecu {self.cfg.name!r}: no messages (none listed, none sent by it in the DBC)")
        for name in names:
            msg = self.messages.get(name)
            if msg is None:
                raise HilError(f"ecu {self.cfg.name!r}: message {name!r} is not in the bus databases")
            cycle = self.cfg.cycle_ms.get(name, msg.cycle_time)
            if not cycle:
                raise HilError(f"ecu {self.cfg.name!r}: message {name!r} has no cycle time (set cycle_ms)")
            values = {s.name: _start_value(s) for s in msg.signals}
            self.periodic[name] = _Periodic(msg, cycle / 1000.0, values)
        for key, value in self.cfg.signals.items():
            self.set_signal(key, value)
        self._stop = threading.Event()
        self._silent_until = 0.0
        self._thread = threading.Thread(target=self._run, name=f"vmw-restbus-{self.cfg.name}", daemon=True)

    # ------------------------------------------------------------------ control (any thread)

    def cycle_ms(self, message: str) -> float | None:
        p = self.periodic.get(message)
        return p.period_s * 1000.0 if p else None

    def set_signal(self, key: str, value: float) -> None:
        msg_name, _, sig_name = key.partition(".")
        p = self.periodic.get(msg_name)
        if p is None or sig_name not in p.values:
            raise HilError(f"ecu {self.cfg.name!r}: does not send signal {key!r}")
        p.values = {**p.values, sig_name: value}  # replaced whole: the sender never sees half an update

    def drop(self, message: str, for_s: float) -> None:
        p = self.periodic.get(message)
        if p is None:
            raise HilError(f"ecu {self.cfg.name!r}: does not send message {message!r}")
        p.muted_until = time.monotonic() + for_s

    def silence(self, for_s: float | None) -> None:
        self._silent_until = float("inf") if for_s is None else time.monotonic() + for_s

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RestbusEcu:
        now = time.monotonic()
        for p in self.periodic.values():
            p.next_due = now
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for p in self.periodic.values():
                if now < p.next_due:
                    continue
                if now >= self._silent_until and now >= p.muted_until:
                    self._send(p)
                p.next_due += p.period_s
                if p.next_due < now:  # far behind (machine stalled): skip, do not burst
                    p.next_due = now + p.period_s
            due = min(p.next_due for p in self.periodic.values())
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _send(self, p: _Periodic) -> None:
        try:
            values = p.values
            if p.encoded_from is not values:
                p.frame = can.Message(
                    arbitration_id=p.message.frame_id,
                    is_extended_id=p.message.is_extended_frame,
                    is_fd=p.message.is_fd,
                    data=p.message.encode(values, strict=False),
                )
                p.encoded_from = values
            self.bus.send(p.frame)
            p.sent += 1
        except (can.CanError, ValueError, KeyError) as exc:  # a bad send never stops the restbus
            log.warning("restbus %s: %s not sent: %s", self.cfg.name, p.message.name, exc)


__all__ = ["HilError", "RestbusEcu"]

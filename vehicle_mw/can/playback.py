"""Sending CAN frames onto a bus at a log's own timing (divided by ``speed``), stoppable.

Shared by ``vmw can play`` and the HIL trace player. python-can's ``MessageSync`` has the same job
but neither a speed factor nor a stop, and sleeps in the caller's thread without a way to end it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import can


def outgoing(msg: can.Message) -> can.Message:
    """The frame as sent: the log's timestamp and channel are the recording's, not the new bus's."""
    return can.Message(
        arbitration_id=msg.arbitration_id,
        is_extended_id=msg.is_extended_id,
        is_remote_frame=msg.is_remote_frame,
        is_error_frame=msg.is_error_frame,
        is_fd=msg.is_fd,
        bitrate_switch=msg.bitrate_switch,
        error_state_indicator=msg.error_state_indicator,
        dlc=msg.dlc,
        data=msg.data,
    )


class LogPlayer:
    """Plays messages onto ``bus``: each is due at ``start + (t - t_first) / speed``.

    ``speed=0`` sends back to back; ``skip_gap_s`` shortens longer pauses in the log to that many
    seconds (a log with idle minutes); ``max_s`` ends a play that long after its start; ``stop``
    ends it at once. ``sent`` counts frames on the bus (read from any thread)."""

    def __init__(
        self,
        bus: can.BusABC,
        *,
        speed: float = 1.0,
        skip_gap_s: float | None = None,
        max_s: float | None = None,
        stop: threading.Event | None = None,
    ):
        if speed < 0:
            raise ValueError(f"speed must be >= 0, not {speed}")
        self.bus = bus
        self.speed = speed
        self.skip_gap_s = skip_gap_s
        self.max_s = max_s
        self.stop = stop or threading.Event()
        self.sent = 0

    def play(self, messages: Iterable[can.Message]) -> bool:
        """Send ``messages`` in order with their timing; False when stopped or out of time early."""
        start = time.monotonic()
        end = float("inf") if self.max_s is None else start + self.max_s
        offset = 0.0  # log seconds since the first frame, gaps shortened
        previous = None
        for msg in messages:
            if previous is not None:
                gap = max(0.0, msg.timestamp - previous)
                offset += gap if self.skip_gap_s is None else min(gap, self.skip_gap_s)
            previous = msg.timestamp
            due = start + offset / self.speed if self.speed else time.monotonic()
            if due > end or self.stop.wait(max(0.0, due - time.monotonic())):
                return False
            self.bus.send(outgoing(msg))
            self.sent += 1
        return True


__all__ = ["LogPlayer", "outgoing"]

"""Play a recorded CAN log onto a bench bus with its original timing (scaled by ``speed``)."""

from __future__ import annotations

import pathlib
import threading

import can

from vehicle_mw.can import open_log
from vehicle_mw.can.playback import LogPlayer
from vehicle_mw.can.replay import read_messages


class TracePlayer:
    """A thread sending a log's frames at ``start + (t - t_first) / speed`` until done or stopped."""

    def __init__(self, path: pathlib.Path, bus: can.BusABC, speed: float = 1.0, max_s: float | None = None):
        self.path = path
        self.bus = bus
        self.speed = speed
        self.max_s = max_s
        self.error: BaseException | None = None
        self._player = LogPlayer(bus, speed=speed, max_s=max_s)
        self._thread = threading.Thread(target=self._run, name=f"vmw-hil-replay-{path.name}", daemon=True)

    @property
    def sent(self) -> int:
        return self._player.sent

    def start(self) -> TracePlayer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._player.stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            with open_log(self.path) as reader:
                self._player.play(read_messages(reader, self.path))
        except BaseException as exc:  # noqa: BLE001 - reported in the verdict, not lost in a thread
            self.error = exc


__all__ = ["TracePlayer"]

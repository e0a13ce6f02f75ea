"""Record a bench's bus traffic during a run into one log file (python-can writers: .asc, .blf, ...).

One listening handle per bench bus (on ``virtual`` and socketcan a second handle receives every
frame the others send); each frame is written with the bench bus's position as its channel
(python-can's ASC and BLF writers store it 1-based: the first bench bus is channel 1 in the file).
"""

from __future__ import annotations

import copy
import pathlib
import threading

import can

from vehicle_mw.hil.restbus import HilError


class _Stamp(can.Listener):
    def __init__(self, recorder: BusRecorder, channel: int):
        self.recorder, self.channel = recorder, channel

    def on_message_received(self, msg: can.Message) -> None:
        stamped = copy.copy(msg)
        stamped.channel = self.channel
        self.recorder.write(stamped)


class BusRecorder:
    """Writes every frame received on ``buses`` to ``path`` until :meth:`stop`."""

    def __init__(self, path: pathlib.Path, buses: list[can.BusABC]):
        self.path = pathlib.Path(path)
        self.frames = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = can.Logger(str(self.path))
        except (OSError, ValueError) as exc:
            raise HilError(f"{self.path}: cannot write the bus log: {exc}") from exc
        self._notifiers = [can.Notifier(bus, [_Stamp(self, i)], timeout=0.05) for i, bus in enumerate(buses)]

    def write(self, msg: can.Message) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.on_message_received(msg)
                self.frames += 1

    def stop(self) -> None:
        for notifier in self._notifiers:
            notifier.stop(timeout=1.0)
        with self._lock:
            if self._writer is not None:
                self._writer.stop()
                self._writer = None


__all__ = ["BusRecorder"]

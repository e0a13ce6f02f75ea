"""Play a recorded CAN log onto a bench bus with its original timing (scaled by ``speed``)."""

from __future__ import annotations

import pathlib
import threading
import time

import can

from vehicle_mw.can import open_log


class TracePlayer:
    """A thread sending a log's frames at ``start + (t - t_first) / speed`` until done or stopped."""

    def __init__(self, path: pathlib.Path, bus: can.BusABC, speed: float = 1.0, max_s: float | None = None):
        self.path = path
        self.bus = bus
        self.speed = speed
        self.max_s = max_s
        self.sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vmw-hil-replay-{path.name}", daemon=True)

    def start(self) -> TracePlayer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            start = time.monotonic()
            end = float("inf") if self.max_s is None else start + self.max_s
            first = None
            for msg in open_log(self.path):
                if first is None:
                    first = msg.timestamp
                due = start + (msg.timestamp - first) / self.speed
                if due > end or self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                self.bus.send(
                    can.Message(
                        arbitration_id=msg.arbitration_id,
                        is_extended_id=msg.is_extended_id,
                        is_remote_frame=msg.is_remote_frame,
                        is_error_frame=msg.is_error_frame,
                        is_fd=msg.is_fd,
                        bitrate_switch=msg.bitrate_switch,
                        dlc=msg.dlc,
                        data=msg.data,
                    )
                )
                self.sent += 1
        except BaseException as exc:  # noqa: BLE001 - reported in the verdict, not lost in a thread
            self.error = exc


__all__ = ["TracePlayer"]

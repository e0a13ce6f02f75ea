"""Applications the execution tests launch (real processes), steered by environment variables.

Each writes "<app> <event>" lines to $VMW_TEST_LOG so tests can check order from
the apps' side, and stops cleanly on SIGTERM unless told to ignore it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from vehicle_mw.exec import client


def _log(event: str) -> None:
    path = os.environ.get("VMW_TEST_LOG")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{client.app_name()} {event}\n".encode())
        finally:
            os.close(fd)
        with open(path + ".times", "a") as times:  # CLOCK_MONOTONIC, comparable with the manager's events
            times.write(f"{client.app_name()} {event} {time.monotonic()}\n")


def _stop_event(ignore_term: bool = False) -> threading.Event:
    stop = threading.Event()

    def on_term(signum, frame):
        _log("term")
        if not ignore_term:
            stop.set()

    signal.signal(signal.SIGTERM, on_term)
    return stop


def steady() -> int:
    """Reports running, then heartbeats and walks $VMW_TEST_CHECKPOINTS every 20 ms until SIGTERM."""
    stop = _stop_event(ignore_term=os.environ.get("VMW_TEST_IGNORE_TERM") == "1")
    _log("start")
    client.report_running()
    _log("running")
    path = [c for c in os.environ.get("VMW_TEST_CHECKPOINTS", "").split(",") if c]
    while not stop.wait(0.02):
        for name in path:
            client.checkpoint(name)
        client.heartbeat()
    _log("exit")
    return 0


def crash() -> int:
    """Reports running, then exits with code 3."""
    _log("start")
    client.report_running()
    _log("crash")
    return 3


def hang() -> int:
    """Reports running, sends $VMW_TEST_BEATS heartbeats, then stops sending (hung main loop)."""
    stop = _stop_event()
    _log("start")
    client.report_running()
    for _ in range(int(os.environ.get("VMW_TEST_BEATS", "3"))):
        client.heartbeat()
        stop.wait(0.02)
    _log("hung")
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(globals()[sys.argv[1]]())

"""A small supervised application used by the example manifests (``vehicle_mw.exec.demo_app:main``).

It shows the intended shape of an app: an executor runs the periodic work, each
cycle passes its checkpoints and sends a heartbeat, and SIGTERM ends it cleanly.
"""

from __future__ import annotations

import signal
import sys
import threading

from vehicle_mw.exec import client
from vehicle_mw.rt import Executor


def main() -> int:
    period = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def cycle() -> None:
        client.checkpoint("cycle_start")
        client.checkpoint("cycle_end")
        client.heartbeat()

    executor = Executor(client.app_name() or "demo")
    executor.periodic("cycle", cycle, period=period)
    with executor:
        client.report_running()
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

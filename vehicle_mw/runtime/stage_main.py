"""Entry point of one stage process: ``vehicle_mw.runtime.stage_main:main`` with the stage name.

The execution manager starts it (``entry: {function: "vehicle_mw.runtime.stage_main:main", args:
[decode]}``) with the machine manifest in ``$VMW_MACHINE_MANIFEST`` and, when not in the machine
manifest, the channel manifest in ``$VMW_CHANNEL_MANIFEST``. It attaches to the deployment's rings,
reports running, polls with heartbeats and checkpoints until SIGTERM, drains its input and exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from vehicle_mw.runtime.deployment import ENV_MACHINE, load_deployment
from vehicle_mw.runtime.host import StageHost
from vehicle_mw.runtime.logs import configure_logging
from vehicle_mw.runtime.stages import ORDER, build_stage


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in ORDER:
        print(f"usage: stage_main {{{'|'.join(ORDER)}}}", file=sys.stderr)
        return 2
    machine = os.environ.get(ENV_MACHINE)
    if not machine:
        print(f"stage {sys.argv[1]}: ${ENV_MACHINE} is not set (run it under vmw run)", file=sys.stderr)
        return 2
    dep = load_deployment(machine)
    configure_logging(dep.machine.runtime.log_level, stage=sys.argv[1])
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    host = StageHost([build_stage(sys.argv[1], dep)], dep.state_dir)
    host.start()
    try:
        host.run(stop)
    finally:
        host.stop()
    return 0


__all__ = ["main"]

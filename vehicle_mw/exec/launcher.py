"""``python -m vehicle_mw.exec.launcher SPEC``: the first code run in every application process.

It applies the manifest's scheduling (affinity, policy, priority, mlockall) to
itself -- so it is in place before the application runs a single line -- and
then calls the ``module:function`` entry point or ``exec``s the executable.
SPEC is the JSON the execution manager builds from the manifest.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import shutil
import signal
import sys

from vehicle_mw.rt.scheduling import Scheduling, apply_to_current_thread

PR_SET_PDEATHSIG = 1


def _end_with_manager(manager_pid: int | None) -> None:
    """SIGTERM this application when its manager dies, even by SIGKILL: an orphaned stage would keep
    its rings and CPU with nobody supervising it (systemd's cgroup kill covers a unit; this covers a
    manager run by hand or in a test). A manager already gone before the prctl means exit now."""
    if manager_pid is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != manager_pid:
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    _end_with_manager(spec.get("manager_pid"))
    sched = spec["scheduling"]
    apply_to_current_thread(
        Scheduling(
            policy=sched["policy"],
            priority=sched["priority"],
            cpus=frozenset(sched["cores"]),
            lock_memory=sched["lock_memory"],
            timer_slack_ns=0,  # leave the process's slack alone; executors set theirs per thread
        )
    )
    args = spec["args"]
    if spec.get("executable"):
        exe = spec["executable"]
        path = exe if os.sep in exe else shutil.which(exe)
        if path is None:
            print(f"vmw launcher: executable {exe!r} not found on PATH", file=sys.stderr)
            return 127
        os.execv(path, [exe, *args])
    module_name, func_name = spec["function"].split(":")
    sys.argv = [spec["name"], *args]
    func = getattr(importlib.import_module(module_name), func_name)
    result = func()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

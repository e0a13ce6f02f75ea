"""``python -m vehicle_mw.exec.launcher SPEC``: the first code run in every application process.

It applies the manifest's scheduling (affinity, policy, priority, mlockall) to
itself -- so it is in place before the application runs a single line -- and
then calls the ``module:function`` entry point or ``exec``s the executable.
SPEC is the JSON the execution manager builds from the manifest.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys

from vehicle_mw.rt.scheduling import Scheduling, apply_to_current_thread


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
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

"""Without privileges the executor still runs, and says once, clearly, what it could not do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import logging, os, threading
    from vehicle_mw.rt import Executor, Scheduling
    logging.basicConfig(level=logging.WARNING)
    print("uid", os.getuid(), flush=True)
    done = [threading.Event(), threading.Event()]
    counts = [0, 0]
    def make(i):
        def fn():
            counts[i] += 1
            if counts[i] >= 20:
                done[i].set()
        return fn
    ex = Executor("app", Scheduling(policy="fifo", priority=50, lock_memory=True))
    ex.periodic("a", make(0), period=0.002, core=0)   # two threads, both refused
    ex.periodic("b", make(1), period=0.002, core=1)
    with ex:
        assert all(d.wait(20) for d in done)
    print("runs", ex.stats()["a"].runs >= 20, ex.stats()["b"].runs >= 20, flush=True)
    print("refused", sorted({r.what.split()[0] for r in ex.refusals}), flush=True)
    """
)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_runs_as_nobody_and_warns_once_per_refusal():
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"]
    proc = subprocess.run(
        cmd + [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert proc.returncode == 0, proc.stderr
    assert "uid 0" not in proc.stdout
    assert "runs True True" in proc.stdout
    assert "SCHED_FIFO" in proc.stdout
    assert "cpu_dma_latency" in proc.stdout  # the idle-state bound a real-time executor holds
    fifo_warnings = [ln for ln in proc.stderr.splitlines() if "SCHED_FIFO priority 50" in ln]
    assert len(fifo_warnings) == 1, proc.stderr  # two threads refused, one warning
    assert "running anyway" in fifo_warnings[0] and "CAP_SYS_NICE" in fifo_warnings[0]


def test_as_root_real_time_setup_is_applied():
    if os.geteuid() != 0:
        pytest.skip("needs root for SCHED_FIFO")
    import threading

    from vehicle_mw.native import get_timer_slack_ns
    from vehicle_mw.rt import Executor, Scheduling

    seen = {}
    done = threading.Event()

    def probe():
        seen["policy"] = os.sched_getscheduler(0)
        seen["prio"] = os.sched_getparam(0).sched_priority
        seen["cpus"] = os.sched_getaffinity(0)
        seen["slack"] = get_timer_slack_ns()
        done.set()

    ex = Executor("rt", Scheduling(policy="fifo", priority=10))
    ex.periodic("probe", probe, period=0.005, core=0)
    with ex:
        assert done.wait(10)
    assert ex.refusals == []
    slack = seen.pop("slack")
    assert seen == {"policy": os.SCHED_FIFO, "prio": 10, "cpus": {0}}
    assert slack <= 1  # recent kernels report 0 for real-time threads, which never get slack

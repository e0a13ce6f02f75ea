"""Applications asking for SCHED_FIFO still start without privileges, with one clear warning.

The launcher is the code that applies an app's scheduling before its entry point
runs, so it is what runs as ``nobody`` here (the venv's interpreter lives under a
root-only home on this machine, so a whole ``vmw run`` as nobody cannot spawn it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_launcher_as_nobody_warns_once_and_starts_the_app():
    spec = {
        "name": "rt-app",
        "function": None,
        "executable": "/bin/echo",
        "args": ["app ran"],
        "scheduling": {"policy": "fifo", "priority": 40, "cores": [0], "lock_memory": True},
    }
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"]
    launcher = [sys.executable, "-m", "vehicle_mw.exec.launcher", json.dumps(spec)]
    out = subprocess.run(cmd + launcher, capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "app ran"
    fifo = [ln for ln in out.stderr.splitlines() if "SCHED_FIFO priority 40" in ln]
    assert len(fifo) == 1, out.stderr
    assert "running anyway" in fifo[0] and "CAP_SYS_NICE" in fifo[0]


def test_launcher_applies_scheduling_when_allowed(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for SCHED_FIFO")
    probe = (
        "import os; print(os.sched_getscheduler(0) == os.SCHED_FIFO, os.sched_getparam(0).sched_priority,"
        " sorted(os.sched_getaffinity(0)))"
    )
    (tmp_path / "probe_app.py").write_text(f"def main():\n    {probe}\n")
    spec = {
        "name": "probe",
        "function": "probe_app:main",
        "executable": None,
        "args": [],
        "scheduling": {"policy": "fifo", "priority": 5, "cores": [1], "lock_memory": False},
    }
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "vehicle_mw.exec.launcher", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "5", "[1]"]
    assert "refused" not in out.stderr

"""Power loss (kill -9 of the execution manager) during an activation of two packages at once.

Before the crash the manager runs release 1 of ``tele`` and ``nav`` (nav depends on tele) and
activates release 2 of both; it is killed at each step. The reboot is a real ``vmw run
--install-root``: it recovers, and then both apps run the same release (old before the commit,
new after it), never one of each, and no process of the killed manager survives.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from exec_rig import exec_package, is_running, log_lines, running_versions, write_machine
from update_rig import ROOT, Rig

from vehicle_mw.update import NullHook

HERE = pathlib.Path(__file__).resolve().parent
POINTS = [("journal", 1), ("stopped", 1), ("switched", 1), ("started", 1), ("healthy", 1), ("committed", 2)]
APPS = ("tele-app", "nav-app")


def publish_both(rig: Rig, release: int) -> None:
    for name, app, extra in (("tele", "tele-app", {}), ("nav", "nav-app", {"depends_on": ["tele-app"]})):
        pkg = exec_package(rig.packages / f"{name}-{release}.tar.gz", app, release, **extra)
        rig.assign(rig.image.publish(pkg, "tcu-hw", release, name=name).path)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


@pytest.mark.parametrize(("point", "expected"), POINTS, ids=[p[0] for p in POINTS])
def test_kill_9_of_the_execution_manager(rig: Rig, tmp_path: pathlib.Path, point: str, expected: int) -> None:
    log = tmp_path / "apps.log"
    env = {
        **os.environ,
        "UPDATE_TEST_LOG": str(log),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
    }
    execution = write_machine(tmp_path / "machine", rig.install_root)
    publish_both(rig, 1)
    assert rig.client().update(NullHook()).status == "activated"  # installed while the ECU was off
    publish_both(rig, 2)

    marker = tmp_path / "marker"
    cfg = {
        "url": rig.url,
        "state": str(rig.state),
        "install_root": str(rig.install_root),
        "execution": str(execution),
        "block_at": point,
        "marker": str(marker),
    }
    child = subprocess.Popen(
        [sys.executable, str(HERE / "exec_update_child.py"), json.dumps(cfg)], env=env, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: marker.exists() and marker.read_text() or child.poll() is not None, 120, point)
        assert marker.exists() and marker.read_text() == point, (
            marker.read_text(),
            child.stderr.read().decode(),
        )
        if point == "started":  # the hook returned; let the new processes come up, inside the grace period
            wait_until(
                lambda: (
                    {"tele-app r2 running", "nav-app r2 running"}
                    <= {" ".join(line.split()[:3]) for line in log_lines(log)}
                ),
                60,
                "release 2 running",
            )
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
        child.stderr.close()
    before_crash = log_lines(log)
    survivors = lambda: [line for line in before_crash if is_running(int(line.split()[-1]), log)]  # noqa: E731
    wait_until(lambda: not survivors(), 30, "apps of the killed manager to end")  # PR_SET_PDEATHSIG
    starts = [line.split()[:2] for line in before_crash if line.split()[2] == "start" and "base" not in line]
    if point in ("started", "healthy", "committed"):
        assert ["tele-app", "r2"] in starts and ["nav-app", "r2"] in starts  # the new version ran

    # reboot: vmw run recovers the installer and starts what is active
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "run",
            str(execution),
            "--control-socket",
            "none",
            "--install-root",
            str(rig.install_root),
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:

        def all_up() -> bool:
            up = running_versions(log, len(before_crash))
            return all(up.get(a) for a in (*APPS, "base", "decoder"))

        if not all_up() and run.poll() is not None:
            pytest.fail(run.stderr.read().decode())
        wait_until(lambda: all_up() or run.poll() is not None, 60, "every app running after the reboot")
        assert run.poll() is None, run.stderr.read().decode()
        after = running_versions(log, len(before_crash))
        assert after["tele-app"] == after["nav-app"] == {f"r{expected}"}, after  # never a mix
        assert not (rig.install_root / "journal.json").exists()
        assert rig.current_release() == expected
        assert rig.installer().current("tcu1", "nav").release == expected
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(30)
        finally:
            run.kill()
            run.stderr.close()
    assert run.returncode == 0

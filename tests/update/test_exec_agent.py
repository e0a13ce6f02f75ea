"""`vmw run --update-config`: a real execution manager process picks up assignments by itself.

From the Director's assignment to the new release running under the manager's supervision and the
Director holding the vehicle's signed report, with no step driven by the test but the assignment.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import yaml
from exec_rig import exec_package, running_versions, write_machine
from update_rig import ECUS, ROOT, VIN, Rig


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_vmw_run_installs_assigned_releases_and_reports(rig: Rig, tmp_path: pathlib.Path) -> None:
    log = tmp_path / "apps.log"
    execution = write_machine(tmp_path / "machine", rig.install_root)
    config = tmp_path / "update.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": rig.url,
                "vehicle_id": VIN,
                "ecus": ECUS,
                "state_dir": os.path.relpath(rig.state, tmp_path),  # relative to the file
                "install_root": str(rig.install_root),
                "interval_s": 0.3,
                "grace_s": 0.5,
            }
        )
    )

    def publish(release: int, mode: str = "good") -> None:
        pkg = exec_package(rig.packages / f"tele-{release}.tar.gz", "tele-app", release, mode)
        rig.assign(rig.image.publish(pkg, "tcu-hw", release, name="tele").path)

    def installed() -> dict:
        return rig.director.status().get(VIN, {}).get("installed", {})

    publish(1)
    env = {**os.environ, "UPDATE_TEST_LOG": str(log), "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "run",
            str(execution),
            "--control-socket",
            "none",
            "--update-config",
            str(config),
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: running_versions(log).get("tele-app") == {"r1"} or run.poll() is not None, 60, "r1"
        )
        assert run.poll() is None, run.stderr.read().decode()
        wait_until(lambda: installed() == {"tcu1/tele": 1}, 30, "the report of r1")
        publish(2)
        wait_until(lambda: installed() == {"tcu1/tele": 2}, 60, "the report of r2")
        assert running_versions(log)["tele-app"] == {"r2"}
        publish(3, "crash")  # rolled back by supervision; the report says so
        wait_until(
            lambda: (rig.director.status()[VIN].get("last_result") or {}).get("outcome") == "skipped",
            60,
            "r3 rolled back, then skipped",
        )
        assert installed() == {"tcu1/tele": 2}
        # release 2 is started again by the rollback (it comes up on its own, after the cycle)
        wait_until(lambda: running_versions(log).get("tele-app") == {"r2"}, 60, "r2 running again")
        starts = [line.split()[1] for line in log.read_text().splitlines() if line.startswith("tele-app r")]
        assert "r3" in starts and starts[-1] == "r2"
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(30)
        finally:
            run.kill()
            run.stderr.close()
    assert run.returncode == 0

"""A good update from `vmw update publish` (real CLI) to the new version running; rollback on bad health."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from update_rig import ECUS, ROOT, VIN, ProcessHook, Rig, archive_files, make_package, package_files

from vehicle_mw.update import NullHook, VehicleKey


def vmw(*args: str, cwd: pathlib.Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "vehicle_mw", "update", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_publish_assign_install_run_then_roll_back_a_failing_release(
    tmp_path: pathlib.Path, hook: ProcessHook
) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "offline-keys"
    common = ["--repo", str(repo), "--keys", str(keys)]
    vmw(*common, "keys", "init", cwd=tmp_path)
    assert {p.stat().st_mode & 0o777 for p in keys.glob("*.key")} == {0o600}
    assert keys.stat().st_mode & 0o777 == 0o700
    state = tmp_path / "vehicle" / "state"
    (tmp_path / "vin.pub").write_text(VehicleKey(state).public_pem())
    ecus = [f"--ecu={s}={h}" for s, h in ECUS.items()]
    vmw(*common, "vehicle", "add", VIN, "--public-key", str(tmp_path / "vin.pub"), *ecus, cwd=tmp_path)
    vmw(*common, "roots", str(tmp_path / "roots"), cwd=tmp_path)
    from vehicle_mw.update import provision

    roots = tmp_path / "roots"
    provision(state, (roots / "director-root.json").read_bytes(), (roots / "image-root.json").read_bytes())

    pkg1 = make_package(tmp_path / "tele-1.tar.gz", 1)
    target1 = vmw(
        *common,
        "publish",
        str(pkg1),
        "--hardware-id",
        "tcu-hw",
        "--release",
        "1",
        "--name",
        "tele",
        cwd=tmp_path,
    )
    assert target1 == "tele/1/tele-1.tar.gz"
    assert "assigned to 1 vehicle(s)" in vmw(
        *common, "assign", target1, "--select", "hardware_id=tcu-hw", cwd=tmp_path
    )

    rig = Rig(tmp_path)  # serves the CLI-made repository; the vehicle is already provisioned
    try:
        client = rig.client()
        outcome = client.update(hook, hook.health, grace_s=0.5)
        assert outcome.status == "activated", outcome.activation
        assert rig.current_release() == 1
        assert (tmp_path / "tele-app.out").read_text() == "1"  # the new version runs
        current = rig.installer().current("tcu1", "tele")
        assert current is not None and package_files(current.directory) == archive_files(pkg1)
        assert client.send_report()["accepted"] >= 1
        status = json.loads(vmw(*common, "status", "--json", cwd=tmp_path))[VIN]
        assert status["installed"] == {"tcu1/tele": 1} and status["state"] == "installed"

        # release 2 exits at once: the health check fails, release 1 runs again
        pkg2 = make_package(tmp_path / "tele-2.tar.gz", 2, exit_code=3)
        target2 = vmw(
            *common,
            "publish",
            str(pkg2),
            "--hardware-id",
            "tcu-hw",
            "--release",
            "2",
            "--name",
            "tele",
            cwd=tmp_path,
        )
        vmw(*common, "assign", target2, "--vehicles", VIN, cwd=tmp_path)
        outcome = client.update(hook, hook.health, grace_s=0.5)
        assert outcome.status == "rolled_back"
        assert "health check failed" in (outcome.activation.reason or "")
        assert rig.current_release() == 1
        assert hook.log[-4:] == [
            "stop tele-app r1",
            "start tele-app r2",
            "stop tele-app r2",
            "start tele-app r1",
        ]
        restored = rig.installer().current("tcu1", "tele")
        assert restored is not None and hook.health([restored])  # release 1 runs (and reported) again
        # a rolled-back release is not retried until the Director assigns another one
        again = client.update(hook, hook.health, grace_s=0.5)
        assert again.status == "up_to_date" and again.skipped == [target2]
        client.send_report()
        status = json.loads(vmw(*common, "status", "--json", cwd=tmp_path))[VIN]
        assert status["installed"] == {"tcu1/tele": 1} and status["state"] == "assigned"
        assert status["last_result"]["outcome"] == "skipped"

        # release 3 is good again
        pkg3 = make_package(tmp_path / "tele-3.tar.gz", 3)
        target3 = vmw(
            *common,
            "publish",
            str(pkg3),
            "--hardware-id",
            "tcu-hw",
            "--release",
            "3",
            "--name",
            "tele",
            cwd=tmp_path,
        )
        vmw(*common, "assign", target3, "--vehicles", VIN, cwd=tmp_path)
        assert client.update(hook, hook.health, grace_s=0.5).status == "activated"
        assert rig.current_release() == 3 and (tmp_path / "tele-app.out").read_text() == "3"
        releases = sorted(
            p.name for p in (rig.install_root / "slots" / "tcu1" / "tele" / "releases").iterdir()
        )
        assert releases == ["1", "3"]  # the active one and the previous one (for rollback)
    finally:
        rig.close()


def test_configuration_target_reloads_without_restarting_apps(rig: Rig, hook: ProcessHook) -> None:
    rig.assign(rig.publish(1))
    assert rig.client().update(hook, hook.health, grace_s=0.2).status == "activated"
    app_pid = hook.procs["tele-app"].pid
    dbc = rig.packages / "powertrain.dbc"
    dbc.write_text('VERSION "2"\n')
    info = rig.image.publish(dbc, "tcu-hw", 2, kind="database")
    rig.assign(info.path)
    outcome = rig.client().update(hook, lambda pkgs: True, grace_s=0.0)
    assert outcome.status == "activated"
    assert hook.log[-1] == "reload powertrain r2"
    assert hook.procs["tele-app"].pid == app_pid and hook.procs["tele-app"].poll() is None
    current = rig.installer().current("tcu1", "powertrain")
    assert current is not None and current.file is not None and current.file.read_text() == 'VERSION "2"\n'


def test_failing_reload_rolls_back_configuration(rig: Rig) -> None:
    for release, text in ((1, "good"), (2, "bad")):
        f = rig.packages / "machine.yaml"
        f.write_text(text)
        rig.assign(rig.image.publish(f, "tcu-hw", release, kind="manifest").path)
        outcome = rig.client().update(
            NullHook(), lambda pkgs: pkgs[0].file.read_text() == "good", grace_s=0.0
        )
        assert outcome.status == ("activated" if release == 1 else "rolled_back")
    current = rig.installer().current("tcu1", "machine")
    assert current is not None and current.release == 1 and current.file.read_text() == "good"


def test_key_rotation_keeps_vehicles_updating(rig: Rig) -> None:
    rig.assign(rig.publish(1))
    assert rig.client().update(NullHook()).status == "activated"
    for role in ("root", "targets", "snapshot", "timestamp"):
        rig.image.rotate(role)
        rig.director.rotate(role)
    rig.assign(rig.publish(2))
    # the vehicle was provisioned with the first roots; it follows the signed root chain
    assert rig.client().update(NullHook()).status == "activated"
    assert rig.current_release() == 2
    assert (rig.state / "image" / "root_history" / "2.root.json").exists()

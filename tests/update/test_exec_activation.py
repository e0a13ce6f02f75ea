"""Updates activated by the real execution manager: its apps stopped, swapped, started, supervised.

Real child processes throughout: the manager launches the package apps from their version folders;
the health check is the manager's own supervision (report running, alive, crashes).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest
from exec_rig import exec_package, log_lines, running_versions, write_machine
from update_rig import Rig

from vehicle_mw.exec import ExecutionManager
from vehicle_mw.exec.updates import ManagerActivation, attach_installed


@pytest.fixture
def world(rig: Rig, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    log = tmp_path / "apps.log"
    monkeypatch.setenv("UPDATE_TEST_LOG", str(log))
    manager = ExecutionManager.from_file(write_machine(tmp_path / "machine", rig.install_root))
    assert attach_installed(manager, rig.installer()) == []
    manager.start()
    manager.wait_for(lambda s: all(a["state"] == "running" for a in s["apps"].values()), 30)
    yield rig, manager, log
    manager.shutdown(timeout=30)


def publish(rig: Rig, release: int, mode: str = "good", **extra: object) -> str:
    pkg = exec_package(rig.packages / f"tele-{release}.tar.gz", "tele-app", release, mode, **extra)
    path = rig.image.publish(pkg, "tcu-hw", release, name="tele").path
    rig.assign(path)
    return path


def update(rig: Rig, manager: ExecutionManager) -> tuple:
    client = rig.client()
    activation = ManagerActivation(manager)
    outcome = client.update(activation, activation.health, grace_s=1.2)
    return outcome, client


def pid(manager: ExecutionManager, app: str) -> int:
    return manager.status()["apps"][app]["pid"]


@pytest.mark.parametrize(
    ("mode", "extra", "reason"),
    [
        ("crash", {}, "tele-app: crashed: exited with code 3"),
        ("hang", {}, "tele-app: alive: no heartbeat for 0.4 s"),
        ("silent", {"startup_timeout": 0.5}, "tele-app: startup: did not report running within 0.5 s"),
    ],
    ids=["crash", "hang", "never-running"],
)
def test_good_release_runs_then_a_bad_one_is_rolled_back_by_supervision(
    world: tuple, mode: str, extra: dict, reason: str
) -> None:
    rig, manager, log = world
    base_pid = pid(manager, "base")
    publish(rig, 1)
    outcome, client = update(rig, manager)
    assert outcome.status == "activated", outcome.activation
    app = manager.status()["apps"]["tele-app"]
    assert app["state"] == "running" and app["owner"] == "tcu1/tele"
    assert running_versions(log)["tele-app"] == {"r1"}
    r1_pid = app["pid"]

    target2 = publish(rig, 2, mode, **extra)
    outcome, client = update(rig, manager)
    assert outcome.status == "rolled_back"
    assert reason in (outcome.activation.reason or ""), outcome.activation.reason
    assert rig.current_release() == 1
    manager.wait_for(lambda s: s["apps"].get("tele-app", {}).get("state") == "running", 30)
    assert pid(manager, "tele-app") != r1_pid  # release 1 was started again ...
    assert running_versions(log)["tele-app"] == {"r1"}  # ... and only release 1 runs
    events = [line for line in log_lines(log) if line.startswith("tele-app")]
    assert [e.split()[1] for e in events if e.split()[2] == "start"] == ["r1", "r2", "r1"]
    assert pid(manager, "base") == base_pid  # the rest of the machine was not touched
    # the result is in the signed version report the Director receives
    report = json.loads(client.version_report())["signed"]
    assert report["last_result"]["outcome"] == "rolled_back"
    assert reason in report["last_result"]["reason"] and report["last_result"]["targets"] == [target2]
    assert report["last_result"]["events"] == ["rolled back to tele r1 (running again)"]
    assert client.send_report()["accepted"] >= 1
    status = rig.director.status()["VIN0001"]
    assert status["last_result"]["outcome"] == "rolled_back"
    removed = [e for e in manager.events if e.subject == "tele-app" and e.action == "removed"]
    assert len(removed) == 2  # r1 (for r2), then r2 (rollback)


def test_configuration_update_restarts_only_the_apps_that_read_it(world: tuple) -> None:
    rig, manager, log = world
    publish(rig, 1)
    assert update(rig, manager)[0].status == "activated"
    before = {n: a["pid"] for n, a in manager.status()["apps"].items()}
    assert "decoder base - " in "\n".join(log_lines(log))  # no DBC installed yet
    dbc = rig.packages / "powertrain.dbc"
    dbc.write_text("VERSION2")
    rig.assign(rig.image.publish(dbc, "tcu-hw", 2, kind="database").path)
    outcome, _ = update(rig, manager)
    assert outcome.status == "activated", outcome.activation
    after = {n: a["pid"] for n, a in manager.status()["apps"].items()}
    assert after["decoder"] != before["decoder"]  # names the DBC's slot in its environment
    assert after["base"] == before["base"] and after["tele-app"] == before["tele-app"]
    assert running_versions(log)["decoder"] == {"base"}
    assert any(line.startswith("decoder base VERSION2 ") for line in log_lines(log))


def test_package_that_does_not_fit_the_machine_is_rolled_back(world: tuple) -> None:
    rig, manager, log = world
    publish(rig, 1)
    assert update(rig, manager)[0].status == "activated"
    publish(rig, 2, function_group="Chassis")  # no such function group on this machine
    outcome, _ = update(rig, manager)
    assert outcome.status == "rolled_back"
    assert "unknown function group 'Chassis'" in (outcome.activation.reason or "")
    manager.wait_for(lambda s: s["apps"].get("tele-app", {}).get("state") == "running", 30)
    assert running_versions(log)["tele-app"] == {"r1"}

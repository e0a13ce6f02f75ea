"""An execution manager with an update cycle in one process, frozen at one point until SIGKILLed.

argv[1]: JSON {url, state, install_root, execution, block_at, marker}. The manager boots as
``vmw run --install-root`` does (recover, add the installed packages), waits until every app
runs, then runs one update cycle activated through the manager; at the installer checkpoint
``block_at`` the cycle freezes (the manager's loop and its apps go on) and the marker names it.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

from update_rig import ECUS, VIN

from vehicle_mw.exec import ExecutionManager
from vehicle_mw.exec.updates import ManagerActivation, attach_installed
from vehicle_mw.update import Installer, UpdateClient, VehicleConfig

cfg = json.loads(sys.argv[1])
marker = pathlib.Path(cfg["marker"])


def checkpoint(name: str) -> None:
    if name == cfg["block_at"]:
        marker.write_text(name)
        while True:
            time.sleep(60)


installer = Installer(cfg["install_root"], checkpoint=checkpoint)
manager = ExecutionManager.from_file(cfg["execution"])
attach_installed(manager, installer)
manager.start()
manager.wait_for(lambda s: all(a["state"] == "running" for a in s["apps"].values()), 60)
client = UpdateClient(VehicleConfig.for_server(cfg["url"], VIN, ECUS, pathlib.Path(cfg["state"])), installer)
activation = ManagerActivation(manager)
outcome = client.update(activation, activation.health, grace_s=0.5)
marker.write_text(f"done {outcome.status}: {outcome.activation and outcome.activation.reason}")
manager.shutdown(timeout=30)

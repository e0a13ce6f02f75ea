"""Execution management: launch and supervise the applications of an execution manifest.

    from vehicle_mw.exec import ExecutionManager

    manager = ExecutionManager.from_file("manifests/execution.example.yaml")
    manager.start()                       # or manager.run() in the foreground (`vmw run`)
    manager.switch("Telematics", "Parked")
    print(manager.status())
    manager.shutdown()                    # reverse startup order, SIGTERM then SIGKILL

Applications use :mod:`vehicle_mw.exec.client` to report running, heartbeats
and checkpoints. See docs/execution.md.
"""

from vehicle_mw.exec.app import AppState
from vehicle_mw.exec.backoff import RestartBudget
from vehicle_mw.exec.control import DEFAULT_SOCKET, ControlError, ControlServer, request
from vehicle_mw.exec.manager import Event, ExecError, ExecutionManager, load_execution
from vehicle_mw.exec.systemd import SystemdNotifier

__all__ = [
    "AppState",
    "ControlError",
    "ControlServer",
    "DEFAULT_SOCKET",
    "Event",
    "ExecError",
    "ExecutionManager",
    "RestartBudget",
    "SystemdNotifier",
    "load_execution",
    "request",
]

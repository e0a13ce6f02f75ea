"""Helpers for execution-manager tests: write manifests, run a manager, read the apps' log."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
import yaml

from vehicle_mw.exec import ExecutionManager

HERE = pathlib.Path(__file__).resolve().parent

MACHINE = {
    "name": "test-ecu",
    "function_groups": [
        {
            "name": "Main",
            "states": ["Off", "Startup", "Driving", "Parked", "Diagnostics", "Degraded"],
            "initial": "Driving",
            "fallback": "Degraded",
        }
    ],
}


def app(name: str, func: str, states=("Driving",), **extra) -> dict:
    """One application entry running ``tests/exec/testapps.py:<func>``."""
    env = {"PYTHONPATH": str(HERE), **extra.pop("env", {})}
    return {
        "name": name,
        "entry": {"function": f"testapps:{func}"},
        "function_group": "Main",
        "states": list(states),
        "env": env,
        "stop_timeout": extra.pop("stop_timeout", 3.0),
        **extra,
    }


class Workspace:
    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.log = root / "apps.log"

    def write(self, applications: list[dict], machine: dict | None = None) -> pathlib.Path:
        (self.root / "machine.yaml").write_text(yaml.safe_dump(machine or MACHINE))
        for a in applications:
            a["env"]["VMW_TEST_LOG"] = str(self.log)
        path = self.root / "execution.yaml"
        path.write_text(yaml.safe_dump({"machine": "machine.yaml", "applications": applications}))
        return path

    def time_of(self, line: str) -> float:
        """Monotonic time at which an app logged ``line`` (e.g. "hanger hung")."""
        for entry in (self.root / "apps.log.times").read_text().splitlines():
            app, event, t = entry.split()
            if f"{app} {event}" == line:
                return float(t)
        raise KeyError(line)

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def ws(tmp_path: pathlib.Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.fixture
def run_manager() -> Iterator:
    """Start managers in the background; shut them (and their apps) down after the test."""
    started: list[ExecutionManager] = []

    def start(path, **kwargs) -> ExecutionManager:
        manager = ExecutionManager.from_file(path, **kwargs)
        manager.start()
        started.append(manager)
        return manager

    yield start
    for manager in started:
        manager.shutdown(timeout=30)


def app_state(name: str, state: str):
    return lambda s: s.get("apps", {}).get(name, {}).get("state") == state


def actions(manager: ExecutionManager, subject: str) -> list[tuple[str, str]]:
    return [(e.action, e.reason) for e in list(manager.events) if e.subject == subject]

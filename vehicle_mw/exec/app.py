"""One supervised application instance: its process, health block, state and restart budget."""

from __future__ import annotations

import enum
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from vehicle_mw.exec import client
from vehicle_mw.exec.backoff import RestartBudget
from vehicle_mw.exec.health_block import HealthBlock
from vehicle_mw.exec.supervision import AppSupervisor
from vehicle_mw.manifest.execution import Application

HEALTH_DIR = "/dev/shm"
HEALTH_PREFIX = "vmw-health-"  # + "<manager pid>-<ms>-<app>-<generation>"


def reclaim_stale_health_blocks() -> list[str]:
    """Remove health blocks left by execution managers that died without cleaning up."""
    removed = []
    try:
        names = os.listdir(HEALTH_DIR)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(HEALTH_PREFIX):
            continue
        pid = name[len(HEALTH_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # that manager still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # alive, owned by someone else
        try:
            os.unlink(os.path.join(HEALTH_DIR, name))
            removed.append(name)
        except OSError:
            pass
    return removed


class AppState(enum.StrEnum):
    OFF = "off"  # not wanted in the current function-group state (or exited cleanly)
    WAITING = "waiting"  # wanted, waiting for its dependencies to report running
    STARTING = "starting"  # process launched, has not reported running yet
    RUNNING = "running"
    STOPPING = "stopping"  # SIGTERM sent, SIGKILL at stop_deadline
    BACKOFF = "backoff"  # failed, restarts at restart_at
    FAILED = "failed"  # restart budget spent (or restart mode 'never')


@dataclass
class AppRuntime:
    """Mutable state of one application, owned by the execution manager's loop."""

    cfg: Application
    budget: RestartBudget
    state: AppState = AppState.OFF
    proc: subprocess.Popen[bytes] | None = None
    block: HealthBlock | None = None
    supervisor: AppSupervisor | None = None
    started_at: float = 0.0
    start_seq: int = 0
    generation: int = 0
    restart_at: float | None = None
    stop_deadline: float | None = None
    failure: str | None = None  # why it is being stopped, when that is a failure
    failure_reason: str | None = None  # why the pending restart is needed
    completed: bool = False  # exited cleanly by itself in the current group state: not restarted
    restarts: int = 0
    last_exit: int | None = None
    extra: dict[str, str] = field(default_factory=dict)  # extra environment for the process
    directory: pathlib.Path | None = None  # installed package: cwd and import path (else the manifest's)
    owner: str | None = None  # installed package slot ("<ecu>/<name>") the app came from
    retired: bool = False  # being removed (package deactivated): stopped, then forgotten
    faults: int = 0  # violations and unexpected exits since this runtime was created
    last_fault: str | None = None

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def launch(self, run_id: str, search_path: pathlib.Path, seq: int) -> None:
        """Create a fresh health block and start the process through the launcher."""
        self.generation += 1
        block_path = f"{HEALTH_DIR}/{HEALTH_PREFIX}{run_id}-{self.name}-{self.generation}"
        self.block = HealthBlock.create(block_path)
        entry = self.cfg.entry
        spec = {
            "name": self.name,
            "function": entry.function,
            "executable": entry.executable,
            "args": entry.args,
            "scheduling": self.cfg.scheduling.model_dump(),
            "manager_pid": os.getpid(),
        }
        env = dict(os.environ)
        env.update(self.cfg.env)
        env.update(self.extra)
        env[client.ENV_BLOCK] = block_path
        env[client.ENV_CHECKPOINTS] = ",".join(self.cfg.supervision.checkpoints)
        env[client.ENV_APP] = self.name
        search_path = self.directory or search_path
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(search_path), env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vehicle_mw.exec.launcher", json.dumps(spec)],
            env=env,
            cwd=self.directory,
            start_new_session=True,  # a terminal's Ctrl-C reaches the manager, which stops apps in order
        )
        self.started_at = time.monotonic()
        self.start_seq = seq
        self.failure = None
        self.stop_deadline = None
        self.supervisor = None
        self.state = AppState.STARTING

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def begin_stop(self, now: float) -> None:
        self.signal(signal.SIGTERM)
        self.stop_deadline = now + self.cfg.stop_timeout
        self.state = AppState.STOPPING

    def reap(self) -> int | None:
        """Exit code if the process has ended (negative: killed by that signal), else None."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            return None
        self.last_exit = code
        self.proc = None
        if self.block is not None:
            self.block.close(unlink=True)
            self.block = None
        return code


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


__all__ = ["AppRuntime", "AppState", "describe_exit", "reclaim_stale_health_blocks"]

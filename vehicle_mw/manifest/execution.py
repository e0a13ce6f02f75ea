"""Execution manifest: which applications run, how, in which order, under which supervision.

Cross-checks against the machine manifest (function groups, states, cores) are in
:func:`check_against_machine`, which reports problems with the same
file/path/reason shape as schema errors.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from vehicle_mw.manifest.loading import ManifestError, StrictModel
from vehicle_mw.manifest.machine import NAME, MachineManifest

_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class EntryPoint(StrictModel):
    """Either a Python ``module:function`` or an executable with arguments."""

    function: str | None = Field(None, description="'package.module:function', called with no arguments")
    executable: str | None = Field(None, description="program to run (PATH lookup if not absolute)")
    args: list[str] = Field(default_factory=list, description="argv of the function or the program")

    @model_validator(mode="after")
    def _one_kind(self) -> EntryPoint:
        if (self.function is None) == (self.executable is None):
            raise ValueError("give exactly one of 'function' or 'executable'")
        if self.function is not None and not _ENTRY.match(self.function):
            raise ValueError(f"function {self.function!r} is not 'package.module:function'")
        return self


class AppScheduling(StrictModel):
    """CPU affinity and scheduling policy of the application's process."""

    policy: Literal["other", "fifo", "rr"] = "other"
    priority: int = Field(0, ge=0, le=99, description="1..99 for fifo/rr, 0 for other")
    cores: list[int] = Field(default_factory=list, description="CPU cores to pin to; empty: any")
    lock_memory: bool = Field(False, description="mlockall the process")

    @model_validator(mode="after")
    def _priority_fits_policy(self) -> AppScheduling:
        if self.policy == "other" and self.priority:
            raise ValueError("priority needs policy 'fifo' or 'rr'")
        if self.policy != "other" and not self.priority:
            raise ValueError(f"policy {self.policy!r} needs a priority 1..99")
        return self


class AliveSupervision(StrictModel):
    """Heartbeats expected per window: fewer is a hang, more is a runaway loop."""

    window: float = Field(gt=0, description="length of one supervision window in seconds")
    min: int = Field(1, ge=0, description="fewest heartbeats per window")
    max: int | None = Field(None, ge=1, description="most heartbeats per window (none: no upper bound)")

    @model_validator(mode="after")
    def _bounds(self) -> AliveSupervision:
        if self.max is not None and self.max < self.min:
            raise ValueError("max must be >= min")
        return self


class DeadlineSupervision(StrictModel):
    """Time from checkpoint ``start`` to checkpoint ``end`` must be within [min, max] seconds."""

    start: str
    end: str
    min: float = Field(0.0, ge=0)
    max: float = Field(gt=0)


class LogicalSupervision(StrictModel):
    """Checkpoints must follow this graph: the first one in ``initial``, then along ``transitions``."""

    initial: list[str] = Field(min_length=1)
    transitions: dict[str, list[str]] = Field(description="checkpoint -> checkpoints allowed next")


class Supervision(StrictModel):
    """Health supervision of one application (all parts optional)."""

    checkpoints: list[str] = Field(default_factory=list, description="checkpoint names the app reports")
    alive: AliveSupervision | None = None
    deadline: list[DeadlineSupervision] = Field(default_factory=list)
    logical: LogicalSupervision | None = None

    @model_validator(mode="after")
    def _checkpoints_declared(self) -> Supervision:
        known = set(self.checkpoints)
        used = {c for d in self.deadline for c in (d.start, d.end)}
        if self.logical:
            used |= set(self.logical.initial) | set(self.logical.transitions)
            used |= {c for nxt in self.logical.transitions.values() for c in nxt}
        unknown = sorted(used - known)
        if unknown:
            raise ValueError(f"checkpoint(s) {unknown} are not declared in 'checkpoints'")
        return self


class RestartPolicy(StrictModel):
    """When and how fast to restart, and when to give up (then: the group's fallback state)."""

    mode: Literal["on-failure", "always", "never"] = "on-failure"
    initial_delay: float = Field(0.5, ge=0, description="first backoff delay in seconds")
    max_delay: float = Field(30.0, gt=0, description="backoff cap in seconds")
    factor: float = Field(2.0, ge=1.0, description="backoff multiplier per consecutive restart")
    jitter: float = Field(0.1, ge=0, le=1, description="random +- fraction added to each delay")
    max_restarts: int = Field(5, ge=0, description="restarts allowed within 'window' before giving up")
    window: float = Field(60.0, gt=0, description="seconds over which restarts are counted")


class Application(StrictModel):
    """One process the execution manager launches and supervises."""

    name: str = Field(pattern=NAME)
    entry: EntryPoint
    env: dict[str, str] = Field(default_factory=dict)
    function_group: str = Field(description="function group (machine manifest) this app belongs to")
    states: list[str] = Field(min_length=1, description="states of its function group in which it runs")
    depends_on: list[str] = Field(default_factory=list, description="apps that must report running first")
    reports_running: bool = Field(True, description="app calls report_running(); else running once spawned")
    startup_timeout: float = Field(10.0, gt=0, description="seconds to report running, else hung")
    stop_timeout: float = Field(5.0, gt=0, description="seconds between SIGTERM and SIGKILL")
    scheduling: AppScheduling = Field(default_factory=AppScheduling)
    supervision: Supervision = Field(default_factory=Supervision)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)


class ExecutionManifest(StrictModel):
    """The applications of one machine."""

    machine: str = Field(description="machine manifest file, relative to this file")
    applications: list[Application] = Field(min_length=1)

    @model_validator(mode="after")
    def _graph(self) -> ExecutionManifest:
        names = [a.name for a in self.applications]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate application name(s): {dupes}")
        deps = {a.name: a.depends_on for a in self.applications}
        for app in self.applications:
            missing = sorted(set(app.depends_on) - set(names))
            if missing:
                raise ValueError(f"application {app.name!r} depends on unknown {missing}")
        # depth-first cycle check
        state: dict[str, int] = {}

        def visit(n: str, path: list[str]) -> None:
            if state.get(n) == 1:
                raise ValueError("dependency cycle: " + " -> ".join(path + [n]))
            if state.get(n) == 2:
                return
            state[n] = 1
            for d in deps[n]:
                visit(d, path + [n])
            state[n] = 2

        for n in names:
            visit(n, [])
        return self

    def app(self, name: str) -> Application:
        for a in self.applications:
            if a.name == name:
                return a
        raise KeyError(name)


def check_against_machine(execution: ExecutionManifest, machine: MachineManifest, file: str) -> None:
    """Raise :class:`ManifestError` when apps name unknown groups, states or cores."""
    problems: list[tuple[str, str]] = []
    groups = {g.name: g for g in machine.function_groups}
    for i, app in enumerate(execution.applications):
        where = f"applications[{i}]"
        group = groups.get(app.function_group)
        if group is None:
            problems.append((f"{where}.function_group", f"unknown function group {app.function_group!r}"))
            continue
        for j, state in enumerate(app.states):
            if state not in group.states:
                problems.append((f"{where}.states[{j}]", f"{state!r} is not a state of {group.name!r}"))
        if machine.cores:
            for j, core in enumerate(app.scheduling.cores):
                if core not in machine.cores:
                    problems.append((f"{where}.scheduling.cores[{j}]", f"core {core} not in machine cores"))
    if problems:
        raise ManifestError(file, problems)


def write_schemas(folder: str = "manifests/schemas") -> list[str]:
    """Regenerate the JSON Schemas of the execution and machine manifests (committed in the repo)."""
    import json
    import pathlib

    written = []
    for kind, model in (("execution", ExecutionManifest), ("machine", MachineManifest)):
        path = pathlib.Path(folder) / f"{kind}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n", encoding="utf-8")
        written.append(str(path))
    return written


if __name__ == "__main__":  # python -m vehicle_mw.manifest.execution
    print("\n".join(write_schemas()))

__all__ = [
    "AliveSupervision",
    "AppScheduling",
    "Application",
    "DeadlineSupervision",
    "EntryPoint",
    "ExecutionManifest",
    "LogicalSupervision",
    "RestartPolicy",
    "Supervision",
    "check_against_machine",
    "write_schemas",
]

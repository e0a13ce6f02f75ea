"""The execution manager: launches apps per function-group state, supervises, restarts, stops in order.

Everything happens in one loop (``run``) so decisions are sequential and each is
logged with its reason; other threads (the Python API, the control socket) only
queue requests and read published snapshots.
"""

from __future__ import annotations

import logging
import os
import pathlib
import queue
import selectors
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.exec.app import AppRuntime, AppState, describe_exit, reclaim_stale_health_blocks
from vehicle_mw.exec.backoff import RestartBudget
from vehicle_mw.exec.supervision import AppSupervisor
from vehicle_mw.exec.systemd import SystemdNotifier
from vehicle_mw.manifest import ManifestError, load_manifest
from vehicle_mw.manifest.execution import Application, ExecutionManifest, check_against_machine
from vehicle_mw.manifest.machine import MachineManifest

log = logging.getLogger("vehicle_mw.exec")

TICK = 0.02  # supervision period in seconds
ENV_MACHINE_MANIFEST = "VMW_MACHINE_MANIFEST"  # every app learns the machine manifest it runs under
MAX_EVENTS = 10_000  # decisions kept in memory (all are logged)
T = TypeVar("T")


class ExecError(VehicleMwError):
    """A request the execution manager cannot honour (unknown group or state, not running)."""


@dataclass(frozen=True)
class Event:
    """One decision of the execution manager, with its reason."""

    t: float  # monotonic seconds
    subject: str  # application or function group
    action: str  # start, stop, restart-scheduled, failed, switch, fallback, exited, violation, ...
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "subject": self.subject, "action": self.action, "reason": self.reason}


def load_execution(path: str | pathlib.Path) -> tuple[ExecutionManifest, MachineManifest]:
    """Load an execution manifest and the machine manifest it names, cross-checked."""
    path = pathlib.Path(path)
    execution = load_manifest(path, ExecutionManifest)
    machine_path = path.parent / execution.machine
    try:
        machine = load_manifest(machine_path, MachineManifest)
    except ManifestError as exc:
        if exc.problems == [("", "file not found")]:
            raise ManifestError(
                str(path), [("machine", f"machine manifest {machine_path} not found")]
            ) from None
        raise
    check_against_machine(execution, machine, str(path))
    return execution, machine


class ExecutionManager:
    """Runs the applications of one execution manifest (``vmw run``); see docs/execution.md."""

    def __init__(
        self,
        execution: ExecutionManifest,
        machine: MachineManifest,
        base_dir: str | pathlib.Path = ".",
        notifier: SystemdNotifier | None = None,
        initial_states: dict[str, str] | None = None,
    ) -> None:
        self.execution = execution
        self.machine = machine
        self.base_dir = pathlib.Path(base_dir).resolve()
        self.notifier = notifier or SystemdNotifier()
        self.run_id = f"{os.getpid()}-{int(time.time() * 1000) % 1_000_000}"
        self.apps = {a.name: AppRuntime(a, RestartBudget(a.restart)) for a in execution.applications}
        self.groups = {g.name: g.initial for g in machine.function_groups}
        for group, state in (initial_states or {}).items():
            self._check_state(group, state)
            self.groups[group] = state
        self.events: list[Event] = []
        self.events_dropped = 0  # events[0] is decision number events_dropped
        self._requests: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._shutdown = threading.Event()
        self._changed = threading.Condition()
        self._snapshot: dict[str, Any] = {}
        self._seq = 0
        self._ready_sent = False
        self._last_watchdog = 0.0
        self._status_line = ""
        self._selector = selectors.DefaultSelector()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._stop_queue: list[AppRuntime] = []  # apps leaving a state, stopped one at a time
        self._stop_reasons: dict[str, str] = {}
        self._restarting: set[str] = set()  # apps queued for a stop after which they start again
        self.app_env: dict[str, str] = {}  # environment every app gets (also apps added later)
        self._loop_thread: threading.Thread | None = None
        self._running = False  # run() owns the state from now on: other threads go through _call
        self._publish()  # status() is complete from the start, before the loop runs

    @classmethod
    def from_file(cls, path: str | pathlib.Path, **kwargs: Any) -> ExecutionManager:
        execution, machine = load_execution(path)
        manager = cls(execution, machine, base_dir=pathlib.Path(path).parent, **kwargs)
        machine_path = (pathlib.Path(path).parent / execution.machine).resolve()
        manager.app_env[ENV_MACHINE_MANIFEST] = str(machine_path)
        for app in manager.apps.values():  # e.g. the runtime's stages read their buses from it
            app.extra.setdefault(ENV_MACHINE_MANIFEST, str(machine_path))
        return manager

    # -- public API (any thread) -------------------------------------------------------
    def start(self) -> None:
        """Run the loop in a background thread (the Python API; `vmw run` calls :meth:`run`)."""
        self._thread = threading.Thread(target=self.run, name="vmw-exec", daemon=True)
        self._thread.start()

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop every application in reverse startup order, then end the loop."""
        self._shutdown.set()
        if wait and self._thread is not None:
            self._thread.join(timeout)

    def switch(self, group: str, state: str) -> None:
        """Move a function group to ``state``: apps that differ are stopped / started."""
        self._check_state(group, state)
        self._requests.put(lambda: self._switch(group, state, "requested"))

    def status(self) -> dict[str, Any]:
        """The latest published snapshot: groups, apps (state, pid, restarts), healthy."""
        with self._changed:
            return dict(self._snapshot)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Block until ``predicate(status())`` holds; raise TimeoutError with the last status."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._snapshot):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not reached in {timeout} s; status: {self._snapshot}")
                self._changed.wait(left)
            return dict(self._snapshot)

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        """Have the loop call ``callback`` when ``fileobj`` is readable (the control socket)."""
        self._selector.register(fileobj, selectors.EVENT_READ, callback)

    @property
    def running(self) -> bool:
        """The loop runs (started and not stopped)."""
        return self._running and not self._stopped.is_set()

    def record(self, subject: str, action: str, reason: str) -> None:
        """Log a decision taken outside the loop (an update activation) among the manager's events."""
        self._call(lambda: self._decide(subject, action, reason))

    def add_apps(
        self, apps: Sequence[Application], directory: str | pathlib.Path, owner: str, timeout: float = 10.0
    ) -> None:
        """Manage more applications (an installed package): run from ``directory`` (cwd, import path).

        They start as soon as their function-group state wants them and their dependencies run.
        Raises ExecError when a name is taken or a group, state, core or dependency is unknown.
        """
        self._call(lambda: self._add_apps(list(apps), pathlib.Path(directory).resolve(), owner), timeout)

    def remove_apps(self, names: Iterable[str], reason: str, timeout: float | None = None) -> None:
        """Stop these applications in reverse startup order and forget them; returns once all are gone."""
        names = list(names)
        if not names:
            return
        if timeout is None:
            timeout = 5.0 + sum(self.apps[n].cfg.stop_timeout for n in names if n in self.apps)
        self._call(lambda: self._retire(names, reason))
        self.wait_for(lambda s: not any(n in s["apps"] for n in names), timeout)

    def restart_apps(self, names: Iterable[str], reason: str) -> dict[str, int]:
        """Stop these running applications (reverse startup order); each starts again once stopped.

        Returns each app's launch generation before the restart: the new process has a higher one.
        """
        return self._call(lambda: self._restart_apps(list(names), reason))

    def apps_referencing(self, text: str) -> list[str]:
        """Applications whose entry arguments or environment mention ``text`` (a configuration path)."""
        return [
            a.name
            for a in list(self.apps.values())
            if any(text in v for v in (*a.cfg.entry.args, *a.cfg.env.values(), *a.extra.values()))
        ]

    def _call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` in the loop (directly before it runs) and return its result or raise its error."""
        if not self._running or threading.current_thread() is self._loop_thread:
            return fn()  # before run(), or from the loop itself (a control request): no queue
        if self._stopped.is_set() or self._shutdown.is_set():
            raise ExecError("the execution manager is shutting down")
        fut: Future[T] = Future()

        def job() -> None:
            try:
                fut.set_result(fn())
            except Exception as exc:  # returned to the caller; the loop goes on
                fut.set_exception(exc)

        self._requests.put(job)
        return fut.result(timeout)

    def _add_apps(self, apps: list[Application], directory: pathlib.Path, owner: str) -> None:
        problems = []
        names = {a.name for a in apps}
        for a in apps:
            if a.name in self.apps:
                problems.append(f"application name {a.name!r} is already managed")
            try:
                self._check_state(a.function_group, a.states[0])
                for state in a.states[1:]:
                    self._check_state(a.function_group, state)
            except ExecError as exc:
                problems.append(f"{a.name}: {exc}")
            if self.machine.cores and not set(a.scheduling.cores) <= set(self.machine.cores):
                problems.append(f"{a.name}: cores {a.scheduling.cores} not all in {self.machine.cores}")
            unknown = sorted(set(a.depends_on) - names - set(self.apps))
            if unknown:
                problems.append(f"{a.name}: depends on unknown {unknown}")
        if problems:
            raise ExecError(f"package {owner} ({directory}): " + "; ".join(problems))
        for a in apps:
            rt = AppRuntime(a, RestartBudget(a.restart), directory=directory, owner=owner)
            rt.extra.update(self.app_env)
            self.apps[a.name] = rt
            self._decide(a.name, "added", f"from package {owner} ({directory})")
        self._publish()

    def _retire(self, names: list[str], reason: str) -> None:
        unknown = [n for n in names if n not in self.apps]
        if unknown:
            raise ExecError(f"cannot remove unknown application(s) {unknown}")
        for n in names:
            self.apps[n].retired = True
        running = [self.apps[n] for n in names if self.apps[n].proc is not None]
        for app in sorted(running, key=lambda a: a.start_seq, reverse=True):
            if app.state is not AppState.STOPPING and app not in self._stop_queue:
                self._stop_queue.append(app)
                self._stop_reasons[app.name] = reason
        self._forget_retired()

    def _forget_retired(self) -> None:
        for name in [n for n, a in self.apps.items() if a.retired and a.proc is None]:
            del self.apps[name]
            self._decide(name, "removed", "no longer managed (package deactivated)")

    def _restart_apps(self, names: list[str], reason: str) -> dict[str, int]:
        unknown = [n for n in names if n not in self.apps]
        if unknown:
            raise ExecError(f"cannot restart unknown application(s) {unknown}")
        before = {n: self.apps[n].generation for n in names}
        running = [self.apps[n] for n in names if self.apps[n].proc is not None]
        for app in sorted(running, key=lambda a: a.start_seq, reverse=True):
            if app.state is not AppState.STOPPING and app not in self._stop_queue:
                self._restarting.add(app.name)
                self._stop_queue.append(app)
                self._stop_reasons[app.name] = reason
        return before

    # -- the loop --------------------------------------------------------------------
    def run(self) -> None:
        """Start the initial states and supervise until :meth:`shutdown` (or SIGTERM in `vmw run`)."""
        stale = reclaim_stale_health_blocks()
        if stale:
            log.info("removed %d health block(s) of dead execution managers", len(stale))
        for group, state in self.groups.items():
            self._decide(group, "switch", f"initial state {state}")
        self._publish()
        self._loop_thread = threading.current_thread()
        self._running = True
        try:
            while not self._shutdown.is_set():
                self._step()
                for key, _ in self._selector.select(TICK):
                    key.data()
        except BaseException:
            log.exception("supervision loop failed; stopping all applications")
            raise
        finally:
            self._stop_all()
            self._stopped.set()
            self._publish()
            with self._changed:
                self._changed.notify_all()

    def _step(self) -> None:
        while True:
            try:
                self._requests.get_nowait()()
            except queue.Empty:
                break
        now = time.monotonic()
        for app in self.apps.values():
            self._supervise(app, now)
        self._advance_stops(now)
        self._forget_retired()
        self._start_wanted(now)
        self._publish()
        self._systemd(now)

    # -- decisions -------------------------------------------------------------------
    def _decide(self, subject: str, action: str, reason: str) -> None:
        self.events.append(Event(time.monotonic(), subject, action, reason))
        if len(self.events) > MAX_EVENTS:  # a long-lived daemon keeps the recent history only
            del self.events[: MAX_EVENTS // 10]
            self.events_dropped += MAX_EVENTS // 10
        level = (
            logging.WARNING
            if action in ("violation", "failed", "fallback", "kill", "crashed")
            else logging.INFO
        )
        log.log(level, "%s: %s (%s)", subject, action, reason)

    def _check_state(self, group: str, state: str) -> None:
        try:
            fg = self.machine.group(group)
        except KeyError:
            known = [g.name for g in self.machine.function_groups]
            raise ExecError(f"unknown function group {group!r}; known: {known}") from None
        if state not in fg.states:
            raise ExecError(f"function group {group!r} has no state {state!r}; states: {fg.states}")

    def _wanted(self, app: AppRuntime) -> bool:
        return (
            not app.retired
            and self.groups[app.cfg.function_group] in app.cfg.states
            and app.state is not AppState.FAILED
        )

    def _switch(self, group: str, state: str, why: str) -> None:
        old = self.groups[group]
        self.groups[group] = state
        self._decide(group, "switch", f"{old} -> {state} ({why})")
        for app in self.apps.values():
            if app.cfg.function_group == group:
                app.completed = False
            if app.cfg.function_group == group and app.state is AppState.FAILED and why == "requested":
                app.state = AppState.OFF  # an explicit switch gives failed apps a fresh start
                app.budget = RestartBudget(app.cfg.restart)
        # stop what is no longer wanted, newest first, one after the other (see _advance_stops)
        leaving = [a for a in self.apps.values() if a.proc is not None and not self._wanted(a)]
        for app in sorted(leaving, key=lambda a: a.start_seq, reverse=True):
            if app.state is not AppState.STOPPING and app not in self._stop_queue:
                self._stop_queue.append(app)
                self._stop_reasons[app.name] = f"not in {group} state {state}"
        for app in self.apps.values():
            if (
                app.proc is None
                and not self._wanted(app)
                and app.state in (AppState.WAITING, AppState.BACKOFF)
            ):
                app.state = AppState.OFF

    def _advance_stops(self, now: float) -> None:
        """Stop the apps leaving a state in reverse startup order: the next once the previous exited."""
        while self._stop_queue:
            head = self._stop_queue[0]
            keep = self._wanted(head) and head.name not in self._restarting
            if head.proc is None or (head.state is not AppState.STOPPING and keep):
                self._stop_queue.pop(0)  # exited, or wanted again before its turn came
                self._restarting.discard(head.name)
                continue
            if head.state is not AppState.STOPPING:
                self._restarting.discard(head.name)
                self._decide(head.name, "stop", self._stop_reasons.pop(head.name, "state switch"))
                head.failure = None
                head.begin_stop(now)
            return

    def _start_wanted(self, now: float) -> None:
        # A state switch first stops what leaves, then starts what enters.
        switching = {a.cfg.function_group for a in self._stop_queue} | {
            a.cfg.function_group for a in self.apps.values() if a.state is AppState.STOPPING and not a.failure
        }
        for rt in list(self.apps.values()):
            app = rt.cfg
            if not self._wanted(rt) or rt.proc is not None or app.function_group in switching:
                continue
            if rt.state is AppState.BACKOFF and rt.restart_at is not None and now < rt.restart_at:
                continue
            if rt.completed:
                continue  # finished its job in this state
            blockers = [
                d for d in app.depends_on if d not in self.apps or self.apps[d].state is not AppState.RUNNING
            ]
            if blockers:
                if rt.state is not AppState.WAITING:
                    rt.state = AppState.WAITING
                    self._decide(rt.name, "waiting", f"for {blockers} to report running")
                continue
            restart = rt.state is AppState.BACKOFF
            self._seq += 1
            try:
                rt.launch(self.run_id, self.base_dir, self._seq)
            except OSError as exc:
                self._decide(rt.name, "failed", f"cannot launch: {exc}")
                rt.state = AppState.FAILED
                continue
            if restart:
                rt.restarts += 1
            why = (
                f"restart #{rt.restarts} after: {rt.failure_reason}"
                if restart
                else "wanted and dependencies running"
            )
            self._decide(rt.name, "start", f"pid {rt.pid}, {why}")
            if not rt.cfg.reports_running:
                self._became_running(rt, now)

    def _became_running(self, app: AppRuntime, now: float) -> None:
        app.state = AppState.RUNNING
        heartbeats = app.block.heartbeats if app.block else 0
        app.supervisor = AppSupervisor(app.cfg.supervision, time.monotonic_ns(), heartbeats)
        if app.cfg.reports_running:
            self._decide(app.name, "running", f"reported running {now - app.started_at:.3f} s after start")
        else:
            self._decide(app.name, "running", "spawned (does not report running)")

    def _supervise(self, app: AppRuntime, now: float) -> None:
        code = app.reap() if app.proc is not None else None
        if code is not None:
            self._exited(app, code, now)
            return
        if app.proc is None:
            return
        if app.state is AppState.STOPPING:
            if app.stop_deadline is not None and now >= app.stop_deadline:
                self._decide(
                    app.name, "kill", f"still alive {app.cfg.stop_timeout:g} s after SIGTERM: SIGKILL"
                )
                app.signal(signal.SIGKILL)
                app.stop_deadline = None
            return
        block = app.block
        assert block is not None
        if app.state is AppState.STARTING:
            if block.running:
                self._became_running(app, now)
            elif now - app.started_at > app.cfg.startup_timeout:
                self._violation(
                    app, f"startup: did not report running within {app.cfg.startup_timeout:g} s", now
                )
            return
        if app.state is AppState.RUNNING and app.supervisor is not None:
            checkpoints, lost = block.new_checkpoints()
            if lost:
                self._decide(
                    app.name, "checkpoints-lost", f"{lost} checkpoint(s) overwritten before being read"
                )
            verdict = app.supervisor.observe(
                time.monotonic_ns(), block.heartbeats, [(c.index, c.t_ns) for c in checkpoints], lost
            )
            if verdict:
                self._violation(app, verdict, now)

    def _violation(self, app: AppRuntime, reason: str, now: float) -> None:
        self._decide(app.name, "violation", reason)
        app.faults += 1
        app.last_fault = reason
        app.failure = reason
        app.begin_stop(now)

    def _exited(self, app: AppRuntime, code: int, now: float) -> None:
        how = describe_exit(code)
        if app.failure is None and app.state is AppState.STOPPING:
            self._decide(app.name, "stopped", how)
            app.state = AppState.OFF
            return
        if app.state is AppState.STOPPING and self._shutdown.is_set():
            app.state = AppState.OFF
            return
        reason = app.failure or how
        if app.failure is None:
            self._decide(app.name, "exited" if code == 0 else "crashed", how)
            if code != 0:
                app.faults += 1
                app.last_fault = f"crashed: {how}"
        if not self._wanted(app):
            app.state = AppState.OFF
            return
        mode = app.cfg.restart.mode
        if code == 0 and app.failure is None and mode != "always":
            app.state = AppState.OFF
            app.completed = True
            return
        if now - app.started_at >= app.cfg.restart.window:
            app.budget.healthy_for_a_while()
        delay = None if mode == "never" else app.budget.next_delay(now)
        app.failure_reason = reason
        if delay is None:
            why = (
                "restart mode never"
                if mode == "never"
                else (f"{app.cfg.restart.max_restarts} restarts within {app.cfg.restart.window:g} s")
            )
            app.state = AppState.FAILED
            self._decide(app.name, "failed", f"{reason}; giving up: {why}")
            self._fallback(app)
            return
        app.state = AppState.BACKOFF
        app.restart_at = now + delay
        self._decide(app.name, "restart-scheduled", f"in {delay:.3f} s after: {reason}")

    def _fallback(self, app: AppRuntime) -> None:
        group = self.machine.group(app.cfg.function_group)
        if group.fallback is None:
            self._decide(group.name, "no-fallback", f"{app.name} failed and the group declares no fallback")
            return
        if self.groups[group.name] == group.fallback:
            return
        self._decide(group.name, "fallback", f"{app.name} exhausted its restarts -> {group.fallback}")
        self._switch(group.name, group.fallback, f"fallback after {app.name} failed")

    # -- shutdown ------------------------------------------------------------------
    def _stop_all(self) -> None:
        """SIGTERM in reverse startup order, one at a time; SIGKILL after each app's stop_timeout."""
        self.notifier.stopping()
        self._decide("machine", "shutdown", "stopping applications in reverse startup order")
        for app in self.apps.values():
            if app.proc is None and app.state in (AppState.WAITING, AppState.BACKOFF):
                app.state = AppState.OFF
        order = sorted(
            (a for a in self.apps.values() if a.proc is not None), key=lambda a: a.start_seq, reverse=True
        )
        for app in order:
            if app.proc is None:
                continue
            if app.state is not AppState.STOPPING:
                self._decide(app.name, "stop", "shutdown")
                app.failure = None
                app.begin_stop(time.monotonic())
            proc = app.proc
            assert proc is not None
            try:
                code = proc.wait(app.cfg.stop_timeout)
            except Exception:
                self._decide(
                    app.name, "kill", f"still alive {app.cfg.stop_timeout:g} s after SIGTERM: SIGKILL"
                )
                app.signal(signal.SIGKILL)
                code = proc.wait()
            app.reap()
            app.state = AppState.OFF
            self._decide(app.name, "stopped", describe_exit(code))
            self._publish()

    # -- reporting -------------------------------------------------------------------
    def _healthy(self) -> bool:
        return not any(
            a.state is AppState.FAILED and self.groups[a.cfg.function_group] in a.cfg.states
            for a in self.apps.values()
        )

    def _publish(self) -> None:
        snapshot = {
            "machine": self.machine.name,
            "groups": dict(self.groups),
            "apps": {
                name: {
                    "state": a.state.value,
                    "pid": a.pid,
                    "restarts": a.restarts,
                    "last_exit": a.last_exit,
                    "function_group": a.cfg.function_group,
                    "start_seq": a.start_seq,
                    "generation": a.generation,
                    "wanted": self._wanted(a),
                    "completed": a.completed,
                    "faults": a.faults,
                    "last_fault": a.last_fault,
                    "owner": a.owner,
                }
                for name, a in self.apps.items()
            },
            "healthy": self._healthy(),
            "events": self.events_dropped + len(self.events),
            "stopped": self._stopped.is_set(),
        }
        with self._changed:
            if snapshot != self._snapshot:
                self._snapshot = snapshot
                self._changed.notify_all()

    def _systemd(self, now: float) -> None:
        wanted = [a for a in self.apps.values() if self._wanted(a)]
        running = sum(a.state is AppState.RUNNING for a in wanted)
        groups = ", ".join(f"{g}={s}" for g, s in self.groups.items())
        line = f"{running}/{len(wanted)} apps running; {groups}"
        if not self._ready_sent and running == len(wanted):
            self._ready_sent = True
            self._status_line = line
            self.notifier.ready(line)
            self._decide("machine", "ready", line)
        elif self._ready_sent and line != self._status_line:
            self._status_line = line
            self.notifier.status(line)
        interval = self.notifier.watchdog_interval
        if interval is not None and now - self._last_watchdog >= interval and self._healthy():
            self._last_watchdog = now
            self.notifier.watchdog()


__all__ = ["Event", "ExecError", "ExecutionManager", "load_execution"]

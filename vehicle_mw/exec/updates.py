"""Installed update packages in the execution manager: activation hook, health check, boot recovery.

The :class:`~vehicle_mw.update.Installer` switches version folders; this module makes the running
processes follow. ``ManagerActivation`` is the Installer's ``ActivationHook`` and ``HealthCheck``:

- ``stop(packages)``: the packages' applications are stopped in reverse startup order and forgotten;
- ``start(packages)``: their applications are added, run from the version folder (cwd and import
  path), and started as the function-group state and their dependencies allow;
- ``reload(packages)``: configuration targets restart only the applications whose entry arguments or
  environment name the target's slot folder (``<install root>/slots/<ecu>/<name>``);
- ``health(packages)``: every application started or restarted by this activation reaches
  ``running`` (bounded) and has no violation or crash since; the first problem is the reason.

``attach_installed`` runs at boot, before the manager's loop: ``Installer.recover()`` (an activation
cut by a power loss goes back to the previous versions) and then the active version of every
installed app package is added.
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import Field

from vehicle_mw.exec.manager import ExecError, ExecutionManager
from vehicle_mw.manifest.loading import StrictModel, load_manifest
from vehicle_mw.update.errors import Unhealthy, UpdateError
from vehicle_mw.update.installer import Installer, Package
from vehicle_mw.update.targets import APP

log = logging.getLogger("vehicle_mw.exec")


def owner_of(package: Package) -> str:
    return f"{package.ecu}/{package.name}"


def dependency_order(packages: Sequence[Package], managed: Iterable[str]) -> list[Package]:
    """Packages ordered so that each one's dependencies are managed or come from an earlier one.

    Packages whose dependencies nobody provides stay at the end (adding them names what is missing).
    """
    known, left, out = set(managed), list(packages), []
    while left:
        ready = [
            p
            for p in left
            if all(set(a.depends_on) <= known | {b.name for b in p.applications} for a in p.applications)
        ]
        if not ready:
            return out + left
        for p in ready:
            left.remove(p)
            out.append(p)
            known |= {a.name for a in p.applications}
    return out


class ManagerActivation:
    """The execution manager's side of an activation (and of its rollback); one per update cycle.

    ``start_bound_s`` bounds the wait for the applications to report running (default: 5 s plus
    the sum of their startup timeouts, enough for a dependency chain). Each ``stop`` begins a new
    activation or rollback and resets what ``health`` watches.
    """

    def __init__(self, manager: ExecutionManager, start_bound_s: float | None = None) -> None:
        self.manager = manager
        self.start_bound_s = start_bound_s
        self._watched: dict[str, tuple[int, int]] = {}  # app -> (generation, faults) before activation
        self._confirmed = False

    # -- ActivationHook -------------------------------------------------------------------------
    def stop(self, packages: Sequence[Package]) -> None:
        self._watched, self._confirmed = {}, False
        managed = self.manager.status()["apps"]
        names = []
        for pkg in packages:
            mine = [a.name for a in pkg.applications if a.name in managed]
            self.manager.record(owner_of(pkg), "update-stop", f"r{pkg.release}: stopping {mine}")
            names += mine
        self.manager.remove_apps(names, "update: deactivating its package version")

    def start(self, packages: Sequence[Package]) -> None:
        for pkg in dependency_order(packages, self.manager.status()["apps"]):
            self.manager.record(owner_of(pkg), "update-start", f"r{pkg.release} from {pkg.directory}")
            self.manager.add_apps(pkg.applications, pkg.directory, owner_of(pkg))
            self._watched.update({a.name: (0, 0) for a in pkg.applications})

    def reload(self, packages: Sequence[Package]) -> None:
        for pkg in packages:
            slot = str(pkg.directory.parent.parent)
            names = self.manager.apps_referencing(slot)
            self.manager.record(
                owner_of(pkg), "update-reload", f"{pkg.kind} r{pkg.release}: restarting {names or 'nothing'}"
            )
            managed = self.manager.status()["apps"]
            before = self.manager.restart_apps(names, f"configuration {owner_of(pkg)} r{pkg.release}")
            self._watched.update({n: (g, managed[n]["faults"]) for n, g in before.items()})

    # -- HealthCheck ----------------------------------------------------------------------------
    def health(self, packages: Sequence[Package]) -> bool:
        """True while healthy; raises :class:`Unhealthy` with the first problem found."""
        if not self._watched:
            return True
        if not self._confirmed:
            bound = self.start_bound_s
            if bound is None:
                bound = 5.0 + sum(
                    a.startup_timeout for p in packages for a in p.applications if a.name in self._watched
                )
            try:
                snap = self.manager.wait_for(lambda s: self._done(s), bound)
            except TimeoutError:
                _, pending = self._verdict(self.manager.status())
                raise Unhealthy(f"not running within {bound:g} s: {'; '.join(pending)}") from None
            self._confirmed = True
        else:
            snap = self.manager.status()
        faults, pending = self._verdict(snap)
        if faults or pending:
            raise Unhealthy("; ".join(faults + pending))
        return True

    def _done(self, snap: dict[str, Any]) -> bool:
        faults, pending = self._verdict(snap)
        return bool(faults) or not pending or snap.get("stopped", False)

    def _verdict(self, snap: dict[str, Any]) -> tuple[list[str], list[str]]:
        faults, pending = [], []
        if snap.get("stopped"):
            return ["the execution manager stopped"], []
        for name, (generation, faults_before) in self._watched.items():
            app = snap["apps"].get(name)
            if app is None:
                faults.append(f"{name}: no longer managed")
            elif app["faults"] > faults_before:
                faults.append(f"{name}: {app['last_fault']}")
            elif not app["wanted"] or app["completed"]:
                continue  # not run in the current state (or finished its job cleanly)
            elif app["generation"] <= generation:
                pending.append(f"{name}: not (re)started yet ({app['state']})")
            elif app["state"] != "running":
                pending.append(f"{name}: {app['state']}")
        return faults, pending


def attach_installed(manager: ExecutionManager, installer: Installer) -> list[str]:
    """At boot, before ``manager.run()``: recover the installer, add the active app packages.

    A package the manager cannot run (unknown function group, name taken) is logged and skipped:
    the rest of the machine still starts. Returns what was done, one line each.
    """
    done = installer.recover()
    for line in done:
        log.warning("update recovery: %s", line)
    apps = [p for p in installer.installed() if p.kind == APP]
    for pkg in dependency_order(apps, manager.apps):
        try:
            manager.add_apps(pkg.applications, pkg.directory, owner_of(pkg))
            done.append(f"{owner_of(pkg)}: r{pkg.release} {[a.name for a in pkg.applications]}")
        except ExecError as exc:
            log.error("installed package not started: %s", exc)
            done.append(f"{owner_of(pkg)}: r{pkg.release} not started: {exc}")
    return done


class UpdateSettings(StrictModel):
    """``vmw run --update-config FILE``: where this vehicle's update cycle fetches and how often."""

    server: str = Field(description="base URL of the update server (vmw update serve)")
    vehicle_id: str
    ecus: dict[str, str] = Field(description="ECU serial -> hardware id")
    state_dir: str = Field(description="provisioned roots, metadata caches, key (relative: to this file)")
    install_root: str = Field(description="installed versions (relative: to this file)")
    interval_s: float = Field(300.0, gt=0, description="seconds between update cycles")
    grace_s: float = Field(10.0, ge=0, description="healthy this long after running, else rolled back")


def load_update_settings(path: str | os.PathLike[str]) -> UpdateSettings:
    """Read the settings; relative folders resolve against the file's folder."""
    settings = load_manifest(path, UpdateSettings)
    base = pathlib.Path(path).resolve().parent
    return settings.model_copy(
        update={
            "state_dir": str(base / settings.state_dir),
            "install_root": str(base / settings.install_root),
        }
    )


class UpdateAgent:
    """Runs an update cycle every ``interval_s`` inside the execution manager's process, then reports.

    A refusal (an attack, an unreachable server) is logged and reported; nothing stops the
    manager. Cycles start once the manager's loop runs; ``stop()`` ends after the current one.
    """

    def __init__(self, manager: ExecutionManager, settings: UpdateSettings) -> None:
        from vehicle_mw.update.client import UpdateClient, VehicleConfig

        self.manager, self.settings = manager, settings
        cfg = VehicleConfig.for_server(
            settings.server, settings.vehicle_id, settings.ecus, pathlib.Path(settings.state_dir)
        )
        self.client = UpdateClient(cfg, Installer(settings.install_root))
        self.cycles = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vmw-update", daemon=True)

    def start(self) -> UpdateAgent:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def cycle(self) -> str:
        """One update cycle and one version report; returns what happened, in one line."""
        activation = ManagerActivation(self.manager)
        try:
            outcome = self.client.update(activation, activation.health, grace_s=self.settings.grace_s)
            line = outcome.status + (
                f": {outcome.activation.reason}" if outcome.activation and outcome.activation.reason else ""
            )
        except UpdateError as exc:
            line = f"refused: {exc}"
        self.manager.record("update", "cycle", line)
        try:
            self.client.send_report()
        except UpdateError as exc:
            self.manager.record("update", "report", f"not sent: {exc}")
        self.cycles += 1
        return line

    def _run(self) -> None:
        while not self.manager.running and not self._stop.wait(0.05):
            pass
        while not self._stop.is_set() and self.manager.running:
            try:
                self.cycle()
            except Exception:  # a bug in one cycle must not end the updates nor the manager
                log.exception("update cycle failed")
            self._stop.wait(self.settings.interval_s)


__all__ = [
    "ManagerActivation",
    "UpdateAgent",
    "UpdateSettings",
    "attach_installed",
    "dependency_order",
    "load_update_settings",
    "owner_of",
]

"""Install verified targets beside the running version; activate atomically; roll back.

Layout of ``root``::

    slots/<ecu>/<name>/releases/<release>/   one complete version per folder (+ .vmw-target.json)
    slots/<ecu>/<name>/current -> releases/<release>
    journal.json                              an activation in progress
    failed.json                               releases rolled back (not retried until reassigned)
    staging/                                  folders being extracted (removed by recover())

A version folder appears by one rename once complete; ``current`` is switched by renaming a new
symlink over it. The journal is written before the first switch and removed after the new
versions passed their health check, so ``recover()`` after kill -9 at any point puts back the
previous version of every slot of an unfinished activation: old or new, never a mix.
"""

from __future__ import annotations

import logging
import os
import pathlib
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from vehicle_mw.manifest.execution import Application
from vehicle_mw.manifest.loading import StrictModel
from vehicle_mw.update.archive import ArchiveLimits, extract
from vehicle_mw.update.errors import Unhealthy, UpdateError, UpdateRefused
from vehicle_mw.update.storage import fsync_dir, read_json, write_json
from vehicle_mw.update.targets import APP
from vehicle_mw.update.verify import VerifiedTarget

log = logging.getLogger("vehicle_mw.update.installer")
TARGET_FILE = ".vmw-target.json"
PACKAGE_MANIFEST = "manifest.yaml"


class PackageFragment(StrictModel):
    """``manifest.yaml`` of an app package: the execution-manifest entries of its applications."""

    applications: list[Application]


@dataclass(frozen=True)
class Package:
    """One installed version of a slot (ECU + name): what activation hooks receive."""

    ecu: str
    name: str
    kind: str
    release: int
    directory: pathlib.Path
    hashes: dict[str, str]
    path: str  # the target path
    length: int
    applications: tuple[Application, ...] = ()  # app packages: entries of manifest.yaml
    file: pathlib.Path | None = None  # configuration targets: the file itself

    def describe(self) -> dict[str, Any]:
        return {
            "ecu": self.ecu,
            "name": self.name,
            "kind": self.kind,
            "release": self.release,
            "path": self.path,
            "length": self.length,
            "hashes": self.hashes,
        }


class ActivationHook(Protocol):
    """What the execution manager implements to (de)activate versions.

    Lists come in install order; the manager stops applications in reverse startup order and
    starts them in dependency order, as for a function-group switch.
    """

    def stop(self, packages: Sequence[Package]) -> None:
        """Stop the applications of these (currently active) app packages."""

    def start(self, packages: Sequence[Package]) -> None:
        """Start the applications of these app packages from their ``directory``."""

    def reload(self, packages: Sequence[Package]) -> None:
        """Apply these configuration targets; restart only the processes they concern."""


class NullHook:
    """A hook that does nothing (configuration read at next start; tests)."""

    def stop(self, packages: Sequence[Package]) -> None:
        pass

    def start(self, packages: Sequence[Package]) -> None:
        pass

    def reload(self, packages: Sequence[Package]) -> None:
        pass


HealthCheck = Callable[[Sequence[Package]], bool]


@dataclass
class ActivationResult:
    """``activated`` True: the new versions passed the grace period; else rolled back for ``reason``."""

    activated: bool
    packages: list[Package]
    previous: list[Package | None]
    reason: str | None = None
    events: list[str] = field(default_factory=list)


class Installer:
    """Versioned installs under ``root``; ``checkpoint(name)`` is called at each step (tests, tracing)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        limits: ArchiveLimits = ArchiveLimits(),  # noqa: B008 - frozen dataclass
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.root = pathlib.Path(root)
        self.limits = limits
        self._checkpoint = checkpoint or (lambda _name: None)
        (self.root / "slots").mkdir(parents=True, exist_ok=True)
        (self.root / "staging").mkdir(exist_ok=True)

    # -- reading ----------------------------------------------------------------------------
    def slot_dir(self, ecu: str, name: str) -> pathlib.Path:
        return self.root / "slots" / ecu / name

    def current(self, ecu: str, name: str) -> Package | None:
        """The active version of a slot (what ``current`` points to), or None."""
        link = self.slot_dir(ecu, name) / "current"
        if not link.is_symlink():
            return None
        return self._load(link.resolve())

    def installed(self) -> list[Package]:
        """Every slot's active version."""
        out = []
        for ecu_dir in sorted((self.root / "slots").iterdir()):
            for slot in sorted(ecu_dir.iterdir()):
                pkg = self.current(ecu_dir.name, slot.name)
                if pkg is not None:
                    out.append(pkg)
        return out

    def installed_index(self) -> dict[tuple[str, str], tuple[int, dict[str, str]]]:
        """(ecu, name) -> (release, hashes): what verification compares release counters with."""
        return {(p.ecu, p.name): (p.release, p.hashes) for p in self.installed()}

    def failed(self) -> dict[str, Any]:
        """Releases rolled back, by ``<ecu>/<name>``: {release, hashes, reason}."""
        return read_json(self.root / "failed.json", {}) or {}

    def _load(self, directory: pathlib.Path) -> Package:
        doc = read_json(directory / TARGET_FILE)
        if not isinstance(doc, dict):
            raise UpdateError(f"{directory}: not an installed version (no {TARGET_FILE})")
        apps: tuple[Application, ...] = ()
        file = None
        if doc["kind"] == APP:
            apps = tuple(self._fragment(directory, doc["path"]).applications)
        else:
            file = directory / doc["path"].rsplit("/", 1)[-1]
        return Package(
            doc["ecu"],
            doc["name"],
            doc["kind"],
            doc["release"],
            directory,
            doc["hashes"],
            doc["path"],
            doc["length"],
            apps,
            file,
        )

    @staticmethod
    def _fragment(directory: pathlib.Path, target: str) -> PackageFragment:
        path = directory / PACKAGE_MANIFEST
        try:
            doc = yaml.safe_load(path.read_text())
            return PackageFragment.model_validate(doc)
        except FileNotFoundError:
            raise UpdateRefused("bad_package", f"no {PACKAGE_MANIFEST} at the package root", target) from None
        except yaml.YAMLError as exc:
            raise UpdateRefused("bad_package", f"{PACKAGE_MANIFEST}: not YAML ({exc})", target) from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise UpdateRefused("bad_package", f"{PACKAGE_MANIFEST}: {problems}", target) from None

    # -- install ------------------------------------------------------------------------------
    def install(self, target: VerifiedTarget, file: str | os.PathLike[str]) -> Package:
        """Unpack (app) or copy (configuration) a verified download into its version folder."""
        meta = target.meta
        assert meta.ecu is not None
        releases = self.slot_dir(meta.ecu, meta.name) / "releases"
        final = releases / str(meta.release)
        if final.exists():
            try:
                pkg = self._load(final)
                if pkg.hashes == target.hashes:
                    return pkg  # installed before a crash, or twice
            except UpdateError:
                pass
            if self._is_current(meta.ecu, meta.name, final):
                raise UpdateError(f"{final}: active version differs from the verified target")
            shutil.rmtree(final)
        releases.mkdir(parents=True, exist_ok=True)
        staging = self.root / "staging" / f"{meta.ecu}.{meta.name}.{meta.release}.{secrets.token_hex(4)}"
        try:
            if meta.kind == APP:
                extract(
                    pathlib.Path(file),
                    staging,
                    target.path,
                    self.limits,
                    frozenset({TARGET_FILE}),
                    lambda _n: self._checkpoint("member"),
                )
                self._fragment(staging, target.path)
            else:
                staging.mkdir()
                dest = staging / target.path.rsplit("/", 1)[-1]
                shutil.copyfile(file, dest)
                with open(dest, "rb") as f:
                    os.fsync(f.fileno())
            doc = {**meta.custom(), "path": target.path, "length": target.length, "hashes": target.hashes}
            write_json(staging / TARGET_FILE, doc)
            self._checkpoint("extracted")
            os.rename(staging, final)
            fsync_dir(releases)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._checkpoint("installed")
        return self._load(final)

    def _is_current(self, ecu: str, name: str, directory: pathlib.Path) -> bool:
        link = self.slot_dir(ecu, name) / "current"
        return link.is_symlink() and link.resolve() == directory.resolve()

    # -- activation ---------------------------------------------------------------------------
    def _switch(self, ecu: str, name: str, release: int | None) -> None:
        slot = self.slot_dir(ecu, name)
        link = slot / "current"
        if release is None:
            link.unlink(missing_ok=True)
        else:
            tmp = slot / f".current.{secrets.token_hex(4)}"
            os.symlink(f"releases/{release}", tmp)
            os.replace(tmp, link)
        fsync_dir(slot)

    def activate(
        self,
        packages: Sequence[Package],
        hook: ActivationHook,
        health: HealthCheck | None = None,
        grace_s: float = 5.0,
        poll_s: float = 0.05,
    ) -> ActivationResult:
        """Switch slots to the new versions, start/reload, watch health for ``grace_s``; else roll back."""
        packages = list(packages)
        previous = [self.current(p.ecu, p.name) for p in packages]
        result = ActivationResult(False, packages, previous)
        journal = {
            "phase": "activating",
            "started": time.time(),
            "switches": [
                {"ecu": p.ecu, "name": p.name, "from": old.release if old else None, "to": p.release}
                for p, old in zip(packages, previous, strict=True)
            ],
        }
        write_json(self.root / "journal.json", journal)
        self._checkpoint("journal")
        new_apps = [p for p in packages if p.kind == APP]
        new_configs = [p for p in packages if p.kind != APP]
        old_apps = [o for p, o in zip(packages, previous, strict=True) if o is not None and p.kind == APP]
        try:
            hook.stop(old_apps)
            self._checkpoint("stopped")
            for p in packages:
                self._switch(p.ecu, p.name, p.release)
            self._checkpoint("switched")
            hook.start(new_apps)
            hook.reload(new_configs)
            self._checkpoint("started")
            reason = self._watch(packages, health, grace_s, poll_s)
        except Exception as exc:  # a hook that fails is a failed activation
            reason = f"activation failed: {exc}"
        if reason is None:
            write_json(self.root / "journal.json", {**journal, "phase": "committed"})
            self._checkpoint("committed")
            (self.root / "journal.json").unlink()
            fsync_dir(self.root)
            self._prune(packages, previous)
            result.activated = True
            result.events.append("activated " + ", ".join(f"{p.name} r{p.release}" for p in packages))
            return result
        result.reason = reason
        log.warning("rolling back %s: %s", [p.name for p in packages], reason)
        self._rollback(packages, previous, hook, result, health)
        return result

    def _watch(
        self, packages: list[Package], health: HealthCheck | None, grace_s: float, poll_s: float
    ) -> str | None:
        """None when healthy for ``grace_s`` after the first healthy answer, else why not.

        The first call may block until the applications came up (its own bound); the grace period
        counts from then, so a slow start does not eat the time in which a crash would be seen.
        """
        if health is None:
            return None
        deadline: float | None = None
        wake = threading.Event()
        while True:
            try:
                if not health(packages):
                    return "health check failed within the grace period"
            except Unhealthy as exc:
                return f"health check failed: {exc}"
            if deadline is None:
                deadline = time.monotonic() + grace_s
                self._checkpoint("healthy")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            wake.wait(min(poll_s, left))

    def _rollback(
        self,
        packages: list[Package],
        previous: list[Package | None],
        hook: ActivationHook,
        result: ActivationResult,
        health: HealthCheck | None = None,
    ) -> None:
        try:
            hook.stop([p for p in packages if p.kind == APP])
        except Exception as exc:
            result.events.append(f"rollback: stopping the new version failed: {exc}")
        for p, old in zip(packages, previous, strict=True):
            self._switch(p.ecu, p.name, old.release if old else None)
        self._checkpoint("rolled-back")
        failed = self.failed()
        for p in packages:
            failed[f"{p.ecu}/{p.name}"] = {"release": p.release, "hashes": p.hashes, "reason": result.reason}
        write_json(self.root / "failed.json", failed)
        (self.root / "journal.json").unlink(missing_ok=True)
        fsync_dir(self.root)
        olds = [o for o in previous if o is not None]
        try:
            hook.start([o for o in olds if o.kind == APP])
            hook.reload([o for o in olds if o.kind != APP])
        except Exception as exc:
            result.events.append(f"rollback: restart of the previous version failed: {exc}")
        back = ", ".join(f"{o.name} r{o.release}" for o in olds) or "nothing"
        verdict = ""
        if health is not None and olds:
            try:  # say whether the previous version really runs again (nothing more to fall back to)
                verdict = " (running again)" if health(olds) else " (previous version not healthy)"
            except Unhealthy as exc:
                verdict = f" (previous version not healthy: {exc})"
            except Exception as exc:
                verdict = f" (previous version not checked: {exc})"
        result.events.append(f"rolled back to {back}{verdict}")

    def _prune(self, packages: list[Package], previous: list[Package | None]) -> None:
        """Keep the active and the previously active release of each slot (rollback needs it)."""
        for p, old in zip(packages, previous, strict=True):
            releases = self.slot_dir(p.ecu, p.name) / "releases"
            keep = {str(p.release), str(old.release) if old else ""}
            for d in releases.iterdir():
                if d.name not in keep:
                    shutil.rmtree(d, ignore_errors=True)

    # -- after a crash ---------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish or undo what a crash interrupted; call before anything else (idempotent)."""
        done = []
        for leftover in (self.root / "staging").iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
            done.append(f"removed unfinished install {leftover.name}")
        path = self.root / "journal.json"
        journal = read_json(path)
        if journal is None:
            return done
        if journal.get("phase") != "committed":
            for sw in journal.get("switches", []):
                self._switch(sw["ecu"], sw["name"], sw["from"])
                done.append(
                    f"{sw['ecu']}/{sw['name']}: interrupted activation of r{sw['to']}, back to r{sw['from']}"
                )
        path.unlink()
        fsync_dir(self.root)
        return done

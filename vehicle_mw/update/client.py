"""The vehicle side (primary ECU): verify, download, install, activate, report.

Layout of ``state_dir``::

    director/ image/       ngclient metadata caches (trusted roots provisioned at install)
    downloads/             verified downloads (``*.part`` before the rename)
    vehicle.key            report key (0600); report-counter.json; attack.json; last-result.json

One update cycle (:meth:`UpdateClient.update`): recover from a crash, refresh Director and Image
metadata with ``ngclient.Updater`` (size limits from :class:`Limits`), check expiry against the
trusted time, cross-check the Director's targets against the Image repository, download each
target (length and hashes checked, at most the signed length read), install beside the running
version, activate atomically, keep it only if healthy. Any refusal raises ``UpdateRefused``
before anything is installed, and sets the attack indicator of the next version report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tuf.api import exceptions as tuf_exc
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from vehicle_mw.update.errors import UpdateError, UpdateRefused
from vehicle_mw.update.fetcher import LimitedFetcher, http_fetcher
from vehicle_mw.update.installer import ActivationHook, ActivationResult, HealthCheck, Installer
from vehicle_mw.update.repository import utc_now
from vehicle_mw.update.storage import atomic_write, read_json, write_json
from vehicle_mw.update.verify import (
    VerifiedTarget,
    check_expiry,
    cross_check,
    director_targets,
    refusal_from_tuf,
)
from vehicle_mw.update.version_report import VehicleKey

PROVISIONED = "provisioned-root.json"


@dataclass(frozen=True)
class Limits:
    """What a server can make the vehicle download, per file (bytes)."""

    root: int = 64 * 1024
    timestamp: int = 16 * 1024
    snapshot: int = 64 * 1024
    director_targets: int = 256 * 1024
    image_targets: int = 4 * 1024 * 1024
    target: int = 512 * 1024 * 1024

    def updater_config(self, targets: int) -> UpdaterConfig:
        return UpdaterConfig(
            max_root_rotations=32,
            max_delegations=8,
            root_max_length=self.root,
            timestamp_max_length=self.timestamp,
            snapshot_max_length=self.snapshot,
            targets_max_length=targets,
        )


@dataclass
class VehicleConfig:
    """A vehicle's update identity and where it fetches from.

    ``trusted_time`` returns the time the vehicle trusts (aware UTC). The default is the system
    clock; an ECU without a trustworthy RTC passes its secure time source (e.g. the time of the
    last verified timestamp plus monotonic time, or an authenticated time server).
    """

    vehicle_id: str
    ecus: Mapping[str, str]  # ECU serial -> hardware id
    state_dir: pathlib.Path
    director_url: str  # .../director/<vehicle_id>/
    image_metadata_url: str  # .../image/metadata/
    image_targets_url: str  # .../image/targets/
    trusted_time: Callable[[], dt.datetime] = utc_now
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def for_server(
        cls,
        base_url: str,
        vehicle_id: str,
        ecus: Mapping[str, str],
        state_dir: str | os.PathLike[str],
        **kw: Any,
    ) -> VehicleConfig:
        """URLs of an :class:`~vehicle_mw.update.server.UpdateServer` at ``base_url``."""
        base = base_url.rstrip("/")
        return cls(
            vehicle_id,
            dict(ecus),
            pathlib.Path(state_dir),
            f"{base}/director/{vehicle_id}/",
            f"{base}/image/metadata/",
            f"{base}/image/targets/",
            **kw,
        )


@dataclass
class UpdateOutcome:
    """What one update cycle did."""

    installed: list[VerifiedTarget]
    activation: ActivationResult | None = None
    skipped: list[str] = field(default_factory=list)  # targets rolled back before: not retried

    @property
    def status(self) -> str:
        if self.activation is None:
            return "up_to_date"
        return "activated" if self.activation.activated else "rolled_back"


def provision(state_dir: str | os.PathLike[str], director_root: bytes, image_root: bytes) -> None:
    """Install the trusted roots of both repositories (done once, at vehicle install)."""
    state = pathlib.Path(state_dir)
    for repo, root in (("director", director_root), ("image", image_root)):
        (state / repo).mkdir(parents=True, exist_ok=True)
        atomic_write(state / repo / PROVISIONED, root)


class UpdateClient:
    """One vehicle's update client; ``fetcher`` defaults to HTTP (swap it for the vehicle link)."""

    def __init__(
        self, config: VehicleConfig, installer: Installer, fetcher: FetcherInterface | None = None
    ) -> None:
        self.config = config
        self.installer = installer
        self.fetcher = LimitedFetcher(fetcher or http_fetcher(), self.limit_for)
        self.state = pathlib.Path(config.state_dir)
        self.key = VehicleKey(self.state)
        (self.state / "downloads").mkdir(parents=True, exist_ok=True)

    def limit_for(self, url: str) -> int | None:
        """The most bytes this vehicle reads from ``url`` (per role; targets: ``Limits.target``)."""
        limits = self.config.limits
        if url.startswith(self.config.image_targets_url):
            return limits.target
        for base, targets in (
            (self.config.director_url, limits.director_targets),
            (self.config.image_metadata_url, limits.image_targets),
        ):
            if url.startswith(base):
                role = url.rsplit("/", 1)[-1].split(".")[-2]
                return {"root": limits.root, "timestamp": limits.timestamp, "snapshot": limits.snapshot}.get(
                    role, targets
                )
        return None  # not a URL of this vehicle's repositories

    # -- verification -----------------------------------------------------------------------
    def _updater(self, repo: str, url: str, targets_limit: int) -> Updater:
        folder = self.state / repo
        try:
            bootstrap = (folder / PROVISIONED).read_bytes()
        except FileNotFoundError:
            raise UpdateError(f"{folder / PROVISIONED}: no trusted {repo} root provisioned") from None
        try:
            return Updater(
                str(folder),
                url,
                target_dir=str(self.state / "downloads"),
                target_base_url=self.config.image_targets_url,
                fetcher=self.fetcher,
                config=self.config.limits.updater_config(targets_limit),
                bootstrap=bootstrap,
            )
        except (tuf_exc.RepositoryError, ValueError) as exc:
            raise UpdateError(f"{folder / PROVISIONED}: not a usable root ({exc})") from None

    def _refresh(self, repo: str, url: str, targets_limit: int) -> Updater:
        updater = self._updater(repo, url, targets_limit)
        try:
            updater.refresh()
        except (tuf_exc.RepositoryError, tuf_exc.DownloadError) as exc:
            raise refusal_from_tuf(exc, repo) from None
        check_expiry(self.state / repo, self.config.trusted_time(), repo)
        return updater

    def check(self) -> list[VerifiedTarget]:
        """Targets to install now, verified as Uptane asks of a primary (refusal: UpdateRefused)."""
        try:
            limits = self.config.limits
            self._refresh("director", self.config.director_url, limits.director_targets)
            image = self._refresh("image", self.config.image_metadata_url, limits.image_targets)

            def lookup(path: str) -> Any:
                try:
                    return image.get_targetinfo(path)
                except (tuf_exc.RepositoryError, tuf_exc.DownloadError) as exc:
                    raise refusal_from_tuf(exc, "image") from None

            targets = cross_check(
                director_targets(self.state / "director"),
                lookup,
                self.config.ecus,
                self.installer.installed_index(),
            )
            for t in targets:
                if t.length > limits.target:
                    raise UpdateRefused(
                        "endless_data", f"{t.length} B exceeds the target limit {limits.target} B", t.path
                    )
        except UpdateRefused as exc:
            self._refused(exc)
            raise
        self._image = image
        return targets

    def download(self, target: VerifiedTarget) -> pathlib.Path:
        """Fetch one verified target (at most its signed length; hashes checked) into downloads/."""
        final = self.state / "downloads" / f"{target.hashes['sha256']}"
        if final.exists():
            try:
                with open(final, "rb") as f:
                    target.image_info.verify_length_and_hashes(f)
                return final
            except tuf_exc.LengthOrHashMismatchError:
                final.unlink()
        part = final.with_name(final.name + ".part")
        try:
            self._image.download_target(target.image_info, filepath=str(part))
        except (tuf_exc.RepositoryError, tuf_exc.DownloadError) as exc:
            part.unlink(missing_ok=True)
            refusal = refusal_from_tuf(exc, "image")
            refusal = UpdateRefused(refusal.reason, refusal.message, target.path)
            self._refused(refusal)
            raise refusal from None
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(part, final)
        return final

    # -- the whole cycle -------------------------------------------------------------------
    def update(
        self,
        hook: ActivationHook,
        health: HealthCheck | None = None,
        grace_s: float = 5.0,
        poll_s: float = 0.05,
    ) -> UpdateOutcome:
        """Recover, verify, download, install, activate (rolled back when ``health`` fails)."""
        self.installer.recover()
        for leftover in (self.state / "downloads").glob("*.part"):
            leftover.unlink()
        targets = self.check()
        failed = self.installer.failed()
        outcome = UpdateOutcome([])
        for t in targets:
            prior = failed.get(f"{t.meta.ecu}/{t.name}")
            if prior and prior["release"] == t.release and prior["hashes"] == t.hashes:
                outcome.skipped.append(t.path)
            else:
                outcome.installed.append(t)
        (self.state / "attack.json").unlink(missing_ok=True)  # a fully verified cycle clears the indicator
        wanted = {t.hashes["sha256"] for t in outcome.installed}
        for stale in (self.state / "downloads").iterdir():  # left by a crash after the install
            if stale.name not in wanted:
                stale.unlink()
        if not outcome.installed:
            self._result(
                {"outcome": "up_to_date" if not outcome.skipped else "skipped", "skipped": outcome.skipped}
            )
            return outcome
        try:
            packages = [self.installer.install(t, self.download(t)) for t in outcome.installed]
        except UpdateRefused as exc:
            self._refused(exc)
            raise
        outcome.activation = self.installer.activate(packages, hook, health, grace_s, poll_s)
        for t in outcome.installed:
            (self.state / "downloads" / t.hashes["sha256"]).unlink(missing_ok=True)
        self._result(
            {
                "outcome": outcome.status,
                "targets": [t.path for t in outcome.installed],
                "reason": outcome.activation.reason,
                "events": outcome.activation.events,
            }
        )
        return outcome

    # -- version report -------------------------------------------------------------------
    def version_report(self) -> bytes:
        """A signed version manifest: installed targets, a fresh counter, the attack indicator."""
        signed = {
            "vehicle_id": self.config.vehicle_id,
            "counter": self.key.next_counter(),
            "time": self.config.trusted_time().isoformat(),
            "ecus": dict(self.config.ecus),
            "installed": [
                {**p.describe(), "hardware_id": self.config.ecus.get(p.ecu)}
                for p in self.installer.installed()
            ],
            "attack": read_json(self.state / "attack.json"),
            "last_result": read_json(self.state / "last-result.json"),
        }
        return self.key.sign(signed)

    def send_report(self, url: str | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
        """POST a fresh version report to the Director; returns its answer (raises UpdateRefused)."""
        url = url or self.config.director_url.rstrip("/") + "/manifest"
        req = urllib.request.Request(url, data=self.version_report(), method="POST")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - URL from config
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                doc = json.loads(exc.read())
                raise UpdateRefused(doc["reason"], doc["message"], doc.get("target")) from None
            except (ValueError, KeyError):
                raise UpdateRefused("unreachable", f"{url}: HTTP {exc.code}") from None
        except OSError as exc:
            raise UpdateRefused("unreachable", f"{url}: {exc}") from None

    def _refused(self, exc: UpdateRefused) -> None:
        if exc.is_attack:
            write_json(
                self.state / "attack.json", {**exc.as_dict(), "at": self.config.trusted_time().isoformat()}
            )
        self._result({"outcome": "refused", **exc.as_dict()})

    def _result(self, doc: dict[str, Any]) -> None:
        write_json(self.state / "last-result.json", doc)

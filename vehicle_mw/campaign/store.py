"""The vehicle's accepted campaigns: verified, checked for rollback and target, kept on disk.

Each accepted envelope is written to ``<folder>/<name>.json`` atomically (temporary file, fsync,
rename, fsync of the folder), so a ``kill -9`` or power loss leaves either the old or the new
document, never a torn one. On open every file is verified again; one that fails is left out and
listed in :attr:`CampaignStore.problems`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vehicle_mw.campaign.document import Campaign
from vehicle_mw.campaign.signing import SignatureError, SignedCampaign, verify

log = logging.getLogger(__name__)

# machine-readable verdict reasons
ACCEPTED = "accepted"
REASONS = (ACCEPTED, "malformed", "unknown_key", "bad_signature", "expired", "rollback", "wrong_vehicle")


@dataclass(frozen=True)
class VehicleIdentity:
    """What a campaign's targets are matched against."""

    vehicle_id: str
    software_version: str | None = None
    catalog_hash: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The answer to a pushed document: sent back to the gateway as is."""

    accepted: bool
    reason: str
    message: str
    campaign: str | None = None
    version: int | None = None
    sha256: str | None = None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class CampaignStore:
    """Accepts signed campaigns for one vehicle and keeps the accepted ones across restarts."""

    def __init__(
        self,
        folder: str | pathlib.Path,
        keys: Sequence[Ed25519PublicKey],
        identity: VehicleIdentity,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keys = list(keys)
        self.identity = identity
        self.clock = clock
        self.problems: dict[str, str] = {}
        self._accepted: dict[str, SignedCampaign] = {}
        for leftover in self.folder.glob(".*.json.tmp*"):
            leftover.unlink(missing_ok=True)  # an interrupted write; the previous file is intact
        for path in sorted(self.folder.glob("*.json")):
            try:
                signed = verify(path.read_bytes(), self.keys)
            except (OSError, SignatureError) as exc:
                self.problems[path.name] = str(exc)
                log.warning("%s: stored campaign left out: %s", path, exc)
                continue
            if f"{signed.campaign.name}.json" != path.name:
                self.problems[path.name] = f"holds campaign {signed.campaign.name!r}"
                continue
            self._accepted[signed.campaign.name] = signed

    def accept(self, envelope: bytes) -> Verdict:
        """Verify, check and persist a pushed document; never raises for a bad document."""
        try:
            signed = verify(envelope, self.keys)
        except SignatureError as exc:
            return Verdict(False, exc.code, str(exc), exc.campaign)
        c = signed.campaign
        now = self.clock()
        base = {"campaign": c.name, "version": c.version, "sha256": signed.sha256}
        if now >= c.expiry:
            return Verdict(False, "expired", f"campaign {c.name!r} expired at {c.expiry.isoformat()}", **base)
        why = c.targets.matches(
            self.identity.vehicle_id, self.identity.software_version, self.identity.catalog_hash
        )
        if why:
            return Verdict(False, "wrong_vehicle", f"campaign {c.name!r}: {why}", **base)
        held = self._accepted.get(c.name)
        if held is not None and c.version <= held.campaign.version:
            same = " (the same document)" if held.sha256 == signed.sha256 else ""
            return Verdict(
                False,
                "rollback",
                f"campaign {c.name!r} version {c.version} is not newer than the accepted "
                f"version {held.campaign.version}{same}",
                **base,
            )
        _write_atomic(self.folder / f"{c.name}.json", envelope)
        self._accepted[c.name] = signed
        return Verdict(True, ACCEPTED, f"campaign {c.name!r} version {c.version} accepted", **base)

    def accepted(self) -> list[SignedCampaign]:
        return [self._accepted[n] for n in sorted(self._accepted)]

    def active(self, now: dt.datetime | None = None) -> list[Campaign]:
        """Accepted campaigns within their start/expiry at ``now``: what a CampaignSet runs."""
        now = now or self.clock()
        return [s.campaign for s in self.accepted() if s.campaign.active_at(now)]

    def status(self, now: dt.datetime | None = None) -> dict[str, dict]:
        """Per accepted campaign: version, SHA-256 of the document and whether it is active now."""
        now = now or self.clock()
        return {
            s.campaign.name: {
                "version": s.campaign.version,
                "sha256": s.sha256,
                "active": s.campaign.active_at(now),
            }
            for s in self.accepted()
        }


__all__ = ["ACCEPTED", "REASONS", "CampaignStore", "Verdict", "VehicleIdentity"]

"""Full verification as Uptane asks of a primary ECU, on top of two ``ngclient.Updater`` refreshes.

ngclient verifies each repository on its own (signatures and thresholds, versions never going
back, expiry, lengths and hashes of metadata). What it cannot know is Uptane's part: that the
Director's per-vehicle instructions match what the Image repository signed. :func:`cross_check`
does that; :func:`refusal_from_tuf` turns python-tuf's exceptions into one refusal type.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tuf.api import exceptions as tuf_exc
from tuf.api.metadata import Metadata, TargetFile

from vehicle_mw.update.errors import UpdateRefused
from vehicle_mw.update.targets import TargetMeta, meta_of


@dataclass(frozen=True)
class VerifiedTarget:
    """A target both repositories agree on, for one of this vehicle's ECUs."""

    path: str
    meta: TargetMeta
    length: int
    hashes: dict[str, str]
    image_info: TargetFile  # what the download is checked against

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def release(self) -> int:
        return self.meta.release


def refusal_from_tuf(exc: Exception, repo: str) -> UpdateRefused:
    """The refusal a python-tuf exception stands for (``repo``: 'director' or 'image')."""
    text = f"{repo} repository: {exc}"
    if isinstance(exc, tuf_exc.ExpiredMetadataError):
        return UpdateRefused("freeze", text)
    if isinstance(exc, tuf_exc.BadVersionNumberError):
        return UpdateRefused("rollback", text)
    if isinstance(exc, tuf_exc.DownloadLengthMismatchError):
        return UpdateRefused("endless_data", text)
    if isinstance(exc, tuf_exc.LengthOrHashMismatchError):
        return UpdateRefused("hash_mismatch", text)
    if isinstance(exc, tuf_exc.UnsignedMetadataError):
        return UpdateRefused("bad_signature", text)
    if isinstance(exc, tuf_exc.DownloadError):
        return UpdateRefused("unreachable", text)
    return UpdateRefused("invalid_metadata", text)


def check_expiry(metadata_dir: pathlib.Path, now: dt.datetime, repo: str) -> None:
    """Refuse (``freeze``) when any trusted top-level role has expired at the trusted time ``now``.

    ngclient checks expiry against the system clock; a vehicle whose clock can be set back (no
    RTC, spoofed GNSS or NTP) must also check against the time source it trusts.
    """
    for role in ("root", "timestamp", "snapshot", "targets"):
        path = metadata_dir / f"{role}.json"
        try:
            signed = Metadata.from_bytes(path.read_bytes()).signed
        except FileNotFoundError:
            raise UpdateRefused(
                "invalid_metadata", f"{repo} repository: no trusted {role} after refresh"
            ) from None
        if signed.is_expired(now):
            raise UpdateRefused(
                "freeze",
                f"{repo} repository: {role} v{signed.version} expired {signed.expires} (trusted time {now})",
            )


def director_targets(metadata_dir: pathlib.Path) -> dict[str, TargetFile]:
    """The targets of the Director metadata ngclient has just verified and stored."""
    return dict(Metadata.from_bytes((metadata_dir / "targets.json").read_bytes()).signed.targets)


def cross_check(
    director: Mapping[str, TargetFile],
    image_lookup: Callable[[str], TargetFile | None],
    ecus: Mapping[str, str],
    installed: Mapping[tuple[str, str], tuple[int, dict[str, str]]],
) -> list[VerifiedTarget]:
    """Targets to install now (not yet installed), each checked against the Image repository.

    ``ecus``: ECU serial -> hardware id of this vehicle. ``installed``: (ecu, name) -> (release,
    hashes). Refusals: ``invalid_metadata``, ``wrong_hardware``, ``director_only``,
    ``mix_and_match``, ``rollback``.
    """
    out: list[VerifiedTarget] = []
    seen: dict[tuple[str, str], str] = {}
    for path, dinfo in sorted(director.items()):
        dmeta = meta_of(dinfo, "director", need_ecu=True)
        assert dmeta.ecu is not None
        if dmeta.ecu not in ecus:
            raise UpdateRefused(
                "wrong_hardware", f"director names ECU {dmeta.ecu!r}, not one of this vehicle's", path
            )
        if ecus[dmeta.ecu] != dmeta.hardware_id:
            raise UpdateRefused(
                "wrong_hardware",
                f"target is for hardware {dmeta.hardware_id!r}; ECU {dmeta.ecu} is {ecus[dmeta.ecu]!r}",
                path,
            )
        slot = (dmeta.ecu, dmeta.name)
        if slot in seen:
            raise UpdateRefused(
                "mix_and_match", f"director lists two releases of {dmeta.name}: {seen[slot]}", path
            )
        seen[slot] = path
        iinfo = image_lookup(path)
        if iinfo is None:
            raise UpdateRefused("director_only", "the Image repository never signed this target", path)
        imeta = meta_of(iinfo, "image")
        if imeta.hardware_id != dmeta.hardware_id:
            raise UpdateRefused(
                "wrong_hardware",
                f"director says hardware {dmeta.hardware_id!r}, the Image repository {imeta.hardware_id!r}",
                path,
            )
        differ = [
            f"{field} {d!r} != {i!r}"
            for field, d, i in (
                ("length", dinfo.length, iinfo.length),
                ("hashes", dinfo.hashes, iinfo.hashes),
                ("release", dmeta.release, imeta.release),
                ("name", dmeta.name, imeta.name),
                ("kind", dmeta.kind, imeta.kind),
            )
            if d != i
        ]
        if differ:
            raise UpdateRefused(
                "mix_and_match",
                "director and Image repository disagree: " + "; ".join(differ) + " (director != image)",
                path,
            )
        current = installed.get(slot)
        if current is not None:
            release, hashes = current
            if imeta.release < release:
                raise UpdateRefused(
                    "rollback", f"release {imeta.release} is below the installed release {release}", path
                )
            if imeta.release == release:
                if hashes != dict(iinfo.hashes):
                    raise UpdateRefused(
                        "rollback",
                        f"release {release} is installed with other content; releases must increase",
                        path,
                    )
                continue  # already installed
        out.append(VerifiedTarget(path, dmeta, iinfo.length, dict(iinfo.hashes), iinfo))
    return out

"""The custom fields every target carries, and their validation.

Uptane asks that the Director's instructions match the Image repository's on hardware id and
release counter, not only on length and hashes: both live in the TUF target's ``custom`` object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tuf.api.metadata import TargetFile

from vehicle_mw.update.errors import UpdateError, UpdateRefused

APP = "app"
KINDS = ("app", "manifest", "database", "campaign")  # app: package archive; the others: configuration
CONFIG_KINDS = frozenset(KINDS) - {APP}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class TargetMeta:
    """What a target is: ``name`` (what it replaces on the vehicle), hardware id, release, kind."""

    name: str
    hardware_id: str
    release: int
    kind: str
    ecu: str | None = None  # Director targets only: the ECU serial it is meant for

    def custom(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "hardware_id": self.hardware_id,
            "release": self.release,
            "kind": self.kind,
        }
        if self.ecu is not None:
            doc["ecu"] = self.ecu
        return doc


def check_fields(name: str, hardware_id: str, release: int, kind: str) -> None:
    """UpdateError naming the bad field of a target about to be published."""
    if not NAME_RE.match(name):
        raise UpdateError(f"name {name!r}: letters, digits, '._-', at most 64 characters")
    if not NAME_RE.match(hardware_id):
        raise UpdateError(f"hardware id {hardware_id!r}: letters, digits, '._-', at most 64 characters")
    if isinstance(release, bool) or not isinstance(release, int) or release < 1:
        raise UpdateError(f"release {release!r}: an integer >= 1")
    if kind not in KINDS:
        raise UpdateError(f"kind {kind!r}: one of {', '.join(KINDS)}")


def meta_of(info: TargetFile, source: str, need_ecu: bool = False) -> TargetMeta:
    """Read and validate the custom fields of a verified target (refusal ``invalid_metadata``)."""
    custom = info.custom
    if not isinstance(custom, dict):
        raise UpdateRefused("invalid_metadata", f"{source} target has no custom object", info.path)
    try:
        name, hardware_id, release, kind = (custom[k] for k in ("name", "hardware_id", "release", "kind"))
        ecu = custom.get("ecu")
        if not all(isinstance(v, str) for v in (name, hardware_id, kind)) or (
            ecu is not None and not isinstance(ecu, str)
        ):
            raise TypeError("name, hardware_id, kind and ecu must be strings")
        check_fields(name, hardware_id, release, kind)
    except (KeyError, TypeError, UpdateError) as exc:
        raise UpdateRefused("invalid_metadata", f"{source} target custom fields: {exc}", info.path) from None
    if need_ecu and ecu is None:
        raise UpdateRefused("invalid_metadata", f"{source} target names no ECU", info.path)
    if ecu is not None and not NAME_RE.match(ecu):
        raise UpdateRefused(
            "invalid_metadata", f"{source} target: ECU serial {ecu!r} is not a plain name", info.path
        )
    return TargetMeta(name, hardware_id, release, kind, ecu)

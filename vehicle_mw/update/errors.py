"""Errors of secure updates: one refusal type with a machine-readable reason.

A vehicle that refuses an update must say *why* in a form a fleet dashboard can count
(``reason``) and a person can read (the message); both end up in the version report.
"""

from __future__ import annotations

from vehicle_mw.errors import VehicleMwError

# Reasons that indicate an attack (or a broken repository): they set the vehicle's attack indicator.
ATTACK_REASONS = frozenset(
    {
        "hash_mismatch",  # a target or metadata file whose bytes do not match its signed hashes/length
        "rollback",  # an older metadata version or a lower release counter than already trusted/installed
        "freeze",  # expired metadata (by the system clock or the trusted time source)
        "mix_and_match",  # Director and Image repository disagree on a target's length/hashes/release
        "endless_data",  # more bytes than declared or than the configured limits
        "wrong_hardware",  # a target for a hardware id / ECU this vehicle does not have
        "director_only",  # a target the Image repository never signed
        "bad_signature",  # metadata not signed by the threshold of trusted keys
        "invalid_metadata",  # malformed or inconsistent metadata (custom fields missing, bad types)
        "bad_package",  # an archive with path traversal, links out, too many/large members, no manifest
        "replay",  # a vehicle version report whose counter does not increase
    }
)
# Reasons that are not attacks: retry later.
OTHER_REASONS = frozenset({"unreachable", "unknown_vehicle", "invalid_report"})


class UpdateError(VehicleMwError):
    """A repository, key, state or configuration problem; the message names the file or field."""


class Unhealthy(UpdateError):
    """Raised by a health check to say why a new version is not healthy (goes into the report)."""


class UpdateRefused(UpdateError):
    """An update (or a version report) refused for ``reason``; nothing was installed or recorded."""

    def __init__(self, reason: str, message: str, target: str | None = None) -> None:
        if reason not in ATTACK_REASONS | OTHER_REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        self.reason = reason
        self.target = target
        self.message = message
        where = f" [{target}]" if target else ""
        super().__init__(f"update refused ({reason}){where}: {message}")

    @property
    def is_attack(self) -> bool:
        """True when the refusal should raise the vehicle's attack indicator."""
        return self.reason in ATTACK_REASONS

    def as_dict(self) -> dict[str, str | None]:
        return {"reason": self.reason, "target": self.target, "message": self.message}

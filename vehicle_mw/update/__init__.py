"""Secure software and configuration updates, Uptane-style, on python-tuf.

Cloud side: :class:`ImageRepository` (every image the OEM signed; offline keys in a
:class:`KeyDir`), :class:`Director` (per-vehicle instructions, online keys; vehicle reports),
:class:`UpdateServer` (HTTP for tools and tests). Vehicle side: :class:`UpdateClient` (full
verification with two ``ngclient.Updater``), :class:`Installer` (versioned install, atomic
activation, rollback), signed version reports. Every refusal is an :class:`UpdateRefused`
with a machine-readable ``reason``. See docs/updates.md.
"""

from vehicle_mw.update.archive import ArchiveLimits
from vehicle_mw.update.client import Limits, UpdateClient, UpdateOutcome, VehicleConfig, provision
from vehicle_mw.update.director import Director
from vehicle_mw.update.errors import ATTACK_REASONS, Unhealthy, UpdateError, UpdateRefused
from vehicle_mw.update.fetcher import CountingFetcher, http_fetcher
from vehicle_mw.update.image_repo import ImageRepository
from vehicle_mw.update.installer import (
    ActivationHook,
    ActivationResult,
    HealthCheck,
    Installer,
    NullHook,
    Package,
)
from vehicle_mw.update.keys import KeyDir
from vehicle_mw.update.server import UpdateServer
from vehicle_mw.update.verify import VerifiedTarget
from vehicle_mw.update.version_report import VehicleKey, verify_report

__all__ = [
    "ATTACK_REASONS",
    "ActivationHook",
    "ActivationResult",
    "ArchiveLimits",
    "CountingFetcher",
    "Director",
    "HealthCheck",
    "ImageRepository",
    "Installer",
    "KeyDir",
    "Limits",
    "NullHook",
    "Package",
    "Unhealthy",
    "UpdateClient",
    "UpdateError",
    "UpdateOutcome",
    "UpdateRefused",
    "UpdateServer",
    "VehicleConfig",
    "VehicleKey",
    "VerifiedTarget",
    "http_fetcher",
    "provision",
    "verify_report",
]

"""Errors of E2E configuration (a check result is never an exception: it is a status)."""

from __future__ import annotations

from vehicle_mw.errors import VehicleMwError


class E2EConfigError(VehicleMwError, ValueError):
    """An E2E configuration that can never work (unknown profile, data id or offset out of range)."""


__all__ = ["E2EConfigError"]

"""Errors of signal databases and decoding."""

from __future__ import annotations

from vehicle_mw.errors import VehicleMwError


class DatabaseError(VehicleMwError):
    """A signal database that cannot be used; the message names the file and cantools' reason."""


class DecoderError(VehicleMwError):
    """The native decoder refused the compiled tables (a bug or an unsupported layout)."""


__all__ = ["DatabaseError", "DecoderError"]

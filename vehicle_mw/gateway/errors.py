"""Errors of the fleet gateway; each names the vehicle or peer it concerns."""

from __future__ import annotations

from vehicle_mw.errors import VehicleMwError


class GatewayError(VehicleMwError):
    """Something the gateway cannot do (bad configuration, storage failure)."""


class TokenError(GatewayError):
    """A vehicle token that does not verify; ``expired`` tells an old token from a forged one."""

    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.expired = expired


class CommandError(GatewayError):
    """A downlink command that could not be delivered or was not acknowledged in time."""


class ProtocolViolation(Exception):
    """Ends a vehicle session with an Error (``code``: a ``link_pb2.Error.Code``) naming the reason."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

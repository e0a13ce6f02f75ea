"""Values shared by every ring kind: overflow policy, counters, and the error they raise."""

from __future__ import annotations

import enum
from typing import NamedTuple

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.native._lib import ffi, lib


class Overflow(enum.IntEnum):
    """What a push does when the ring is full."""

    REJECT_NEWEST = 0  #: the new records are refused (push returns False / fewer) and counted dropped
    OVERWRITE_OLDEST = 1  #: the oldest unread records are discarded and counted dropped


class RingStats(NamedTuple):
    """Counters kept in the shared segment, so any attached process reads the same numbers."""

    pushed: int  #: records accepted
    popped: int  #: records handed to consumers
    dropped: int  #: records rejected (reject-newest) or overwritten (overwrite-oldest)
    high_water: int  #: most records held at once (bytes for a ByteRing)
    capacity: int  #: slots (bytes for a ByteRing)


class RingError(VehicleMwError):
    """A ring could not be created, attached or used; the message names the segment.

    ``code`` is the native ``VMW_RING_E*`` value (0 when the error was found in Python).
    """

    NOT_FOUND = lib.VMW_RING_ENOENT
    BAD_MAGIC = lib.VMW_RING_EMAGIC
    BAD_VERSION = lib.VMW_RING_EVERSION
    WRONG_KIND = lib.VMW_RING_EKIND
    BAD_SIZE = lib.VMW_RING_ESIZE
    EXISTS = lib.VMW_RING_EEXIST
    INVALID = lib.VMW_RING_EINVAL
    SYSTEM = lib.VMW_RING_ESYS
    NO_PARTICIPANT_SLOT = lib.VMW_RING_ESLOTS

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def check(rc: int, name: str, action: str) -> None:
    """Raise a RingError naming the segment when a native call returned an error code."""
    if rc == lib.VMW_RING_OK:
        return
    reason = ffi.string(lib.vmw_ring_strerror(rc)).decode()
    if rc == lib.VMW_RING_ESYS:
        errno = ffi.errno
        import os

        reason += f": {os.strerror(errno)} (errno {errno})"
    raise RingError(f"ring {name!r}: cannot {action}: {reason}", rc)

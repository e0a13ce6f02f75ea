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
    CORRUPT = lib.VMW_RING_ECORRUPT

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class RingCorrupt(RingError):
    """The segment is damaged: a header field, index, record length or cell sequence is impossible
    (``code`` CORRUPT), or the file's size disagrees with its header (``code`` BAD_SIZE).

    Raised by attach (nothing was mapped for use) and by an operation on a handle that finds
    damage after attach; such a handle refuses every later operation, so close it and
    re-create the ring (its contents cannot be trusted).
    """


_CORRUPT_CODES = (lib.VMW_RING_ECORRUPT, lib.VMW_RING_ESIZE)
# refusals of create/attach that come with a detail naming the header field
_DETAILED_CODES = (lib.VMW_RING_EMAGIC, lib.VMW_RING_EVERSION, lib.VMW_RING_EKIND, *_CORRUPT_CODES)


def _detail(raw: object) -> str:
    text = ffi.string(raw).decode(errors="replace")  # type: ignore[arg-type]
    return f": {text}" if text else ""


def check(rc: int, name: str, action: str) -> None:
    """Raise a RingError naming the segment when a native call returned an error code
    (RingCorrupt, with the field the native check named, for a damaged segment)."""
    if rc == lib.VMW_RING_OK:
        return
    reason = ffi.string(lib.vmw_ring_strerror(rc)).decode()
    if rc == lib.VMW_RING_ESYS:
        errno = ffi.errno
        import os

        reason += f": {os.strerror(errno)} (errno {errno})"
    elif rc in _DETAILED_CODES:
        reason += _detail(lib.vmw_ring_error_detail())
    cls = RingCorrupt if rc in _CORRUPT_CODES else RingError
    raise cls(f"ring {name!r}: cannot {action}: {reason}", rc)


def check_handle(code: int, detail: object, name: str) -> None:
    """Raise RingCorrupt when a handle's *_last_error() says it met a damaged segment."""
    if code == lib.VMW_RING_ECORRUPT:
        raise RingCorrupt(f"ring {name!r}: corrupt segment{_detail(detail)}", code)

"""Python face of the C core in ``native/``: lock-free rings in shared memory,
absolute-deadline sleep, and the record layouts that travel through them."""

from vehicle_mw.native._lib import ffi, lib
from vehicle_mw.native.byte_ring import ByteRing
from vehicle_mw.native.clock import get_timer_slack_ns, monotonic_ns, set_timer_slack_ns, sleep_until_ns
from vehicle_mw.native.records import FRAME_DTYPE, FRAME_SIZE, SAMPLE_DTYPE, SAMPLE_SIZE
from vehicle_mw.native.ring_types import Overflow, RingCorrupt, RingError, RingStats
from vehicle_mw.native.segments import RingInfo, list_rings, reclaim_stale, ring_info
from vehicle_mw.native.slot_ring import MpmcRing, SlotRing

__all__ = [
    "ffi",
    "lib",
    "FRAME_DTYPE",
    "FRAME_SIZE",
    "SAMPLE_DTYPE",
    "SAMPLE_SIZE",
    "monotonic_ns",
    "sleep_until_ns",
    "set_timer_slack_ns",
    "get_timer_slack_ns",
    "SlotRing",
    "ByteRing",
    "MpmcRing",
    "Overflow",
    "RingError",
    "RingCorrupt",
    "RingStats",
    "RingInfo",
    "ring_info",
    "list_rings",
    "reclaim_stale",
]

"""Find ring segments in /dev/shm and reclaim the ones whose creating process is gone."""

from __future__ import annotations

import os
from dataclasses import dataclass

from vehicle_mw.native._lib import ffi, lib
from vehicle_mw.native.ring_types import check

SHM_DIR = "/dev/shm"
_KINDS = {lib.VMW_RING_KIND_SLOT: "slot", lib.VMW_RING_KIND_BYTES: "bytes", lib.VMW_RING_KIND_MPMC: "mpmc"}


@dataclass(frozen=True)
class RingInfo:
    """What a segment header says, read without attaching as a participant."""

    name: str
    kind: str
    capacity: int
    slot_size: int
    creator_pid: int
    creator_alive: bool
    total_size: int


def ring_info(name: str) -> RingInfo:
    """Header facts of one ring segment; RingError if it is missing or not a ring."""
    out = ffi.new("vmw_ring_info *")
    check(lib.vmw_ring_info_read(name.encode(), out), name, "read header of")
    return RingInfo(
        name=name,
        kind=_KINDS.get(out.kind, f"unknown({out.kind})"),
        capacity=out.capacity,
        slot_size=out.slot_size,
        creator_pid=out.creator_pid,
        creator_alive=bool(out.creator_alive),
        total_size=out.total_size,
    )


def list_rings(prefix: str = "") -> list[RingInfo]:
    """Every readable ring segment whose name starts with prefix (other shm files are skipped)."""
    found = []
    for entry in sorted(os.listdir(SHM_DIR)):
        if not entry.startswith(prefix):
            continue
        out = ffi.new("vmw_ring_info *")
        if lib.vmw_ring_info_read(entry.encode(), out) == lib.VMW_RING_OK:
            found.append(ring_info(entry))
    return found


def reclaim_stale(prefix: str = "") -> list[str]:
    """Unlink ring segments (matching prefix) whose creator process is dead; returns their names."""
    removed = []
    for info in list_rings(prefix):
        if not info.creator_alive and lib.vmw_ring_unlink(info.name.encode()) == lib.VMW_RING_OK:
            removed.append(info.name)
    return removed

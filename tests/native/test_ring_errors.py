"""Refusals with clear errors: missing segment, wrong kind/magic/version/size, live owner,
bad records -- and stale segments of dead runs are detected and reclaimed."""

from __future__ import annotations

import mmap
import os
import struct
import subprocess
import sys

import pytest

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.native import (
    ByteRing,
    MpmcRing,
    RingError,
    SlotRing,
    list_rings,
    reclaim_stale,
    ring_info,
)


def corrupt(name: str, offset: int, fmt: str, value: int) -> None:
    with open(f"/dev/shm/{name}", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        struct.pack_into(fmt, m, offset, value)


def test_missing_segment_names_it(ring_name: str) -> None:
    expected = f"ring '{ring_name}': cannot attach: no such shared-memory segment"
    with pytest.raises(RingError, match=expected) as e:
        SlotRing.attach(ring_name)
    assert isinstance(e.value, VehicleMwError) and e.value.code == RingError.NOT_FOUND


@pytest.mark.parametrize("cls", [ByteRing, MpmcRing])
def test_wrong_kind_is_refused(ring_name: str, cls: type) -> None:
    SlotRing.create(ring_name, slot_size=32, capacity=16).close()
    with pytest.raises(RingError, match="ring is of another kind") as e:
        cls.attach(ring_name)
    assert ring_name in str(e.value) and e.value.code == RingError.WRONG_KIND


def test_bad_magic_version_and_size_are_refused(ring_name: str) -> None:
    SlotRing.create(ring_name, slot_size=32, capacity=16).close()
    corrupt(ring_name, 8, "<I", 99)  # layout_version
    with pytest.raises(RingError, match="another layout version"):
        SlotRing.attach(ring_name)
    corrupt(ring_name, 8, "<I", 1)
    os.truncate(f"/dev/shm/{ring_name}", os.path.getsize(f"/dev/shm/{ring_name}") - 4096)
    with pytest.raises(RingError, match="size does not match"):
        SlotRing.attach(ring_name)


def test_foreign_file_is_not_a_ring(ring_name: str) -> None:
    with open(f"/dev/shm/{ring_name}", "wb") as f:
        f.write(b"not a ring" * 1000)
    with pytest.raises(RingError, match="not a vehicle_mw ring") as e:
        SlotRing.attach(ring_name)
    assert e.value.code == RingError.BAD_MAGIC


def test_invalid_arguments(ring_name: str) -> None:
    with pytest.raises(RingError, match="invalid argument"):
        SlotRing.create("a/b", slot_size=8, capacity=8)
    with pytest.raises(RingError, match="invalid argument"):
        SlotRing.create(ring_name, slot_size=0, capacity=8)
    ring = SlotRing.create(ring_name, slot_size=8, capacity=8)
    with pytest.raises(RingError, match="not a whole number of 8-byte records"):
        ring.push_batch(b"123456789")
    with pytest.raises(RingError, match="push\\(\\) takes one 8-byte record"):
        ring.push(b"1234567812345678")
    ring.close()
    with pytest.raises(RingError, match="closed"):
        ring.push(b"12345678")


def test_byte_ring_refuses_oversized_record(ring_name: str) -> None:
    ring = ByteRing.create(ring_name, capacity=256)
    with pytest.raises(RingError, match="121-byte record exceeds the 120-byte maximum"):
        ring.push(b"x" * 121)
    assert ring.push(b"x" * 120)
    ring.close()


def test_live_creator_blocks_create_but_dead_one_is_reclaimed(ring_name: str) -> None:
    ring = SlotRing.create(ring_name, slot_size=8, capacity=8)
    with pytest.raises(RingError, match="creator is still running") as e:
        SlotRing.create(ring_name, slot_size=8, capacity=8)
    assert e.value.code == RingError.EXISTS
    ring.unlink()
    ring.close()
    # a run that dies without unlinking leaves a stale segment
    code = (
        "import sys; from vehicle_mw.native import SlotRing; "
        f"SlotRing.create({ring_name!r}, slot_size=8, capacity=8); sys.exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    info = ring_info(ring_name)
    assert (info.kind, info.slot_size, info.creator_alive) == ("slot", 8, False)
    assert ring_name in [i.name for i in list_rings(ring_name)]
    again = SlotRing.create(ring_name, slot_size=16, capacity=8)  # reclaimed, new layout
    assert again.slot_size == 16 and ring_info(ring_name).creator_pid == os.getpid()
    again.close()
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert other.returncode != 0 and "creator is still running" in other.stderr  # we are alive
    assert reclaim_stale(ring_name) == []
    assert ring_info(ring_name).creator_pid == os.getpid()


def test_reclaim_stale_removes_only_dead_runs(ring_name: str) -> None:
    code = f"from vehicle_mw.native import ByteRing; ByteRing.create({ring_name + '_dead'!r}, capacity=1024)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    live = MpmcRing.create(ring_name + "_live", slot_size=8, capacity=8)
    try:
        assert reclaim_stale(ring_name) == [ring_name + "_dead"]
        assert [i.name for i in list_rings(ring_name)] == [ring_name + "_live"]
    finally:
        live.unlink()
        live.close()


def test_open_attaches_to_a_live_ring_and_checks_its_layout(ring_name: str) -> None:
    first = SlotRing.open(ring_name, slot_size=8, capacity=8)  # creates
    assert first.push(b"survives")
    again = SlotRing.open(ring_name, slot_size=8, capacity=8)  # rejoins, does not recreate
    assert again.pop() == b"survives"
    with pytest.raises(RingError, match="exists with 8-byte slots x 8, wanted 16-byte slots x 8"):
        SlotRing.open(ring_name, slot_size=16, capacity=8)
    with pytest.raises(RingError, match="another kind"):
        ByteRing.open(ring_name, capacity=1024)
    again.close()
    first.close()

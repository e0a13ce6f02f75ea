"""Damaged segments are refused with RingCorrupt naming the field, and random damage to real
segments in /dev/shm never crashes or hangs the process (issue #12, item 10)."""

from __future__ import annotations

import json
import mmap
import os
import struct
import subprocess
import sys

import pytest

from vehicle_mw.native import ByteRing, MpmcRing, RingCorrupt, RingError, SlotRing, ring_info
from vehicle_mw.native.segment_check import fuzz_one

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CAPACITY_OFFSET, HEAD_OFFSET, TAIL_OFFSET = 16, 64, 128  # vmw_ring_header (native/include/vmw_shm.h)


def poke(name: str, offset: int, value: int) -> None:
    with open(f"/dev/shm/{name}", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        struct.pack_into("<Q", m, offset, value)


def test_huge_capacity_is_refused_naming_the_field(ring_name: str) -> None:
    SlotRing.create(ring_name, slot_size=88, capacity=8).close()
    poke(ring_name, CAPACITY_OFFSET, 1 << 62)  # the segment
    with pytest.raises(
        RingCorrupt,
        match=rf"ring '{ring_name}': cannot attach: corrupt segment: "
        r"header field capacity=4611686018427387904 is not a power of two",
    ) as e:
        SlotRing.attach(ring_name)
    assert isinstance(e.value, RingError) and e.value.code == RingError.CORRUPT
    with pytest.raises(RingCorrupt, match="capacity=4611686018427387904"):
        ring_info(ring_name)


def test_capacity_that_does_not_match_the_segment_size(ring_name: str) -> None:
    SlotRing.create(ring_name, slot_size=88, capacity=8).close()
    poke(ring_name, CAPACITY_OFFSET, 16)
    with pytest.raises(RingCorrupt, match=r"total_size=4800 does not match capacity=16 x slot_size=88"):
        SlotRing.attach(ring_name)


@pytest.mark.parametrize("cls", [SlotRing, MpmcRing])
def test_indices_out_of_range_are_refused(ring_name: str, cls: type) -> None:
    cls.create(ring_name, slot_size=16, capacity=8).close()
    poke(ring_name, HEAD_OFFSET, 9)  # head - tail = 9 > capacity
    with pytest.raises(RingCorrupt, match=r"head=9 tail=0: head - tail must be 0\.\.capacity=8"):
        cls.attach(ring_name)


def test_damage_after_attach_raises_on_use_and_sticks(ring_name: str) -> None:
    producer = SlotRing.create(ring_name, slot_size=16, capacity=8)
    consumer = SlotRing.attach(ring_name)
    assert producer.push(b"a" * 16)
    poke(ring_name, TAIL_OFFSET, 1 << 40)  # another process scribbles over tail
    with pytest.raises(RingCorrupt, match=rf"ring '{ring_name}': corrupt segment: indices head=1 tail="):
        producer.push(b"b" * 16)
    assert consumer.wait(timeout=None)  # reads as ready instead of sleeping forever ...
    with pytest.raises(RingCorrupt):  # ... and the pop says why
        consumer.pop_batch()
    poke(ring_name, TAIL_OFFSET, 0)
    with pytest.raises(RingCorrupt):  # the handle no longer trusts the segment
        consumer.pop()
    assert SlotRing.attach(ring_name).pop() == b"a" * 16  # a fresh attach validates again
    producer.close()
    consumer.close()


def test_byte_ring_record_length_is_checked(ring_name: str) -> None:
    ring = ByteRing.create(ring_name, capacity=256)
    assert ring.push(b"x" * 10)
    poke(ring_name, 4096, 0x7FFFFFFF)  # the record header at tail: length field
    with pytest.raises(RingCorrupt, match="length field 2147483647"):
        ring.pop()
    ring.close()


def test_fuzz_entry_reports_outcomes() -> None:
    assert fuzz_one(b"\x00\x00\x05\x02") == "ok"  # no patch: a healthy slot ring
    # kind=slot, capacity 2; patch: 8-byte raw write of 2**62 at offset 16 (capacity)
    patch = struct.pack("<BHQ", 3, 16, 1 << 62)
    assert fuzz_one(b"\x00\x00\x05\x02" + patch) == "corrupt"


def run_random_trials(seed: int, trials: int, timeout: float) -> dict[str, int]:
    """Trials in a subprocess: a crash or hang fails this test (naming the trial), not the suite."""
    cmd = [
        sys.executable,
        "-m",
        "vehicle_mw.native.segment_check",
        "--seed",
        str(seed),
        "--trials",
        str(trials),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"hang: no result within {timeout} s; last trial started: {out.splitlines()[-1:]}")
    lines = done.stdout.splitlines()
    assert done.returncode == 0, f"crash (exit {done.returncode}) in {lines[-1:]}: {done.stderr[-2000:]}"
    return json.loads(lines[-1])["outcomes"]


def test_random_damage_never_crashes_or_hangs() -> None:
    outcomes = run_random_trials(seed=20261201, trials=400, timeout=120)
    assert sum(outcomes.values()) == 400
    assert set(outcomes) <= {"ok", "corrupt", "refused:-2", "refused:-3", "refused:-4", "refused:-9"}
    assert outcomes.get("corrupt", 0) > 20 and outcomes.get("ok", 0) > 20  # both paths were reached


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(4))
def test_soak_random_damage(seed: int) -> None:
    outcomes = run_random_trials(seed=seed, trials=25000, timeout=900)
    assert sum(outcomes.values()) == 25000
    assert all(o == "ok" or o == "corrupt" or o.startswith("refused:") for o in outcomes)

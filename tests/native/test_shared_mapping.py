"""One mapping per ring segment per process: handles share it (RSS counts its pages once), the last
close unmaps it, and a segment created again under the same name is a new mapping."""

from __future__ import annotations

from vehicle_mw.native import MpmcRing, SlotRing, lib


def _mappings(name: str) -> int:
    with open("/proc/self/maps", encoding="utf-8") as fh:
        ends = ("/" + name, "/" + name + " (deleted)")  # an unlinked segment stays mapped
        return sum(1 for line in fh if line.rstrip().endswith(ends))


def test_handles_of_a_ring_share_one_mapping(ring_name):
    producer = SlotRing.create(ring_name, 32, 1024)
    consumer = SlotRing.attach(ring_name)
    third = SlotRing.open(ring_name, 32, 1024)
    assert _mappings(ring_name) == 1
    assert producer.push(bytes(range(32)))
    assert consumer.pop() == bytes(range(32))
    producer.close()
    third.close()
    assert _mappings(ring_name) == 1  # the consumer still holds it
    assert third.capacity == consumer.capacity
    assert not consumer.pop()
    consumer.close()
    assert _mappings(ring_name) == 0


def test_a_recreated_segment_gets_its_own_mapping(ring_name):
    old = SlotRing.create(ring_name, 32, 1024)
    lib.vmw_ring_unlink(ring_name.encode())
    new = SlotRing.create(ring_name, 32, 2048)  # same name, another file
    assert _mappings(ring_name) == 2
    assert old.push(b"\x01" * 32)
    assert new.pop() is None  # not the old ring's data
    assert new.capacity == 2048
    old.close()
    new.close()
    assert _mappings(ring_name) == 0


def test_mpmc_handles_share_too(ring_name):
    a = MpmcRing.create(ring_name, 16, 256)
    b = MpmcRing.attach(ring_name)
    assert _mappings(ring_name) == 1
    assert a.push(b"x" * 16)
    assert b.pop() == b"x" * 16
    a.close()
    b.close()
    assert _mappings(ring_name) == 0

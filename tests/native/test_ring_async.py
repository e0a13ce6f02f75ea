"""Blocking and asyncio waits: a consumer sleeps on the futex (no polling), wakes when another
process pushes, times out cleanly, and a cancelled ``get_batch`` frees its helper thread."""

from __future__ import annotations

import asyncio
import pathlib
import resource
import subprocess
import sys
import threading

import pytest

from vehicle_mw.native import ByteRing, MpmcRing, SlotRing

HERE = pathlib.Path(__file__).resolve().parent

PUSH_LATER = """
import sys
from vehicle_mw.native import {cls}
ring = {cls}.attach(sys.argv[1])
sys.stdin.readline()          # the test says when
ring.push({rec!r})
"""


def pusher(cls: str, name: str, rec: bytes) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PUSH_LATER.format(cls=cls, rec=rec), name], stdin=subprocess.PIPE, text=True
    )


def test_wait_times_out_without_burning_cpu(ring_name: str) -> None:
    ring = SlotRing.create(ring_name, slot_size=8, capacity=8)
    before = resource.getrusage(resource.RUSAGE_THREAD)
    assert ring.wait(0.3) is False
    after = resource.getrusage(resource.RUSAGE_THREAD)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 0.05, f"waiting 0.3 s used {cpu:.3f} s of CPU"
    ring.close()


@pytest.mark.parametrize("cls", ["SlotRing", "MpmcRing"])
def test_blocked_consumer_wakes_when_another_process_pushes(ring_name: str, cls: str) -> None:
    ring = {"SlotRing": SlotRing, "MpmcRing": MpmcRing}[cls].create(ring_name, slot_size=8, capacity=8)
    proc = pusher(cls, ring_name, b"wake-up!")
    woke = threading.Event()

    def consume() -> None:
        if ring.wait(30.0):
            woke.set()

    t = threading.Thread(target=consume)
    t.start()
    assert not woke.wait(0.05)  # nothing pushed yet: still blocked
    proc.stdin.write("go\n")
    proc.stdin.flush()
    t.join(30)
    assert woke.is_set() and ring.pop() == b"wake-up!"
    proc.communicate(timeout=30)
    ring.close()


def test_asyncio_get_batch_receives_from_another_process(ring_name: str) -> None:
    ring = ByteRing.create(ring_name, capacity=4096)
    proc = pusher("ByteRing", ring_name, b"hello from afar")

    async def main() -> list[bytes]:
        task = asyncio.create_task(ring.get_batch(16, timeout=30))
        await asyncio.sleep(0)  # the task is parked in its waiter thread
        assert not task.done()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        return await task

    assert asyncio.run(main()) == [b"hello from afar"]
    proc.communicate(timeout=30)
    ring.close()


def test_asyncio_get_batch_timeout_and_cancel(ring_name: str) -> None:
    ring = SlotRing.create(ring_name, slot_size=8, capacity=8)

    async def main() -> None:
        assert await ring.get_batch(4, timeout=0.05) == b""
        task = asyncio.create_task(ring.get_batch(4))  # no timeout: blocks until cancelled
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the helper thread was woken and is free: the next wait works
        ring.push(b"12345678")
        assert await ring.get_batch(4, timeout=5) == b"12345678"

    asyncio.run(asyncio.wait_for(main(), 30))
    ring.close()  # joins the helper thread: it would hang here if still blocked


def test_producer_blocks_on_full_ring_until_consumer_pops(ring_name: str) -> None:
    ring = SlotRing.create(ring_name, slot_size=8, capacity=2)
    assert ring.push_batch(b"a" * 8 * 2) == 2 and not ring.push(b"b" * 8)
    assert ring.wait_space(0.01) is False
    room = threading.Event()
    t = threading.Thread(target=lambda: ring.wait_space(30) and room.set())
    t.start()
    assert not room.wait(0.05)
    ring.pop()
    t.join(30)
    assert room.is_set()
    ring.close()


def test_close_releases_a_pending_get_batch(ring_name: str) -> None:
    ring = SlotRing.create(ring_name, slot_size=8, capacity=8)

    async def main() -> bytes:
        task = asyncio.create_task(ring.get_batch(4))  # would wait forever
        while ring._waiter is None:  # the helper thread exists once the task waits
            await asyncio.sleep(0.001)
        closer = asyncio.get_running_loop().run_in_executor(None, ring.close)
        result = await task
        await closer
        return result

    assert asyncio.run(asyncio.wait_for(main(), 30)) == b""

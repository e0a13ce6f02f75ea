"""kill -9 of a producer or consumer mid-stream: the survivor and a restarted process
re-attach and continue; every record committed before the kill is delivered exactly once
(consumers that log before releasing a peek get the unreleased batch again and skip it)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest

from vehicle_mw.native import ByteRing, MpmcRing, SlotRing

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ring_worker import RECORD, checksum, make_batch  # noqa: E402

FOREVER = 10**12


def worker(*args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "ring_worker.py"), *map(str, args)], stdout=subprocess.PIPE, text=True
    )


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, (proc.returncode, out)
    return out


class Verifier:
    """Consumes in the test process; asserts each record is the next of its producer, intact."""

    def __init__(self, ring: SlotRing | MpmcRing) -> None:
        self.ring = ring
        self.next: dict[int, int] = {}

    def drain_until(self, cond: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, f"stalled at {self.next}"
            data = self.ring.pop_batch(1024)
            if not data:
                self.ring.wait(0.2)
                continue
            recs = np.frombuffer(data, RECORD)
            for p in np.unique(recs["producer"]):
                sel = recs[recs["producer"] == p]
                start = self.next.get(int(p), 0)
                assert np.array_equal(sel["seq"], np.arange(start, start + len(sel), dtype=np.uint64)), (
                    f"producer {p}: expected seq {start}.., got {sel['seq'][:5]}"
                )
                assert np.array_equal(sel["check"], checksum(int(p), sel["seq"])), "corrupt record"
                self.next[int(p)] = start + len(sel)

    def count(self, p: int) -> int:
        return self.next.get(p, 0)


def test_slot_producer_killed_then_restarted_continues_without_loss_or_dup(ring_name: str) -> None:
    ring = SlotRing.create(ring_name, slot_size=RECORD.itemsize, capacity=1024)
    check = Verifier(ring)
    first = worker("produce", "slot", ring_name, 0, "0", FOREVER)
    try:
        check.drain_until(lambda: check.count(0) >= 100_000)
        kill9(first)
    finally:
        first.kill()
    committed = ring.stats().pushed  # every record the dead producer committed
    check.drain_until(lambda: check.count(0) == committed)
    assert len(ring) == 0
    second = worker("produce", "slot", ring_name, 0, "auto", 50_000)  # resumes at seq `committed`
    check.drain_until(lambda: check.count(0) == committed + 50_000)
    assert finish(second).strip() == "done"
    assert ring.stats().popped == committed + 50_000


@pytest.mark.parametrize("kind", ["slot", "bytes"])
def test_consumer_killed_then_restarted_delivers_every_record_once(
    ring_name: str, tmp_path: pathlib.Path, kind: str
) -> None:
    total = 200_000
    if kind == "slot":
        ring = SlotRing.create(ring_name, slot_size=RECORD.itemsize, capacity=4096)
    else:
        ring = ByteRing.create(ring_name, capacity=16384)
    log = tmp_path / "consumed.bin"
    producer = worker("produce", kind, ring_name, 0, "0", total)
    consumer = worker("consume-log", kind, ring_name, log, total)
    try:
        progress = 40_000 * RECORD.itemsize
        wait_for(lambda: log.exists() and log.stat().st_size >= progress, 30, "consumer progress")
        kill9(consumer)
        assert log.stat().st_size < total * RECORD.itemsize, "consumer finished before the kill"
        consumer = worker("consume-log", kind, ring_name, log, total)
        out = finish(consumer)
        finish(producer)
    finally:
        producer.kill()
        consumer.kill()
    skipped = int(out.split("skipped=")[1])
    assert skipped <= 512, "more than one unreleased peek was redelivered"
    logged = np.fromfile(log, RECORD)
    assert np.array_equal(logged["seq"], np.arange(total, dtype=np.uint64)), "lost or duplicated records"
    assert np.array_equal(logged["check"], checksum(0, logged["seq"]))
    # each record was released exactly once (the redelivered batch was never released before)
    assert (ring.stats().popped, len(ring)) == (total, 0)


def test_mpmc_producer_killed_mid_stream_leaves_ring_usable(ring_name: str) -> None:
    ring = MpmcRing.create(ring_name, slot_size=RECORD.itemsize, capacity=512)
    check = Verifier(ring)
    victim = worker("produce", "mpmc", ring_name, 0, "0", FOREVER)
    steady = worker("produce", "mpmc", ring_name, 1, "0", 300_000)
    try:
        check.drain_until(lambda: check.count(0) >= 50_000)
        kill9(victim)
        # the survivor's records all arrive (a cell the victim claimed but never published
        # would block them: wait() repairs it), and the victim's committed ones are a prefix
        check.drain_until(lambda: check.count(1) == 300_000)
        finish(steady)
    finally:
        victim.kill()
        steady.kill()
    check.drain_until(lambda: len(ring) == 0)  # includes any cell the victim left claimed
    restarted = worker("produce", "mpmc", ring_name, 2, "0", 20_000)
    check.drain_until(lambda: check.count(2) == 20_000)
    finish(restarted)
    stats = ring.stats()
    assert stats.popped == check.count(0) + 300_000 + 20_000


def test_mpmc_consumer_killed_mid_stream_does_not_block_producers(ring_name: str) -> None:
    ring = MpmcRing.create(ring_name, slot_size=RECORD.itemsize, capacity=256)
    victim = worker("consume-forever", "mpmc", ring_name)
    pushed = 0
    try:
        batch = make_batch(7, 0, 64).tobytes()
        while ring.stats().popped < 20_000:  # the victim consumes what we push
            if ring.push_batch(batch):
                pushed += 1
            else:
                assert ring.wait_space(10.0), "victim consumer stalled"
        kill9(victim)
    finally:
        victim.kill()
    ring.pop_batch(4096)  # what the victim left in the ring
    # lap the ring several times: a cell the victim took but never freed would block us forever
    for start in range(0, 4 * 256, 64):
        data = make_batch(9, start, 64).tobytes()
        while not ring.push_batch(data):
            assert ring.wait_space(5.0), "producer blocked by a dead consumer's cell"
        got = np.frombuffer(ring.pop_batch(64), RECORD)
        assert np.array_equal(got["seq"], np.arange(start, start + 64, dtype=np.uint64))

"""Cross-process stress: 10 million records through shared memory between real processes,
each carrying its producer, sequence number and a checksum -- nothing lost, duplicated,
reordered (per producer) or corrupted."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from vehicle_mw.native import MpmcRing, SlotRing

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ring_worker import RECORD, checksum  # noqa: E402

TOTAL = 10_000_000


def start_producer(kind: str, name: str, producer: int, start: str, count: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "ring_worker.py"), "produce", kind, name, str(producer), start]
        + [str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip() == "done", (proc.returncode, out)


def test_spsc_slot_ring_moves_ten_million_records_intact(ring_name: str) -> None:
    ring = SlotRing.create(ring_name, slot_size=RECORD.itemsize, capacity=65536)
    producer = start_producer("slot", ring_name, 3, "0", TOTAL)
    expected = 0
    try:
        while expected < TOTAL:
            data = ring.pop_batch(8192)
            if not data:
                assert ring.wait(10.0), f"producer stalled after {expected} records"
                continue
            recs = np.frombuffer(data, RECORD)
            seqs = recs["seq"]
            assert seqs[0] == expected and np.array_equal(
                seqs, np.arange(expected, expected + len(recs), dtype=np.uint64)
            ), f"gap/dup/reorder near seq {expected}"
            assert np.all(recs["producer"] == 3)
            assert np.array_equal(recs["check"], checksum(3, seqs)), f"corrupt record near seq {expected}"
            expected += len(recs)
        finish(producer)
    finally:
        producer.kill()
        producer.wait()
    stats = ring.stats()
    # (dropped counts pushes refused while full, which the producer retried after wait_space)
    assert (stats.pushed, stats.popped, len(ring)) == (TOTAL, TOTAL, 0)
    assert 0 < stats.high_water <= 65536
    ring.close()


@pytest.mark.parametrize("producers", [4])
def test_mpmc_ring_fans_in_ten_million_records_from_four_processes(ring_name: str, producers: int) -> None:
    ring = MpmcRing.create(ring_name, slot_size=RECORD.itemsize, capacity=65536)
    each = TOTAL // producers
    procs = [start_producer("mpmc", ring_name, p, "0", each) for p in range(producers)]
    last = np.full(producers, -1, dtype=np.int64)
    counts = np.zeros(producers, dtype=np.int64)
    received = 0
    try:
        while received < TOTAL:
            data = ring.pop_batch(8192)
            if not data:
                assert ring.wait(10.0), f"producers stalled after {received} records"
                continue
            recs = np.frombuffer(data, RECORD)
            assert np.all(recs["producer"] < producers), "record from an unknown producer"
            assert np.array_equal(recs["check"], checksum_per(recs)), "corrupt record"
            for p in range(producers):
                seqs = recs["seq"][recs["producer"] == p].astype(np.int64)
                if len(seqs):
                    assert seqs[0] > last[p] and np.all(np.diff(seqs) > 0), f"producer {p} reordered/dup"
                    last[p] = seqs[-1]
                    counts[p] += len(seqs)
            received += len(recs)
        for proc in procs:
            finish(proc)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    # strictly increasing, `each` of them, the last is each-1: exactly 0..each-1 per producer
    assert counts.tolist() == [each] * producers
    assert last.tolist() == [each - 1] * producers
    stats = ring.stats()
    # (dropped counts pushes refused while full, which the producer retried after wait_space)
    assert (stats.pushed, stats.popped, len(ring)) == (TOTAL, TOTAL, 0)
    ring.close()


def checksum_per(recs: np.ndarray) -> np.ndarray:
    out = np.empty(len(recs), "<u4")
    for p in np.unique(recs["producer"]):
        sel = recs["producer"] == p
        out[sel] = checksum(int(p), recs["seq"][sel])
    return out

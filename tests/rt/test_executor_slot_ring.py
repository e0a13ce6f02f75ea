"""Ring-triggered task on the real native SlotRing, fed by a producer in another process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from vehicle_mw.native import SAMPLE_DTYPE, SAMPLE_SIZE, SlotRing
from vehicle_mw.rt import Executor

N = 20_000

PRODUCER = """
import sys, numpy as np
from vehicle_mw.native import SAMPLE_DTYPE, SlotRing
ring = SlotRing.attach(sys.argv[1])
n = int(sys.argv[2])
recs = np.zeros(n, SAMPLE_DTYPE)
recs["source_seq"] = np.arange(n)
buf = recs.tobytes()
size = SAMPLE_DTYPE.itemsize
sent = 0
while sent < n:
    chunk = buf[sent * size:(sent + 500) * size]
    k = ring.push_batch(chunk)
    sent += k
    if k == 0:
        ring.wait_space(5)
ring.close()
"""


@pytest.fixture
def ring():
    r = SlotRing.create(f"/vmw_test_rt_{os.getpid()}", SAMPLE_SIZE, 1024)
    yield r
    r.unlink()
    r.close()


def test_ring_task_drains_slot_ring_from_another_process(ring):
    seqs: list[np.ndarray] = []
    got = 0
    done = threading.Event()

    def handle(batch: bytes) -> None:
        nonlocal got
        recs = np.frombuffer(batch, SAMPLE_DTYPE)
        seqs.append(recs["source_seq"].copy())
        got += len(recs)
        if got >= N:
            done.set()

    ex = Executor("ring")
    task = ex.on_ring("samples", ring, handle, max_batch=256)
    with ex:
        producer = subprocess.run([sys.executable, "-c", PRODUCER, ring.name, str(N)], timeout=60)
        assert producer.returncode == 0
        assert done.wait(30)
    all_seqs = np.concatenate(seqs)
    assert np.array_equal(all_seqs, np.arange(N))  # nothing lost, nothing reordered
    assert task.stats.records == N
    assert task.stats.runs == len(seqs) < N  # batched
    assert max(len(s) for s in seqs) <= 256

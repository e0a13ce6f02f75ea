"""Producer/consumer processes for the cross-process ring tests (run as a script).

    ring_worker.py produce <kind> <name> <producer_id> <start|auto> <count>
    ring_worker.py consume-log <kind> <name> <log_path> <total>
    ring_worker.py consume-forever <kind> <name>

Records are 16 bytes: producer id, checksum, sequence number (RECORD below).
``start=auto`` continues a SlotRing after the last committed record (its pushed counter).
``consume-log`` peeks a batch, appends it to the log file, then releases it; after a restart
it skips the records its log already holds (the ring redelivers an unreleased peek).
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from vehicle_mw.native import ByteRing, MpmcRing, SlotRing  # noqa: E402

RECORD = np.dtype([("producer", "<u4"), ("check", "<u4"), ("seq", "<u8")])
KINDS = {"slot": SlotRing, "mpmc": MpmcRing, "bytes": ByteRing}


def checksum(producer: int, seq: np.ndarray) -> np.ndarray:
    """Per-record check value any corruption of producer or seq breaks."""
    mixed = (seq * np.uint64(2654435761)) ^ np.uint64(producer * 40503) ^ np.uint64(0xA5A5A5A5)
    return (mixed & np.uint64(0xFFFFFFFF)).astype("<u4")


def make_batch(producer: int, start: int, n: int) -> np.ndarray:
    batch = np.empty(n, RECORD)
    batch["producer"] = producer
    batch["seq"] = np.arange(start, start + n, dtype=np.uint64)
    batch["check"] = checksum(producer, batch["seq"])
    return batch


def produce(kind: str, name: str, producer: int, start: str, count: int) -> None:
    ring = KINDS[kind].attach(name)
    seq = ring.stats().pushed if start == "auto" else int(start)
    end = seq + count
    sizes = [1, 7, 64, 300, 1024]
    i = 0
    while seq < end:
        n = min(sizes[i % len(sizes)], end - seq)
        i += 1
        batch = make_batch(producer, seq, n)
        if kind == "bytes":
            recs = [r.tobytes() for r in batch]
            done = 0
            while done < n:
                got = ring.push_batch(recs[done:])
                done += got
                if not got:
                    ring.wait_space(1.0)
        else:
            buf = batch.tobytes()
            done = 0
            while done < n:
                got = ring.push_batch(buf[done * RECORD.itemsize :])
                done += got
                if not got:
                    ring.wait_space(1.0)
        seq += n
    print("done", flush=True)


def consume_forever(kind: str, name: str) -> None:
    """Pop and discard until killed (the victim of the consumer-kill tests)."""
    ring = KINDS[kind].attach(name)
    while True:
        if not ring.pop_batch(64):
            ring.wait(1.0)


def consume_log(kind: str, name: str, log_path: str, total: int) -> None:
    ring = KINDS[kind].attach(name)
    last = -1
    if os.path.exists(log_path):
        logged = np.fromfile(log_path, RECORD)
        if len(logged):
            last = int(logged["seq"][-1])
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    skipped = 0
    while last < total - 1:
        if not ring.wait(5.0):
            raise SystemExit(f"consumer: nothing arrived for 5 s after seq {last}")
        peek = ring.peek() if kind == "bytes" else ring.peek(512)
        with peek as mv:  # released only after the log write below
            if mv is None:
                continue
            recs = np.frombuffer(mv, RECORD).copy()
            fresh = recs[recs["seq"].astype(np.int64) > last]
            skipped += len(recs) - len(fresh)
            if len(fresh):
                os.write(fd, fresh.tobytes())  # one write: the log never holds half a batch
                last = int(fresh["seq"][-1])
    os.close(fd)
    print(f"done skipped={skipped}", flush=True)


if __name__ == "__main__":
    role, kind, name = sys.argv[1:4]
    if role == "produce":
        produce(kind, name, int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
    elif role == "consume-forever":
        consume_forever(kind, name)
    elif role == "consume-log":
        consume_log(kind, name, sys.argv[4], int(sys.argv[5]))
    else:
        raise SystemExit(f"unknown role {role!r}")

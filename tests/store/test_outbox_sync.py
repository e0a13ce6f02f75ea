"""The outbox's fsync runs outside its lock: acks, pending() and stats() do not wait for the disk."""

from __future__ import annotations

import os
import threading

import numpy as np

from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.store import Outbox


def _samples(n: int) -> np.ndarray:
    s = np.zeros(n, SAMPLE_DTYPE)
    s["source_seq"] = np.arange(n)
    return s


def test_a_slow_fsync_does_not_block_acks_or_reads(tmp_path, monkeypatch):
    box = Outbox(tmp_path, OutboxConfig(directory=str(tmp_path), fsync="interval", fsync_interval_s=3600))
    box.append(_samples(10))
    box.sync()  # batch 1 is sendable
    box.append(_samples(10))  # batch 2 waits for the next sync
    inside, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        if threading.current_thread() is syncer:  # (an ack's state file write syncs too, at once)
            inside.set()
            assert release.wait(30), "test did not release the fsync"
        real_fsync(fd)

    syncer = threading.Thread(target=box.sync)
    monkeypatch.setattr(os, "fsync", slow_fsync)
    syncer.start()
    try:
        assert inside.wait(30), "sync() never reached its fsync"
        # while the disk is "busy": the uplink's calls go on
        assert [b.seq for b in box.pending(0, 10)] == [1]  # batch 2 is not durable yet
        box.ack(1)
        assert box.stats().acked_seq == 1
        assert box.pending(1, 10) == []
    finally:
        release.set()
        syncer.join(30)
    assert not syncer.is_alive()
    assert [b.seq for b in box.pending(1, 10)] == [2]  # durable once the fsync returned
    monkeypatch.undo()
    box.close()


def test_a_failed_fsync_keeps_the_batch_unsendable(tmp_path, monkeypatch):
    box = Outbox(tmp_path, OutboxConfig(directory=str(tmp_path), fsync="interval", fsync_interval_s=3600))
    box.append(_samples(5))

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    try:
        box.sync()
    except OSError:
        pass
    else:
        raise AssertionError("the fsync error was swallowed")
    assert box.pending(0, 10) == []
    monkeypatch.undo()
    box.sync()  # the retry syncs it
    assert [b.seq for b in box.pending(0, 10)] == [1]
    box.close()

"""kill -9 of a real vehicle process mid-write: recovery keeps every appended sample, no garbage."""

from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys

import numpy as np
import pytest

from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.store import Outbox

WRITER = pathlib.Path(__file__).with_name("crash_writer.py")
CHUNK = 5000


def run_and_kill(directory: pathlib.Path, policy: str, appends: int) -> int:
    """Start the writer, kill -9 it after ``appends`` confirmed appends; return the last confirmed count."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(directory), policy], stdout=subprocess.PIPE, text=True
    )
    confirmed = 0
    try:
        assert proc.stdout is not None
        for _ in range(appends):
            line = proc.stdout.readline()
            assert line, f"writer died early (rc={proc.poll()})"
            confirmed = int(line)
        os.kill(proc.pid, signal.SIGKILL)  # mid-write: it is appending the next chunk right now
    finally:
        proc.kill()
        proc.wait(10)
    for line in proc.stdout:  # appends confirmed between our last read and the kill
        confirmed = int(line)
    return confirmed


@pytest.mark.parametrize("policy", ["none", "batch"])
def test_recovery_after_kill_9_mid_write(tmp_path, policy):
    rng = random.Random(policy)
    for round_ in range(3):
        directory = tmp_path / f"round{round_}"
        confirmed = run_and_kill(directory, policy, rng.randint(3, 12))
        cfg = OutboxConfig(directory=str(directory), fsync=policy, segment_bytes=1 << 20, max_bytes=64 << 20)
        with Outbox(directory, cfg) as box:
            batches = box.pending(0, 1_000_000)
            seqs = [b.seq for b in batches]
            assert seqs == list(range(1, len(seqs) + 1)), "batch seqs must be 1..n without holes"
            got = np.concatenate([b.samples["source_seq"] for b in batches])
            # every confirmed sample is there, at most the interrupted append beyond, nothing invented
            assert confirmed <= len(got) <= confirmed + CHUNK
            assert np.array_equal(got, np.arange(len(got)))
            # and the log goes on after the cut
            assert box.append(np.zeros(1, batches[0].samples.dtype)) == [len(seqs) + 1]

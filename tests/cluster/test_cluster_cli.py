"""``vmw cluster up|status|down``: the whole local cluster starts, stores a batch, and stops."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from tests.gateway.helpers import ROOT
from vehicle_mw.cluster.pg_queries import PgQueries
from vehicle_mw.gateway.loadgen import WsVehicle, hello

from .fleet import PER, numbered


def vmw(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "vehicle_mw", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          timeout=180)  # fmt: skip


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cluster_up_stores_through_both_replicas_and_down_stops_everything(pg_server):
    root = tempfile.mkdtemp(prefix="vmw-test-cli-")  # under /tmp: reachable by the postgres user
    try:
        up = vmw("cluster", "up", "--dir", root)
        assert up.returncode == 0, up.stderr
        procs = json.loads(open(f"{root}/pids.json").read())  # noqa: PTH123
        assert [p["role"] for p in procs].count("gateway0") == 1 and len(procs) == 8
        status = vmw("cluster", "status", "--dir", root)
        assert status.returncode == 0 and "DOWN" not in status.stdout
        again = vmw("cluster", "up", "--dir", root)
        assert again.returncode == 2 and "already runs" in again.stderr

        async def send(port: int, vid: str) -> None:
            v = await WsVehicle.connect(f"ws://127.0.0.1:{port}/v1/link")
            await v.open(hello(vid))
            for seq in (1, 2, 3):
                await v.send(numbered(seq))
            assert await v.wait_ack(3, timeout=30) == 3
            await v.close()

        gws = [p for p in procs if p["role"].startswith("gateway")]
        for i, gw in enumerate(gws):
            asyncio.run(send(gw["ws_port"], f"CLI-{i}"))
        q = PgQueries(open(f"{root}/dsn").read().strip())  # noqa: PTH123
        deadline = time.monotonic() + 30
        while any(q.sample_count(f"CLI-{i}") < 3 * PER for i in range(len(gws))):
            assert time.monotonic() < deadline, "the sink workers did not store the batches"
            time.sleep(0.1)
        q.close()
        down = vmw("cluster", "down", "--dir", root)
        assert down.returncode == 0 and "postgresql" in down.stdout
        assert not [p["role"] for p in procs if alive(p["pid"])]
        assert vmw("cluster", "status", "--dir", root).returncode == 3
    finally:
        vmw("cluster", "down", "--dir", root)
        shutil.rmtree(root, ignore_errors=True)

"""Zero loss, zero duplicates through the cluster (vehicles -> 2 gateway replicas -> JetStream R3 on
3 NATS nodes -> 2 sink workers -> PostgreSQL) while one part fails, checked by source sequence in
PostgreSQL. Every server is real and started here."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from tests.gateway.helpers import ROOT, GatewayProcess, local_config
from vehicle_mw.cluster.local_nats import LocalNats, NatsMissing
from vehicle_mw.cluster.pg_queries import PgQueries

from .fleet import PER, Fleet

VEHICLES = 50
BATCHES = 40
PERIOD_S = 0.1  # each vehicle: 10 batches/s, so a stream lasts ~4 s


class Cluster:
    def __init__(self, root, dsn: str):
        self.root = root
        self.dsn = dsn
        self.nats = LocalNats(root / "nats", 3)
        self.dsn_file = root / "dsn"
        self.dsn_file.write_text(dsn)
        os.chmod(self.dsn_file, 0o600)
        self.gateways: list[GatewayProcess] = []
        self.workers: list[subprocess.Popen] = []

    def gateway_config(self, i: int):
        (self.root / f"gw{i}").mkdir(exist_ok=True)
        storage = {
            "backend": "jetstream",
            "dsn": self.dsn,
            "nats": self.nats.urls,
            "replicas": 3,
            "ack_timeout_s": 2.0,
        }
        return local_config(self.root / f"gw{i}", allow_anonymous=True, http_port=None, storage=storage,
                            gateway_id=f"gw{i}")  # fmt: skip

    def start_gateway(self, i: int) -> GatewayProcess:
        gw = GatewayProcess(self.gateway_config(i), self.root / f"gw{i}").start(timeout=60)
        if i < len(self.gateways):
            self.gateways[i] = gw
        else:
            self.gateways.append(gw)
        return gw

    def start_worker(self, i: int) -> subprocess.Popen:
        args = [
            sys.executable,
            "-m",
            "vehicle_mw.cluster.worker",
            "--dsn-file",
            str(self.dsn_file),
            "--ack-wait",
            "3",
        ]
        for url in self.nats.urls:
            args += ["--nats", url]
        proc = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(self.root / f"worker{i}.log").open("a")
        )
        if i < len(self.workers):
            self.workers[i] = proc
        else:
            self.workers.append(proc)
        return proc

    def start(self) -> None:
        self.nats.start()
        for i in range(2):
            self.start_gateway(i)
        for i in range(2):
            self.start_worker(i)

    @property
    def urls(self) -> list[str]:
        return [gw.ws_url for gw in self.gateways]

    def stop(self) -> None:
        for gw in self.gateways:
            gw.stop()
        for w in self.workers:
            if w.poll() is None:
                w.terminate()
                w.wait(15)
        self.nats.stop()


@pytest.fixture(scope="module")
def cluster(pg_server):
    import psycopg

    root = tempfile.mkdtemp(prefix="vmw-test-cluster-")
    name = f"cluster_{os.getpid()}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    import pathlib

    try:
        c = Cluster(pathlib.Path(root), pg_server.dsn.replace("dbname=vmw", f"dbname={name}"))
    except NatsMissing as exc:
        pytest.skip(str(exc))
    c.pg = pg_server
    c.start()
    yield c
    c.stop()
    shutil.rmtree(root, ignore_errors=True)


def check_exactly_once(dsn: str, fleet: Fleet, timeout: float = 30.0) -> None:
    """Wait until PostgreSQL holds every batch, then: each source sequence exactly once."""
    q = PgQueries(dsn)
    try:
        deadline = time.monotonic() + timeout
        expected = BATCHES * PER
        pending = [v.vehicle_id for v in fleet.vehicles]
        while pending:
            pending = [vid for vid in pending if q.sample_count(vid) < expected]
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} vehicles incomplete in PostgreSQL, e.g. {pending[0]}: "
                                     f"{q.sample_count(pending[0])} of {expected} samples")  # fmt: skip
            time.sleep(0.1)
        for v in fleet.vehicles:
            seqs = np.sort(q.source_seqs(v.vehicle_id) & ((1 << 40) - 1))
            assert len(seqs) == expected, f"{v.vehicle_id}: {len(seqs)} samples stored, {expected} sent"
            assert np.array_equal(seqs, np.arange(1, expected + 1)), f"{v.vehicle_id}: lost or duplicated"
    finally:
        q.close()


async def stream_with_fault(cluster: Cluster, prefix: str, fault, recover=None) -> Fleet:
    fleet = Fleet(prefix, VEHICLES, cluster.urls, BATCHES, PERIOD_S)
    fleet.start()
    await fleet.wait_acked(0.25, 60)
    await asyncio.to_thread(fault)
    await fleet.wait_acked(0.6, 60)  # progress with the part down
    if recover is not None:
        await asyncio.to_thread(recover)
    await fleet.finish(90)
    return fleet


def test_nats_node_sigkill_and_restart(cluster):
    node = cluster.nats.nodes[0]
    fleet = asyncio.run(stream_with_fault(cluster, "nk", lambda: cluster.nats.kill_node(node),
                                          lambda: cluster.nats.start_node(node)))  # fmt: skip
    check_exactly_once(cluster.dsn, fleet)


def test_gateway_replica_killed_vehicles_move_to_the_other(cluster):
    fleet = asyncio.run(stream_with_fault(cluster, "gk", cluster.gateways[0].kill))
    assert sum(v.reconnects for v in fleet.vehicles) >= VEHICLES // 2  # its vehicles did move
    check_exactly_once(cluster.dsn, fleet)
    cluster.start_gateway(0)


def test_sink_worker_killed_mid_copy(cluster):
    import psycopg

    killed = []

    def kill():
        """SIGKILL the first worker PostgreSQL sees inside a transaction (its INSERT or COPY)."""
        by_name = {f"vmw-sink-{w.pid}": i for i, w in enumerate(cluster.workers)}
        deadline = time.monotonic() + 20
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            while time.monotonic() < deadline:
                rows = conn.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE application_name = ANY(%s)"
                    " AND state IN ('active', 'idle in transaction') AND xact_start IS NOT NULL",
                    (list(by_name),),
                ).fetchall()
                if rows:
                    i = by_name[rows[0][0]]
                    cluster.workers[i].kill()
                    cluster.workers[i].wait(10)
                    killed.append(i)
                    return
        raise AssertionError("no worker was seen inside a transaction")

    fleet = asyncio.run(stream_with_fault(cluster, "wk", kill))
    check_exactly_once(cluster.dsn, fleet)  # the survivor takes the redelivered messages
    cluster.start_worker(killed[0])


def test_postgresql_restart(cluster):
    fleet = asyncio.run(stream_with_fault(cluster, "pg", cluster.pg.stop, cluster.pg.start))
    check_exactly_once(cluster.dsn, fleet)

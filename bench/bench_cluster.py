"""Fleet scale-out: durable samples/s through the cluster vs the SQLite gateway, same run.

Cluster path: simulated vehicles -> gateway replica(s) (jetstream backend) -> JetStream R3 on 3
NATS nodes -> 2 sink workers -> PostgreSQL; "durable" means the samples are in PostgreSQL (the
clock stops when the last one is committed there, not at the vehicle's last Ack). Beside it: the
single-process SQLite gateway on the same batches, and PostgreSQL's own COPY rate on the same rows
(store_batches in this process: the cluster's limit). Also bytes on disk per sample and the p99 of
a one-signal range query with downsampling. Every server is started here and torn down.

    python -m bench.bench_cluster [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml

from bench.bench_gateway import SAMPLES_PER_BATCH, Server, make_batches, stream_vehicle
from bench.common import machine_line

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cluster.md"
LIMITS = {"messages_per_s": 1e6, "bytes_per_s": 1e10}


class Replica:
    """``vmw gateway serve`` on the jetstream backend, in its own process."""

    def __init__(self, i: int, root: pathlib.Path, dsn: str, nats_urls: list[str]):
        d = root / f"gw{i}"
        d.mkdir(exist_ok=True)
        cfg = {"gateway_id": f"gw{i}", "grpc_port": 0, "ws_port": 0, "http_port": None,
               "allow_anonymous": True, "database": str(d / "gw.sqlite"), "limits": LIMITS,
               "storage": {"backend": "jetstream", "dsn": dsn, "nats": nats_urls, "replicas": 3}}  # fmt: skip
        (d / "gateway.yaml").write_text(yaml.safe_dump(cfg))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vehicle_mw", "gateway", "serve", "--config", str(d / "gateway.yaml")],
            stdout=subprocess.PIPE, stderr=(d / "gateway.log").open("a"), text=True, cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )  # fmt: skip
        line = self.proc.stdout.readline()
        m = re.search(r"websocket (\S+)", line)
        if not m:
            raise RuntimeError(f"replica {i} did not start: {(d / 'gateway.log').read_text()[-1000:]}")
        self.url = m.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def stored_samples(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(samples), 0) FROM batches").fetchone()[0])


def fresh_db(pg, name: str) -> str:
    import psycopg

    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return pg.dsn.replace("dbname=vmw", f"dbname={name}")


def bench_cluster(pg, nats, replicas: int, vehicles: int, batches_each: int, root: pathlib.Path) -> dict:
    from vehicle_mw.cluster.js_stream import STREAM

    dsn = fresh_db(pg, f"bench_r{replicas}")
    (root / "dsn").write_text(dsn)

    async def purge() -> None:  # a fresh stream per run: nothing left from the previous one
        import nats as natspy

        nc = await natspy.connect(servers=nats.urls)
        try:
            await nc.jetstream().delete_stream(STREAM)
        except Exception:  # noqa: BLE001 - not there yet
            pass
        await nc.close()

    asyncio.run(purge())
    data = [make_batches(v + 1, batches_each) for v in range(vehicles)]
    gws = [Replica(i, root, dsn, nats.urls) for i in range(replicas)]
    workers = []
    for i in range(2):
        cmd = [sys.executable, "-m", "vehicle_mw.cluster.worker", "--dsn-file", str(root / "dsn")]
        for url in nats.urls:
            cmd += ["--nats", url]
        workers.append(
            subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(root / f"w{i}.log").open("a"))
        )
    total = vehicles * batches_each * SAMPLES_PER_BATCH
    try:

        class _S:  # what stream_vehicle needs of a server
            def __init__(self, url):
                self.url = url

        t0 = time.perf_counter()

        async def run() -> None:
            await asyncio.gather(*(stream_vehicle(_S(gws[v % replicas].url), "websocket", v + 1, data[v])
                                   for v in range(vehicles)))  # fmt: skip

        asyncio.run(run())
        acked_s = time.perf_counter() - t0
        deadline = time.monotonic() + 300
        while (n := stored_samples(dsn)) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {n} of {total} samples reached PostgreSQL")
            time.sleep(0.05)
        durable_s = time.perf_counter() - t0
    finally:
        for gw in gws:
            gw.stop()
        for w in workers:
            w.terminate()
            w.wait(30)
    assert stored_samples(dsn) == total
    return {"path": f"cluster, {replicas} replica(s), JetStream R3, 2 workers", "samples": total,
            "seconds": durable_s, "acked_s": acked_s, "samples_per_s": total / durable_s}  # fmt: skip


def bench_sqlite(vehicles: int, batches_each: int, root: pathlib.Path) -> dict:
    import bench.bench_gateway as bg

    data = [make_batches(v + 1, batches_each) for v in range(vehicles)]
    server = Server("vmw", root)
    try:
        t0 = time.perf_counter()

        async def run() -> None:
            await asyncio.gather(
                *(stream_vehicle(server, "websocket", v + 1, data[v]) for v in range(vehicles))
            )

        asyncio.run(run())
        elapsed = time.perf_counter() - t0
    finally:
        server.stop()
    total = vehicles * batches_each * bg.SAMPLES_PER_BATCH
    return {"path": "SQLite gateway (one process, synchronous=normal)", "samples": total, "seconds": elapsed,
            "acked_s": elapsed, "samples_per_s": total / elapsed}  # fmt: skip


def bench_copy(pg, batches: int) -> tuple[dict, float, float]:
    """PostgreSQL's own rate on the same rows (encode + COPY, one transaction per 64 batches);
    then bytes per sample on disk and the range query p99 on what it stored."""
    import psycopg

    from vehicle_mw.cluster import pg_store
    from vehicle_mw.cluster.pg_queries import PgQueries
    from vehicle_mw.cluster.pg_schema import apply_schema
    from vehicle_mw.v1 import link_pb2

    dsn = fresh_db(pg, "bench_copy")
    payloads = [link_pb2.Uplink.FromString(b).batch for b in make_batches(1, batches)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_schema(conn)
        keys = pg_store.VehicleKeys()
        t0 = time.perf_counter()
        for i in range(0, len(payloads), 64):
            with conn.transaction():
                pg_store.store_batches(conn, keys, [("COPY", b, b.columns) for b in payloads[i : i + 64]])
        elapsed = time.perf_counter() - t0
        conn.execute("VACUUM ANALYZE chunks")
        conn.execute("VACUUM ANALYZE batches")
        size = conn.execute(
            "SELECT pg_total_relation_size('chunks') + pg_total_relation_size('batches')"
        ).fetchone()[0]
    n = batches * SAMPLES_PER_BATCH
    q = PgQueries(dsn)
    ts = [b.columns.source_ts_ns[0] for b in payloads]
    lat = []
    for i in range(50):
        start = ts[(i * 7) % len(ts)]
        t = time.perf_counter()
        out = q.series("COPY", 1 + i % 40, start, start + 3600 * 10**9, 600)
        lat.append(time.perf_counter() - t)
        assert out["count"] > 0
    q.close()
    row = {"path": "PostgreSQL COPY alone (store_batches, this process)", "samples": n, "seconds": elapsed,
           "acked_s": elapsed, "samples_per_s": n / elapsed}  # fmt: skip
    return row, size / n, float(np.percentile(lat, 99))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from vehicle_mw.cluster.local_nats import LocalNats
    from vehicle_mw.cluster.local_pg import LocalPostgres

    vehicles, batches_each = (4, 10) if args.quick else (16, 100)
    copy_batches = 200 if args.quick else 5000
    root = pathlib.Path(tempfile.mkdtemp(prefix="vmw-bench-cluster-"))
    os.chmod(root, 0o755)
    rows = []
    try:
        with LocalPostgres(root / "pg") as pg, LocalNats(root / "nats", 3) as nats:
            rows.append(bench_sqlite(vehicles, batches_each, root))
            for replicas in (1, 2):
                rows.append(bench_cluster(pg, nats, replicas, vehicles, batches_each, root))
            copy_row, bytes_per_sample, p99 = bench_copy(pg, copy_batches)
            rows.append(copy_row)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = [
        "## Cluster (JetStream + PostgreSQL)",
        "",
        f"- Machine: {machine_line()}",
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Command: `python -m bench.bench_cluster{' --quick' if args.quick else ''}`",
        f"- {vehicles} vehicles x {batches_each} batches x {SAMPLES_PER_BATCH} samples over WebSocket; "
        "everything (3 NATS nodes, PostgreSQL, replicas, workers, vehicles) on this machine",
        "",
        "| path | samples | last Ack (s) | durable in storage (s) | durable samples/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['samples']:,} | {r['acked_s']:.2f} | {r['seconds']:.2f}"
            f" | {r['samples_per_s']:,.0f} |"
        )
    lines += [
        "",
        f"- Bytes on disk per sample (chunks + batches tables and indexes,"
        f" {copy_batches * SAMPLES_PER_BATCH:,} samples of 40 signals, i % 97): {bytes_per_sample:.2f}",
        f"- One-hour one-signal range query, downsampled to 600 points, p99 of 50: {p99 * 1000:.1f} ms"
        f" (at {copy_batches * SAMPLES_PER_BATCH:,} stored samples, far from the issue's 10^8)",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

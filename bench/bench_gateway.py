"""Fleet gateway: connections per process, durable samples/s into SQLite, CAN receive -> durable.

Each measurement runs against the vehicle_mw gateway and, in the same run, against a raw
``websockets`` server doing the same I/O (``bench/gateway_peer.py``: Welcome, SQLite insert +
commit per batch, Ack; no auth, no dedup state, no limits). Servers run in their own process; the
simulated vehicles run in this one (they share the machine's cores with the server).

    python -m bench.bench_gateway [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import pathlib
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.common import machine_line

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "gateway.md"
SAMPLES_PER_BATCH = 1000


# ---------------------------------------------------------------------------------- servers


def _serve(kind: str, database: str) -> None:
    """Child process: run one server until killed, printing its WebSocket URL."""
    if kind == "peer":
        from bench.gateway_peer import main

        asyncio.run(main("127.0.0.1", 0, database))
        return
    from vehicle_mw.gateway import Gateway
    from vehicle_mw.manifest.gateway import GatewayConfig, GatewayLimits

    cfg = GatewayConfig(
        database=database,
        grpc_port=0,
        ws_port=0,
        http_port=None,
        allow_anonymous=True,
        sqlite_synchronous="normal",
        limits=GatewayLimits(messages_per_s=1e6, bytes_per_s=1e10),
    )

    async def run() -> None:
        async with Gateway(cfg) as gw:
            print(f"vmw {gw.ws_url} grpc {gw.grpc_target}", flush=True)
            await asyncio.Future()

    asyncio.run(run())


class Server:
    started = 0

    def __init__(self, kind: str, workdir: pathlib.Path):
        self.kind = kind
        Server.started += 1
        self.database = str(workdir / f"{kind}-{Server.started}.sqlite")  # a fresh database per run
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_gateway", "--serve", kind, "--db", self.database],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        line = self.proc.stdout.readline()
        m = re.search(r"(ws://\S+) grpc (\S+)", line)
        if not m:
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        self.url, self.grpc_target = m.group(1), m.group(2)

    def rss_kb(self) -> int:
        for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


# ---------------------------------------------------------------------------------- 1. connections


async def connect_many(server: Server, transport: str, n: int) -> list:
    from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, hello

    gate = asyncio.Semaphore(128)
    clients: list = []

    async def one(i: int) -> None:
        async with gate:
            if transport == "grpc":
                v = await GrpcVehicle.connect(server.grpc_target)
            else:
                v = await WsVehicle.connect(server.url)
            clients.append(v)
            first = await v.open(hello(f"VIN{i:014d}"), timeout=120)
            assert first.WhichOneof("msg") == "welcome", first

    await asyncio.gather(*(one(i) for i in range(n)))
    return clients


def bench_connections(kind: str, transport: str, n: int, workdir: pathlib.Path) -> dict:
    server = Server(kind, workdir)
    try:
        time.sleep(0.2)  # let the idle server settle before the baseline (measurement, not sync)
        before = server.rss_kb()

        async def run() -> float:
            t0 = time.perf_counter()
            clients = await connect_many(server, transport, n)
            elapsed = time.perf_counter() - t0
            result["after"] = server.rss_kb()
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            return elapsed

        result: dict = {}
        elapsed = asyncio.run(run())
        per_conn = (result["after"] - before) * 1024 / n
        return {
            "server": f"{'vehicle_mw gateway' if kind == 'vmw' else 'raw peer'} over {transport}",
            "connections": n,
            "rss_before_mb": before / 1024,
            "rss_after_mb": result["after"] / 1024,
            "per_conn_kb": per_conn / 1024,
            "connect_per_s": n / elapsed,
        }
    finally:
        server.stop()


# ---------------------------------------------------------------------------------- 2. throughput


def make_batches(vehicle: int, count: int) -> list[bytes]:
    from vehicle_mw.v1 import link_pb2

    n = SAMPLES_PER_BATCH
    sig = list(range(1, 41)) * (n // 40)
    out = []
    now = time.time_ns()
    for seq in range(1, count + 1):
        base = (seq - 1) * n
        cols = link_pb2.SampleColumns(
            signal_id=sig,
            source_id=[vehicle] * n,
            source_ts_ns=[now + base + i for i in range(n)],
            source_seq=list(range(base + 1, base + n + 1)),
            value=[float(i % 97) for i in range(n)],
        )
        out.append(link_pb2.Uplink(batch=link_pb2.SampleBatch(seq=seq, columns=cols)).SerializeToString())
    return out


async def stream_vehicle(
    server: Server, transport: str, vid: int, batches: list[bytes], window: int = 16
) -> None:
    from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, hello

    if transport == "grpc":
        v = await GrpcVehicle.connect(server.grpc_target)
    else:
        v = await WsVehicle.connect(server.url)
    await v.open(hello(f"BENCH{vid:012d}"))
    acked, sent = 0, 0
    while acked < len(batches):
        while sent < len(batches) and sent - acked < window:
            await v.send_raw(batches[sent])
            sent += 1
        acked = await v.wait_ack(acked + 1, timeout=60)
    await v.close()


def bench_end_to_end(
    kind: str, transport: str, vehicles: int, batches_each: int, workdir: pathlib.Path
) -> dict:
    data = [make_batches(v + 1, batches_each) for v in range(vehicles)]
    server = Server(kind, workdir)
    try:
        t0 = time.perf_counter()

        async def run() -> None:
            await asyncio.gather(
                *(stream_vehicle(server, transport, v + 1, data[v]) for v in range(vehicles))
            )

        asyncio.run(run())
        elapsed = time.perf_counter() - t0
    finally:
        server.stop()
    conn = sqlite3.connect(server.database)
    stored = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    conn.close()
    total = vehicles * batches_each * SAMPLES_PER_BATCH
    assert stored == total, f"{kind}: stored {stored} of {total}"
    label = f"{'vehicle_mw gateway' if kind == 'vmw' else 'raw peer'} over {transport}"
    return {"server": label, "samples": total, "seconds": elapsed, "samples_per_s": total / elapsed}


def bench_sink(synchronous: str, batches: int, workdir: pathlib.Path) -> dict:
    """The SQLite sink alone (no network): batches of 1000 samples, group commits."""
    from vehicle_mw.gateway import SqliteSink
    from vehicle_mw.v1 import link_pb2

    payloads = [link_pb2.Uplink.FromString(b).batch for b in make_batches(1, batches)]
    sink = SqliteSink(workdir / f"sink-{synchronous}.sqlite", synchronous)

    async def run() -> float:
        await sink.start()
        t0 = time.perf_counter()
        futs = [sink.write_batch("SINK", b, b.columns) for b in payloads]
        await asyncio.gather(*futs)
        elapsed = time.perf_counter() - t0
        await sink.stop()
        return elapsed

    elapsed = asyncio.run(run())
    n = batches * SAMPLES_PER_BATCH
    return {
        "server": f"SqliteSink synchronous={synchronous}",
        "samples": n,
        "seconds": elapsed,
        "samples_per_s": n / elapsed,
    }


def bench_raw_sqlite(batches: int, workdir: pathlib.Path) -> dict:
    """Peer of the sink: sqlite3 executemany, one COMMIT per batch (synchronous=NORMAL, WAL)."""
    from vehicle_mw.gateway.sqlite_schema import SCHEMA
    from vehicle_mw.v1 import link_pb2

    payloads = [link_pb2.Uplink.FromString(b).batch for b in make_batches(1, batches)]
    conn = sqlite3.connect(workdir / "raw.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    t0 = time.perf_counter()
    for b in payloads:
        c = b.columns
        n = len(c.signal_id)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO samples VALUES (1, ?, ?, ?, NULL, ?, ?, ?)",
            zip(c.signal_id, c.source_ts_ns, c.value, c.source_id, c.source_seq, [b.seq] * n, strict=True),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    n = batches * SAMPLES_PER_BATCH
    return {
        "server": "raw sqlite3, COMMIT per batch",
        "samples": n,
        "seconds": elapsed,
        "samples_per_s": n / elapsed,
    }


# ---------------------------------------------------------------------------------- 3. latency


def bench_latency(kind: str, seconds: float, workdir: pathlib.Path) -> dict:
    """The demo's vehicle runtime at the trace's own rate; latency = gateway insert - CAN receive."""
    from vehicle_mw.demo.manifests import machine_manifest, write
    from vehicle_mw.runtime import VehicleRuntime

    server = Server(kind, workdir)
    try:
        folder = workdir / f"vehicle-{kind}"
        folder.mkdir(parents=True, exist_ok=True)
        machine = write(
            folder / "machine.yaml",
            machine_manifest(f"bench-latency-{kind}-{os.getpid()}", 1.0),
            "machine manifest",
        )
        channel = {
            "vehicle_id": "LATENCY000000001",
            "websocket_url": server.url,
            "outbox": {"directory": "outbox", "fsync": "batch"},
        }
        runtime = VehicleRuntime.from_manifests(machine, write(folder / "channel.yaml", channel, "channel"))
        runtime.start()
        time.sleep(seconds)  # the measurement window (the trace plays in real time)
        runtime.stop(30.0)  # drains the rings and the outbox to the gateway
        frames = sum(b["frames"] for b in runtime.final_counters["can"]["buses"].values())
    finally:
        server.stop()
    conn = sqlite3.connect(server.database)
    lat = (
        np.array(
            [
                r[0]
                for r in conn.execute(
                    "SELECT b.stored_ns - s.ts_ns FROM samples s JOIN batches b"
                    " ON b.vehicle_key = s.vehicle_key AND b.seq = s.batch_seq"
                )
            ],
            dtype=np.float64,
        )
        / 1e6
    )
    conn.close()
    return {
        "server": "vehicle_mw gateway" if kind == "vmw" else "raw peer",
        "frames": frames,
        "samples": len(lat),
        "frames_per_s": frames / seconds,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
    }


# ---------------------------------------------------------------------------------- report


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> list[str]:
    out = ["| " + " | ".join(h for h, _, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(format(r[k], f) if f else str(r[k]) for _, k, f in cols) + " |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_gateway")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", choices=["vmw", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.db)
        return 0
    n_conn = 2000 if args.quick else 10_000
    vehicles, batches_each = (4, 25) if args.quick else (8, 100)
    sink_batches = 100 if args.quick else 1000
    lat_s = 8.0 if args.quick else 30.0
    with tempfile.TemporaryDirectory(prefix="vmw-bench-gw-") as tmp:
        work = pathlib.Path(tmp)
        conns = []
        for transport, n in (("websocket", n_conn), ("grpc", n_conn // 5)):
            for kind in ("vmw", "peer"):
                print(f"connections: {kind} over {transport} x {n} ...", flush=True)
                conns.append(bench_connections(kind, transport, n, work))
        thr = [
            bench_sink("full", sink_batches, work),
            bench_sink("normal", sink_batches, work),
            bench_raw_sqlite(sink_batches, work),
        ]
        e2e = []
        for transport in ("websocket", "grpc"):
            for kind in ("vmw", "peer"):
                print(f"end-to-end throughput: {kind} over {transport} ...", flush=True)
                e2e.append(bench_end_to_end(kind, transport, vehicles, batches_each, work))
        lat = []
        for kind in ("vmw", "peer"):
            print(f"latency at the trace's rate: {kind} ({lat_s:.0f} s) ...", flush=True)
            lat.append(bench_latency(kind, lat_s, work))

    lines = [
        "## Gateway",
        "",
        f"- Command: `python -m bench.bench_gateway{' --quick' if args.quick else ''}`"
        f" ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)",
        f"- Machine: {machine_line()}",
        "- Peer: raw `websockets` 17.4 and `grpcio` 1.85 servers in the same kind of child process doing the"
        " same I/O (`bench/gateway_peer.py`: Welcome, SQLite insert + COMMIT per batch, Ack; no auth, dedup"
        " state, rate limits or group commit). Vehicles are simulated in the benchmark process on the same"
        " 2 cores.",
        "",
        "### Connected vehicles per process (Hello/Welcome done, idle)",
        "",
        *table(
            conns,
            [
                ("server", "server", ""),
                ("connections", "connections", ","),
                ("RSS before (MB)", "rss_before_mb", ".1f"),
                ("RSS after (MB)", "rss_after_mb", ".1f"),
                ("RSS per connection (KB)", "per_conn_kb", ".1f"),
                ("connects/s", "connect_per_s", ",.0f"),
            ],
        ),
        "",
        "Target: >= 10,000 connections at <= 20 KB each (WebSocket). gRPC at a fifth of the count: one"
        " client channel per vehicle makes the benchmark process itself the limit.",
        "",
        "### Durable samples/s into SQLite (batches of 1,000 samples)",
        "",
        *table(
            thr + e2e,
            [
                ("path", "server", ""),
                ("samples", "samples", ","),
                ("s", "seconds", ".2f"),
                ("samples/s", "samples_per_s", ",.0f"),
            ],
        ),
        "",
        f"Rows 1-3: storage alone, in process. Then end to end over WebSocket and gRPC, {vehicles}"
        f" vehicles x {batches_each} batches, 16 batches in flight each, acked after commit"
        " (gateway: synchronous=NORMAL, group commit). Target: >= 250,000 samples/s.",
        "",
        "### CAN receive -> durable at the gateway, at the trace's own rate",
        "",
        *table(
            lat,
            [
                ("server", "server", ""),
                ("frames", "frames", ","),
                ("frames/s", "frames_per_s", ".1f"),
                ("samples", "samples", ","),
                ("p50 ms", "p50_ms", ".1f"),
                ("p99 ms", "p99_ms", ".1f"),
                ("max ms", "max_ms", ".1f"),
            ],
        ),
        "",
        "The demo's vehicle pipeline (`vehicle_mw/demo/data/gnss_drive.log` replayed at speed 1: replay ->"
        " frame ring -> native decode -> executor -> durable outbox -> channel over WebSocket) into each"
        " server; latency = the server's insert time of the batch - the frame's receive timestamp, per"
        f" sample, over {lat_s:.0f} s. Target: p99 <= 100 ms.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

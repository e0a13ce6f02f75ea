"""Gateway under pre-authentication attack: memory, descriptors, legitimate connects, a good vehicle's acks.

A real gateway runs in its own process (TLS on the vehicle endpoints, HTTP API on). This process
keeps 2,000 hostile connections open against it (re-opening each as soon as the gateway cuts it):
WebSocket upgrades that send a partial 8 MiB frame, gRPC streams whose first message is 8 MiB,
TLS connections that never finish the handshake, and slowloris HTTP requests. Meanwhile one
well-behaved vehicle streams batches over WebSocket/TLS and a new vehicle connects every 0.5 s.
The comparison is the same good vehicle (and connects) with no attack, in the same run.

    python -m bench.bench_reliability [--quick]
    python -m bench.bench_reliability --only ws_partial_frame --seconds 6 --warmup 5   # a direction check

With ``--only`` (phases: none, all, or a MIX kind) or ``--seconds`` the rows are printed and
bench/results/reliability.md is left alone: only a full run writes the section.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import pathlib
import resource
import ssl
import subprocess
import sys
import tempfile
import time

import grpc
import numpy as np
from websockets.asyncio.client import connect

from bench.common import machine_line, write_section
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, hello
from vehicle_mw.gateway.pki import make_ca, make_server_cert
from vehicle_mw.v1 import link_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
PER_BATCH = 100
BATCHES_PER_S = 50
ATTACK_CA = ""  # path of the CA certificate, handed to the attacker process
MIX = {"ws_partial_frame": 900, "grpc_8mib_message": 100, "tls_idle_handshake": 500, "http_slowloris": 500}


def _serve(work: pathlib.Path) -> None:
    """Child process: the gateway, printing its endpoints."""
    from vehicle_mw.gateway import Gateway
    from vehicle_mw.gateway.event_loop import run as run_gateway
    from vehicle_mw.manifest.gateway import GatewayConfig, GatewayTls

    cfg = GatewayConfig(
        database=str(work / "gw.sqlite"),
        grpc_port=0,
        ws_port=0,
        http_port=0,
        allow_anonymous=True,
        sqlite_synchronous="normal",
        tls=GatewayTls(
            cert=str(work / "server" / "localhost.crt"), key=str(work / "server" / "localhost.key")
        ),
    )

    async def run() -> None:
        async with Gateway(cfg) as gw:
            print(f"{gw.ws_url} {gw.grpc_target} {gw.http_port}", flush=True)
            await asyncio.Future()

    run_gateway(run())  # the loop `vmw gateway serve` runs


class Probe:
    """RSS and descriptors of the gateway process, sampled."""

    def __init__(self, pid: int):
        self.pid = pid
        self.rss_mb: list[float] = []
        self.fds: list[int] = []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                status = pathlib.Path(f"/proc/{self.pid}/status").read_text()
                rss_kb = int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
                self.rss_mb.append(rss_kb / 1024)
                self.fds.append(len(os.listdir(f"/proc/{self.pid}/fd")))
            except (OSError, StopIteration):
                pass
            await asyncio.sleep(0.2)


async def good_vehicle(url: str, ctx: ssl.SSLContext, seconds: float, vid: str) -> list[float]:
    """Ack latencies (ms) of a vehicle sending PER_BATCH-sample batches at BATCHES_PER_S."""
    v = await WsVehicle.connect(url, ctx)
    await v.open(hello(vid))
    lat: list[float] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    seq = 0
    while loop.time() < end:
        seq += 1
        now = time.time_ns()
        cols = link_pb2.SampleColumns(
            signal_id=[1] * PER_BATCH,
            source_id=[1] * PER_BATCH,
            source_ts_ns=[now] * PER_BATCH,
            source_seq=list(range(seq * PER_BATCH, (seq + 1) * PER_BATCH)),
            value=[float(seq)] * PER_BATCH,
        )
        t0 = time.perf_counter()
        await v.send(link_pb2.Uplink(batch=link_pb2.SampleBatch(seq=seq, created_ns=now, columns=cols)))
        await v.wait_ack(seq, timeout=60)
        lat.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(max(0.0, 1 / BATCHES_PER_S - lat[-1] / 1000))
    await v.close()
    return lat


async def connects(url: str, ctx: ssl.SSLContext, seconds: float, tag: str) -> tuple[int, int]:
    """(welcomed, tried): a new vehicle connects every 0.5 s and must be welcomed within 10 s."""
    ok = tried = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        tried += 1
        try:
            v = await asyncio.wait_for(WsVehicle.connect(url, ctx), 10)
            first = await v.open(hello(f"VIN-{tag}-{tried}"), timeout=10)
            ok += first is not None and first.WhichOneof("msg") == "welcome"
            await v.close()
        except (OSError, TimeoutError, ConnectionError, Exception):  # noqa: BLE001 - a failed connect counts
            pass
        await asyncio.sleep(0.5)
    return ok, tried


async def hostile(kind: str, ws_url: str, grpc_target: str, http_port: int, ca: bytes, stop: asyncio.Event):
    """One hostile connection, re-opened whenever the gateway closes it."""
    host, ws_port = ws_url.split("//")[1].split("/")[0].split(":")
    ctx = ssl.create_default_context(cadata=ca.decode())
    while not stop.is_set():
        try:
            if kind == "ws_partial_frame":
                async with connect(ws_url, ssl=ctx, compression=None, open_timeout=30) as ws:
                    ws.transport.write(b"\x82\xff" + (8 << 20).to_bytes(8, "big") + b"\0" * 4 + b"\0" * 65536)
                    await asyncio.wait_for(ws.wait_closed(), 30)
            elif kind == "grpc_8mib_message":
                creds = grpc.ssl_channel_credentials(ca)
                g = await GrpcVehicle.connect(grpc_target, creds, server_name="localhost")
                try:
                    await g.send_raw(b"\x0a" + b"\0" * (8 << 20))
                    await g.recv(timeout=30)
                finally:
                    await g.close()
            elif kind == "tls_idle_handshake":
                _r, w = await asyncio.open_connection(host, int(ws_port))  # TCP only, TLS never started
                await asyncio.wait_for(_r.read(), 60)
                w.close()
            else:
                r, w = await asyncio.open_connection(host, http_port)
                w.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                await asyncio.wait_for(r.read(), 60)
                w.close()
        except (OSError, TimeoutError, Exception):  # noqa: BLE001 - the attacker just retries
            await asyncio.sleep(0.1)


async def attack_forever(ws_url: str, grpc_target: str, http_port: int, ca: bytes) -> None:
    """Attacker process: keep every hostile connection of MIX open until killed."""
    stop = asyncio.Event()
    only = os.environ.get("VMW_BENCH_ATTACK_ONLY")  # one kind of attack alone (the per-kind rows)
    tasks = [
        asyncio.create_task(hostile(kind, ws_url, grpc_target, http_port, ca, stop))
        for kind, n in MIX.items()
        if not only or kind == only
        for _ in range(n)
    ]
    await asyncio.gather(*tasks)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


async def phase(
    name: str,
    pid: int,
    ws_url: str,
    grpc_target: str,
    http_port: int,
    ca: bytes,
    seconds: float,
    attack: bool | str,
    warmup: float = 8.0,
) -> dict:
    ctx = ssl.create_default_context(cadata=ca.decode())
    stop = asyncio.Event()
    probe = Probe(pid)
    probing = asyncio.create_task(probe.run(stop))
    attacker = None
    if attack:  # in its own process, so the attacker's CPU does not delay the good vehicle's event loop
        env = dict(os.environ, VMW_BENCH_ATTACK_ONLY="" if attack is True else attack)
        attacker = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_reliability", "--attack", ws_url, grpc_target, str(http_port)]
            + [ATTACK_CA],
            cwd=ROOT,
            env=env,
        )
        await asyncio.sleep(warmup)  # let the flood build up before measuring
    tag = "".join(c if c.isalnum() else "-" for c in name)  # vehicle ids: letters, digits, -
    lat, (ok, tried) = await asyncio.gather(
        good_vehicle(ws_url, ctx, seconds, f"GOOD-{tag}"), connects(ws_url, ctx, seconds, tag)
    )
    stop.set()
    if attacker is not None:
        attacker.terminate()
        attacker.wait(30)
    await probing
    return {
        "phase": name,
        "rss_peak_mb": max(probe.rss_mb),
        "fds_peak": max(probe.fds),
        "connect_ok": ok,
        "connect_tried": tried,
        "connect_pct": 100 * ok / max(1, tried),
        "p50": pct(lat, 50),
        "p99": pct(lat, 99),
        "acks": len(lat),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_reliability")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, help="measurement per phase (default 15, --quick 8)")
    parser.add_argument("--warmup", type=float, default=8.0, help="flood build-up before measuring")
    parser.add_argument(
        "--only", action="append", default=[], help="phase to run (none, all, or a kind); repeatable"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--attack", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the attacker needs 2,000+ descriptors too
    if args.serve:
        _serve(pathlib.Path(args.serve))
        return 0
    if args.attack:
        ws, target, port, ca_file = args.attack
        asyncio.run(attack_forever(ws, target, int(port), pathlib.Path(ca_file).read_bytes()))
        return 0
    seconds = args.seconds or (8.0 if args.quick else 15.0)
    partial = bool(args.only) or args.seconds is not None or args.warmup != 8.0
    with tempfile.TemporaryDirectory(prefix="vmw-bench-rel-") as tmp:
        work = pathlib.Path(tmp)
        ca = make_ca(work / "ca")
        make_server_cert(ca, work / "server")
        global ATTACK_CA
        ATTACK_CA = str(ca.cert)
        ca_pem = ca.cert.read_bytes()
        plan: list[tuple[str, bool | str]] = [("no attack (comparison)", False)]
        plan += [(f"{n} {k.replace('_', ' ')} only", k) for k, n in MIX.items()]
        plan += [(f"all {sum(MIX.values())} together", True)]
        if args.only:
            keys = {False: "none", True: "all"}
            plan = [(n, a) for n, a in plan if keys.get(a, a) in args.only]  # type: ignore[call-overload]
        rows, log_kib, alive = [], [], []
        for name, attack in plan:  # a fresh gateway per phase: RSS peaks do not carry over
            log_file = work / f"gateway-{len(rows)}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.bench_reliability", "--serve", str(work)],
                stdout=subprocess.PIPE,
                stderr=log_file.open("w"),
                text=True,
                cwd=ROOT,
            )
            try:
                assert proc.stdout is not None
                ws_url, grpc_target, http_port = proc.stdout.readline().split()
                row = asyncio.run(
                    phase(
                        name,
                        proc.pid,
                        ws_url,
                        grpc_target,
                        int(http_port),
                        ca_pem,
                        seconds,
                        attack,
                        args.warmup,
                    )
                )
                print(row, flush=True)
                rows.append(row)
                alive.append(proc.poll() is None)
            finally:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            log_kib.append(log_file.stat().st_size / 1024)
        log_bytes = max(log_kib) * 1024
    if partial:
        print("partial run (--only/--seconds/--warmup): bench/results/reliability.md not written")
        return 0
    hostile_total = sum(MIX.values())
    lines = [
        "## Reliability (gateway under pre-authentication attack)",
        "",
        f"- Command: `python -m bench.bench_reliability{' --quick' if args.quick else ''}`"
        f" ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)",
        f"- Machine: {machine_line()}; shared with other work while it ran (the load average says how much).",
        f"- Attack: {hostile_total} hostile connections held open by an attacker process on the same two"
        " cores (it keeps about one busy; each connection is re-opened as soon as the gateway cuts it): "
        + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in MIX.items())
        + ". Gateway in its own process on the event loop `vmw gateway serve` runs (authenticated"
        " sessions served first, 8 events of new connections per iteration), TLS on the vehicle"
        " endpoints, default limits.",
        f"- Good vehicle: WebSocket/TLS, {PER_BATCH}-sample batches at {BATCHES_PER_S}/s, latency = send ->"
        " cumulative Ack (after COMMIT). Legitimate connects: a new vehicle every 0.5 s,"
        " Welcome within 10 s.",
        "- Comparison: the same good vehicle and connects with no attack; each phase runs a fresh gateway"
        f" process for {seconds:.0f} s of measurement (after 8 s of flood build-up in attack phases).",
        "",
        "| phase | gateway RSS peak | descriptors peak | legit connects | ack p50 | ack p99 | acks |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['phase']} | {r['rss_peak_mb']:.0f} MB | {r['fds_peak']} |"
            f" {r['connect_ok']}/{r['connect_tried']} ({r['connect_pct']:.0f} %)"
            f" | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['acks']} |"
        )
    lines += [
        "",
        f"Largest gateway log of a phase: {log_bytes / 1024:.0f} KiB (repeated lines rate-limited);"
        f" gateway {'still running' if all(alive) else 'EXITED'} at the end of every phase."
        " Targets: RSS <= 256 MB with"
        " 2,000 hostile connections, 100 % legitimate connects, and the good vehicle keeps its acks"
        " (all of them, p99 <= 50 ms: the vehicle's whole receive -> durable budget).",
    ]
    path = write_section("reliability", "\n".join(lines))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

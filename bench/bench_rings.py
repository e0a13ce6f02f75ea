"""Ring throughput and latency across processes: vehicle_mw rings vs the queues a Python
user can pick today -- ``multiprocessing.Queue``, ``multiprocessing.Pipe``, ``faster_fifo``.

Each transport carries 16, 64 and 256-byte records from a producer process to the consumer
(this process): one record per call, and batched (256 records per call; the peers put lists /
joined buffers, faster_fifo ``put_many``). Latency is one-way: the producer stamps
CLOCK_MONOTONIC into the record every 200 us, the consumer blocks in its normal blocking get
(vmw: futex wait) and subtracts on arrival -- i.e. the blocking wake-up latency. The pure-C
thread-to-thread limit of the same SlotRing comes from bench/ring_c_bench.c, built here.

    python -m bench.bench_rings [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pathlib
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import faster_fifo

from bench.common import machine_line
from vehicle_mw.native import SlotRing, lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "rings.md"
SIZES = (16, 64, 256)
BATCH = 256
STAMP = struct.Struct("<Q")
LAT_GAP_S = 0.0002

# ---------------------------------------------------------------- producers (child processes)


def _pace(i: int, t0: float) -> None:
    delay = t0 + i * LAT_GAP_S - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def _records(size: int, n: int) -> list[bytes]:
    return [bytes([i % 251]) * size for i in range(n)]


def produce_vmw(name: str, size: int, n: int, batched: bool, latency: bool) -> None:
    ring = SlotRing.attach(name)
    rec = bytes(size)
    if latency:
        t0 = time.perf_counter()
        for i in range(n):
            _pace(i, t0)
            while not ring.push(STAMP.pack(time.monotonic_ns()) + rec[8:]):
                ring.wait_space(1.0)
        return
    if batched:
        buf = rec * BATCH
        sent = 0
        while sent < n:
            k = min(BATCH, n - sent)
            done = 0
            while done < k:
                got = ring.push_batch(memoryview(buf)[done * size : k * size])
                done += got
                if not got:
                    ring.wait_space(1.0)
            sent += k
        return
    push, wait_space = ring.push, ring.wait_space
    for _ in range(n):
        while not push(rec):
            wait_space(1.0)


def produce_peer(kind: str, q: Any, size: int, n: int, batched: bool, latency: bool) -> None:
    rec = bytes(size)
    put: Callable[[Any], Any]
    if kind == "pipe":
        put = q.send_bytes
    elif kind == "faster_fifo" and batched:
        put = q.put_many
    else:
        put = q.put
    if latency:
        t0 = time.perf_counter()
        for i in range(n):
            _pace(i, t0)
            put(STAMP.pack(time.monotonic_ns()) + rec[8:])
        return
    if batched:
        chunk = [rec] * BATCH
        joined = rec * BATCH
        for sent in range(0, n, BATCH):
            k = min(BATCH, n - sent)
            put(joined[: k * size] if kind == "pipe" else chunk[:k])
        return
    for _ in range(n):
        put(rec)


# ---------------------------------------------------------------- consumers (this process)


def consume_vmw(ring: SlotRing, size: int, n: int, batched: bool, on_rec: Callable | None) -> float:
    got = 0
    t0 = None
    if batched:
        while got < n:
            data = ring.pop_batch(4096)
            if not data:
                ring.wait(5.0)
                continue
            t0 = t0 or time.perf_counter()
            got += len(data) // size
    else:
        pop, wait = ring.pop, ring.wait
        while got < n:
            rec = pop()
            if rec is None:
                wait(5.0)
                continue
            if on_rec:
                on_rec(rec)
            t0 = t0 or time.perf_counter()
            got += 1
    return t0


def consume_peer(kind: str, q: Any, size: int, n: int, batched: bool, on_rec: Callable | None) -> float:
    got = 0
    t0 = None
    while got < n:
        if kind == "pipe":
            data = q.recv_bytes()
            k = len(data) // size
            item = data
        elif kind == "faster_fifo" and batched:
            items = q.get_many(timeout=30, max_messages_to_get=4096)
            k = len(items)
            item = None
        else:
            item = q.get(timeout=30)
            k = len(item) if batched else 1
        if on_rec and item is not None:
            on_rec(item)
        t0 = t0 or time.perf_counter()
        got += k
    return t0


# ---------------------------------------------------------------- one measurement


def run(kind: str, size: int, n: int, batched: bool, latency: bool = False) -> dict[str, Any]:
    """Move n records; returns msgs/s (first to last record) and, for latency runs, percentiles."""
    ctx = mp.get_context("fork")
    lat: list[int] = []

    def stamp(rec: bytes) -> None:
        lat.append(time.monotonic_ns() - STAMP.unpack_from(rec)[0])

    on_rec = stamp if latency else None
    ring = None
    if kind == "vmw":
        name = f"vmw_bench_rings_{os.getpid()}"
        lib.vmw_ring_unlink(name.encode())
        ring = SlotRing.create(name, slot_size=size, capacity=65536)
        proc = ctx.Process(target=produce_vmw, args=(name, size, n, batched, latency))
    else:
        if kind == "mp.Queue":
            q_prod = q_cons = ctx.Queue()
        elif kind == "mp.Pipe":
            q_cons, q_prod = ctx.Pipe(duplex=False)
        else:
            q_prod = q_cons = faster_fifo.Queue(max_size_bytes=64 * 1024 * 1024)
        peer = {"mp.Queue": "queue", "mp.Pipe": "pipe", "faster_fifo": "faster_fifo"}[kind]
        proc = ctx.Process(target=produce_peer, args=(peer, q_prod, size, n, batched, latency))
    proc.start()
    try:
        if ring is not None:
            t0 = consume_vmw(ring, size, n, batched, on_rec)
        else:
            t0 = consume_peer(peer, q_cons, size, n, batched, on_rec)
        t1 = time.perf_counter()
    finally:
        proc.join(60)
        if ring is not None:
            ring.unlink()
            ring.close()
    out: dict[str, Any] = {"rate": (n - 1) / (t1 - t0) if t1 > t0 else float("nan")}
    if latency:
        lat.sort()
        out["p50_us"] = lat[len(lat) // 2] / 1000
        out["p99_us"] = lat[int(len(lat) * 0.99)] / 1000
    return out


def c_limit(size: int, batch: int, n: int, mode: str = "threads") -> float:
    """msgs/s of ring_c_bench.c: producer and consumer threads on the same SlotRing, or
    (mode "proc") a forked producer process attached by name -- C-to-C across processes."""
    exe = pathlib.Path(tempfile.gettempdir()) / "vmw_ring_c_bench"
    srcs = ["bench/ring_c_bench.c", "native/src/ring_slot.c", "native/src/shm.c", "native/src/wait.c"]
    cmd = ["gcc", "-std=gnu11", "-O2", "-Inative/include", *srcs, "-o", str(exe), "-lpthread", "-lrt"]
    subprocess.run(cmd, cwd=ROOT, check=True)
    argv = [str(exe), str(size), str(batch), str(n), mode]
    rates = [float(subprocess.run(argv, check=True, capture_output=True, text=True).stdout) for _ in range(3)]
    return statistics.median(rates)


def idle_cpu(seconds: float) -> float:
    """CPU% of a vmw consumer blocked in wait() on an empty ring."""
    name = f"vmw_bench_idle_{os.getpid()}"
    lib.vmw_ring_unlink(name.encode())
    ring = SlotRing.create(name, slot_size=16, capacity=1024)
    before = resource.getrusage(resource.RUSAGE_THREAD)
    t0 = time.perf_counter()
    ring.wait(seconds)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_THREAD)
    ring.unlink()
    ring.close()
    return 100 * ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / wall


# ---------------------------------------------------------------- report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    q = args.quick
    counts = {  # (per-call, batched) records per run
        "vmw": (200_000 if q else 1_000_000, 2_000_000 if q else 10_000_000),
        "mp.Queue": (20_000 if q else 100_000, 200_000 if q else 1_000_000),
        "mp.Pipe": (20_000 if q else 100_000, 500_000 if q else 2_000_000),
        "faster_fifo": (20_000 if q else 100_000, 500_000 if q else 2_000_000),
    }
    lat_n = 500 if q else 3000
    reps = 1 if q else 3
    rows = []
    for kind in counts:  # warm-up: imports, page faults, CPU frequency
        run(kind, 64, 20_000, False)
    for size in SIZES:
        row: dict[str, Any] = {"size": size}
        for kind, (n_call, n_batch) in counts.items():
            rates = [run(kind, size, n_call, False)["rate"] for _ in range(reps)]
            row[(kind, "call")] = statistics.median(rates)
            row[(kind, "batch")] = statistics.median(
                run(kind, size, n_batch, True)["rate"] for _ in range(reps)
            )
            row[(kind, "lat")] = run(kind, size, lat_n, False, latency=True)
            print(
                f"{size:4d} B {kind:12s} per-call {row[(kind, 'call')]:>12,.0f}/s  batched "
                f"{row[(kind, 'batch')]:>13,.0f}/s  latency p50/p99 {row[(kind, 'lat')]['p50_us']:.0f}/"
                f"{row[(kind, 'lat')]['p99_us']:.0f} us",
                flush=True,
            )
        row["c_call"] = c_limit(size, 1, 2_000_000 if q else 10_000_000)
        row["c_batch"] = c_limit(size, BATCH, 10_000_000 if q else 50_000_000)
        row["cp_call"] = c_limit(size, 1, 2_000_000 if q else 10_000_000, "proc")
        row["cp_batch"] = c_limit(size, BATCH, 10_000_000 if q else 50_000_000, "proc")
        cp_call, cp_batch = row["cp_call"], row["cp_batch"]
        print(f"{size:4d} B C-to-C processes per-call {cp_call:,.0f}/s batched {cp_batch:,.0f}/s")
        print(f"{size:4d} B C limit per-call {row['c_call']:,.0f}/s batched {row['c_batch']:,.0f}/s")
        rows.append(row)
    idle = idle_cpu(1.0 if q else 3.0)
    print(f"idle consumer CPU: {idle:.2f}%")
    if not q:
        write_markdown(rows, idle, reps, lat_n)


def write_markdown(rows: list[dict[str, Any]], idle: float, reps: int, lat_n: int) -> None:
    peers = ["mp.Queue", "mp.Pipe", "faster_fifo"]
    lines = [
        "## Shared-memory rings (`bench_rings`)",
        "",
        "Producer process -> consumer process, records of 16/64/256 bytes. vmw = `SlotRing` from Python "
        "(`push`/`pop` per record; `push_batch`/`pop_batch` for batches of 256). Peers, same run: "
        "`multiprocessing.Queue` (put/get; batched = a list of 256 per put), `multiprocessing.Pipe` "
        "(send_bytes/recv_bytes; batched = 256 records joined), `faster_fifo` 1.5.2 (put/get; batched = "
        f"put_many/get_many). Throughput: median of {reps} runs, first to last record. Latency: one-way, "
        f"{lat_n} records stamped with CLOCK_MONOTONIC every 200 us, consumer in its blocking get "
        "(vmw: futex wait), i.e. blocking wake-up latency. C limit: `bench/ring_c_bench.c`, two threads "
        "on the same shared-memory SlotRing; C-to-C processes: the same with a forked producer "
        "process attached by name. Ratios in bold compare with mp.Queue used one record per call. "
        "Targets: per-call >= 12x mp.Queue, batched >= 40x, C-to-C within 1.5x of the C limit, "
        "wake-up p99 <= 100 us, idle ~0% CPU.",
        "",
        f"- Machine: {machine_line()}",
        "- Command: `python -m bench.bench_rings`",
        f"- Idle vmw consumer blocked in `wait()`: **{idle:.2f}% CPU**",
        "",
        "### Throughput (messages/s)",
        "",
        "| record | mode | vmw | mp.Queue | mp.Pipe | faster_fifo | vmw / mp.Queue "
        "| vmw / mp.Queue per call | vmw / faster_fifo | C-to-C processes | C threads limit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for mode, label, cp, c in (
            ("call", "per call", r["cp_call"], r["c_call"]),
            ("batch", "batched 256", r["cp_batch"], r["c_batch"]),
        ):
            v = r[("vmw", mode)]
            cells = " | ".join(f"{r[(p, mode)]:,.0f}" for p in peers)
            lines.append(
                f"| {r['size']} B | {label} | {v:,.0f} | {cells} | {v / r[('mp.Queue', mode)]:.1f}x | "
                f"**{v / r[('mp.Queue', 'call')]:.1f}x** | {v / r[('faster_fifo', mode)]:.1f}x | "
                f"{cp:,.0f} | {c:,.0f} |"
            )
    lines += [
        "",
        "### One-way latency, blocking consumer (us, p50 / p99)",
        "",
        "| record | vmw | mp.Queue | mp.Pipe | faster_fifo |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cells = " | ".join(
            f"{r[(k, 'lat')]['p50_us']:.0f} / {r[(k, 'lat')]['p99_us']:.0f}" for k in ["vmw", *peers]
        )
        lines.append(f"| {r['size']} B | {cells} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())

"""Outbox benchmark: append rate per fsync policy, next to raw file appends and SQLite doing the same.

    python -m bench.bench_outbox [--quick]

Each append is one batch of SAMPLE records (the shape a decoder hands over); the outbox encodes it
into its wire encoding and writes that. Peers, same run, same samples, same folder: raw ``os.write``
of the raw records (+ ``fsync`` per the same policy) is the floor; SQLite (WAL, one INSERT of the
batch blob per transaction) is the usual store-and-forward choice.
Results: ``bench/results/outbox.md``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sqlite3
import statistics
import sys
import tempfile
import time

import numpy as np

from bench.common import machine_line
from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE, SAMPLE_SIZE
from vehicle_mw.native.wire import columns_bytes
from vehicle_mw.store import Outbox

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "outbox.md"
POLICIES = ("batch", "interval", "none")


def batch(n: int) -> np.ndarray:
    s = np.zeros(n, SAMPLE_DTYPE)
    s["source_seq"] = np.arange(n)
    s["value"] = np.random.default_rng(1).random(n)
    return s


def run_outbox(folder: pathlib.Path, policy: str, appends: int, data: np.ndarray) -> float:
    cfg = OutboxConfig(directory=str(folder), fsync=policy, max_bytes=1 << 30, max_batch_samples=len(data))
    with Outbox(folder, cfg) as box:
        t0 = time.perf_counter()
        for _ in range(appends):
            box.append(data)
        box.sync()
        return appends / (time.perf_counter() - t0)


def run_raw(folder: pathlib.Path, policy: str, appends: int, data: np.ndarray) -> float:
    payload = data.tobytes()
    fd = os.open(folder / "raw.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    last = time.monotonic()
    try:
        t0 = time.perf_counter()
        for _ in range(appends):
            os.write(fd, payload)
            if policy == "batch" or (policy == "interval" and time.monotonic() - last >= 0.2):
                os.fsync(fd)
                last = time.monotonic()
        if policy != "none":
            os.fsync(fd)
        return appends / (time.perf_counter() - t0)
    finally:
        os.close(fd)


def run_sqlite(folder: pathlib.Path, policy: str, appends: int, data: np.ndarray) -> float:
    db = sqlite3.connect(folder / "peer.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        f"PRAGMA synchronous={'FULL' if policy == 'batch' else 'NORMAL' if policy == 'interval' else 'OFF'}"
    )
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, priority INTEGER, data BLOB)")
    payload = data.tobytes()
    try:
        t0 = time.perf_counter()
        for i in range(appends):
            db.execute("INSERT INTO outbox VALUES (?, 0, ?)", (i + 1, payload))
        return appends / (time.perf_counter() - t0)
    finally:
        db.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_outbox")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    reps = 1 if args.quick else 3
    sizes = (64, 1024)
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("VMW_BENCH_DIR")) as tmp:
        for size in sizes:
            data = batch(size)
            for policy in POLICIES:
                appends = {"batch": 300, "interval": 5000, "none": 5000}[policy] // (5 if args.quick else 1)
                rates = {"vmw outbox": [], "raw os.write": [], "sqlite WAL": []}
                for r in range(reps):
                    for name, fn in (
                        ("vmw outbox", run_outbox),
                        ("raw os.write", run_raw),
                        ("sqlite WAL", run_sqlite),
                    ):
                        folder = pathlib.Path(tmp) / f"{name}-{size}-{policy}-{r}".replace(" ", "_")
                        folder.mkdir()
                        rates[name].append(fn(folder, policy, appends, data))
                med = {k: statistics.median(v) for k, v in rates.items()}
                rows.append((size, policy, appends, med))
                print(size, policy, {k: f"{v:,.0f}" for k, v in med.items()}, flush=True)
        fs = os.popen(f"df -T {tmp} | tail -1").read().split()
    stored_per_sample = len(columns_bytes(batch(sizes[-1]))) / sizes[-1]
    lines = [
        "## Outbox",
        "",
        f"- Command: `python -m bench.bench_outbox{' --quick' if args.quick else ''}` ({started})",
        f"- Machine: {machine_line()}",
        f"- Folder: {fs[1] if len(fs) > 1 else '?'} file system (temporary; set VMW_BENCH_DIR to choose)",
        "- Peers, same run and samples: raw `os.write` of the raw records to one file (+ `fsync` by the "
        "same policy; no CRC, no index, no eviction: the floor) and SQLite (WAL, one INSERT of the "
        "batch blob per transaction; "
        "synchronous FULL / NORMAL / OFF for batch / interval / none).",
        "",
        "| samples per append | fsync | appends | vmw appends/s | vmw samples/s | raw os.write appends/s | "
        "sqlite appends/s | vmw / raw | vmw / sqlite |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, policy, appends, med in rows:
        v, raw, sq = med["vmw outbox"], med["raw os.write"], med["sqlite WAL"]
        lines.append(
            f"| {size} | {policy} | {appends:,} | {v:,.0f} | {v * size:,.0f} | {raw:,.0f} | {sq:,.0f} | "
            f"{v / raw:.2f} | {v / sq:.2f} |"
        )
    lines += [
        "",
        "vmw encodes each batch into its wire encoding (serialized SampleColumns, native encoder) and "
        f"writes that: {stored_per_sample:.1f} B per sample here, + 24 B header/CRC per batch; the peers "
        f"write the raw {SAMPLE_SIZE}-byte records unencoded. `interval` syncs at most every 0.2 s "
        "(only synced batches are handed to the uplink). Medians of "
        f"{reps} run(s).",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""1 kHz periodic task: vehicle_mw.rt executor vs cyclictest vs an asyncio call_at loop.

Each contender runs in its own process on the same core with the same policy and
priority, for the same duration, first on an idle machine and then with a busy
loop on the other core. Lateness is wake-up time minus release time.

    python -m bench.bench_executor            # 60 s per contender and scenario
    python -m bench.bench_executor --quick    # 5 s
    python -m bench.bench_executor --duration 20 --core 1 --priority 80
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

from bench.common import machine_line
from vehicle_mw.rt import LatencyHistogram

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results" / "executor.md"
PERIOD_NS = 1_000_000


# -- contenders (each run as a worker process) ---------------------------------------
def worker_vmw(duration: float, core: int, priority: int) -> dict:
    """The vehicle_mw executor: one periodic task with an empty body."""
    import threading

    from vehicle_mw.rt import Executor, Scheduling

    policy = "fifo" if priority else "other"
    ex = Executor("bench", Scheduling(policy=policy, priority=priority, lock_memory=bool(priority)))
    ex.periodic("tick", lambda: None, period=PERIOD_NS / 1e9, core=core)
    done = threading.Event()
    cpu0 = time.process_time()
    with ex:
        done.wait(duration)
    cpu = time.process_time() - cpu0
    s = ex.stats()["tick"]
    return {
        **s.lateness.summary(),
        "misses": s.deadline_misses,
        "overruns": s.overruns,
        "cpu_percent": 100 * cpu / duration,
        "refused": [str(r) for r in ex.refusals],
    }


def worker_idle_cpu(duration: float, core: int, priority: int) -> dict:
    """CPU the executor uses between tasks: a 1 Hz task, so the thread is idle almost always."""
    import threading

    from vehicle_mw.rt import Executor, Scheduling

    policy = "fifo" if priority else "other"
    ex = Executor("idle", Scheduling(policy=policy, priority=priority))
    ex.periodic("rare", lambda: None, period=1.0, core=core)
    with ex:
        time.sleep(0.5)  # let start-up finish before measuring
        cpu0, t0 = time.process_time(), time.monotonic()
        threading.Event().wait(duration)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    return {"cpu_percent": 100 * cpu / wall}


def worker_asyncio(duration: float, core: int, priority: int) -> dict:
    """A 1 kHz loop on asyncio's call_at (absolute times on the loop clock)."""
    import asyncio

    from vehicle_mw.rt import Scheduling, apply_to_current_thread

    policy = "fifo" if priority else "other"
    apply_to_current_thread(Scheduling(policy=policy, priority=priority, cpus=frozenset({core})))
    hist = LatencyHistogram()
    period = PERIOD_NS / 1e9

    async def main() -> int:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        misses = 0
        start = loop.time() + 0.01
        end = start + duration

        def tick(k: int) -> None:
            nonlocal misses
            release = start + k * period
            late = time.monotonic_ns() - int(release * 1e9)
            hist.record(late)
            if late > PERIOD_NS:
                misses += 1
            nxt = k + 1
            if start + nxt * period >= end:
                done.set_result(None)
                return
            loop.call_at(start + nxt * period, tick, nxt)

        loop.call_at(start, tick, 0)
        await done
        return misses

    misses = asyncio.run(main())  # asyncio's loop.time() is time.monotonic()
    return {**hist.summary(), "misses": misses}


def run_cyclictest(duration: float, core: int, priority: int) -> dict | None:
    exe = shutil.which("cyclictest")
    if exe is None:
        return None
    cmd = [exe, "-m", "-q", "-t", "1", "-a", str(core), "-i", str(PERIOD_NS // 1000)]
    cmd += ["-p", str(priority), "-D", f"{int(duration)}", "-h", "2000"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    hist = LatencyHistogram()
    counts: list[tuple[int, int]] = []
    for line in out.stdout.splitlines():
        m = re.match(r"^(\d{6}) (\d+)$", line)
        if m:
            counts.append((int(m.group(1)), int(m.group(2))))
    for us, n in counts:
        for _ in range(n):
            hist.record(us * 1000)
    over = re.search(r"# Histogram Overflows: (\d+)", out.stdout)
    mx = re.search(r"# Max Latencies: (\d+)", out.stdout)
    summary = hist.summary()
    if mx:
        summary["max"] = int(mx.group(1)) * 1000
    misses = sum(n for us, n in counts if us * 1000 > PERIOD_NS) + (int(over.group(1)) if over else 0)
    return {**summary, "misses": misses, "command": " ".join(cmd)}


WORKERS = {"vmw": worker_vmw, "asyncio": worker_asyncio, "idle_cpu": worker_idle_cpu}


def run_worker(name: str, duration: float, core: int, priority: int) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_executor", "--worker", name, "--duration", str(duration)]
    cmd += ["--core", str(core), "--priority", str(priority)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120, cwd=HERE.parent)
    if out.returncode:
        raise RuntimeError(f"worker {name} failed: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- load on the other core -----------------------------------------------------------
class Load:
    """A busy loop pinned to another core (SCHED_OTHER)."""

    def __init__(self, core: int) -> None:
        self.core = core
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Load:
        code = f"import os; os.sched_setaffinity(0, {{{self.core}}})\nwhile True: pass"
        self.proc = subprocess.Popen([sys.executable, "-c", code])
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


# -- report ---------------------------------------------------------------------------
def us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_executor")
    ap.add_argument("--quick", action="store_true", help="5 s per run instead of 60 s")
    ap.add_argument("--duration", type=float, default=None, help="seconds per contender and scenario")
    ap.add_argument("--core", type=int, default=1, help="core the periodic task runs on")
    ap.add_argument("--priority", type=int, default=80, help="SCHED_FIFO priority (0: SCHED_OTHER)")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    duration = args.duration or (5.0 if args.quick else 60.0)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](duration, args.core, args.priority)))
        return 0
    priority = args.priority if os.geteuid() == 0 else 0
    ncpu = os.cpu_count() or 1
    other = 0 if args.core != 0 else min(1, ncpu - 1)
    rows = []
    for scenario in ("idle", "load"):
        for name in ("vmw", "cyclictest", "asyncio"):
            print(f"[{scenario}] {name}: {duration:g} s ...", flush=True)
            if scenario == "load":
                with Load(other):
                    res = run_cyclictest(duration, args.core, priority) if name == "cyclictest" else None
                    res = res if name == "cyclictest" else run_worker(name, duration, args.core, priority)
            else:
                res = run_cyclictest(duration, args.core, priority) if name == "cyclictest" else None
                res = res if name == "cyclictest" else run_worker(name, duration, args.core, priority)
            if res is not None:
                rows.append((scenario, name, res))
    idle = run_worker("idle_cpu", min(duration, 10.0), args.core, priority)

    def get(scn: str, name: str) -> dict | None:
        return next((r for s, n, r in rows if s == scn and n == name), None)

    header = "| scenario | runtime | samples | p50 µs | p99 µs | p99.9 µs | max µs | misses (>1 ms) |"
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for scn, name, r in rows:
        lines.append(
            f"| {scn} | {name} | {r['count']} | {us(r['p50'])} | {us(r['p99'])} | {us(r['p99.9'])} | "
            f"{us(r['max'])} | {r['misses']} |"
        )
    ratios = []
    for scn in ("idle", "load"):
        v, c, a = get(scn, "vmw"), get(scn, "cyclictest"), get(scn, "asyncio")
        if v and c:
            ratios.append(
                f"- {scn}: vmw p99 / cyclictest p99 = **{v['p99'] / max(c['p99'], 1):.2f}×** (target ≤ 1.5×)"
            )
        if v and a:
            ratios.append(
                f"- {scn}: asyncio p99 / vmw p99 = **{a['p99'] / max(v['p99'], 1):.1f}×** (target ≥ 10×)"
            )
    vmw_idle = get("idle", "vmw")
    for scn in ("idle", "load"):
        v = get(scn, "vmw")
        if v:
            ratios.append(f"- {scn}: vmw releases skipped after a late wake-up or overrun: {v['overruns']}")
    cpu_lines = [
        f"- executor CPU with a 1 Hz task (idle in between): **{idle['cpu_percent']:.3f} %** of a core",
        f"- executor process CPU at 1 kHz (empty task body): {vmw_idle['cpu_percent']:.1f} %"
        if vmw_idle
        else "",
    ]
    refused = vmw_idle.get("refused") if vmw_idle else None
    table = "\n".join(lines)
    print("\n" + table + "\n" + "\n".join(ratios) + "\n" + "\n".join(x for x in cpu_lines if x))
    cyc = get("idle", "cyclictest")
    policy = f"SCHED_FIFO {priority}" if priority else "SCHED_OTHER (not root)"
    md = [
        "## Executor: 1 kHz periodic task lateness",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine_line()}",
        f"- command: `python -m bench.bench_executor --duration {duration:g} --core {args.core} "
        f"--priority {args.priority}`",
        f"- each contender: core {args.core}, {policy}, period 1 ms, {duration:g} s per scenario; "
        f"load = busy loop pinned to core {other}",
        "- peers: `cyclictest` (rt-tests, C, clock_nanosleep TIMER_ABSTIME, mlockall)"
        + (f": `{cyc['command']}`" if cyc else " (not installed)")
        + "; asyncio `loop.call_at` on absolute times, same core and priority",
        "- lateness = wake-up (task start) minus release time; vmw counts a miss when the task ends after "
        "its 1 ms deadline, the peers when lateness exceeds 1 ms",
        *([f"- refused (ran anyway): {refused}"] if refused else []),
        "",
        table,
        "",
        *ratios,
        *[x for x in cpu_lines if x],
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(md), encoding="utf-8")
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

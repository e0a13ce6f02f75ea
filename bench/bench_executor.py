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
import tempfile
import time

from bench.common import machine_line
from vehicle_mw.rt import LatencyHistogram

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results" / "executor.md"
PERIOD_NS = 1_000_000


SPIN_NS = 50_000  # the spin rows: busy-wait the last 50 µs before each release (5 % of a 1 ms period)
RING_PERIOD_US = 1000


# -- contenders (each run as a worker process) ---------------------------------------
def _vmw_periodic(duration: float, core: int, priority: int, **sched) -> dict:
    """The vehicle_mw executor: one periodic task with an empty body."""
    import threading

    from vehicle_mw.rt import Executor, Scheduling

    policy = "fifo" if priority else "other"
    cfg = Scheduling(policy=policy, priority=priority, lock_memory=bool(priority), **sched)
    ex = Executor("bench", cfg)
    ex.periodic("tick", lambda: None, period=PERIOD_NS / 1e9, core=core)
    done = threading.Event()
    cpu0 = time.process_time()
    with ex:
        done.wait(duration)
    cpu = time.process_time() - cpu0
    s = ex.stats()["tick"]
    return {
        **s.lateness.summary(),
        "wake": s.wake.summary(),
        "misses": s.deadline_misses,
        "overruns": s.overruns,
        "cpu_percent": 100 * cpu / duration,
        "refused": [str(r) for r in ex.refusals],
    }


def worker_vmw(duration: float, core: int, priority: int) -> dict:
    """Defaults: a real-time executor holds /dev/cpu_dma_latency at 0 µs, as cyclictest does."""
    return _vmw_periodic(duration, core, priority)


def worker_vmw_nohold(duration: float, core: int, priority: int) -> dict:
    """The same without the idle-state bound (what the executor did before)."""
    return _vmw_periodic(duration, core, priority, cpu_latency_us=None)


def worker_vmw_spin(duration: float, core: int, priority: int) -> dict:
    """The same with the optional spin before each release."""
    return _vmw_periodic(duration, core, priority, spin_ns=SPIN_NS)


def worker_vmw_ring(duration: float, core: int, priority: int) -> dict:
    """A ring-triggered task: time from the producer's stamp (just before its push, in another
    process) to the start of the handler."""
    import threading

    import numpy as np

    from vehicle_mw.native.slot_ring import SlotRing
    from vehicle_mw.rt import Executor, Scheduling

    name, count = os.environ["VMW_BENCH_RING"], int(os.environ["VMW_BENCH_COUNT"])
    ring = SlotRing.attach(name)
    hist = LatencyHistogram()
    done = threading.Event()
    seen = [0]

    def handler(batch: bytes) -> None:
        now = time.monotonic_ns()
        stamps = np.frombuffer(batch, dtype=np.int64)[::2]
        for stamp in stamps.tolist():
            hist.record(now - stamp)
        seen[0] += len(stamps)
        if seen[0] >= count:
            done.set()

    policy = "fifo" if priority else "other"
    ex = Executor("ring", Scheduling(policy=policy, priority=priority, lock_memory=bool(priority)))
    ex.on_ring("rx", ring, handler, core=core)
    cpu0 = time.process_time()
    with ex:
        print("waiting", flush=True)
        done.wait(duration + 30)
    cpu = time.process_time() - cpu0
    return {**hist.summary(), "misses": 0, "cpu_percent": 100 * cpu / duration}


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


WORKERS = {
    "vmw": worker_vmw,
    "vmw_nohold": worker_vmw_nohold,
    "vmw_spin": worker_vmw_spin,
    "vmw_ring": worker_vmw_ring,
    "asyncio": worker_asyncio,
    "idle_cpu": worker_idle_cpu,
}


def run_worker(name: str, duration: float, core: int, priority: int) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_executor", "--worker", name, "--duration", str(duration)]
    cmd += ["--core", str(core), "--priority", str(priority)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120, cwd=HERE.parent)
    if out.returncode:
        raise RuntimeError(f"worker {name} failed: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ring_wake_exe() -> pathlib.Path:
    exe = pathlib.Path(tempfile.gettempdir()) / "vmw_ring_wake_c"
    srcs = ["bench/ring_wake_c.c", "native/src/ring_slot.c", "native/src/ring_check.c"]
    srcs += ["native/src/shm.c", "native/src/wait.c"]
    cmd = ["gcc", "-std=gnu11", "-O2", "-Inative/include", *srcs, "-o", str(exe), "-lpthread", "-lrt"]
    subprocess.run(cmd, cwd=HERE.parent, check=True)
    return exe


def run_ring(consumer: str, duration: float, core: int, other: int, priority: int) -> dict:
    """Ring-triggered wake: a C producer on the other core pushes a stamped record every
    RING_PERIOD_US; the consumer (C, or the vmw executor's ring task) on ``core`` reports
    stamp-to-body time. Both consumers see the same producer and ring."""
    exe = _ring_wake_exe()
    count = int(duration * 1e6 / RING_PERIOD_US)
    name = f"vmw_bench_wake_{os.getpid()}"
    prio = ["chrt", "-f", str(max(priority - 10, 1))] if priority else []
    prod = subprocess.Popen(
        [*prio, "taskset", "-c", str(other), str(exe), "create", name, str(RING_PERIOD_US), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert prod.stdout is not None and prod.stdin is not None
        if prod.stdout.readline().strip() != "ready":
            raise RuntimeError("ring_wake_c producer did not start")
        if consumer == "c":
            cmd = [str(exe), "consume", name, str(core), str(priority), str(count)]
        else:
            cmd = [sys.executable, "-m", "bench.bench_executor", "--worker", "vmw_ring"]
            cmd += ["--duration", str(duration), "--core", str(core), "--priority", str(priority)]
        env = {**os.environ, "VMW_BENCH_RING": name, "VMW_BENCH_COUNT": str(count)}
        cons = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=HERE.parent, env=env)
        assert cons.stdout is not None
        if cons.stdout.readline().strip() != "waiting":
            raise RuntimeError(f"ring consumer {consumer} did not start")
        prod.stdin.write("go\n")
        prod.stdin.flush()
        out, _ = cons.communicate(timeout=duration + 120)
        if cons.returncode:
            raise RuntimeError(f"ring consumer {consumer} failed (exit {cons.returncode})")
    finally:
        prod.kill()
        prod.wait()
        pathlib.Path(f"/dev/shm/{name}").unlink(missing_ok=True)
    if consumer != "c":
        return json.loads(out.strip().splitlines()[-1])
    hist = LatencyHistogram()
    for line in out.split():  # after the "waiting" line: one stamp-to-body time per record
        hist.record(int(line))
    return {**hist.summary(), "misses": 0}


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


CONTENDERS = ("vmw", "vmw_nohold", "vmw_spin", "cyclictest", "asyncio", "ring_c", "ring_vmw")
LABELS = {
    "vmw": "vmw executor (default: holds cpu_dma_latency 0)",
    "vmw_nohold": "vmw executor, cpu_dma_latency not held",
    "vmw_spin": f"vmw executor, spin {SPIN_NS // 1000} µs",
    "cyclictest": "cyclictest",
    "asyncio": "asyncio call_at",
    "ring_c": "ring wake, C consumer",
    "ring_vmw": "ring wake, vmw on_ring task",
}


def run_one(name: str, duration: float, core: int, other: int, priority: int) -> dict | None:
    if name == "cyclictest":
        return run_cyclictest(duration, core, priority)
    if name.startswith("ring_"):
        return run_ring(name[len("ring_") :], duration, core, other, priority)
    return run_worker(name, duration, core, priority)


def _ratio(rows: dict, scn: str, a: str, b: str, what: str, target: str) -> str | None:
    x, y = rows.get((scn, a)), rows.get((scn, b))
    if not (x and y):
        return None
    return f"- {scn}: {what} = **{x['p99'] / max(y['p99'], 1):.2f}×** ({target})"


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_executor")
    ap.add_argument("--quick", action="store_true", help="5 s per run instead of 60 s")
    ap.add_argument("--duration", type=float, default=None, help="seconds per contender and scenario")
    ap.add_argument("--core", type=int, default=1, help="core the periodic task runs on")
    ap.add_argument("--priority", type=int, default=80, help="SCHED_FIFO priority (0: SCHED_OTHER)")
    ap.add_argument("--only", default=",".join(CONTENDERS), help=f"comma list of {', '.join(CONTENDERS)}")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    duration = args.duration or (5.0 if args.quick else 60.0)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](duration, args.core, args.priority)))
        return 0
    wanted = [c for c in CONTENDERS if c in args.only.split(",")]
    priority = args.priority if os.geteuid() == 0 else 0
    ncpu = os.cpu_count() or 1
    other = 0 if args.core != 0 else min(1, ncpu - 1)
    rows: dict[tuple[str, str], dict] = {}
    loads: dict[str, list[float]] = {"idle": [], "load": []}
    for scenario in ("idle", "load"):
        for name in wanted:
            print(f"[{scenario}] {name}: {duration:g} s ...", flush=True)
            loads[scenario].append(os.getloadavg()[0])
            if scenario == "load":
                with Load(other):
                    res = run_one(name, duration, args.core, other, priority)
            else:
                res = run_one(name, duration, args.core, other, priority)
            if res is not None:
                rows[(scenario, name)] = res
    idle = run_worker("idle_cpu", min(duration, 10.0), args.core, priority)

    header = (
        "| scenario | contender | samples | p50 µs | p99 µs | p99.9 µs | max µs | misses (>1 ms) "
        "| wake in C p50 / p99 µs | CPU % |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (scn, name), r in rows.items():
        wake = r.get("wake")
        wake_cell = f"{us(wake['p50'])} / {us(wake['p99'])}" if wake else ""
        cpu = f"{r['cpu_percent']:.1f}" if "cpu_percent" in r else ""
        lines.append(
            f"| {scn} | {LABELS[name]} | {r['count']} | {us(r['p50'])} | {us(r['p99'])} | "
            f"{us(r['p99.9'])} | {us(r['max'])} | {r['misses']} | {wake_cell} | {cpu} |"
        )
    ratios = []
    for scn in ("idle", "load"):
        for line in (
            _ratio(rows, scn, "vmw", "cyclictest", "vmw p99 / cyclictest p99", "target ≤ 1.5×"),
            _ratio(rows, scn, "vmw_spin", "cyclictest", "vmw spin p99 / cyclictest p99", "target ≤ 1.2×"),
            _ratio(rows, scn, "vmw_nohold", "cyclictest", "vmw without the bound / cyclictest", "before"),
            _ratio(rows, scn, "asyncio", "vmw", "asyncio p99 / vmw p99", "target ≥ 10×"),
            _ratio(rows, scn, "ring_vmw", "ring_c", "ring task p99 / C consumer p99", "Python's cost"),
        ):
            if line:
                ratios.append(line)
        v = rows.get((scn, "vmw"))
        if v:
            ratios.append(f"- {scn}: vmw releases skipped after a late wake-up or overrun: {v['overruns']}")
    vmw_idle = rows.get(("idle", "vmw"))
    cpu_lines = [
        f"- executor CPU with a 1 Hz task (idle in between): **{idle['cpu_percent']:.3f} %** of a core"
    ]
    if vmw_idle:
        cpu_lines.append(
            f"- executor process CPU at 1 kHz (empty task body): {vmw_idle['cpu_percent']:.1f} %"
        )
    refused = vmw_idle.get("refused") if vmw_idle else None
    table = "\n".join(lines)
    print("\n" + table + "\n" + "\n".join(ratios) + "\n" + "\n".join(cpu_lines))
    cyc = rows.get(("idle", "cyclictest"))
    policy = f"SCHED_FIFO {priority}" if priority else "SCHED_OTHER (not root)"
    load_note = ", ".join(f"{scn} {min(v):.2f}-{max(v):.2f}" for scn, v in loads.items() if v)
    only = "" if args.only == ",".join(CONTENDERS) else f" --only {args.only}"
    md = [
        "## Executor: 1 kHz periodic task lateness",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine_line()}",
        f"- 1-minute load average at the start of each run: {load_note}",
        f"- command: `python -m bench.bench_executor --duration {duration:g} --core {args.core} "
        f"--priority {args.priority}{only}`",
        f"- each contender: core {args.core}, {policy}, period 1 ms, {duration:g} s per scenario; "
        f"load = busy loop pinned to core {other}",
        "- peers: `cyclictest` (rt-tests, C, clock_nanosleep TIMER_ABSTIME, mlockall, holds "
        "/dev/cpu_dma_latency at 0 µs)"
        + (f": `{cyc['command']}`" if cyc else "")
        + "; asyncio `loop.call_at` on absolute times, same core and priority",
        "- lateness = task start minus release time; *wake in C* = the executor's clock read right "
        "after `clock_nanosleep` returns (what cyclictest measures): the difference is Python's dispatch",
        "- ring rows: a C producer on the other core stamps CLOCK_MONOTONIC and pushes one record per ms "
        "into a SlotRing; time from the stamp to the task body, C consumer (`bench/ring_wake_c.c`) vs "
        "the executor's `on_ring` task, same core and priority",
        "- vmw counts a miss when the task ends after its 1 ms deadline, the peers when lateness "
        "exceeds 1 ms",
        *([f"- refused (ran anyway): {refused}"] if refused else []),
        "",
        table,
        "",
        *ratios,
        *cpu_lines,
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(md), encoding="utf-8")
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

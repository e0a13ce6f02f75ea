"""The whole vehicle runtime from manifests vs a KUKSA-CAN-provider-like Python loop, same run.

Three buses replay three different real traces at their own rate (looping), each side into its own
local server, and each side runs in its own process (tree) so its CPU and RSS are its own:

- peer (how eclipse-kuksa's CAN provider is built): per bus a python-can ``virtual`` bus fed by a
  replayer thread, a ``can.Notifier`` whose listener decodes every frame with cantools
  (``Message.decode``) and queues one observation per signal; one sender thread sends each
  observation as a JSON update (path, value, frame timestamp) over a websockets client to a local
  websockets sink in its own process, which notes the receipt time.
- vmw: ``VehicleRuntime.from_manifests(machine.yaml, channel.yaml[, execution.yaml])`` with the same
  traces as ``interface: replay`` buses (the runtime's own replay stage), decoding natively and
  uplinking over WebSocket to a vehicle_mw ``Gateway`` on SQLite in its own process; threads mode and
  process-per-stage mode (execution manifest: one ``stage_main`` process per stage).

Measured over a window after a warm-up: CPU seconds of the side's whole process tree (``/proc``
utime + stime of the process and every descendant) per 100k frames, RSS of the tree, and CAN send ->
at the server latency p50/p99 for every sample whose frame timestamp falls in the window (vmw: the
gateway's ``stored_ns`` of the batch; peer: the sink's receipt time).

    python -m bench.bench_runtime [--quick] [--runs N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from bench.common import machine_line, write_section

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
TRACES = [  # (bus name, trace, dbc): the three real traces of bench_decode, each with its own DBC
    ("genesis", "eldominio-canbuslogs/genesis/autologgenesis.log", "opendbc/dbc/hyundai_i30_2014.dbc"),
    (
        "yaris",
        "eldominio-canbuslogs/Yaris_09/engineonaconoffstockecu.trc",
        "eldominio-canbuslogs/Yaris_09/toyota_iQ_2009_can.dbc",
    ),
    ("audi_a2", "eldominio-canbuslogs/audia2_mk/noecu.trc", "opendbc/dbc/vw_pq.dbc"),
]
SIDES = ("peer", "vmw threads", "vmw processes")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def traces() -> list[tuple[str, pathlib.Path, pathlib.Path]]:
    return [(name, SHARED / t, SHARED / d) for name, t, d in TRACES]


def missing_traces() -> list[str]:
    return [str(p) for _, t, d in traces() for p in (t, d) if not p.is_file()]


# ---------------------------------------------------------------- process-tree accounting (/proc)


def _children(pid: int) -> list[int]:
    out = []
    for task in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree(pid: int) -> list[int]:
    """pid and every live descendant."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def tree_cpu_s(pid: int) -> float:
    """utime + stime of pid and its live descendants, seconds."""
    total = 0
    for p in tree(pid):
        try:
            fields = pathlib.Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread over the tree (where a side's CPU goes): "pid:name", the Python thread
    name for this process's threads, the kernel's ``comm`` for other processes' threads."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for p in tree(pid):
        for task in pathlib.Path(f"/proc/{p}/task").glob("*"):
            try:
                comm = (task / "comm").read_text().strip()
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            name = names.get(int(task.name), comm) if p == os.getpid() else f"{comm}/{task.name}"
            key = f"{p}:{name}"
            out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def tree_memory_mb(pid: int, field: str) -> float:
    """Sum of one memory field over the tree: ``Rss`` (pages shared between the stage processes
    count once per process) or ``Pss`` (shared pages split between their users), smaps_rollup."""
    total_kb = 0
    for p in tree(pid):
        try:
            for line in pathlib.Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def measure_window(warmup: float, seconds: float, frames) -> dict[str, Any]:
    """Called inside a side's process: CPU, frames and wall-clock bounds of the window, which opens
    ``warmup`` seconds after the first frames arrived (process mode starts its stages one by one)."""
    deadline = time.monotonic() + 120
    while frames() == 0:
        if time.monotonic() > deadline:
            raise TimeoutError("no frame arrived within 120 s")
        time.sleep(0.05)
    time.sleep(warmup)
    me = os.getpid()
    cpu0, f0, t0, th0 = tree_cpu_s(me), frames(), time.time_ns(), thread_cpu_s(me)
    time.sleep(seconds)
    cpu1, f1, t1, th1 = tree_cpu_s(me), frames(), time.time_ns(), thread_cpu_s(me)
    by_thread = {k: round(v - th0.get(k, 0.0), 2) for k, v in th1.items() if v - th0.get(k, 0.0) >= 0.01}
    return {
        "threads_cpu_s": dict(sorted(by_thread.items(), key=lambda kv: -kv[1])),
        "cpu_s": cpu1 - cpu0,
        "frames": f1 - f0,
        "t0_ns": t0,
        "t1_ns": t1,
        "rss_mb": tree_memory_mb(me, "Rss"),
        "pss_mb": tree_memory_mb(me, "Pss"),
        "processes": len(tree(me)),
    }


def _percentiles(lat_ms: list[float]) -> dict[str, float]:
    import numpy as np

    if not lat_ms:
        return {"samples": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    a = np.asarray(lat_ms, dtype=np.float64)
    return {
        "samples": len(a),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
    }


# ---------------------------------------------------------------- peer: websockets sink (own process)


def serve_sink() -> None:
    """Child process: a websockets server noting each JSON update's receipt time - frame time; on the
    peer's final {"done": [t0, t1]} it answers the latency percentiles of the updates in that window."""
    from websockets.asyncio.server import serve

    async def handler(ws) -> None:
        received_ns: list[int] = []
        frame_ns: list[int] = []
        async for raw in ws:
            now = time.time_ns()
            msg = json.loads(raw)
            if "done" in msg:
                t0, t1 = msg["done"]
                window = [(r - f) / 1e6 for f, r in zip(frame_ns, received_ns, strict=True) if t0 <= f <= t1]
                await ws.send(json.dumps({**_percentiles(window), "updates": len(frame_ns)}))
                return
            frame_ns.append(msg["ts_ns"])
            received_ns.append(now)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, max_size=1 << 20, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            print(f"sink ws://127.0.0.1:{port}", flush=True)
            await asyncio.Future()

    asyncio.run(main())


# ---------------------------------------------------------------- peer: the vehicle side (own process)


def _replay_loop(bus, trace: pathlib.Path, stop: threading.Event) -> None:
    """The peer's stand-in for the bus: reads the log (python-can LogReader, the usual way) and
    sends each frame at its own timing, looping; the virtual bus stamps the send time."""
    import can

    start = time.monotonic()
    while not stop.is_set():
        base = None
        last = 0.0
        for m in can.LogReader(str(trace)):
            base = m.timestamp if base is None else base
            last = m.timestamp - base
            delay = start + last - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            bus.send(m)
        start += last + 0.001  # the next loop starts 1 ms after this one's last frame


def run_peer(url: str, warmup: float, seconds: float) -> dict[str, Any]:
    import can
    import cantools
    from websockets.sync.client import connect

    observations: queue.SimpleQueue = queue.SimpleQueue()
    frames = [0] * len(TRACES)  # one counter per Notifier thread (no lost increments)
    stop = threading.Event()
    notifiers, buses, replayers = [], [], []
    for bus_id, (name, trace, dbc) in enumerate(traces()):
        db = cantools.database.load_file(str(dbc), strict=False)
        by_id = {m.frame_id: m for m in db.messages}
        channel = f"bench-runtime-{name}-{os.getpid()}"
        rx = can.Bus(interface="virtual", channel=channel)
        tx = can.Bus(interface="virtual", channel=channel)
        buses += [rx, tx]

        def on_message(msg, by_id=by_id, bus_id=bus_id) -> None:  # decode per frame, one obs. per signal
            frames[bus_id] += 1
            message = by_id.get(msg.arbitration_id)
            if message is None:
                return
            try:
                decoded = message.decode(msg.data, decode_choices=False, allow_truncated=True)
            except Exception:  # noqa: BLE001 - a frame the DBC rejects is skipped, as the provider does
                return
            ts_ns = int(msg.timestamp * 1e9)
            for signal_name, value in decoded.items():
                observations.put((f"{message.name}.{signal_name}", value, ts_ns))

        notifiers.append(can.Notifier(rx, [on_message], timeout=0.05))
        replayers.append(threading.Thread(target=_replay_loop, args=(tx, trace, stop), daemon=True))
    with connect(url, max_size=1 << 20, compression=None) as ws:
        result = _peer_window(ws, observations, frames, notifiers, replayers, stop, warmup, seconds)
    for b in buses:
        b.shutdown()
    return result


def _peer_window(ws, observations, frames, notifiers, replayers, stop, warmup, seconds) -> dict[str, Any]:
    sent = [0]

    def sender() -> None:  # the provider's feeder thread: one update per signal observation
        while True:
            item = observations.get()
            if item is None:
                return
            path, value, ts_ns = item
            ws.send(json.dumps({"path": path, "value": value, "ts_ns": ts_ns}))
            sent[0] += 1

    feeder = threading.Thread(target=sender, daemon=True)
    feeder.start()
    for r in replayers:
        r.start()
    result = measure_window(warmup, seconds, lambda: sum(frames))
    stop.set()
    for r in replayers:
        r.join(5)
    for n in notifiers:
        n.stop()
    observations.put(None)
    feeder.join(120)
    if feeder.is_alive():  # still sending the backlog: the sink would answer over part of the window
        raise TimeoutError("peer: the feeder did not send its backlog within 120 s after the window")
    ws.send(json.dumps({"done": [result["t0_ns"], result["t1_ns"]]}))
    result["latency"] = json.loads(ws.recv(timeout=120))
    result["signals_sent"] = sent[0]
    return result


# ---------------------------------------------------------------- vmw: the runtime (own process)


def write_manifests(workdir: pathlib.Path, url: str, tag: str, processes: bool) -> list[pathlib.Path]:
    """machine.yaml (3 replay buses), channel.yaml (WebSocket to the local gateway)[, execution.yaml]."""
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    machine = {
        "name": f"bench-{tag}",
        "function_groups": [{"name": "Telematics", "states": ["Driving"], "initial": "Driving"}],
        "can": [
            {
                "name": name,
                "interface": "replay",
                "file": str(trace),
                "loop": True,
                "databases": [str(dbc)],
                "strict": False,
            }
            for name, trace, dbc in traces()
        ],
        "runtime": {
            "deployment": f"bench_{tag}_{os.getpid()}",
            "state_dir": str(workdir / "state"),
            "log_level": "warning",  # no per-stage info lines in the measured window
        },
    }
    channel = {
        "vehicle_id": f"BENCH-{tag.upper()}",
        "websocket_url": url,
        "outbox": {"directory": str(workdir / "outbox")},
    }
    paths = [workdir / "machine.yaml", workdir / "channel.yaml"]
    paths[0].write_text(yaml.safe_dump(machine, sort_keys=False))
    paths[1].write_text(yaml.safe_dump(channel, sort_keys=False))
    if processes:
        from vehicle_mw.runtime.stages import CAN, DECODE, UPLINK

        apps, previous = [], []
        for stage in (UPLINK, DECODE, CAN):  # consumers first, as the threads mode starts them
            apps.append(
                {
                    "name": f"vmw-{stage}",
                    "entry": {"function": "vehicle_mw.runtime.stage_main:main", "args": [stage]},
                    "function_group": "Telematics",
                    "states": ["Driving"],
                    "depends_on": previous,
                }
            )
            previous = [f"vmw-{stage}"]
        execution = {"machine": "machine.yaml", "applications": apps}
        paths.append(workdir / "execution.yaml")
        paths[2].write_text(yaml.safe_dump(execution, sort_keys=False))
    return paths


def run_vmw(url: str, workdir: pathlib.Path, mode: str, warmup: float, seconds: float) -> dict[str, Any]:
    from vehicle_mw.runtime import VehicleRuntime

    paths = write_manifests(workdir, url, mode, processes=mode == "processes")
    rt = VehicleRuntime.from_manifests(*paths)

    def frames() -> int:
        buses = rt.counters().get("can", {}).get("buses", {})
        return sum(int(b.get("frames", 0)) for b in buses.values())

    rt.start()
    try:
        result = measure_window(warmup, seconds, frames)
        result["counters"] = rt.counters()
    finally:
        try:
            rt.stop()
        finally:  # a throwaway deployment: no ring outlives the run, even one stop() kept
            rt.plan.unlink_all()
    result["vehicle_id"] = f"BENCH-{mode.upper()}"
    return result


# ---------------------------------------------------------------- the run (this process)


class Sink:
    """The peer's websockets sink in its own process (``--serve-sink``); prints its URL first."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_runtime", "--serve-sink"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        line = self.proc.stdout.readline()
        if not line.startswith("sink ws://"):
            self.stop()
            raise RuntimeError(f"the websockets sink did not start: {line!r}")
        self.url = line.split()[1]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def gateway_latency(database: str, t0: int, t1: int) -> dict[str, float]:
    """CAN send -> stored at the gateway, per sample whose frame timestamp is in [t0, t1]."""
    import sqlite3

    conn = sqlite3.connect(database)
    try:
        rows = conn.execute(
            "SELECT b.stored_ns - s.ts_ns FROM samples s JOIN batches b"
            " ON b.vehicle_key = s.vehicle_key AND b.seq = s.batch_seq WHERE s.ts_ns BETWEEN ? AND ?",
            (t0, t1),
        ).fetchall()
    finally:
        conn.close()
    return _percentiles([r[0] / 1e6 for r in rows])


def run_side(side: str, work: pathlib.Path, warmup: float, seconds: float) -> dict[str, Any]:
    """One side in its own process (tree), against a fresh server in another."""
    from bench.bench_gateway import Server  # the vehicle_mw gateway process of the gateway benchmark

    server: Sink | Server = Sink() if side == "peer" else Server("vmw", work)  # a fresh database each
    try:
        out = work / f"{side.replace(' ', '-')}-{time.monotonic_ns()}.json"
        argv = [sys.executable, "-m", "bench.bench_runtime", "--side", side, "--url", server.url]
        argv += [
            "--warmup",
            str(warmup),
            "--seconds",
            str(seconds),
            "--workdir",
            str(work),
            "--out",
            str(out),
        ]
        proc = subprocess.run(argv, cwd=ROOT, timeout=warmup + seconds + 300)
        if proc.returncode:
            raise RuntimeError(f"side {side!r} exited {proc.returncode}")
        result = json.loads(out.read_text())
    finally:
        server.stop()
    if isinstance(server, Server):
        result["latency"] = gateway_latency(server.database, result["t0_ns"], result["t1_ns"])
    return result


def side_main(args: argparse.Namespace) -> int:
    if args.side == "peer":
        result = run_peer(args.url, args.warmup, args.seconds)
    else:
        mode = args.side.split()[1]
        work = pathlib.Path(args.workdir) / f"{mode}-{os.getpid()}"
        result = run_vmw(args.url, work, mode, args.warmup, args.seconds)
    pathlib.Path(args.out).write_text(json.dumps(result, default=str))
    return 0


def _replay_split(r: dict[str, Any]) -> tuple[float, float]:
    """(CPU s / 100k frames outside the replay threads, inside them) of one run."""
    replay = sum(v for k, v in r["threads_cpu_s"].items() if "replay" in k)
    per = 1e5 / max(r["frames"], 1)
    return (r["cpu_s"] - replay) * per, replay * per


def report(
    results: dict[str, list[dict[str, Any]]], runs: int, seconds: float, warmup: float, cmd: str
) -> str:
    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in results[side])

    def cpu100k(r: dict[str, Any]) -> float:
        return r["cpu_s"] / max(r["frames"], 1) * 1e5

    lines = [
        "## Vehicle runtime, end to end (`bench_runtime`)",
        "",
        "Three buses replay three real traces at their own rate, looping (Hyundai Genesis / "
        "hyundai_i30_2014, Toyota Yaris / toyota_iQ_2009_can, Audi A2 / vw_pq), each side in its own "
        "process tree into its own local server process, the sides alternating, same run. "
        "**peer** (built like eclipse-kuksa's CAN provider): per bus a python-can `virtual` bus fed by a "
        "replayer thread (python-can `LogReader`, original timing), a `can.Notifier` whose listener decodes "
        "every frame with cantools `Message.decode` and queues one observation per signal; one feeder "
        "thread sends every observation as its own JSON update (path, value, frame timestamp) over a "
        "`websockets` client to a websockets sink process that notes the receipt time (every DBC signal "
        "on both sides; a KUKSA deployment sends only the signals its mapping file names). "
        "**vmw**: `VehicleRuntime.from_manifests` with the same traces as `interface: replay` buses in "
        "the machine manifest (the runtime's own replay stage reads the log files), native decode, "
        "durable outbox (default fsync interval), uplink over WebSocket to a vehicle_mw `Gateway` on "
        "SQLite (`bench_gateway --serve vmw`: synchronous=NORMAL, group commit); `threads` = one process, "
        "`processes` = an execution manifest launching one `vehicle_mw.runtime.stage_main` process per "
        "stage (uplink, decode, can). Both sides pay for their own replay. "
        f"Window: {seconds:.0f} s, opening {warmup:.0f} s after the first frames arrived. CPU = utime + "
        "stime of the side's whole "
        "process tree over the window (`/proc`), per 100k frames received in the window; RSS = sum of "
        "the tree's RSS at the end of the window (PSS: shared pages split between the processes that map "
        "them, the fair sum for process mode); latency = server time - frame timestamp (the replay's "
        "due time on the wall clock) for every sample whose frame is in the window: vmw = the gateway's "
        "`stored_ns` (insert in the committing transaction), peer = receipt at the sink (not durable). "
        "Targets: vmw CPU per frame <= 1/5 of the peer's; RSS <= 80 MB in threads mode; p99 <= 50 ms.",
        "",
        f"- Machine: {machine_line()}",
        f"- Command: `{cmd}`; {runs} run(s) per side, alternating; medians (per-run values in brackets)",
        "",
        "| side | frames in window | CPU s / 100k frames | vs peer CPU | RSS MB | PSS MB | processes "
        "| samples in window | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    peer_cpu = statistics.median(cpu100k(r) for r in results["peer"]) if results.get("peer") else None
    for side, rs in results.items():
        if not rs:
            continue
        cpu = statistics.median(cpu100k(r) for r in rs)
        lat = {
            k: statistics.median(r["latency"][k] for r in rs)
            for k in ("samples", "p50_ms", "p99_ms", "max_ms")
        }
        ratio = f"**{cpu / peer_cpu:.2f}**" if peer_cpu and side != "peer" else ""
        per_run = ", ".join(f"{cpu100k(r):.2f}" for r in rs)
        empty = sum(1 for r in rs if not r["latency"]["samples"])
        label = f"{side} (INCOMPLETE: {empty} run(s) got no sample to the server)" if empty else side
        lines.append(
            f"| {label} | {med(side, 'frames'):,.0f} | {cpu:.2f} ({per_run}) | {ratio} | "
            f"{med(side, 'rss_mb'):.0f} | {med(side, 'pss_mb'):.0f} | {med(side, 'processes'):.0f} | "
            f"{lat['samples']:,.0f} | "
            f"{lat['p50_ms']:.1f} | {lat['p99_ms']:.1f} | {lat['max_ms']:.1f} |"
        )
    split = {
        side: [_replay_split(r) for r in rs] for side, rs in results.items() if rs and side != "vmw processes"
    }
    if split.get("peer") and split.get("vmw threads"):
        rest = {side: statistics.median(a for a, _ in v) for side, v in split.items()}
        replay = {side: statistics.median(b for _, b in v) for side, v in split.items()}
        parts = "; ".join(f"{side} {rest[side]:.2f} + replay {replay[side]:.2f}" for side in split)
        lines += [
            "",
            "The same CPU split into the replay threads (which read the log files: python-can's reader and a "
            "sleep per frame for the peer; for vmw one thread for all replayed buses, reading plain "
            "candump/TRC logs in array chunks and handing frames on in 5 ms batches, each frame stamped "
            "with its due time) "
            f"and the rest (ingest, decode, outbox, uplink), s / 100k frames, medians: {parts}. "
            f"Without the replay, vmw threads / peer = **{rest['vmw threads'] / rest['peer']:.2f}**. "
            "(Process mode's threads are not named per stage, so it is not split.)",
        ]
    lines += ["", "Where the CPU went (last run, CPU s in the window, busiest threads; pid:thread):", ""]
    for side, rs in results.items():
        if rs:
            top = list(rs[-1]["threads_cpu_s"].items())[:6]
            lines.append(f"- {side}: " + ", ".join(f"`{name}` {cpu:.2f}" for name, cpu in top))
    lines += [
        "",
        "Process mode counts frames from the stages' published counter files, which lag by up to one "
        "publication period at either end of the window.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_runtime")
    ap.add_argument("--quick", action="store_true", help="one short run per side (smoke check)")
    ap.add_argument("--runs", type=int, default=None, help="runs per side (default 3, --quick 1)")
    ap.add_argument("--seconds", type=float, default=None, help="window per run (default 60, --quick 8)")
    ap.add_argument("--sides", default=",".join(SIDES), help=f"comma-separated subset of {SIDES}")
    # internal: the processes this benchmark starts
    ap.add_argument("--serve-sink", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=float, default=5.0, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_sink:
        serve_sink()
        return 0
    if args.side:
        return side_main(args)
    missing = missing_traces()
    if missing:
        print(f"bench_runtime skipped: the shared traces/DBCs are missing: {', '.join(missing)}")
        return 0
    runs = args.runs or (1 if args.quick else 3)
    seconds = args.seconds or (8.0 if args.quick else 60.0)
    warmup = 3.0 if args.quick else 5.0
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = set(sides) - set(SIDES)
    if unknown:
        ap.error(f"unknown side(s) {sorted(unknown)}; sides are {SIDES}")
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="vmw-bench-runtime-") as tmp:
        for i in range(runs):  # the sides alternate, so a load change hits all of them
            for side in sides:
                r = run_side(side, pathlib.Path(tmp), warmup, seconds)
                results[side].append(r)
                lat = r["latency"]
                print(
                    f"run {i + 1} {side:14s} frames {r['frames']:,} cpu {r['cpu_s']:.2f} s "
                    f"({r['cpu_s'] / max(r['frames'], 1) * 1e5:.2f} s/100k) rss {r['rss_mb']:.0f} MB "
                    f"pss {r['pss_mb']:.0f} MB "
                    f"({r['processes']} proc) samples {lat['samples']:,} p50 {lat['p50_ms']:.1f} "
                    f"p99 {lat['p99_ms']:.1f} ms",
                    flush=True,
                )
                print(f"    CPU by thread: {r['threads_cpu_s']}", flush=True)
                if "counters" in r:
                    print(f"    uplink at window end: {r['counters'].get('uplink')}", flush=True)
    cmd = "python -m bench.bench_runtime" + (" --quick" if args.quick else "")
    text = report(results, runs, seconds, warmup, cmd)
    print(text)
    if not args.quick:
        print(f"wrote {write_section('runtime', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

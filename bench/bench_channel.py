"""Channel benchmark: samples/s and CPU per transport (vmw Uplink vs raw grpcio / raw websockets /
eclipse-zenoh sending the same bytes), and time from link impairment to data flowing on the other
transport.

    python -m bench.bench_channel [--quick] [--total N] [--reps N] [--no-failover]

Every throughput run has two fresh processes: the receiver (the test gateway of ``tests/channel``
in ack-only mode, no SQLite, or a zenoh router) and the sender, so neither side's event loop, GIL or
threads slow the other, and each side's CPU is its own (``getrusage`` of that process over the timed
window; the sender's setup -- imports, connect, hello -- is reported apart). Results:
``bench/results/channel.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import pathlib
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from multiprocessing.connection import Connection

import grpc
import numpy as np
import zenoh
from websockets.asyncio.client import connect as ws_connect

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "channel"))

from channel_rig import make_samples, start_rig  # noqa: E402
from mini_gateway import MiniGateway  # noqa: E402

from bench.common import machine_line  # noqa: E402
from vehicle_mw.channel import PROTOCOL_VERSION, Uplink, batch_message  # noqa: E402
from vehicle_mw.channel.protocol import check_batch  # noqa: E402
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig, PolicyConfig  # noqa: E402
from vehicle_mw.store import Outbox  # noqa: E402
from vehicle_mw.v1 import link_pb2, link_pb2_grpc  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "channel.md"
BATCH = 2048
WINDOW = int(os.environ.get("VMW_BENCH_WINDOW", "32"))  # batches in flight (for experiments)
MAX_BYTES = 4 << 20
ZENOH_KEY = "vmw/bench/batches"
ZENOH_DONE = "vmw/bench/done"


def cpu_s() -> float:
    """User + system CPU seconds of this whole process (all its threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def hello(vehicle: str, transport: str) -> link_pb2.Uplink:
    up = link_pb2.Uplink()
    up.hello.protocol_version = PROTOCOL_VERSION
    up.hello.vehicle_id = vehicle
    up.hello.transport = transport
    return up


def prebuilt(total: int) -> list[link_pb2.Uplink]:
    """The exact messages the Uplink sends for ``total`` samples (for the raw peers)."""
    return [batch_message(i // BATCH + 1, make_samples(i, BATCH)) for i in range(0, total, BATCH)]


# ------------------------------------------------------------------ receiver processes


def _control(conn: Connection, on_stop: Callable[[], None]) -> None:
    """Answer the sender's CPU queries until told to stop (or the orchestrator is gone)."""
    while True:
        try:
            cmd = conn.recv()
        except (EOFError, OSError):
            cmd = "stop"
        if cmd == "cpu":
            conn.send(cpu_s())
        else:
            on_stop()
            return


def mini_receiver(conn: Connection) -> None:
    """Receiver process: the test gateway (both endpoints), acks without storing."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        with tempfile.TemporaryDirectory() as tmp:
            gw = MiniGateway(os.path.join(tmp, "gw.db"), durable=False, max_message_bytes=MAX_BYTES)
            await gw.start()
            conn.send({"grpc_port": gw.grpc_port, "ws_port": gw.ws_port})
            threading.Thread(
                target=_control, args=(conn, lambda: loop.call_soon_threadsafe(stop.set)), daemon=True
            ).start()
            await stop.wait()
            await gw.stop()

    asyncio.run(main())


def _zenoh_config(mode: str, listen: list[str], connect: list[str]) -> zenoh.Config:
    """Explicit TCP endpoints on loopback, no multicast scouting: the two sessions find only each other.
    Shared memory off: by default zenoh moves messages over 3 KB through /dev/shm between sessions on
    one host, which would bypass the TCP link the other rows use."""
    cfg = zenoh.Config()
    cfg.insert_json5("transport/shared_memory/enabled", "false")
    cfg.insert_json5("mode", json.dumps(mode))
    cfg.insert_json5("listen/endpoints", json.dumps(listen))
    cfg.insert_json5("connect/endpoints", json.dumps(connect))
    cfg.insert_json5("scouting/multicast/enabled", "false")
    return cfg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zenoh_receiver(conn: Connection, expected: int, parse: bool = False) -> None:
    """Receiver process: a zenoh router whose subscriber counts the bytes and, once all ``expected``
    bytes are in, publishes how many it got (the stand-in for the last ack). ``parse``: it also parses
    and checks each batch as the test gateway does (what a zenoh-based gateway would have to do)."""
    endpoint = f"tcp/127.0.0.1:{_free_port()}"
    router = zenoh.open(_zenoh_config("router", [endpoint], []))
    try:
        done_pub = router.declare_publisher(ZENOH_DONE)
        received = [0]

        def on_batch(sample: zenoh.Sample) -> None:
            data = sample.payload.to_bytes()
            if parse:
                check_batch(link_pb2.Uplink.FromString(data).batch)
            received[0] += len(data)
            if received[0] >= expected:
                done_pub.put(str(received[0]))

        router.declare_subscriber(ZENOH_KEY, on_batch)
        conn.send({"endpoint": endpoint})
        stopped = threading.Event()
        _control(conn, stopped.set)
    finally:
        router.close()


# ------------------------------------------------------------------ sender processes


class Clock:
    """The timed window of one sender run: wall time, this process's CPU, the receiver's CPU."""

    def __init__(self, ctrl: Connection) -> None:
        self.ctrl = ctrl
        self.setup_start = cpu_s()

    def _receiver_cpu(self) -> float:
        self.ctrl.send("cpu")
        return self.ctrl.recv()

    def start(self, at: float | None = None) -> None:
        self.cpu0 = cpu_s()
        self.recv0 = self._receiver_cpu()
        self.t0 = time.perf_counter() if at is None else at

    def stop(self, total: int, **extra: float) -> dict[str, float]:
        t1 = time.perf_counter()
        cpu1 = cpu_s()
        recv1 = self._receiver_cpu()
        return {
            "rate": total / (t1 - self.t0),
            "send_cpu": cpu1 - self.cpu0,
            "setup_cpu": self.cpu0 - self.setup_start,
            "recv_cpu": recv1 - self.recv0,
            **extra,
        }


async def vmw_send(
    clock: Clock, info: dict, transport: str, total: int, workdir: str, prefilled: bool, bundle: bool
) -> dict[str, float]:
    """The negotiated Uplink from a durable outbox to the last ack.

    ``prefilled=False``: the link is up and chosen, then the event loop appends all samples at once
    and the clock runs from the start of that append (the append is inside the timed window).
    ``prefilled=True``: the samples are in the outbox before the Uplink starts; the clock runs from the
    moment the negotiator chooses the link (hello/welcome done, as for the raw peers): the send path.
    """
    endpoint = (
        {"grpc_target": f"127.0.0.1:{info['grpc_port']}"}
        if transport == "grpc"
        else {"websocket_url": f"ws://127.0.0.1:{info['ws_port']}/v1/link"}
    )
    cfg = ChannelConfig(
        vehicle_id=f"bench-{transport}",
        outbox=OutboxConfig(directory=os.path.join(workdir, "outbox"), fsync="none", max_batch_samples=BATCH),
        max_inflight_batches=WINDOW,
        **endpoint,
    )
    box = Outbox(cfg.outbox.directory, cfg.outbox)
    data = make_samples(0, total)
    appended = 0.0
    if prefilled:
        t = time.perf_counter()
        box.append(data)
        appended = time.perf_counter() - t
    budget = int(os.environ.get("VMW_BENCH_BUNDLE_BYTES", "0"))  # experiments: another bundle budget
    up = Uplink(cfg, box, **({"bundle_bytes": budget} if budget else {}) if bundle else {"bundle_bytes": 0})
    chosen: list[float] = []
    up.add_switch_listener(lambda _ev: chosen.append(time.perf_counter()))
    task = asyncio.create_task(up.run())
    try:
        assert await up.wait_until(lambda: up.active == transport, 10), "link did not come up"
        if prefilled:
            clock.start(at=chosen[0])
        else:
            clock.start()
            box.append(data)
            appended = time.perf_counter() - clock.t0
        # O(1) check (stats() sums the backlog): the predicate runs on every ack
        assert await up.wait_until(lambda: up.backlog == 0, 120), "not drained"
        return clock.stop(total, append_s=appended, messages=float(up.messages_sent))
    finally:
        up.stop()
        await task
        box.close()


async def _raw_stream(send, recv, messages: list[link_pb2.Uplink]) -> None:
    last = messages[-1].batch.seq
    inflight = 0
    acked = 0
    it = iter(messages)
    pending = True
    while acked < last:
        while pending and inflight < WINDOW:
            msg = next(it, None)
            if msg is None:
                pending = False
                break
            await send(msg)
            inflight += 1
        down = await recv()
        if down.WhichOneof("msg") == "ack":
            inflight -= down.ack.acked_seq - acked
            acked = down.ack.acked_seq


async def raw_grpc_send(clock: Clock, info: dict, total: int) -> dict[str, float]:
    messages = prebuilt(total)
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{info['grpc_port']}", options=[("grpc.max_receive_message_length", MAX_BYTES)]
    ) as channel:
        call = link_pb2_grpc.VehicleLinkStub(channel).Session()
        await call.write(hello("raw-grpc", "grpc"))
        await call.read()
        clock.start()
        await _raw_stream(call.write, call.read, messages)
        result = clock.stop(total)
        call.cancel()
    return result


async def raw_ws_send(clock: Clock, info: dict, total: int) -> dict[str, float]:
    messages = prebuilt(total)
    async with ws_connect(
        f"ws://127.0.0.1:{info['ws_port']}/v1/link", max_size=MAX_BYTES, compression=None, ping_interval=None
    ) as ws:
        await ws.send(hello("raw-ws", "websocket").SerializeToString())
        await ws.recv()

        async def send(msg: link_pb2.Uplink) -> None:
            await ws.send(msg.SerializeToString())

        async def recv() -> link_pb2.Downlink:
            return link_pb2.Downlink.FromString(await ws.recv())

        clock.start()
        await _raw_stream(send, recv, messages)
        return clock.stop(total)


def zenoh_send(clock: Clock, info: dict, total: int) -> dict[str, float]:
    """A zenoh peer publishing the same serialized Uplink batches (serialized in the loop, as the raw
    peers do) to the router process; the clock stops when the router's "done" is back."""
    messages = prebuilt(total)
    expected = sum(m.ByteSize() for m in messages)
    peer = zenoh.open(_zenoh_config("peer", [], [info["endpoint"]]))
    try:
        done = threading.Event()
        reported: list[int] = []
        peer.declare_subscriber(
            ZENOH_DONE, lambda s: (reported.append(int(s.payload.to_string())), done.set())
        )
        pub = peer.declare_publisher(
            ZENOH_KEY,
            congestion_control=zenoh.CongestionControl.BLOCK,
            reliability=zenoh.Reliability.RELIABLE,
        )
        deadline = time.monotonic() + 10
        while not pub.matching_status.matching:  # the router's subscriber is known to the peer
            assert time.monotonic() < deadline, "zenoh: subscriber never matched"
            time.sleep(0.01)
        clock.start()
        for msg in messages:
            pub.put(msg.SerializeToString())
        assert done.wait(120), "zenoh: not every byte arrived"
        result = clock.stop(total)
        assert reported == [expected], f"zenoh: subscriber counted {reported}, sent {expected}"
        return result
    finally:
        peer.close()


def sender(path: str, total: int, info: dict, ctrl: Connection, out: Connection, workdir: str) -> None:
    """Sender process: one run of ``path``; sends its result dict (or the error text) on ``out``."""
    clock = Clock(ctrl)
    try:
        if path.startswith("zenoh"):
            result = zenoh_send(clock, info, total)
        elif path.startswith("vmw "):
            transport = "grpc" if "grpc" in path else "websocket"
            run = vmw_send(clock, info, transport, total, workdir, "send path" in path, "single" not in path)
            result = asyncio.run(run)
        elif path == "raw grpcio":
            result = asyncio.run(raw_grpc_send(clock, info, total))
        elif path == "raw websockets":
            result = asyncio.run(raw_ws_send(clock, info, total))
        else:
            raise ValueError(f"unknown path {path!r}")
        out.send(result)
    except BaseException as exc:  # noqa: BLE001 - reported to the orchestrator, which fails the run
        out.send(f"{path}: {type(exc).__name__}: {exc}")
        raise


def run_split(path: str, total: int, workdir: pathlib.Path) -> dict[str, float]:
    """One run of ``path`` with its receiver and its sender each in a fresh process."""
    ctx = mp.get_context("spawn")
    ctrl_here, ctrl_there = ctx.Pipe()
    if path.startswith("zenoh"):
        expected = sum(m.ByteSize() for m in prebuilt(total))
        parse = path != "zenoh"
        receiver = ctx.Process(target=zenoh_receiver, args=(ctrl_there, expected, parse), daemon=True)
    else:
        receiver = ctx.Process(target=mini_receiver, args=(ctrl_there,), daemon=True)
    receiver.start()
    try:
        if not ctrl_here.poll(30):
            raise RuntimeError(f"{path}: receiver did not start")
        info = ctrl_here.recv()
        out_here, out_there = ctx.Pipe()
        proc = ctx.Process(
            target=sender, args=(path, total, info, ctrl_here, out_there, str(workdir)), daemon=True
        )
        proc.start()
        if not out_here.poll(180):
            raise RuntimeError(f"{path}: sender gave no result within 180 s")
        result = out_here.recv()
        proc.join(30)
        if isinstance(result, str):
            raise RuntimeError(result)
        return result
    finally:
        ctrl_here.send("stop")
        receiver.join(10)
        if receiver.is_alive():
            receiver.kill()


# ------------------------------------------------------------------ failover


async def failover_once(kind: str, workdir: pathlib.Path) -> float:
    """Seconds from impairing the active gRPC link to the first batch arriving over WebSocket."""
    rig = await start_rig(
        workdir,
        policy=PolicyConfig(),  # defaults
        probe_interval_s=ChannelConfig.model_fields["probe_interval_s"].default,
        backoff_initial_s=ChannelConfig.model_fields["backoff_initial_s"].default,
        backoff_max_s=ChannelConfig.model_fields["backoff_max_s"].default,
        connect_timeout_s=ChannelConfig.model_fields["connect_timeout_s"].default,
    )
    up = rig.uplink
    try:
        assert await up.wait_until(
            lambda: up.active == "grpc" and all(v.samples >= 4 for v in up.links().values()), 15
        ), "links not settled"
        # past the minimum dwell of the initial choice, as a settled vehicle would be
        await asyncio.sleep(
            max(0.0, up.negotiator.last_switch + up.negotiator.dwell_s(time.monotonic()) - time.monotonic())
        )
        stop = asyncio.Event()

        async def produce() -> None:
            n = 0
            while not stop.is_set():
                rig.feed(20)
                n += 1
                await asyncio.sleep(0.01)  # ~100 batches/s of live data

        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.3)
        rig.gateway.stats.first_batch_at.pop("websocket", None)
        t0 = time.monotonic()
        proxy = rig.proxies["grpc"]
        if kind == "half-open":
            proxy.impair(blackhole=True)
        elif kind == "cut":
            proxy.cut(refuse=True)
        elif kind == "rtt+300ms":
            proxy.impair(delay_ms=150)
        elif kind == "loss":
            proxy.impair(loss=0.3, loss_penalty_ms=300)
        ok = await up.wait_until(lambda: "websocket" in rig.gateway.stats.first_batch_at, 30)
        stop.set()
        await producer
        if not ok:
            return float("inf")
        return rig.gateway.stats.first_batch_at["websocket"] - t0
    finally:
        await rig.close()


# ------------------------------------------------------------------ report

PATHS = (
    "vmw websocket",
    "vmw websocket, send path",
    "vmw websocket, single batches, send path",
    "raw websockets",
    "vmw grpc",
    "vmw grpc, send path",
    "vmw grpc, single batches, send path",
    "raw grpcio",
    "zenoh",
    "zenoh, receiver parses and checks",
)


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


def p1(values: list[float]) -> float:
    """The slow tail of a rate: its 1st percentile is the 99th percentile of the time per sample."""
    return float(np.percentile(values, 1)) if values else float("nan")


def throughput(total: int, reps: int, work: pathlib.Path) -> tuple[list[str], dict[str, float]]:
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in PATHS}
    for r in range(reps):  # the paths alternate, so a load change hits all of them
        for path in PATHS:
            sub = work / f"r{r}-{path.replace(' ', '_').replace(',', '')}"
            sub.mkdir()
            runs[path].append(run_split(path, total, sub))
        print({p: f"{v[-1]['rate']:,.0f}" for p, v in runs.items()}, flush=True)
    per_m = 1e6 / total
    med = {p: statistics.median(x["rate"] for x in v) for p, v in runs.items()}
    zenoh_label = f"eclipse-zenoh {version('eclipse-zenoh')} (TCP, peer -> router)"
    lines = [
        f"### Samples/s and CPU per transport (batches of {BATCH:,} samples, {WINDOW} in flight, "
        "ack-only receiver; receiver and sender each in its own process)",
        "",
        "| path | samples/s (median) | samples/s (p99: 1st percentile) | runs | vs zenoh (median) "
        "| sender CPU s / 1M samples | sender setup CPU s | receiver CPU s / 1M samples |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in PATHS:
        v = runs[path]
        label = path.replace("zenoh", zenoh_label, 1) if path.startswith("zenoh") else path
        lines.append(
            f"| {label} | {med[path]:,.0f} | {p1([x['rate'] for x in v]):,.0f} | {len(v)} "
            f"| {med[path] / med['zenoh']:.2f}x "
            f"| {statistics.median(x['send_cpu'] for x in v) * per_m:.3f} "
            f"| {statistics.median(x['setup_cpu'] for x in v):.2f} "
            f"| {statistics.median(x['recv_cpu'] for x in v) * per_m:.3f} |"
        )
    append = [x["append_s"] for x in runs["vmw websocket"]]
    lines += [
        "",
        f"{total:,} samples per run, timed to the last ack; CPU = user + system seconds from "
        "`getrusage(RUSAGE_SELF)` of that process over the timed window (all its threads), scaled to "
        "1M samples; setup = the sender process's CPU before the window (building messages or filling "
        "the outbox, connect, Hello/Welcome; imports excluded). "
        "Each run starts a fresh receiver process and a fresh sender process. "
        "`vmw <transport>`: the link is up and chosen, then the event loop appends all samples to the "
        "durable outbox in one call (fsync none; 2,048-sample records, each encoded to SampleColumns, "
        "CRC32 + one writev) and the clock starts with that append. `send path`: the same samples are "
        "in the outbox before the Uplink starts and the clock starts when the negotiator chooses the "
        "link (hello/welcome done, as for the raw peers). The negotiated Uplink (probes running) reads "
        "each stored batch back (stored as serialized SampleColumns), frames it and keeps 32 unacked "
        "batches in flight, several ready batches per message (Uplink.batches, up to 256 KiB) since the "
        "gateway advertises it; `single batches`: one batch per message, as before bundles; acks delete. "
        "Raw peers: the same SampleBatch messages, built before the "
        "clock starts (setup) and serialized as they are written, on a bare gRPC stream / WebSocket with "
        "the same window of 32, one batch per message. The receiver is the test gateway "
        "(`tests/channel/mini_gateway.py`, ack-only: parses, checks and materializes every batch, no "
        "SQLite). zenoh: the same messages serialized in the loop, `put` by a zenoh peer session on a "
        "declared publisher (reliable, congestion control BLOCK) to a zenoh router in the receiver "
        "process (explicit TCP endpoints on 127.0.0.1, multicast scouting off, shared memory off so the "
        "bytes cross TCP) whose subscriber only counts the bytes; clock from the first put until the "
        "router has every byte and its done message is back at the peer (zenoh has no per-batch ack); "
        "`receiver parses and checks`: the subscriber also parses each Uplink and checks its columns as "
        "the test gateway does. "
        "Target: every vmw row ahead of zenoh (> 1x).",
        "",
        f"Outbox append of the {total:,} samples alone (CRC + write), inside the `vmw websocket` window: "
        f"median {statistics.median(append) * 1000:.1f} ms: durability the raw peers and zenoh do not pay.",
        "",
    ]
    return lines, med


async def failover(trials: int, work: pathlib.Path) -> list[str]:
    lines = [
        "### Impairment onset -> data flowing on the other transport (default settings)",
        "",
        "| impairment of the active gRPC link | trials | median s | p99 s | max s |",
        "|---|---|---|---|---|",
    ]
    for kind in ("half-open", "cut", "rtt+300ms", "loss"):
        times = []
        for i in range(trials):
            sub = work / f"f-{kind}-{i}"
            sub.mkdir()
            times.append(await failover_once(kind, sub))
        print(kind, [f"{t:.2f}" for t in times], flush=True)
        med = statistics.median(times)
        lines.append(f"| {kind} | {trials} | {med:.2f} | {p99(times):.2f} | {max(times):.2f} |")
    lines += [
        "",
        "Default channel settings (probe every 0.25 s, min dwell 3 s, rtt_high 250 ms, loss_high 0.2); "
        "the vehicle streams ~100 batches/s through two link proxies; vehicle and test gateway share one "
        "process here (this measures reaction time, not throughput); time = first batch stored from the "
        "WebSocket link - the moment the gRPC proxy was impaired. half-open = blackhole (connection "
        "stays open, nothing arrives), cut = connections aborted and refused, rtt+300ms = 150 ms added "
        "each way, loss = 30 % of chunks held 300 ms (TCP retransmission-like). Target p99 <= 2 s.",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_channel")
    parser.add_argument("--quick", action="store_true", help="smoke run (results file left alone)")
    parser.add_argument("--total", type=int, help="samples per throughput run")
    parser.add_argument("--reps", type=int, help="throughput repeats")
    parser.add_argument("--no-failover", action="store_true", help="throughput only")
    args = parser.parse_args()
    total = args.total or (200_000 if args.quick else 1_000_000)
    reps = args.reps or (1 if args.quick else 5)
    trials = 4 if args.quick else 15
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        body, _ = throughput(total, reps, work)
        if not args.no_failover:
            body += asyncio.run(failover(trials, work))
    cmd = "python -m bench.bench_channel" + "".join(f" {a}" for a in sys.argv[1:])
    text = "\n".join(
        [
            "## Channel",
            "",
            f"- Command: `{cmd}` ({started})",
            f"- Machine: {machine_line()}",
            "- Peers: raw `grpcio` (VehicleLink.Session bidi stream) and raw `websockets` clients sending "
            "the same serialized messages to the same test gateway (`tests/channel/mini_gateway.py`, "
            "ack-only); `eclipse-zenoh` publishing the same messages over TCP to a zenoh router.",
            "",
            *body,
            "",
        ]
    )
    print(text)
    partial = args.quick or args.no_failover or args.total or args.reps
    if not partial:  # a smoke or partial run leaves the results of the last full run alone
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

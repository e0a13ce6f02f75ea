"""Channel benchmark: samples/s per transport (vmw Uplink vs raw grpcio / raw websockets / eclipse-zenoh
sending the same bytes), and time from link impairment to data flowing on the other transport.

    python -m bench.bench_channel [--quick]

Both sides run in this process against the test gateway of ``tests/channel`` in ack-only mode
(no SQLite), so the numbers are the channel's own cost. Results: ``bench/results/channel.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import socket
import statistics
import sys
import tempfile
import threading
import time
from importlib.metadata import version

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
from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig, PolicyConfig  # noqa: E402
from vehicle_mw.store import Outbox  # noqa: E402
from vehicle_mw.v1 import link_pb2, link_pb2_grpc  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "channel.md"
BATCH = 2048
WINDOW = 32


def hello(vehicle: str, transport: str) -> link_pb2.Uplink:
    up = link_pb2.Uplink()
    up.hello.protocol_version = PROTOCOL_VERSION
    up.hello.vehicle_id = vehicle
    up.hello.transport = transport
    return up


def prebuilt(total: int) -> list[link_pb2.Uplink]:
    """The exact messages the Uplink sends for ``total`` samples (for the raw peers)."""
    return [batch_message(i // BATCH + 1, make_samples(i, BATCH)) for i in range(0, total, BATCH)]


# ------------------------------------------------------------------ throughput


async def vmw_throughput(
    transport: str, total: int, workdir: pathlib.Path, *, prefilled: bool = False
) -> tuple[float, float]:
    """Samples/s through the Uplink to the last ack, and the seconds the outbox append took.

    ``prefilled=False``: the link is up and chosen, then the event loop appends all samples at once
    and the clock runs from the start of that append (the append is inside the timed window).
    ``prefilled=True``: the samples are appended before the Uplink starts; the clock runs from the
    moment the negotiator chooses the link (hello/welcome done, as for the raw peers): the send path.
    """
    gw = MiniGateway(str(workdir / f"gw-{transport}.db"), durable=False, max_message_bytes=4 << 20)
    await gw.start()
    endpoint = (
        {"grpc_target": f"127.0.0.1:{gw.grpc_port}"}
        if transport == "grpc"
        else {"websocket_url": f"ws://127.0.0.1:{gw.ws_port}/v1/link"}
    )
    mode = "pre" if prefilled else "inline"
    cfg = ChannelConfig(
        vehicle_id=f"bench-{transport}-{mode}",
        outbox=OutboxConfig(
            directory=str(workdir / f"ob-{transport}-{mode}"), fsync="none", max_batch_samples=BATCH
        ),
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
    up = Uplink(cfg, box)
    chosen: list[float] = []
    up.add_switch_listener(lambda _ev: chosen.append(time.perf_counter()))
    task = asyncio.create_task(up.run())
    try:
        assert await up.wait_until(lambda: up.active == transport, 10), "link did not come up"
        if not prefilled:
            t0 = time.perf_counter()
            box.append(data)
            appended = time.perf_counter() - t0
        else:
            t0 = chosen[0]
        # O(1) check (stats() sums the backlog): the predicate runs on every ack
        assert await up.wait_until(lambda: up.backlog == 0, 120), "not drained"
        return total / (time.perf_counter() - t0), appended
    finally:
        up.stop()
        await task
        box.close()
        await gw.stop()


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


async def raw_grpc_throughput(total: int, workdir: pathlib.Path) -> float:
    gw = MiniGateway(str(workdir / "gw-raw-grpc.db"), durable=False, max_message_bytes=4 << 20)
    await gw.start()
    messages = prebuilt(total)
    try:
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{gw.grpc_port}", options=[("grpc.max_receive_message_length", 4 << 20)]
        ) as channel:
            call = link_pb2_grpc.VehicleLinkStub(channel).Session()
            await call.write(hello("raw-grpc", "grpc"))
            await call.read()
            t0 = time.perf_counter()
            await _raw_stream(call.write, call.read, messages)
            elapsed = time.perf_counter() - t0
            call.cancel()
        return total / elapsed
    finally:
        await gw.stop()


async def raw_ws_throughput(total: int, workdir: pathlib.Path) -> float:
    gw = MiniGateway(str(workdir / "gw-raw-ws.db"), durable=False, max_message_bytes=4 << 20)
    await gw.start()
    messages = prebuilt(total)
    try:
        async with ws_connect(
            f"ws://127.0.0.1:{gw.ws_port}/v1/link", max_size=4 << 20, compression=None, ping_interval=None
        ) as ws:
            await ws.send(hello("raw-ws", "websocket").SerializeToString())
            await ws.recv()

            async def send(msg: link_pb2.Uplink) -> None:
                await ws.send(msg.SerializeToString())

            async def recv() -> link_pb2.Downlink:
                return link_pb2.Downlink.FromString(await ws.recv())

            t0 = time.perf_counter()
            await _raw_stream(send, recv, messages)
            return total / (time.perf_counter() - t0)
    finally:
        await gw.stop()


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


def zenoh_throughput_sync(total: int) -> float:
    """Samples/s of a zenoh peer publishing the same serialized Uplink batches over TCP to a zenoh
    router whose subscriber counts the bytes; the clock stops when the router's subscriber has
    received every byte and its "done" message is back at the publisher (the raw peers' last ack)."""
    messages = prebuilt(total)
    expected = sum(m.ByteSize() for m in messages)
    endpoint = f"tcp/127.0.0.1:{_free_port()}"
    router = zenoh.open(_zenoh_config("router", [endpoint], []))
    try:
        peer = zenoh.open(_zenoh_config("peer", [], [endpoint]))
        try:
            done_pub = router.declare_publisher("vmw/bench/done")
            received = [0]

            def on_batch(sample: zenoh.Sample) -> None:
                received[0] += len(sample.payload.to_bytes())
                if received[0] >= expected:
                    done_pub.put(str(received[0]))

            router.declare_subscriber("vmw/bench/batches", on_batch)
            done = threading.Event()
            reported: list[int] = []
            peer.declare_subscriber(
                "vmw/bench/done", lambda s: (reported.append(int(s.payload.to_string())), done.set())
            )
            pub = peer.declare_publisher(
                "vmw/bench/batches",
                congestion_control=zenoh.CongestionControl.BLOCK,
                reliability=zenoh.Reliability.RELIABLE,
            )
            deadline = time.monotonic() + 10
            while not pub.matching_status.matching:  # the router's subscriber is known to the peer
                assert time.monotonic() < deadline, "zenoh: subscriber never matched"
                time.sleep(0.01)
            t0 = time.perf_counter()
            for msg in messages:
                pub.put(msg.SerializeToString())
            assert done.wait(120), f"zenoh: {received[0]} of {expected} bytes arrived"
            elapsed = time.perf_counter() - t0
            assert reported == [expected], f"zenoh: subscriber counted {reported}, sent {expected}"
            return total / elapsed
        finally:
            peer.close()
    finally:
        router.close()


async def zenoh_throughput(total: int) -> float:
    return await asyncio.to_thread(zenoh_throughput_sync, total)


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


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


async def main_async(quick: bool) -> list[str]:
    total = 200_000 if quick else 1_000_000
    reps = 1 if quick else 5
    trials = 4 if quick else 15
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        sides = (
            ("vmw grpc", lambda sub: vmw_throughput("grpc", total, sub)),
            ("vmw grpc, send path", lambda sub: vmw_throughput("grpc", total, sub, prefilled=True)),
            ("raw grpcio", lambda sub: raw_grpc_throughput(total, sub)),
            ("vmw websocket", lambda sub: vmw_throughput("websocket", total, sub)),
            ("vmw websocket, send path", lambda sub: vmw_throughput("websocket", total, sub, prefilled=True)),
            ("raw websockets", lambda sub: raw_ws_throughput(total, sub)),
            ("zenoh", lambda sub: zenoh_throughput(total)),
        )
        rates: dict[str, list[float]] = {name: [] for name, _ in sides}
        append_s: list[float] = []
        for r in range(reps):  # the sides alternate, so a load change hits all of them
            sub = work / f"r{r}"
            sub.mkdir()
            for name, run in sides:
                result = await run(sub)
                if isinstance(result, tuple):
                    result, appended = result
                    append_s.append(appended)
                rates[name].append(result)
            print({k: f"{v[-1]:,.0f}" for k, v in rates.items()}, flush=True)
        med = {k: statistics.median(v) for k, v in rates.items()}
        lines += [
            "### Samples/s per transport (batches of 2,048 samples, 32 in flight, ack-only gateway)",
            "",
            "| path | samples/s (median) | runs | vmw overhead vs raw (medians) | per run |",
            "|---|---|---|---|---|",
        ]
        for name, peer in (("grpc", "raw grpcio"), ("websocket", "raw websockets")):
            for label in (f"vmw {name}", f"vmw {name}, send path"):
                v = med[label]
                per_run = ", ".join(
                    f"{(p - x) / p * 100:+.0f} %" for x, p in zip(rates[label], rates[peer], strict=True)
                )
                overhead = (med[peer] - v) / med[peer] * 100
                lines.append(f"| {label} | {v:,.0f} | {reps} | {overhead:+.1f} % | {per_run} |")
            lines.append(f"| {peer} | {med[peer]:,.0f} | {reps} | | |")
        lines.append(
            f"| eclipse-zenoh {version('eclipse-zenoh')} (TCP, peer -> router) "
            f"| {med['zenoh']:,.0f} | {reps} | | |"
        )
        lines += [
            "",
            "vmw throughput / zenoh throughput (medians; per run in brackets): "
            + "; ".join(
                f"{label} **{med[label] / med['zenoh']:.2f}x** ("
                + ", ".join(f"{x / z:.2f}" for x, z in zip(rates[label], rates["zenoh"], strict=True))
                + ")"
                for label in ("vmw grpc", "vmw grpc, send path", "vmw websocket", "vmw websocket, send path")
            )
            + ". Target: ahead of zenoh (> 1).",
            "",
            f"{total:,} samples per run, timed to the last ack. `vmw <transport>`: the link is up and "
            "chosen, then the event loop appends all samples to the durable outbox in one call (fsync "
            "none; 2,048-sample records, each encoded to SampleColumns, CRC32 + one writev) and the clock "
            "starts with that append. "
            "`send path`: the same samples are in the outbox before the Uplink starts and the clock starts "
            "when the negotiator chooses the link (hello/welcome done, as for the raw peers). Either way the "
            "negotiated Uplink (probes running) reads each stored batch back (pread; it is stored as "
            "serialized SampleColumns), puts the SampleBatch head and Uplink framing around it and keeps "
            "32 unacked batches in flight; acks delete. Raw peers: "
            "the same SampleBatch messages, built before the clock starts and serialized as they are "
            "written on a bare gRPC stream / WebSocket with the same window of 32. Overhead = "
            "(raw - vmw) / raw; target <= 20 %. zenoh: the same SampleBatch messages serialized in the "
            "loop as the raw peers do, `put` by a zenoh peer session on a declared publisher (reliable, "
            "congestion control BLOCK) to a zenoh router session in the same process (explicit TCP "
            "listen/connect endpoints on 127.0.0.1, multicast scouting off, shared-memory transport off so "
            "the bytes cross TCP, otherwise the default config) "
            "whose subscriber callback counts the bytes; clock from the first put (subscriber already "
            "matched) until the router has every byte and its done message is back at the peer -- zenoh "
            "has no per-batch ack, so this stands in for the raw peers' last ack.",
            "",
            f"Outbox append of the {total:,} samples alone (CRC + write): median "
            f"{statistics.median(append_s) * 1000:.1f} ms = "
            f"{statistics.median(append_s) * med['raw websockets'] / total * 100:.0f} % of the raw WebSocket "
            f"run time and {statistics.median(append_s) * med['raw grpcio'] / total * 100:.0f} % of the raw "
            "gRPC run time: durability the raw peers do not pay.",
            "",
        ]
        lines += [
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
            "the vehicle streams ~100 batches/s through two link proxies; time = first batch stored from the "
            "WebSocket link - the moment the gRPC proxy was impaired. half-open = blackhole (connection "
            "stays open, nothing arrives), cut = connections aborted and refused, rtt+300ms = 150 ms added "
            "each way, loss = 30 % of chunks held 300 ms (TCP retransmission-like). Target p99 <= 2 s.",
        ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_channel")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = asyncio.run(main_async(args.quick))
    cmd = "python -m bench.bench_channel" + (" --quick" if args.quick else "")
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
    if not args.quick:  # a smoke run leaves the results of the last full run alone
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SOME/IP event reception: vehicle_mw's consumer vs a plain someipy client, same provider, same run.

    python -m bench.bench_someip [--quick]      (root: it builds two network namespaces)

A provider in namespace a offers the service (SD through the someipy daemon) and sends
timestamped events to the subscribed consumer at a paced rate; the consumer in
namespace b is either vehicle_mw (fast path: own socket, samples to a sink) or a plain
someipy 2.1.2 ClientServiceInstance behind the stock someipy daemon. Measured: the
highest rate received with zero loss (rate ladder), and one-way latency p50/p99 at
1k and 5k events/s (send timestamp in the payload -> arrival at the sink/callback;
both namespaces share the clock).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from bench.common import machine_line

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "someip.md"
SERVICE_PORT, CONSUMER_PORT = 30509, 40000
MANIFEST = {
    "name": "bench",
    "service_id": 0x4242,
    "instance_id": 1,
    "major_version": 1,
    "endpoint": {"port": SERVICE_PORT},
    "consumer_endpoint": {"port": CONSUMER_PORT},
    "source_id": 9,
    "sd": {"ttl": 3, "cyclic_offer_delay_ms": 500},
    "types": {
        "Timing": {"struct": [{"name": "send_ns", "type": "uint64"}, {"name": "seq", "type": "uint32"}]}
    },
    "events": [
        {
            "id": 0x8001,
            "name": "timing",
            "type": "Timing",
            "signals": [{"path": "send_ns", "signal_id": 1}, {"path": "seq", "signal_id": 2}],
        }
    ],
    "eventgroups": [{"id": 1, "events": [0x8001]}],
}
RT_PRIORITY = (
    20  # SCHED_FIFO for vehicle_mw's receiver and for the sender (not available to someipy's daemon)
)
EVENT = struct.Struct(">HHIHHBBBBQI")  # SOME/IP header + Timing payload


def _service() -> Any:
    from vehicle_mw.manifest import parse_manifest
    from vehicle_mw.manifest.someip import SomeIpService

    return parse_manifest(MANIFEST, SomeIpService)


# ---- roles (run inside the namespaces) --------------------------------------------------------


def _reply(obj: Any) -> None:
    print(json.dumps(obj), flush=True)


async def _serve(handle: Any) -> None:
    loop = asyncio.get_running_loop()
    _reply({"ready": True})
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "quit":
            return
        _reply(await handle(json.loads(line)))


def _blast(src: tuple[str, int], dst: tuple[str, int], rate: float, duration: float) -> dict[str, Any]:
    """Send ``rate`` events/s for ``duration`` s, each at its scheduled time, from the service port."""
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.bind(src)
    sock.connect(dst)  # connected: it never takes the daemon's incoming datagrams
    total = int(rate * duration)
    period = 1e9 / rate
    start = time.monotonic_ns()
    sent = 0
    pack, send, now_ns, mono = EVENT.pack, sock.send, time.time_ns, time.monotonic_ns
    while sent < total:
        due = min(total, int((mono() - start) / period) + 1)
        if due <= sent:
            time.sleep(max(0.0, min(0.0005, (start + sent * period - mono()) / 1e9)))  # never spin
            continue
        while sent < due:
            send(pack(0x4242, 0x8001, 20, 0, (sent % 0xFFFF) + 1, 1, 1, 2, 0, now_ns(), sent))
            sent += 1
    elapsed = (time.monotonic_ns() - start) / 1e9
    sock.close()
    return {"sent": sent, "seconds": elapsed}


async def _provider_blast(provider: Any, rate: float, duration: float) -> dict[str, Any]:
    """Paced ``Provider.send_event`` calls: the path decoded CAN signals take when re-offered."""
    total, period, start, sent = int(rate * duration), 1.0 / rate, time.monotonic(), 0
    while sent < total:
        due = min(total, int((time.monotonic() - start) / period) + 1)
        while sent < due:
            provider.send_event("timing", {"send_ns": time.time_ns(), "seq": sent})
            sent += 1
        await asyncio.sleep(0.0005)
    return {"sent": sent, "seconds": time.monotonic() - start}


async def _provider(ip: str, peer_ip: str, fast: str = "1") -> None:
    from vehicle_mw.someip import SomeIpRuntime

    _realtime_process()
    async with SomeIpRuntime(ip) as rt:
        provider = await rt.provide(_service(), fast_events=fast == "1")

        async def handle(cmd: dict[str, Any]) -> Any:
            if cmd.get("via") == "provider":
                return await _provider_blast(provider, cmd["rate"], cmd["duration"])
            return await asyncio.to_thread(
                _blast, (ip, SERVICE_PORT), (peer_ip, CONSUMER_PORT), cmd["rate"], cmd["duration"]
            )

        await _serve(handle)


class _Latencies:
    """Received sequence numbers and one-way latencies (ns)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.seqs: list[np.ndarray] = []
        self.lat: list[np.ndarray] = []

    def report(self) -> dict[str, Any]:
        seqs = np.concatenate(self.seqs) if self.seqs else np.zeros(0, np.int64)
        lat = np.concatenate(self.lat) if self.lat else np.zeros(0, np.int64)
        out = {"received": int(len(seqs)), "unique": int(len(np.unique(seqs)))}
        if len(lat):
            out.update(p50_us=float(np.percentile(lat, 50)) / 1e3, p99_us=float(np.percentile(lat, 99)) / 1e3)
        return out


def _realtime_process() -> None:
    """Both consumers run SCHED_FIFO (inherited by their daemons): with the GIL shared, a receiver
    thread is only as punctual as the thread holding the GIL."""
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY - 1))


async def _consumer_vmw(ip: str) -> None:
    from vehicle_mw.native.records import SAMPLE_DTYPE
    from vehicle_mw.someip import SomeIpRuntime

    _realtime_process()
    stats = _Latencies()

    class Sink:
        def push_batch(self, buf: memoryview) -> None:
            now = time.time_ns()
            rec = np.frombuffer(buf, SAMPLE_DTYPE)
            ids = rec["signal_id"]
            values = rec["value"].view("<u8")
            stats.lat.append(now - values[ids == 1].astype(np.int64))
            stats.seqs.append(values[ids == 2].astype(np.int64))

    async with SomeIpRuntime(ip) as rt:
        consumer = await rt.consume(_service(), Sink(), rt_priority=RT_PRIORITY)
        await consumer.wait_available(30)
        await consumer.wait_subscribed(30)
        await _serve(lambda cmd: _consumer_cmd(cmd, stats))


async def _consumer_cmd(cmd: dict[str, Any], stats: _Latencies) -> Any:
    if cmd["op"] == "reset":
        stats.reset()
        return {}
    return stats.report()


async def _consumer_someipy(ip: str) -> None:
    """The plain someipy way: stock daemon, ClientServiceInstance, callback per event."""
    from someipy import ClientServiceInstance, Event, EventGroup, Service, TransportLayerProtocol
    from someipy._internal._daemon.someipy_daemon_client import connect_to_someipy_daemon
    from someipy.someipy_logging import set_someipy_log_level

    set_someipy_log_level(50)  # someipy logs to stdout, which carries this process's JSON replies
    _realtime_process()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-someipyd-"))
    config = {
        "socket_path": str(tmp / "d.sock"),
        "interface": ip,
        "log_level": "ERROR",
        "log_path": str(tmp / "d.log"),
    }
    (tmp / "d.json").write_text(json.dumps(config))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "someipy.someipyd", "--config", str(tmp / "d.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(500):  # until the daemon listens (bounded)
            if (tmp / "d.sock").exists():
                break
            await asyncio.sleep(0.01)
        client = await connect_to_someipy_daemon({"socket_path": str(tmp / "d.sock")})
        service = Service()
        service.id, service.major_version = 0x4242, 1
        group = EventGroup(1, [Event(0x8001, TransportLayerProtocol.UDP)])
        service.eventgroups[1] = group
        instance = ClientServiceInstance(client, service, 1, ip, CONSUMER_PORT)
        stats = _Latencies()
        timing = struct.Struct(">QI")

        def on_event(event_id: int, payload: bytes) -> None:
            send_ns, seq = timing.unpack(payload)
            stats.lat.append(np.array([time.time_ns() - send_ns]))
            stats.seqs.append(np.array([seq]))

        instance.register_callback(on_event)
        instance.subscribe_eventgroup(group, 3)
        while not await instance.is_available():
            await asyncio.sleep(0.05)
        await _serve(lambda cmd: _consumer_cmd(cmd, stats))
    finally:
        daemon.terminate()
        daemon.wait(10)


# ---- orchestration (root namespace) ---------------------------------------------------------


class _Proc:
    def __init__(self, argv: list[str]):
        self.p = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            start_new_session=True,
        )
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.p.stdout, selectors.EVENT_READ)
        assert self.read(60).get("ready"), "peer did not start"

    def read(self, timeout: float) -> dict[str, Any]:
        if not self.sel.select(timeout):
            raise TimeoutError(f"no reply within {timeout} s")
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"peer exited with {self.p.wait()}")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise RuntimeError(f"peer wrote a non-JSON line: {line[:300]!r}") from None

    def cmd(self, timeout: float = 120, **kw: Any) -> dict[str, Any]:
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        return self.read(timeout)

    def close(self) -> None:
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(15)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            os.killpg(self.p.pid, 9)
            self.p.wait(5)


def _step(provider: _Proc, consumer: _Proc, rate: float, duration: float, via: str = "raw") -> dict[str, Any]:
    consumer.cmd(op="reset")
    sent = provider.cmd(rate=rate, duration=duration, via=via)
    last, deadline = -1, time.monotonic() + 5  # drain: until all arrived or the count stops moving
    while time.monotonic() < deadline:
        got = consumer.cmd(op="report")
        if got["unique"] >= sent["sent"] or got["received"] == last:
            break
        last = got["received"]
        time.sleep(0.2)
    got.update(rate=rate, sent=sent["sent"], achieved=sent["sent"] / sent["seconds"])
    return got


def _provider_proc(netns: Any, fast: bool) -> _Proc:
    return _Proc(
        [*netns.exec_prefix(netns.ns_a), sys.executable, "-m", "bench.bench_someip", "provider", netns.ip_a,
         netns.ip_b, "1" if fast else "0"]
    )  # fmt: skip


def _measure_provider(netns: Any, fast: bool, ladder: list[int], duration: float) -> int:
    """Zero-loss rate of Provider.send_event -> vehicle_mw consumer, fast path or through the daemon."""
    provider = _provider_proc(netns, fast)
    role = ["-m", "bench.bench_someip", "consumer-vmw", netns.ip_b]
    consumer = _Proc([*netns.exec_prefix(netns.ns_b), sys.executable, *role])
    try:
        _step(provider, consumer, 500, 1.0, "provider")  # warm-up: subscriber known to the provider
        zero = 0
        for rate in ladder:
            step = _step(provider, consumer, rate, duration, "provider")
            print(
                f"  provider {'raw' if fast else 'daemon'} {rate:>7} ev/s: received {step['unique']}/"
                f"{step['sent']} (sender {step['achieved']:.0f} ev/s)",
                flush=True,
            )
            if step["unique"] < step["sent"] or step["achieved"] < 0.9 * rate:
                break
            zero = rate
        return zero
    finally:
        consumer.close()
        provider.close()


def _measure(netns: Any, kind: str, provider: _Proc, ladder: list[int], duration: float) -> dict[str, Any]:
    consumer = _Proc(
        [
            *netns.exec_prefix(netns.ns_b),
            sys.executable,
            "-m",
            "bench.bench_someip",
            f"consumer-{kind}",
            netns.ip_b,
        ]
    )
    try:
        out: dict[str, Any] = {"latency": {}, "ladder": []}
        _step(provider, consumer, 500, 1.0)  # warm-up: subscription flowing end to end
        for rate in (1000, 5000):
            out["latency"][rate] = _step(provider, consumer, rate, duration)
        zero = 0
        for rate in ladder:
            step = _step(provider, consumer, rate, duration)
            out["ladder"].append(step)
            lossless = step["unique"] >= step["sent"]
            print(
                f"  {kind:8s} {rate:>7} ev/s: received {step['unique']}/{step['sent']}"
                f" (sender {step['achieved']:.0f} ev/s)",
                flush=True,
            )
            if not lossless or step["achieved"] < 0.9 * rate:
                break
            zero = rate
        out["zero_loss"] = zero
        return out
    finally:
        consumer.close()


def run_bench(quick: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.someip.netns import NetnsPair

    duration = 1.0 if quick else 3.0
    ladder = [2000, 4000, 8000, 16000, 32000, 48000, 64000, 96000]
    netns = NetnsPair("b").create()
    try:
        provider = _provider_proc(netns, True)
        try:
            results = {kind: _measure(netns, kind, provider, ladder, duration) for kind in ("vmw", "someipy")}
        finally:
            provider.close()
        results["provider"] = {
            "raw": _measure_provider(netns, True, ladder, duration),
            "daemon": _measure_provider(netns, False, ladder, duration),
        }
    finally:
        netns.delete()
    results["duration"] = duration
    return results


def _table(r: dict[str, Any]) -> str:
    lines = [
        "| consumer | zero-loss rate (ev/s) | p50 @1k (µs) | p99 @1k (µs) "
        "| p50 @5k (µs) | p99 @5k (µs) | loss @5k |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, label in (("vmw", "vehicle_mw (fast path)"), ("someipy", "someipy 2.1.2 client")):
        x = r[kind]
        l1, l5 = x["latency"][1000], x["latency"][5000]
        lines.append(
            f"| {label} | {x['zero_loss']} | {l1.get('p50_us', float('nan')):.0f} | "
            f"{l1.get('p99_us', float('nan')):.0f} | {l5.get('p50_us', float('nan')):.0f} | "
            f"{l5.get('p99_us', float('nan')):.0f} | {l5['sent'] - l5['unique']} |"
        )
    ratio = r["vmw"]["zero_loss"] / max(1, r["someipy"]["zero_loss"])
    ceiling = r["vmw"]["ladder"][-1]
    capped = ceiling["unique"] >= ceiling["sent"]
    lines.append("")
    lines.append(
        f"Zero-loss ratio vehicle_mw / someipy consumer: **{ratio:.1f}x**"
        + (" (vehicle_mw lossless at the top of the ladder: a lower bound)" if capped else "")
    )
    prov = r["provider"]
    lines += [
        "",
        "Provider side (vehicle_mw `Provider.send_event`, e.g. re-offered CAN signals, "
        "to the vehicle_mw consumer):",
        "",
        "| provider event path | zero-loss rate (ev/s) |",
        "|---|---:|",
        f"| raw socket fast path | {prov['raw']} |",
        f"| through the someipy daemon (JSON + base64 over its Unix socket) | {prov['daemon']} |",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_someip")
    parser.add_argument("role", nargs="?", default="bench")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--quick", action="store_true")
    a = parser.parse_args()
    if a.role == "provider":
        asyncio.run(_provider(*a.args))
        return 0
    if a.role == "consumer-vmw":
        asyncio.run(_consumer_vmw(*a.args))
        return 0
    if a.role == "consumer-someipy":
        asyncio.run(_consumer_someipy(*a.args))
        return 0
    if os.geteuid() != 0:
        print("bench_someip needs root (it creates network namespaces); skipped")
        return 0
    t0 = time.time()
    results = run_bench(a.quick)
    table = _table(results)
    print(table)
    md = [
        "## SOME/IP event reception (bench_someip)",
        "",
        f"Command: `python -m bench.bench_someip{' --quick' if a.quick else ''}` — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))}",
        f"Machine: {machine_line()}.",
        "",
        "Provider (namespace a) and consumer (namespace b) joined by a veth pair; SD through the someipy "
        "daemon on both sides; events of 12-byte payload paced at the given rate for "
        f"{results['duration']:.0f} s per step; zero-loss rate = highest ladder step "
        "(2k, 4k, 8k, 16k, 32k, 48k, 64k, 96k ev/s) with every event received. Latency = send timestamp "
        "in the payload -> sample batch at the sink (vehicle_mw) or the event callback (someipy).",
        "Peer: someipy 2.1.2 ClientServiceInstance behind the stock someipy daemon "
        "(events cross its Unix socket as JSON + base64).",
        "All provider and consumer processes (and their daemons) run SCHED_FIFO; vehicle_mw's receiver "
        "thread one level higher. The provider-side ladder stops where the Python sender cannot keep "
        "the pace (achieved < 90 % of the step) or events are lost.",
        "",
        table,
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(md))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

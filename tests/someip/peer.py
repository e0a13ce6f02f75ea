"""A provider or consumer process driven by JSON lines on stdin (one reply line per command).

python tests/someip/peer.py provide|consume MANIFEST.yaml INTERFACE_IP
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback

import numpy as np

from vehicle_mw.manifest import load_manifest
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.native.records import SAMPLE_DTYPE, VALUE_F64
from vehicle_mw.someip import SampleCollector, SomeIpRuntime
from vehicle_mw.someip.samples import samples_to_values

RINGS: list = []  # unlinked when the peer exits
HANDLERS = {
    "add": lambda req: req["a"] + req["b"],
    "shout": lambda text: text.upper() + "!",
    "echo": lambda value: value,
}


async def common(rt: SomeIpRuntime, cmd: dict):
    if cmd["op"] == "kill_daemon":  # a crash of the someipy daemon under the runtime
        os.kill(rt.daemon.pid, 9)
        return True
    if cmd["op"] == "daemon":
        return {"pid": rt.daemon.pid, "dir": str(rt.daemon._dir)}
    deadline = asyncio.get_running_loop().time() + cmd.get("timeout", 10.0)
    while rt.restarts < cmd.get("at_least", 1) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    return rt.restarts


async def provider_ops(rt: SomeIpRuntime, service: SomeIpService):
    handlers = {name: h for name, h in HANDLERS.items() if any(m.name == name for m in service.methods)}
    provider = await rt.provide(
        service, handlers, fast_events=os.environ.get("VMW_TEST_FAST_EVENTS", "1") == "1"
    )
    state: dict = {}

    async def op(cmd: dict):
        name = cmd["op"]
        if name == "send":
            for value in cmd.get("values", [cmd.get("value")]):
                provider.send_event(cmd["event"], value)
            return True
        if name == "set_field":
            provider.set_field(cmd["field"], cmd["value"])
            return True
        if name in ("kill_daemon", "restarts", "daemon"):
            return await common(rt, cmd)
        if name == "wait_subscribed":
            await provider.wait_subscribed(cmd.get("timeout", 10.0))
            return True
        if name == "fast_sent":
            return provider.fast_sent
        if name == "field_value":
            return provider.field_values[cmd["field"]]
        if name == "stop_offer":
            await provider.stop()
            return True
        if name == "start_offer":
            await provider.start()
            return True
        if name == "feed_ring":  # samples pushed into a SlotRing that the provider drains
            import os

            from vehicle_mw.native import SAMPLE_SIZE, SlotRing

            if "ring" not in state:
                state["ring"] = SlotRing.create(f"/vmw-someip-peer-{os.getpid()}", SAMPLE_SIZE, 1024)
                RINGS.append(state["ring"])
                state["task"] = asyncio.create_task(provider.feed_from(state["ring"]))
            rec = np.zeros(len(cmd["samples"]), SAMPLE_DTYPE)
            for i, (sid, value) in enumerate(cmd["samples"]):
                rec[i]["signal_id"], rec[i]["kind"], rec[i]["value"] = sid, VALUE_F64, value
            return state["ring"].push_batch(rec.tobytes())
        if name == "feed":
            rec = np.zeros(len(cmd["samples"]), SAMPLE_DTYPE)
            for i, (sid, value) in enumerate(cmd["samples"]):
                rec[i]["signal_id"], rec[i]["kind"], rec[i]["value"] = sid, VALUE_F64, value
            return provider.feed(rec)
        raise ValueError(f"unknown op {name}")

    return op


async def consumer_ops(rt: SomeIpRuntime, service: SomeIpService):
    sink = SampleCollector()
    consumer = await rt.consume(service, sink)

    async def op(cmd: dict):
        name = cmd["op"]
        timeout = cmd.get("timeout", 10.0)
        if name == "wait_available":
            await consumer.wait_available(timeout)
            return consumer.provider_ip
        if name in ("kill_daemon", "restarts", "daemon"):
            return await common(rt, cmd)
        if name == "wait_subscribed":
            await consumer.wait_subscribed(timeout)
            return True
        if name == "status":
            return await rt.status()
        if name == "wait_lost":
            await consumer.wait_lost(timeout)
            return consumer.lost_count
        if name == "wait_samples":
            n = cmd["n"]
            ok = await asyncio.to_thread(sink.wait_for, lambda s: len(s) >= n, timeout)
            s = sink.samples()
            return {
                "ok": ok,
                "count": len(s),
                "values": {str(k): v for k, v in samples_to_values(s).items()},
                "signal_ids": s["signal_id"].tolist()[:64],
                "seq": s["source_seq"].tolist()[:64],
                "source_id": sorted(set(s["source_id"].tolist())),
                "ts": s["timestamp_ns"].tolist()[:4],
            }
        if name == "call":
            return await consumer.call(cmd["method"], cmd.get("value"), timeout)
        if name == "get_field":
            return await consumer.get_field(cmd["field"], timeout)
        if name == "set_field":
            return await consumer.set_field(cmd["field"], cmd["value"], timeout)
        if name == "wait_field":
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while consumer.field_values.get(cmd["field"]) != cmd["value"] and loop.time() < deadline:
                await asyncio.sleep(0.02)
            return consumer.field_values.get(cmd["field"])
        if name == "stats":
            return {
                "events": consumer.stats.events,
                "dropped": {f"{p}|{r}": n for (p, r), n in consumer.stats.dropped.items()},
                "lost": consumer.lost_count,
            }
        raise ValueError(f"unknown op {name}")

    return op


async def main() -> None:
    role, manifest, ip = sys.argv[1:4]
    service = load_manifest(manifest, SomeIpService)
    try:
        await _run(role, service, ip)
    finally:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ring in RINGS:
            ring.close()
            ring.unlink()


async def _run(role: str, service: SomeIpService, ip: str) -> None:
    async with SomeIpRuntime(ip) as rt:
        op = await (provider_ops if role == "provide" else consumer_ops)(rt, service)
        loop = asyncio.get_running_loop()
        print(json.dumps({"ok": True, "result": "ready"}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "quit":
                break
            try:
                reply = {"ok": True, "result": await op(json.loads(line))}
            except Exception as exc:
                reply = {
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(),
                }
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    asyncio.run(main())

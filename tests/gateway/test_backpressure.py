"""One vehicle flooding maximum-size valid batches does not starve another (issue #12, item 6/7).

The gateway runs in its own process; the flooding vehicle in another (so that its sending does not
share an event loop with the good vehicle), sending SampleBatches of ``limits.max_batch_samples``
samples as fast as its connection takes them, never waiting for acks. Rate limits are set out of
the way, so what holds the flood back is the per-vehicle back-pressure (the gateway stops reading
a vehicle with more than ``limits.max_inflight_samples`` samples awaiting commit). The good
vehicle's batches must keep being acknowledged while the flood goes on.

Measured on a loaded 2-core machine: ~4.5 s per good ack, because the sink commits in arrival
order and a 131,072-sample batch takes ~1.4 s to commit: the good batch waits behind the up to
three flood batches back-pressure lets in (bounded, not starved; fairness inside the group commit
is the sink's).
"""

from __future__ import annotations

import asyncio
import os
import sys

from .helpers import ROOT, GatewayProcess, local_config, run
from .test_delivery import numbered

GOOD_BATCHES = 6
ACK_BOUND_S = 30.0  # generous: a loaded machine; starvation means never, not "slow"

FLOODER = r"""
import asyncio, sys, time
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.v1 import link_pb2

async def main(url, n):
    v = await WsVehicle.connect(url)
    first = await v.open(hello("VIN-FLOOD"))
    assert first is not None and first.WhichOneof("msg") == "welcome", first
    now = time.time_ns()
    up = link_pb2.Uplink(batch=link_pb2.SampleBatch(seq=1, created_ns=now, columns=link_pb2.SampleColumns(
        signal_id=[1] * n, source_id=[1] * n, source_ts_ns=[now + i for i in range(n)],
        source_seq=list(range(n)), value=[float(i) for i in range(n)])))
    acked = 0

    async def acks():
        nonlocal acked
        while (down := await v.recv(timeout=3600)) is not None:
            if down.WhichOneof("msg") == "ack":
                acked = down.ack.acked_seq
            elif down.WhichOneof("msg") == "error":
                print(f"error {down.error.message}", flush=True)
        print("closed", flush=True)

    reader = asyncio.create_task(acks())
    seq = 0
    while not reader.done():
        seq += 1
        up.batch.seq = seq
        await v.send(up)
        print(f"sent {seq} acked {acked} bytes {up.ByteSize()}", flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_a_flooding_vehicle_does_not_starve_another(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    lim = cfg.limits.model_copy(update={"bytes_per_s": float(1 << 34), "messages_per_s": 1e6})
    cfg = cfg.model_copy(update={"limits": lim})
    gw = GatewayProcess(cfg, tmp_path).start()

    async def scenario() -> dict:
        from vehicle_mw.gateway.loadgen import WsVehicle, hello

        env = dict(os.environ, PYTHONUNBUFFERED="1")
        flooder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            FLOODER,
            gw.ws_url,
            str(lim.max_batch_samples),
            stdout=asyncio.subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        progress = {"sent": 0, "acked": 0, "bytes": 0, "ended": ""}

        async def follow() -> None:
            assert flooder.stdout is not None
            while line := (await flooder.stdout.readline()).decode():
                parts = line.split()
                if parts[0] == "sent":
                    progress.update(sent=int(parts[1]), acked=int(parts[3]), bytes=int(parts[5]))
                else:
                    progress["ended"] = line.strip()

        following = asyncio.create_task(follow())
        loop = asyncio.get_running_loop()
        try:
            deadline = loop.time() + 60
            while progress["acked"] < 2:  # the flood is being stored
                assert not progress["ended"] and flooder.returncode is None, progress
                assert loop.time() < deadline, f"flood did not start: {progress}"
                await asyncio.sleep(0.05)
            at_start = dict(progress)
            t0 = loop.time()

            good = await WsVehicle.connect(gw.ws_url)
            first = await good.open(hello("VIN-GOOD"))
            assert first is not None and first.WhichOneof("msg") == "welcome", first
            for seq in range(1, GOOD_BATCHES + 1):
                await good.send(numbered(seq))
                assert await good.wait_ack(seq, timeout=ACK_BOUND_S) == seq
            at_end = dict(progress)
            await good.close()
            return {"start": at_start, "end": at_end, "ended": progress["ended"], "good_s": loop.time() - t0}
        finally:
            if flooder.returncode is None:
                flooder.kill()
            await flooder.wait()
            following.cancel()

    try:
        result = run(scenario(), timeout=GOOD_BATCHES * ACK_BOUND_S + 120)
    finally:
        gw.stop()
    start, end = result["start"], result["end"]
    assert start["bytes"] > lim.max_message_bytes // 2, start  # really maximum-size batches
    # the flood went on (sent and stored) during the whole run of the good vehicle, unrefused
    assert not result["ended"], result
    assert end["sent"] > start["sent"] and end["acked"] > start["acked"], result

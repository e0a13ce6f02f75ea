"""One vehicle flooding maximum-size valid batches does not starve another (issue #12, item 6/7).

The flooding vehicle runs in its own process (so that its sending does not share an event loop with
the good vehicle), sending SampleBatches of ``limits.max_batch_samples`` samples as fast as its
connection takes them, never waiting for acks. Rate limits are set out of the way, so what holds
the flood back is the per-vehicle back-pressure (the gateway stops reading a vehicle with more than
``limits.max_inflight_samples`` samples awaiting commit). The good vehicle's batches must keep
being acknowledged while the flood goes on.

And fairly, checked by commit order, not by time: the gateway's sink records, each time its writer
forms a commit group, which batches were waiting and which it took. A good batch may commit after
at most one flood batch of those waiting with it (round-robin: the flooder's turn may come first),
never behind the flooder's whole queue as it did when the sink committed in arrival order (then
the good batch waited behind the two to four flood batches back-pressure lets in: on a loaded
2-core machine ~3.3 s per ack with 65,536-sample batches, ~4.9 s with 131,072; fair: ~0.6 s).
"""

from __future__ import annotations

import asyncio
import os
import sys

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.sqlite_sink import SqliteSink

from .helpers import ROOT, local_config, run
from .test_delivery import numbered

GOOD_BATCHES = 6
GOOD, FLOOD = "VIN-GOOD", "VIN-FLOOD"
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


class GroupLog(SqliteSink):
    """A SQLite sink that records, per commit group formed, the batches waiting and those taken."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.groups: list[tuple[list[tuple[str, int]], list[tuple[str, int]]]] = []

    def _form_group(self, lanes, served):
        def name(item):
            return (item[1][0], int(item[1][1].seq)) if item[0] == self._op_batch else None

        waiting = [n for lane in lanes.values() for _, item in lane if (n := name(item))]
        group = super()._form_group(lanes, served)
        self.groups.append((waiting, [n for item in group if (n := name(item))]))
        return group


def flood_batches_ahead(groups, good: tuple[str, int]) -> list[tuple[str, int]]:
    """Flood batches that were waiting when ``good`` was first seen waiting and committed before it."""
    first = next(i for i, (waiting, _) in enumerate(groups) if good in waiting)
    with_it = {n for n in groups[first][0] if n[0] == FLOOD}
    ahead = []
    for _, taken in groups[first:]:
        for n in taken:
            if n == good:
                return ahead
            if n in with_it:
                ahead.append(n)
    raise AssertionError(f"{good} was never committed")


def test_a_flooding_vehicle_does_not_starve_another(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    lim = cfg.limits.model_copy(update={"bytes_per_s": float(1 << 34), "messages_per_s": 1e6})
    cfg = cfg.model_copy(update={"limits": lim})
    sink = GroupLog(cfg.database, cfg.sqlite_synchronous)

    async def scenario() -> dict:
        from vehicle_mw.gateway.loadgen import WsVehicle, hello

        async with Gateway(cfg, sink) as gw:
            return await flood_and_good(gw, WsVehicle, hello)

    async def flood_and_good(gw, WsVehicle, hello) -> dict:
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
            first = await good.open(hello(GOOD))
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

    result = run(scenario(), timeout=GOOD_BATCHES * ACK_BOUND_S + 120)
    start, end = result["start"], result["end"]
    assert start["bytes"] > lim.max_batch_samples * 16, start  # really maximum-size batches
    # the flood went on (sent and stored) during the whole run of the good vehicle, unrefused
    assert not result["ended"], result
    assert end["sent"] > start["sent"] and end["acked"] > start["acked"], result
    # fairness, by commit order: the flood kept batches waiting in the sink, and each good batch
    # committed after at most one of those that were waiting with it
    ahead = {seq: flood_batches_ahead(sink.groups, (GOOD, seq)) for seq in range(1, GOOD_BATCHES + 1)}
    waited_with = [
        sum(n[0] == FLOOD for n in next(w for w, _ in sink.groups if (GOOD, seq) in w))
        for seq in range(1, GOOD_BATCHES + 1)
    ]
    assert max(waited_with) >= 2, (waited_with, result)  # the flood really queued ahead of it
    assert all(len(a) <= 1 for a in ahead.values()), (ahead, result)
    print(f"good vehicle: {GOOD_BATCHES} acks in {result['good_s']:.1f} s; flood batches ahead {ahead}")

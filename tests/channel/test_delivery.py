"""Zero lost, zero duplicated samples across randomized switches, cuts, stalls and half-opens."""

from __future__ import annotations

import asyncio
import collections
import random

import pytest
from channel_rig import assert_exactly_once, start_rig


async def _chaos(tmp_path, events: int, seed: int) -> collections.Counter:
    rng = random.Random(seed)
    rig = await start_rig(tmp_path)
    done: collections.Counter = collections.Counter()
    try:
        assert await rig.uplink.wait_until(lambda: rig.uplink.active is not None, 10), "no link came up"
        for _ in range(events):
            rig.feed(rng.randint(1, 200))
            kind = rng.choice(["switch", "cut", "cut_refuse", "stall", "half_open", "delay"])
            target = rig.proxies[rng.choice(["grpc", "websocket", rig.uplink.active or "grpc"])]
            hold = rng.uniform(0.02, 0.3)
            if kind == "switch":
                done["forced_ok"] += rig.uplink.force_switch(reason="test: forced")
            elif kind == "cut":
                target.cut()
            elif kind == "cut_refuse":
                target.cut(refuse=True)
                await asyncio.sleep(hold)
                target.restore()
            elif kind == "stall":
                target.impair(stall=True)
                await asyncio.sleep(hold)
                target.impair(stall=False)
            elif kind == "half_open":
                target.impair(blackhole=True)
                await asyncio.sleep(hold)
                target.impair(blackhole=False)
            else:
                target.impair(delay_ms=rng.uniform(0, 150), jitter_ms=rng.uniform(0, 20))
            done[kind] += 1
            rig.feed(rng.randint(1, 200))
            await asyncio.sleep(rng.uniform(0.0, 0.05))
        for p in rig.proxies.values():
            p.clear()
        # liveness: whatever the chaos did to them, both links come back by themselves
        sessions = rig.uplink.sessions.values()
        assert await rig.uplink.wait_until(lambda: all(s.up for s in sessions), 30), [
            (s.name, s.last_error) for s in sessions
        ]
        assert await rig.drained(60), f"backlog not drained: {rig.outbox.stats()}"
        assert_exactly_once(rig)
        # the chaos really exercised resends and reconnects
        assert rig.gateway.stats.sessions > 2
        done["switches"] = rig.uplink.switches
        done["duplicates_dropped"] = rig.gateway.stats.duplicates
    finally:
        await rig.close()
    return done


def test_exactly_once_across_200_random_events(tmp_path):
    done = asyncio.run(_chaos(tmp_path, events=200, seed=6))
    assert sum(done[k] for k in ("switch", "cut", "cut_refuse", "stall", "half_open", "delay")) == 200
    assert done["switches"] >= 5 and done["forced_ok"] >= 1, done


@pytest.mark.soak
def test_soak_exactly_once_across_1000_random_events(tmp_path):
    done = asyncio.run(_chaos(tmp_path, events=1000, seed=1006))
    assert done["switches"] >= 25, done

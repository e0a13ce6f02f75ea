"""Through the impairment proxy: leave the impaired transport, stay under noise, return after recovery."""

from __future__ import annotations

import asyncio

from channel_rig import assert_exactly_once, start_rig

from vehicle_mw.manifest.channel import PolicyConfig

POLICY = PolicyConfig(min_dwell_s=0.5, flap_penalty_s=0.2, flap_half_life_s=5.0)


async def _impair_and_recover(tmp_path) -> None:
    rig = await start_rig(tmp_path, policy=POLICY, probe_interval_s=0.25)
    up = rig.uplink
    try:
        assert await up.wait_until(lambda: up.active == "grpc", 10)
        rig.feed(500)
        rig.proxies["grpc"].impair(delay_ms=150)  # RTT ~300 ms > rtt_high_ms 250, < 2 probe intervals
        assert await up.wait_until(lambda: up.active == "websocket", 15)
        ev = up.events[-1]
        # a delay step first shows as answers later than the RTO (counted as loss), then in srtt;
        # at its onset the link is silent for the new RTT plus up to one probe interval (up to 0.55 s
        # here, > 2 intervals) unless other answers (acks) fall in that gap, so it may look half-open
        assert ev.from_transport == "grpc", ev
        assert ev.reason.startswith(("rtt", "loss", "active link half-open")), ev
        assert await up.wait_until(lambda: up.links()["grpc"].srtt_ms > POLICY.rtt_high_ms, 10)
        rig.feed(500)
        rig.proxies["grpc"].clear()
        assert await up.wait_until(lambda: up.active == "grpc", 20)
        assert up.events[-1].reason == "preferred link healthy again"
        # loss: a third of the chunks held 300 ms, as TCP retransmissions would
        rig.proxies["grpc"].impair(loss=0.35, loss_penalty_ms=300)
        assert await up.wait_until(lambda: up.active == "websocket", 20)
        ev = up.events[-1]
        # held chunks show as late answers: counted as loss, or (once srtt follows them) as RTT; when
        # holds pile up past two probe intervals (a loaded machine) the link even looks half-open
        assert ev.from_transport == "grpc", ev
        assert (
            ev.loss > POLICY.loss_high
            or ev.rtt_ms + ev.rttvar_ms > POLICY.rtt_high_ms
            or ev.reason.startswith("active link half-open")
        ), ev
        rig.proxies["grpc"].clear()
        assert await up.wait_until(lambda: up.active == "grpc", 20)
        assert await rig.drained(20)
        assert_exactly_once(rig)
        # every switch went uplink as a LinkEvent with its reason and measurements
        await up.wait_until(lambda: len(rig.gateway.stats.link_events) >= len(up.events), 5)
        reasons = [e.reason for e in rig.gateway.stats.link_events]
        assert reasons[-1] == "preferred link healthy again" and len(reasons) >= 4
    finally:
        await rig.close()


def test_moves_to_healthier_transport_and_returns_after_recovery(tmp_path):
    asyncio.run(_impair_and_recover(tmp_path))


async def _noisy_but_stable(tmp_path) -> None:
    rig = await start_rig(tmp_path, policy=POLICY)
    up = rig.uplink
    try:
        assert await up.wait_until(lambda: up.active == "grpc", 10)
        switches = up.switches
        rig.proxies["grpc"].impair(delay_ms=25, jitter_ms=20)  # RTT 10..90 ms: noisy, under the thresholds
        base = up.links()["grpc"].samples
        assert await up.wait_until(lambda: up.links()["grpc"].samples >= base + 40, 30)
        assert up.active == "grpc" and up.switches == switches
    finally:
        await rig.close()


def test_stays_put_under_noisy_but_stable_conditions(tmp_path):
    asyncio.run(_noisy_but_stable(tmp_path))


async def _half_open(tmp_path) -> None:
    rig = await start_rig(tmp_path, policy=POLICY)
    up = rig.uplink
    try:
        assert await up.wait_until(lambda: up.active == "grpc", 10)
        rig.proxies["grpc"].impair(blackhole=True)
        assert await up.wait_until(lambda: up.active == "websocket", 5)
        assert "half-open" in up.events[-1].reason or "down" in up.events[-1].reason
        rig.feed(300)
        assert await rig.drained(10)
        assert_exactly_once(rig)
    finally:
        await rig.close()


def test_half_open_active_link_is_left_for_the_standby(tmp_path):
    asyncio.run(_half_open(tmp_path))

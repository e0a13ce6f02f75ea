"""kill -9 of any stage process at random moments during a replay: every record that was committed to
a ring arrives at the gateway exactly once (checked per source sequence against the trace)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
from runtime_rig import (
    GNSS_DBC,
    GNSS_TRACE,
    LocalGateway,
    duplicates,
    expected_samples,
    shm_segments,
    stored_by_source,
    wait_until,
    write_execution,
    write_manifests,
)

from vehicle_mw.runtime import VehicleRuntime

STAGES = ["uplink", "decode", "can"]


def _all_running(rt: VehicleRuntime) -> bool:
    apps = rt.manager.status()["apps"]
    return all(apps[s]["state"] == "running" for s in STAGES)


def _kill_rounds(rt: VehicleRuntime, rounds: int, rng: random.Random) -> dict[str, int]:
    """One killer per stage, all at once: wait until its stage runs again (restarted by the
    execution manager), wait a random moment, SIGKILL it; ``rounds`` times each."""
    kills = dict.fromkeys(STAGES, 0)
    errors: list[BaseException] = []

    def killer(stage: str, seed: int) -> None:
        my_rng = random.Random(seed)
        try:
            for _ in range(rounds):
                wait_until(lambda: rt.manager.status()["apps"][stage]["state"] == "running", 90, stage)
                time.sleep(my_rng.uniform(0.0, 0.3))
                pid = rt.manager.status()["apps"][stage]["pid"]
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    kills[stage] += 1
                    wait_until(lambda p=pid: rt.manager.status()["apps"][stage]["pid"] != p, 90, stage)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=killer, args=(s, rng.random())) for s in STAGES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    wait_until(lambda: _all_running(rt), 90, "every stage running again")
    return kills


def _run(tmp_path, deployment: str, rounds: int, speed: float, seed: int) -> None:
    expected = expected_samples(GNSS_TRACE, GNSS_DBC)
    total = sum(expected.values())
    bus = {"interface": "replay", "file": str(GNSS_TRACE), "speed": speed, "databases": [str(GNSS_DBC)]}
    with LocalGateway(tmp_path) as gw:
        machine, channel = write_manifests(
            tmp_path / "m", gw, [dict(bus, name="a"), dict(bus, name="b")], deployment=deployment
        )
        execution = write_execution(tmp_path / "m", STAGES)
        rt = VehicleRuntime.from_manifests(machine, channel, execution).start()
        try:
            wait_until(lambda: _all_running(rt), 90, "the stages to start")
            kills = _kill_rounds(rt, rounds, random.Random(seed))
            assert min(kills.values()) >= rounds
            # the replay finishes (a restarted reader resumes after its ring's last frame) ...
            wait_until(
                lambda: gw.sample_count() >= 2 * total,
                150,
                f"every sample at the gateway ({2 * total}; counters {rt.counters()})",
            )
            time.sleep(0.5)  # anything extra (a duplicate) would be in flight right now
            wait_until(
                lambda: rt.counters()["uplink"]["backlog_batches"] == 0, 60, "the outbox to be acknowledged"
            )
            events = list(rt.manager.events)
        finally:
            rt.stop()
        assert duplicates(gw) == 0
        assert stored_by_source(gw) == {0: expected, 1: expected}
    for stage in STAGES:  # every kill was seen by the supervision and answered with a restart
        crashed = [e for e in events if e.subject == stage and e.action == "crashed"]
        started = [e for e in events if e.subject == stage and e.action == "start"]
        assert len(crashed) >= rounds and len(started) >= len(crashed) + 1, (
            stage,
            len(crashed),
            len(started),
        )
    assert shm_segments(deployment) == []


@pytest.mark.timeout(600)  # bounded by its waits; each of the 60 restarts costs a Python start-up
def test_kill_each_stage_20_times_exactly_once(tmp_path):
    _run(tmp_path, "t-kill", rounds=20, speed=12, seed=11)


@pytest.mark.soak
@pytest.mark.timeout(7200)
def test_kill_soak_1000(tmp_path):
    _run(tmp_path, "t-kill-soak", rounds=340, speed=0.25, seed=int(time.time()))  # >= 1,020 kills

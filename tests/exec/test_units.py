"""Small parts on their own: backoff budget, sd_notify datagrams, health block, client outside vmw run."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys

import pytest

from vehicle_mw.exec import RestartBudget, SystemdNotifier
from vehicle_mw.exec.health_block import RING, HealthBlock
from vehicle_mw.exec.supervision import AliveMonitor
from vehicle_mw.manifest.execution import AliveSupervision, RestartPolicy


def test_backoff_grows_caps_and_jitters_within_bounds():
    policy = RestartPolicy(initial_delay=1, factor=2, max_delay=5, jitter=0.2, max_restarts=10, window=100)
    budget = RestartBudget(policy, random.Random(7))
    delays = [budget.next_delay(float(t)) for t in range(6)]
    for got, base in zip(delays, [1, 2, 4, 5, 5, 5], strict=True):
        assert base * 0.8 <= got <= base * 1.2
    assert len(set(delays)) == len(delays)  # jitter makes them differ


def test_budget_counts_restarts_inside_the_window_only():
    budget = RestartBudget(RestartPolicy(max_restarts=2, window=10, jitter=0))
    assert budget.next_delay(0) is not None and budget.next_delay(1) is not None
    assert budget.next_delay(2) is None  # third within 10 s: give up
    assert budget.next_delay(12) is not None  # the first two have left the window


def test_alive_monitor_flags_too_few_and_too_many():
    mon = AliveMonitor(AliveSupervision(window=1.0, min=2, max=5), start_ns=0, heartbeats=0)
    assert mon.check(500_000_000, 1) is None  # window not over yet
    assert "1 heartbeats in 1 s (min 2)" in mon.check(1_000_000_000, 1)  # 1 < min 2 in the window
    assert "7 heartbeats in one 1 s window (max 5)" in mon.check(1_100_000_000, 8)  # flagged at once


def test_alive_monitor_flags_silence_within_one_window_of_the_last_beat():
    mon = AliveMonitor(AliveSupervision(window=1.0, min=1), start_ns=0, heartbeats=0)
    assert mon.check(900_000_000, 5) is None  # last beat at 0.9 s
    assert mon.check(1_800_000_000, 5) is None  # silent for 0.9 s: not yet
    assert "no heartbeat for 1 s" in mon.check(1_900_000_000, 5)


def test_sd_notify_to_abstract_socket():
    name = f"vmw-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(5)
    try:
        n = SystemdNotifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000"})
        assert n.enabled and n.watchdog_interval == 1.5
        assert n.ready("1/1 apps running")
        assert server.recv(1024).decode().splitlines()[:2] == ["READY=1", "STATUS=1/1 apps running"]
        assert n.watchdog()
        assert server.recv(1024) == b"WATCHDOG=1"
        n.close()
    finally:
        server.close()


def test_sd_notify_is_a_no_op_outside_systemd_and_respects_watchdog_pid():
    n = SystemdNotifier({})
    assert not n.enabled and not n.ready("x") and n.watchdog_interval is None
    other = SystemdNotifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval is None  # the watchdog is meant for another process


def test_health_block_round_trip_and_overrun(tmp_path):
    path = str(tmp_path / "hb")
    manager = HealthBlock.create(path)
    app = HealthBlock.open(path)
    assert not manager.running
    app.set_running()
    for _ in range(3):
        app.heartbeat()
    for i in range(RING + 5):
        app.checkpoint(i % 3, 1000 + i)
    assert manager.running and manager.heartbeats == 3
    got, lost = manager.new_checkpoints()
    assert lost == 5 and len(got) == RING
    assert [c.t_ns for c in got] == list(range(1005, 1000 + RING + 5))
    assert manager.new_checkpoints() == ([], 0)
    app.close()
    manager.close(unlink=True)
    assert not os.path.exists(path)
    with pytest.raises(ValueError):
        (tmp_path / "junk").write_bytes(b"\0" * 4096)
        HealthBlock.open(str(tmp_path / "junk"))


def test_client_outside_vmw_run_is_a_no_op():
    code = (
        "from vehicle_mw.exec import client;"
        "print(client.report_running(), client.heartbeat(), client.checkpoint('x'), client.app_name())"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMW_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30)
    assert out.stdout.split() == ["False", "False", "False", "None"]


def test_stale_health_blocks_of_dead_managers_are_reclaimed():
    from vehicle_mw.exec.app import HEALTH_DIR, HEALTH_PREFIX, reclaim_stale_health_blocks

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs (reuse within the test is practically impossible)
    stale = f"{HEALTH_DIR}/{HEALTH_PREFIX}{dead.pid}-1-app-1"
    live = f"{HEALTH_DIR}/{HEALTH_PREFIX}{os.getppid()}-1-app-1"
    for path in (stale, live):
        HealthBlock.create(path).close()
    try:
        removed = reclaim_stale_health_blocks()
        assert os.path.basename(stale) in removed
        assert not os.path.exists(stale) and os.path.exists(live)
    finally:
        for path in (stale, live):
            if os.path.exists(path):
                os.unlink(path)

"""The executor with real threads and the native clock: timing, statistics, error policy, rings."""

from __future__ import annotations

import collections
import logging
import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from vehicle_mw.native import monotonic_ns, sleep_until_ns
from vehicle_mw.rt import Executor, ExecutorError, register_metrics

WAIT = 10.0  # generous bound for conditions on a loaded 2-core machine


class Counter:
    """Calls fn-like: records call times, sets an event after ``target`` calls."""

    def __init__(self, target: int, body=None):
        self.times: list[int] = []
        self.target = target
        self.done = threading.Event()
        self.body = body

    def __call__(self):
        self.times.append(monotonic_ns())
        if self.body:
            self.body(len(self.times))
        if len(self.times) >= self.target:
            self.done.set()


def test_periodic_releases_are_absolute_and_never_early():
    tick = Counter(50)
    ex = Executor("t")
    task = ex.periodic("tick", tick, period=0.004, offset=0.001)
    with ex:
        assert tick.done.wait(WAIT)
    n = len(tick.times)
    # Start times are release + lateness, with releases on the epoch grid: no drift.
    first_release = task.next_release - task.period_ns * (task.stats.runs + task.stats.overruns)
    for k, t in enumerate(tick.times[:n]):
        assert t >= first_release + k * task.period_ns
    stats = ex.stats()["tick"]
    assert stats.runs == n and stats.errors == 0
    assert stats.lateness.count == n
    observed = [tick.times[k] - (first_release + k * task.period_ns) for k in range(n)]
    assert stats.lateness.max <= max(observed) + 1
    assert stats.execution.count == n


def test_deadline_miss_and_overrun_are_counted():
    def body(k):
        if k == 3:
            sleep_until_ns(monotonic_ns() + 25_000_000)  # 2.5 periods

    tick = Counter(6, body)
    ex = Executor("t")
    ex.periodic("slow", tick, period=0.010, deadline=0.005)
    with ex:
        assert tick.done.wait(WAIT)
    stats = ex.stats()["slow"]
    assert stats.deadline_misses >= 1
    assert stats.overruns >= 2  # releases at +10 ms and +20 ms were skipped
    assert stats.execution.max >= 25_000_000


def test_raising_task_is_reported_retried_and_others_keep_running(caplog):
    healthy = Counter(40)

    def flaky():
        raise RuntimeError("sensor gone")

    errors = []
    ex = Executor("t", on_task_error=lambda stats, exc: errors.append((stats.name, str(exc))))
    ex.periodic("flaky", flaky, period=0.002)
    ex.periodic("healthy", healthy, period=0.002)
    with caplog.at_level(logging.ERROR, logger="vehicle_mw.rt"), ex:
        assert healthy.done.wait(WAIT)
    stats = ex.stats()
    assert stats["flaky"].errors >= 2 and not stats["flaky"].stopped  # retry policy keeps it running
    assert stats["flaky"].last_error == "RuntimeError: sensor gone"
    assert stats["healthy"].errors == 0 and stats["healthy"].runs >= 40
    assert ("flaky", "sensor gone") in errors
    assert "task 'flaky' raised" in caplog.text


def test_stop_policy_and_max_errors_stop_only_that_task(caplog):
    healthy = Counter(30)
    calls = collections.Counter()

    def bad(name):
        def fn():
            calls[name] += 1
            raise ValueError(name)

        return fn

    ex = Executor("t")
    ex.periodic("stop-at-once", bad("a"), period=0.002, on_error="stop")
    ex.periodic("stop-after-3", bad("b"), period=0.002, max_errors=3)
    ex.periodic("healthy", healthy, period=0.002)
    with caplog.at_level(logging.ERROR, logger="vehicle_mw.rt"), ex:
        assert healthy.done.wait(WAIT)
    assert calls == {"a": 1, "b": 3}
    stats = ex.stats()
    assert stats["stop-at-once"].stopped and stats["stop-after-3"].stopped
    assert not stats["healthy"].stopped
    assert "stopped after 3 consecutive error(s)" in caplog.text


class QueueRing:
    """A minimal RingSource: a deque plus a condition (stands in for SlotRing's API)."""

    def __init__(self):
        self.items: collections.deque[int] = collections.deque()
        self.cond = threading.Condition()

    def push(self, values):
        with self.cond:
            self.items.extend(values)
            self.cond.notify_all()

    def wait(self, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: bool(self.items), timeout)

    def pop_batch(self, max_records):
        with self.cond:
            n = min(max_records, len(self.items))
            return [self.items.popleft() for _ in range(n)]


def test_ring_task_drains_in_batches_in_order():
    ring = QueueRing()
    got: list[int] = []
    batches: list[int] = []
    done = threading.Event()

    def handle(batch):
        batches.append(len(batch))
        got.extend(batch)
        if len(got) >= 1000:
            done.set()

    ex = Executor("t")
    ex.on_ring("frames", ring, handle, max_batch=64)
    with ex:
        ring.push(range(500))
        ring.push(range(500, 1000))
        assert done.wait(WAIT)
    assert got == list(range(1000))
    assert max(batches) <= 64 and len(batches) < 1000  # batched, not one call per record
    assert ex.stats()["frames"].records == 1000


def test_ring_and_periodic_share_one_thread():
    ring = QueueRing()
    tick = Counter(20)
    got = []
    ex = Executor("t")
    ex.periodic("tick", tick, period=0.003)
    ex.on_ring("frames", ring, got.extend, drain=lambda: ring.pop_batch(10))
    with ex:
        ring.push(range(100))
        assert tick.done.wait(WAIT)
        deadline = monotonic_ns() + int(WAIT * 1e9)
        while len(got) < 100 and monotonic_ns() < deadline:
            sleep_until_ns(monotonic_ns() + 1_000_000)
    assert got == list(range(100))


def test_one_shot_timer_runs_once_and_cancel_prevents_it():
    fired = threading.Event()
    cancelled_ran = []
    ex = Executor("t")
    with ex:
        t0 = monotonic_ns()
        when = []
        ex.call_later(0.02, lambda: (when.append(monotonic_ns()), fired.set()))
        handle = ex.call_later(0.01, lambda: cancelled_ran.append(1))
        assert handle.cancel()
        assert fired.wait(WAIT)
    assert when[0] - t0 >= 20_000_000
    assert cancelled_ran == []


def test_duplicate_names_and_bad_periods_rejected():
    ex = Executor("t")
    ex.periodic("a", print, period=1)
    with pytest.raises(ExecutorError, match="already has a task named 'a'"):
        ex.periodic("a", print, period=1)
    with pytest.raises(ExecutorError, match="period must be > 0"):
        ex.periodic("b", print, period=0)


def test_metrics_export_per_task():
    tick = Counter(10)
    ex = Executor("ctl")
    ex.periodic("tick", tick, period=0.002)
    registry = CollectorRegistry()
    register_metrics(ex, registry)
    with ex:
        assert tick.done.wait(WAIT)
    text = generate_latest(registry).decode()
    runs = ex.stats()["tick"].runs
    assert f'vmw_rt_task_runs_total{{executor="ctl",kind="periodic",task="tick"}} {float(runs)}' in text
    assert 'vmw_rt_task_lateness_seconds{executor="ctl",kind="periodic",quantile="0.99",task="tick"}' in text
    assert "vmw_rt_task_deadline_misses_total" in text


def test_impossible_scheduling_requests_are_rejected():
    from vehicle_mw.errors import VehicleMwError
    from vehicle_mw.rt import Scheduling, SchedulingError

    with pytest.raises(SchedulingError, match="unknown scheduling policy 'deadline'"):
        Scheduling(policy="deadline")
    with pytest.raises(SchedulingError, match="must be 1..99"):
        Scheduling(policy="fifo", priority=120)
    with pytest.raises(VehicleMwError, match="priority needs policy"):
        Scheduling(priority=5)

"""The executor: one thread per pinned core running periodic, ring-triggered and timer tasks.

Periodic releases are absolute (``epoch + offset + k * period``) and the final
wait before a release is the native ``clock_nanosleep(TIMER_ABSTIME)``, so the
schedule never drifts and wake-up precision is the kernel's, not Python's.
Between releases the thread blocks (event or ring wait) -- it does not spin.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import threading
from collections.abc import Callable, Sized
from time import monotonic_ns  # CLOCK_MONOTONIC, the native sleep's clock; cheaper to call than cffi
from typing import Any

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.native import lib as _native
from vehicle_mw.rt.power import CpuLatencyRequest
from vehicle_mw.rt.scheduling import Refusal, Scheduling, apply_to_current_thread, hold_cpu_latency
from vehicle_mw.rt.stats import TaskStats
from vehicle_mw.rt.tasks import ErrorPolicy, PeriodicTask, RingSource, RingTask, Task, TimerTask

log = logging.getLogger("vehicle_mw.rt")

# Blocking waits (event, ring) end this long before a release; the native sleep does the rest.
_GUARD_NS = 2_000_000
# Ring waits are bounded so that stop() and newly added timers are seen promptly.
_MAX_RING_WAIT_S = 0.05
# At most this many batches per ring per pass, so one busy ring cannot starve a periodic task.
_MAX_BATCHES_PER_PASS = 64


class ExecutorError(VehicleMwError):
    """Misuse of an executor (duplicate task name, bad period, adding to a stopped executor)."""


def _ns(seconds: float, what: str, allow_zero: bool = False) -> int:
    ns = round(seconds * 1e9)
    if ns < 0 or (ns == 0 and not allow_zero):
        raise ExecutorError(f"{what} must be {'>= 0' if allow_zero else '> 0'} seconds, got {seconds}")
    return ns


class _Worker:
    """One thread: a heap of timed tasks plus the ring tasks bound to its core."""

    def __init__(self, executor: Executor, core: int | None) -> None:
        self.executor = executor
        self.core = core
        self.heap: list[tuple[int, int, Task]] = []
        self.rings: list[RingTask] = []
        self.lock = threading.Lock()
        self.wakeup = threading.Event()
        self.refusals: list[Refusal] = []
        self.ready = threading.Event()
        self.spin_ns = executor.scheduling.spin_ns
        name = f"vmw-rt-{executor.name}-" + (f"core{core}" if core is not None else "any")
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def push(self, due: int, task: Task) -> None:
        with self.lock:
            heapq.heappush(self.heap, (due, task.seq, task))
        self.wakeup.set()

    # -- the thread ---------------------------------------------------------------
    def _main(self) -> None:
        cfg = self.executor.scheduling
        if self.core is not None:
            cfg = dataclasses.replace(cfg, cpus=frozenset({self.core}))
        self.refusals = apply_to_current_thread(cfg)
        self.ready.set()
        try:
            self._loop()
        except BaseException:  # pragma: no cover - an executor bug, not a task error
            log.exception("executor %s: worker thread %s died", self.executor.name, self.thread.name)
            raise

    def _loop(self) -> None:
        stopping = self.executor._stopping
        while not stopping.is_set():
            self.wakeup.clear()
            now = monotonic_ns()
            with self.lock:
                due_task = heapq.heappop(self.heap) if self.heap and self.heap[0][0] <= now else None
                next_due = self.heap[0][0] if self.heap else None
            if due_task is not None:
                self._activate(due_task[0], due_task[2])
                continue
            if self._drain_ready_rings():
                continue
            remaining = None if next_due is None else next_due - now
            if remaining is not None and remaining <= _GUARD_NS:
                # absolute, EINTR-safe, GIL released; returns the wake time read in C
                woke = _native.vmw_wait_release_ns(next_due, self.spin_ns)
                # Hot path: run the release we slept for straight away. No lock: heappop is one
                # C call under the GIL and (due, seq) never ties, so tasks are never compared.
                heap = self.heap
                if heap and heap[0][0] <= next_due:
                    release, _, task = heapq.heappop(heap)
                    self._activate(release, task)
                    if woke > 0:  # after the body, so the bookkeeping is not counted as lateness
                        task.stats.wake.record(woke - release)
                continue
            budget = None if remaining is None else (remaining - _GUARD_NS) / 1e9
            if self.rings:
                slice_s = _MAX_RING_WAIT_S / len(self.rings)
                timeout = slice_s if budget is None else min(budget, slice_s)
                for task in list(self.rings):
                    if task.ring.wait(timeout):
                        self._drain(task)  # straight to the body: the ring that woke us has data
                        break
            else:
                self.wakeup.wait(budget)

    def _activate(self, release: int, task: Task) -> None:
        if isinstance(task, TimerTask):
            if not task.cancelled:
                self._call(task, task.fn, release)
            task.done = True
            return
        assert isinstance(task, PeriodicTask)
        if task.stats.stopped:
            return
        end = self._call(task, task.fn, release)
        if end > release + task.deadline_ns:
            task.stats.deadline_misses += 1
        nxt = release + task.period_ns
        if nxt <= end:  # still running (or woke so late) when the next release(s) came due: skip them
            skipped = (end - nxt) // task.period_ns + 1
            task.stats.overruns += skipped
            nxt += skipped * task.period_ns
        if not task.stats.stopped:
            task.next_release = nxt
            self.push(nxt, task)

    def _call(self, task: Task, fn: Callable[..., Any], release: int | None, *args: Any) -> int:
        """Run one activation with timing and error policy; returns its end time."""
        stats = task.stats
        start = monotonic_ns()
        if release is not None:
            stats.lateness.record(start - release)
        try:
            fn(*args)
        except Exception as exc:
            end = monotonic_ns()
            self._on_error(task, exc)
        else:
            end = monotonic_ns()
            task.consecutive_errors = 0
        stats.runs += 1
        stats.execution.record(end - start)
        return end

    def _on_error(self, task: Task, exc: Exception) -> None:
        stats = task.stats
        stats.errors += 1
        stats.last_error = f"{type(exc).__name__}: {exc}"
        task.consecutive_errors += 1
        name = self.executor.name
        log.error("executor %s: task %r raised (%s)", name, task.name, stats.last_error, exc_info=exc)
        stop = task.on_error is ErrorPolicy.STOP or (
            task.max_errors is not None and task.consecutive_errors >= task.max_errors
        )
        if stop:
            stats.stopped = True
            if isinstance(task, RingTask) and task in self.rings:
                self.rings.remove(task)
            log.error(
                "executor %s: task %r stopped after %d consecutive error(s) (policy %s); others continue",
                self.executor.name,
                task.name,
                task.consecutive_errors,
                task.on_error.value,
            )
        cb = self.executor.on_task_error
        if cb is not None:
            try:
                cb(task.stats, exc)
            except Exception:  # pragma: no cover - a broken callback must not stop the executor
                log.exception("executor %s: on_task_error callback raised", self.executor.name)

    def _drain_ready_rings(self) -> bool:
        did = False
        for task in list(self.rings):
            if task.stats.stopped or not task.ring.wait(0):
                continue
            did = self._drain(task) or did
        return did

    def _drain(self, task: RingTask) -> bool:
        """Up to _MAX_BATCHES_PER_PASS batches of one ring through its handler."""
        did = False
        slot_size = getattr(task.ring, "slot_size", None)  # SlotRing batches are bytes
        for _ in range(_MAX_BATCHES_PER_PASS):
            batch: Sized | None = task.drain()
            if batch is None or len(batch) == 0:
                break
            did = True
            task.stats.records += len(batch) // slot_size if slot_size else len(batch)
            self._call(task, task.handler, None, batch)
            if task.stats.stopped:
                break
        return did


class Executor:
    """Runs tasks on per-core threads with real-time scheduling where the OS allows it.

    >>> ex = Executor("control", Scheduling(policy="fifo", priority=80))
    >>> ex.periodic("loop", step, period=0.001, core=1)      # doctest: +SKIP
    >>> with ex: ...                                          # doctest: +SKIP
    """

    def __init__(
        self,
        name: str = "executor",
        scheduling: Scheduling | None = None,
        on_task_error: Callable[[TaskStats, Exception], Any] | None = None,
    ) -> None:
        self.name = name
        self.scheduling = scheduling or Scheduling()
        self.on_task_error = on_task_error
        self._workers: dict[int | None, _Worker] = {}
        self._tasks: dict[str, Task] = {}
        self._stopping = threading.Event()
        self._epoch: int | None = None
        self._lock = threading.Lock()
        self._cpu_latency: CpuLatencyRequest | None = None
        self._latency_refusals: list[Refusal] = []

    # -- adding work ----------------------------------------------------------------
    def _worker(self, core: int | None) -> _Worker:
        if self._stopping.is_set():
            raise ExecutorError(f"executor {self.name} is stopped")
        worker = self._workers.get(core)
        if worker is None:
            worker = self._workers[core] = _Worker(self, core)
            if self._epoch is not None:
                self._start_worker(worker)
        return worker

    def _register(self, task: Task) -> None:
        with self._lock:
            if task.name in self._tasks:
                raise ExecutorError(f"executor {self.name} already has a task named {task.name!r}")
            self._tasks[task.name] = task

    def periodic(
        self,
        name: str,
        fn: Callable[[], Any],
        period: float,
        *,
        offset: float = 0.0,
        deadline: float | None = None,
        core: int | None = None,
        on_error: ErrorPolicy | str = ErrorPolicy.RETRY,
        max_errors: int | None = None,
    ) -> PeriodicTask:
        """Run ``fn()`` every ``period`` s, ``offset`` s after the executor's epoch,
        and count a deadline miss when it ends later than ``deadline`` (default: period)
        after its release."""
        period_ns = _ns(period, "period")
        task = PeriodicTask(
            name,
            core,
            ErrorPolicy(on_error),
            max_errors,
            fn=fn,
            period_ns=period_ns,
            offset_ns=_ns(offset, "offset", allow_zero=True),
            deadline_ns=period_ns if deadline is None else _ns(deadline, "deadline"),
        )
        self._register(task)
        worker = self._worker(core)
        if self._epoch is not None:
            self._schedule_first(worker, task)
        return task

    def on_ring(
        self,
        name: str,
        ring: RingSource,
        handler: Callable[[Any], Any],
        *,
        drain: Callable[[], Sized | None] | None = None,
        max_batch: int = 256,
        core: int | None = None,
        on_error: ErrorPolicy | str = ErrorPolicy.RETRY,
        max_errors: int | None = None,
    ) -> RingTask:
        """Call ``handler(batch)`` whenever ``ring`` has data; ``drain()`` (default
        ``ring.pop_batch(max_batch)``) takes one batch, and is repeated until empty."""
        if not isinstance(ring, RingSource):
            raise ExecutorError(f"task {name!r}: ring must have wait(timeout) -> bool")
        if drain is None:
            pop_batch = getattr(ring, "pop_batch", None)
            if pop_batch is None:
                raise ExecutorError(f"task {name!r}: ring has no pop_batch(); pass drain=")

            def drain() -> Sized | None:
                return pop_batch(max_batch)

        policy = ErrorPolicy(on_error)
        task = RingTask(name, core, policy, max_errors, ring=ring, handler=handler, drain=drain)
        self._register(task)
        worker = self._worker(core)
        worker.rings.append(task)
        worker.wakeup.set()
        return task

    def call_at_ns(
        self, when_ns: int, fn: Callable[[], Any], *, name: str | None = None, core: int | None = None
    ):
        """Run ``fn()`` once when the monotonic clock reaches ``when_ns``; returns a cancellable handle."""
        name = name or f"timer-{id(fn):x}-{when_ns}"
        task = TimerTask(name, core, ErrorPolicy.STOP, None, fn=fn, due_ns=when_ns)
        self._worker(core).push(when_ns, task)
        return task

    def call_later(
        self, delay: float, fn: Callable[[], Any], *, name: str | None = None, core: int | None = None
    ):
        """Run ``fn()`` once, ``delay`` seconds from now."""
        when = monotonic_ns() + _ns(delay, "delay", allow_zero=True)
        return self.call_at_ns(when, fn, name=name, core=core)

    # -- life cycle -----------------------------------------------------------------
    def _schedule_first(self, worker: _Worker, task: PeriodicTask) -> None:
        assert self._epoch is not None
        first = self._epoch + task.offset_ns
        now = monotonic_ns()
        if first < now:  # added after start: next release on the epoch grid
            first += -(-(now - first) // task.period_ns) * task.period_ns
        task.next_release = first
        worker.push(first, task)

    def _start_worker(self, worker: _Worker) -> None:
        worker.thread.start()
        worker.ready.wait(5)

    def start(self, lead_time: float = 0.002) -> None:
        """Start one thread per core; periodic epochs begin ``lead_time`` s after all threads are set up.

        Set-up (affinity, real-time policy, mlockall of the whole process) can take tens of
        milliseconds, so the schedule starts only once every thread reports ready.
        """
        if self._epoch is not None:
            raise ExecutorError(f"executor {self.name} already started")
        if not self._workers:
            self._worker(None)
        self._cpu_latency, self._latency_refusals = hold_cpu_latency(self.scheduling)
        for worker in self._workers.values():
            worker.thread.start()
        for worker in self._workers.values():
            worker.ready.wait(5)
        self._epoch = monotonic_ns() + _ns(lead_time, "lead_time", allow_zero=True)
        for task in self._tasks.values():
            if isinstance(task, PeriodicTask):
                self._schedule_first(self._workers[task.core], task)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop all threads (a task that is running finishes first)."""
        self._stopping.set()
        for worker in self._workers.values():
            worker.wakeup.set()
            for task in worker.rings:
                wake = getattr(task.ring, "wake", None)  # SlotRing: wake a blocked wait() at once
                if wake is not None:
                    wake()
        for worker in self._workers.values():
            if worker.thread.is_alive():
                worker.thread.join(timeout)
                if worker.thread.is_alive():
                    name = worker.thread.name
                    log.error("executor %s: thread %s did not stop within %.1f s", self.name, name, timeout)
        if self._cpu_latency is not None:
            self._cpu_latency.release()

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observing ------------------------------------------------------------------
    @property
    def refusals(self) -> list[Refusal]:
        """What the OS refused (affinity, real-time policy, mlockall, timer slack, cpu latency)."""
        return self._latency_refusals + [r for w in self._workers.values() for r in w.refusals]

    def stats(self) -> dict[str, TaskStats]:
        """Live statistics of every named task (periodic and ring), by task name."""
        return {name: task.stats for name, task in self._tasks.items()}

    def task(self, name: str) -> Task:
        return self._tasks[name]


__all__ = ["Executor", "ExecutorError"]

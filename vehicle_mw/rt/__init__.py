"""The real-time executor: periodic, ring-triggered and timer tasks on pinned cores.

    from vehicle_mw.rt import Executor, Scheduling

    ex = Executor("control", Scheduling(policy="fifo", priority=80, lock_memory=True))
    ex.periodic("step", step, period=0.001, deadline=0.0005, core=1)
    ex.on_ring("frames", ring, handle_batch, core=1)
    with ex:
        ...
    print(ex.stats()["step"].lateness.summary())

See docs/executor.md for the timing model and what each statistic means.
"""

from vehicle_mw.rt.executor import Executor, ExecutorError
from vehicle_mw.rt.histogram import LatencyHistogram
from vehicle_mw.rt.metrics import ExecutorCollector, register_metrics
from vehicle_mw.rt.scheduling import Refusal, Scheduling, SchedulingError, apply_to_current_thread
from vehicle_mw.rt.stats import TaskStats
from vehicle_mw.rt.tasks import ErrorPolicy, PeriodicTask, RingSource, RingTask, TimerTask

__all__ = [
    "Executor",
    "ExecutorError",
    "Scheduling",
    "SchedulingError",
    "Refusal",
    "apply_to_current_thread",
    "ErrorPolicy",
    "PeriodicTask",
    "RingTask",
    "TimerTask",
    "RingSource",
    "TaskStats",
    "LatencyHistogram",
    "ExecutorCollector",
    "register_metrics",
]

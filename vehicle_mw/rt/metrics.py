"""Prometheus view of executor statistics, computed at scrape time (no cost per activation)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from vehicle_mw.rt.executor import Executor

_QUANTILES = (("0.5", 50), ("0.99", 99), ("0.999", 99.9), ("1", 100))


class ExecutorCollector(Collector):
    """Exports ``vmw_rt_task_*`` metrics for every task of one executor."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels = ["executor", "task", "kind"]
        qlabels = labels + ["quantile"]
        runs = CounterMetricFamily("vmw_rt_task_runs", "Activations run", labels=labels)
        misses = CounterMetricFamily("vmw_rt_task_deadline_misses", "Ended after deadline", labels=labels)
        overruns = CounterMetricFamily(
            "vmw_rt_task_overruns", "Releases skipped (still running)", labels=labels
        )
        errors = CounterMetricFamily("vmw_rt_task_errors", "Activations that raised", labels=labels)
        stopped = GaugeMetricFamily("vmw_rt_task_stopped", "1 when stopped by error policy", labels=labels)
        lateness = GaugeMetricFamily("vmw_rt_task_lateness_seconds", "Start minus release", labels=qlabels)
        execution = GaugeMetricFamily("vmw_rt_task_execution_seconds", "Execution time", labels=qlabels)
        for stats in self.executor.stats().values():
            key = [self.executor.name, stats.name, stats.kind]
            runs.add_metric(key, stats.runs)
            misses.add_metric(key, stats.deadline_misses)
            overruns.add_metric(key, stats.overruns)
            errors.add_metric(key, stats.errors)
            stopped.add_metric(key, 1.0 if stats.stopped else 0.0)
            for label, p in _QUANTILES:
                if stats.lateness.count:
                    lateness.add_metric(key + [label], stats.lateness.percentile(p) / 1e9)
                if stats.execution.count:
                    execution.add_metric(key + [label], stats.execution.percentile(p) / 1e9)
        yield from (runs, misses, overruns, errors, stopped, lateness, execution)


def register_metrics(executor: Executor, registry: CollectorRegistry = REGISTRY) -> ExecutorCollector:
    """Register ``executor``'s statistics with a Prometheus registry (default: the global one)."""
    collector = ExecutorCollector(executor)
    registry.register(collector)
    return collector


__all__ = ["ExecutorCollector", "register_metrics"]

"""Alive, deadline and logical supervision: pure checks fed with what the health block shows.

Each ``check``/``on_checkpoint`` returns ``None`` when healthy or a sentence saying
what was violated; the execution manager turns that into a restart decision.
"""

from __future__ import annotations

from vehicle_mw.manifest.execution import (
    AliveSupervision,
    DeadlineSupervision,
    LogicalSupervision,
    Supervision,
)


class AliveMonitor:
    """Counts heartbeats per fixed window; too few means hung, too many means runaway.

    A silence of one whole window is reported at once (when ``min`` >= 1), so a hang is
    detected within one window of the last heartbeat, not at the end of the next window.
    """

    def __init__(self, cfg: AliveSupervision, start_ns: int, heartbeats: int) -> None:
        self.cfg = cfg
        self.window_ns = int(cfg.window * 1e9)
        self.window_start = start_ns
        self.base = heartbeats
        self.last_seen = heartbeats
        self.last_change = start_ns

    def check(self, now_ns: int, heartbeats: int) -> str | None:
        if heartbeats != self.last_seen:
            self.last_seen, self.last_change = heartbeats, now_ns
        elif self.cfg.min >= 1 and now_ns - self.last_change >= self.window_ns:
            self._next(now_ns, heartbeats)
            self.last_change = now_ns
            return f"alive: no heartbeat for {self.cfg.window:g} s (min {self.cfg.min} per window): hung"
        count = heartbeats - self.base
        if self.cfg.max is not None and count > self.cfg.max:
            self._next(now_ns, heartbeats)
            return f"alive: {count} heartbeats in one {self.cfg.window:g} s window (max {self.cfg.max})"
        if now_ns - self.window_start < self.window_ns:
            return None
        self._next(now_ns, heartbeats)
        if count < self.cfg.min:
            return f"alive: {count} heartbeats in {self.cfg.window:g} s (min {self.cfg.min}): hung"
        return None

    def _next(self, now_ns: int, heartbeats: int) -> None:
        self.window_start = now_ns
        self.base = heartbeats


class DeadlineMonitor:
    """Time from a start checkpoint to its end checkpoint must lie within [min, max]."""

    def __init__(self, cfgs: list[DeadlineSupervision]) -> None:
        self.cfgs = cfgs
        self.started: dict[int, int] = {}  # cfg index -> start time

    def on_checkpoint(self, name: str, t_ns: int) -> str | None:
        verdict = None
        for i, cfg in enumerate(self.cfgs):
            if name == cfg.end and i in self.started:
                dt = (t_ns - self.started.pop(i)) / 1e9
                if not cfg.min <= dt <= cfg.max:
                    verdict = f"deadline: {cfg.start} -> {cfg.end} took {dt * 1e3:.1f} ms, allowed "
                    verdict += f"[{cfg.min * 1e3:g}, {cfg.max * 1e3:g}] ms"
            if name == cfg.start:
                self.started[i] = t_ns
        return verdict

    def check(self, now_ns: int) -> str | None:
        for i, t0 in list(self.started.items()):
            cfg = self.cfgs[i]
            if (now_ns - t0) / 1e9 > cfg.max:
                del self.started[i]
                return f"deadline: {cfg.end} not reached within {cfg.max * 1e3:g} ms of {cfg.start}"
        return None


class LogicalMonitor:
    """Checkpoints must follow the declared graph."""

    def __init__(self, cfg: LogicalSupervision) -> None:
        self.cfg = cfg
        self.last: str | None = None

    def on_checkpoint(self, name: str) -> str | None:
        allowed = self.cfg.initial if self.last is None else self.cfg.transitions.get(self.last, [])
        previous, self.last = self.last, name
        if name not in allowed:
            after = "as first checkpoint" if previous is None else f"after {previous!r}"
            return f"logical: checkpoint {name!r} {after}, allowed {sorted(allowed)}"
        return None

    def reset(self) -> None:
        self.last = None


class AppSupervisor:
    """All configured checks of one application instance."""

    def __init__(self, cfg: Supervision, now_ns: int, heartbeats: int) -> None:
        self.names = list(cfg.checkpoints)
        self.alive = AliveMonitor(cfg.alive, now_ns, heartbeats) if cfg.alive else None
        self.deadline = DeadlineMonitor(cfg.deadline) if cfg.deadline else None
        self.logical = LogicalMonitor(cfg.logical) if cfg.logical else None

    def observe(
        self, now_ns: int, heartbeats: int, checkpoints: list[tuple[int, int]], lost: int
    ) -> str | None:
        """Feed new observations; returns the first violation found, if any."""
        if lost and self.logical:
            self.logical.reset()  # cannot judge order across lost entries; restart the graph
        for index, t_ns in checkpoints:
            name = self.names[index] if index < len(self.names) else f"#{index}"
            for monitor in (self.logical, self.deadline):
                if monitor is None:
                    continue
                verdict = (
                    monitor.on_checkpoint(name)
                    if isinstance(monitor, LogicalMonitor)
                    else monitor.on_checkpoint(name, t_ns)
                )
                if verdict:
                    return verdict
        if self.deadline and (verdict := self.deadline.check(now_ns)):
            return verdict
        if self.alive and (verdict := self.alive.check(now_ns, heartbeats)):
            return verdict
        return None


__all__ = ["AliveMonitor", "AppSupervisor", "DeadlineMonitor", "LogicalMonitor"]

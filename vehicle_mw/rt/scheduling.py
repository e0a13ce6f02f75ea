"""Put the calling thread on a core with a real-time policy; degrade, never die.

Each step (affinity, SCHED_FIFO/RR, mlockall, timer slack) is tried on its own.
What the OS refuses -- typically SCHED_FIFO without root or CAP_SYS_NICE -- is
returned as a list of refusals and logged as ONE clear warning per kind per
process, so an unprivileged developer run still works and says why its timing
will be worse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Literal

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.native import set_timer_slack_ns
from vehicle_mw.rt.power import CpuLatencyRequest

log = logging.getLogger("vehicle_mw.rt")

Policy = Literal["other", "fifo", "rr"]
_POLICIES = {"other": os.SCHED_OTHER, "fifo": os.SCHED_FIFO, "rr": os.SCHED_RR}
_MCL_CURRENT, _MCL_FUTURE = 1, 2

_warned: set[str] = set()
_warned_lock = threading.Lock()


class SchedulingError(VehicleMwError, ValueError):
    """A scheduling request that can never be valid (unknown policy, priority out of range)."""


@dataclass(frozen=True)
class Scheduling:
    """How an executor thread should run. ``cpus`` empty means "leave affinity alone".

    ``cpu_latency_us``: the idle-state exit bound held (``/dev/cpu_dma_latency``) while the
    executor runs; ``"auto"`` holds 0 µs for a real-time policy (as cyclictest does) and nothing
    for ``other``; ``None`` never holds one. ``spin_ns``: busy-wait this long before each periodic
    release instead of sleeping through it (0, the default, never spins; costs up to
    ``spin_ns`` of CPU per release, reported by the benchmark).
    """

    policy: Policy = "other"
    priority: int = 0
    cpus: frozenset[int] = field(default_factory=frozenset)
    lock_memory: bool = False
    timer_slack_ns: int = 1
    cpu_latency_us: int | None | Literal["auto"] = "auto"
    spin_ns: int = 0

    def __post_init__(self) -> None:
        if self.policy not in _POLICIES:
            raise SchedulingError(f"unknown scheduling policy {self.policy!r}; use {sorted(_POLICIES)}")
        if self.policy == "other" and self.priority != 0:
            raise SchedulingError("priority needs policy 'fifo' or 'rr' (SCHED_OTHER has no priority)")
        if self.policy != "other" and not 1 <= self.priority <= 99:
            raise SchedulingError(f"real-time priority must be 1..99, got {self.priority}")
        if self.cpu_latency_us not in ("auto", None) and not (
            isinstance(self.cpu_latency_us, int) and 0 <= self.cpu_latency_us <= 1_000_000
        ):
            raise SchedulingError(
                f"cpu_latency_us must be 'auto', null or 0..1000000 µs, got {self.cpu_latency_us!r}"
            )
        if not 0 <= self.spin_ns <= 10_000_000:
            raise SchedulingError(f"spin_ns must be 0..10000000 (10 ms), got {self.spin_ns}")

    @property
    def held_cpu_latency_us(self) -> int | None:
        """The bound to hold while running, ``"auto"`` resolved."""
        if self.cpu_latency_us == "auto":
            return 0 if self.policy != "other" else None
        return self.cpu_latency_us


@dataclass(frozen=True)
class Refusal:
    """One thing the OS would not do, and why."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


def warn_once(kind: str, message: str) -> bool:
    """Log ``message`` as a warning the first time ``kind`` is seen in this process."""
    with _warned_lock:
        if kind in _warned:
            return False
        _warned.add(kind)
    log.warning(message)
    return True


def _mlockall() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def hold_cpu_latency(cfg: Scheduling) -> tuple[CpuLatencyRequest | None, list[Refusal]]:
    """Open the PM QoS request ``cfg`` asks for (process-wide while held)."""
    latency = cfg.held_cpu_latency_us
    if latency is None:
        return None, []
    try:
        return CpuLatencyRequest.hold(latency), []
    except OSError as exc:
        refusal = Refusal(f"cpu_dma_latency {latency} µs", f"{exc.strerror or exc} (needs root)")
        warn_once(
            "cpu_dma_latency", f"real-time setup refused, running anyway with worse timing -- {refusal}"
        )
        return None, [refusal]


def apply_to_current_thread(cfg: Scheduling) -> list[Refusal]:
    """Apply ``cfg`` to the calling thread (mlockall is process-wide); return the refusals."""
    refusals: list[Refusal] = []
    if cfg.cpus:
        try:
            os.sched_setaffinity(0, cfg.cpus)
        except OSError as exc:
            refusals.append(Refusal(f"CPU affinity {sorted(cfg.cpus)}", exc.strerror or str(exc)))
    if cfg.policy != "other":
        try:
            os.sched_setscheduler(0, _POLICIES[cfg.policy], os.sched_param(cfg.priority))
        except OSError as exc:
            refusals.append(
                Refusal(
                    f"SCHED_{cfg.policy.upper()} priority {cfg.priority}",
                    f"{exc.strerror or exc} (needs root or CAP_SYS_NICE / RLIMIT_RTPRIO)",
                )
            )
    if cfg.lock_memory:
        try:
            _mlockall()
        except OSError as exc:
            refusals.append(Refusal("mlockall", f"{exc.strerror} (needs CAP_IPC_LOCK or RLIMIT_MEMLOCK)"))
    if cfg.timer_slack_ns:
        try:
            set_timer_slack_ns(cfg.timer_slack_ns)
        except OSError as exc:
            refusals.append(Refusal(f"timer slack {cfg.timer_slack_ns} ns", exc.strerror or str(exc)))
    for refusal in refusals:
        warn_once(
            refusal.what.split()[0],
            f"real-time setup refused, running anyway with worse timing -- {refusal}",
        )
    return refusals


__all__ = [
    "Policy",
    "Refusal",
    "Scheduling",
    "SchedulingError",
    "apply_to_current_thread",
    "hold_cpu_latency",
    "warn_once",
]

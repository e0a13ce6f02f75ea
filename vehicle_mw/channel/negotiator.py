"""Which transport carries data now: thresholds with hysteresis, minimum dwell, anti-flap penalty.

Rules, in order:
1. no active link, or the active one is down / half-open: take the best usable link at once;
2. within the dwell time (``min_dwell_s`` plus ``flap_penalty_s`` per recent switch, decaying
   with ``flap_half_life_s``) nothing else moves;
3. the active link is impaired (srtt + rttvar > rtt_high_ms, or loss > loss_high) and another usable link
   is not impaired and cheaper: move there;
4. the active link is not the preferred one and the preferred one is healthy (srtt + rttvar < rtt_low_ms
   and loss < loss_low): return to it.
Noise between the low and high thresholds moves nothing: that gap is the hysteresis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vehicle_mw.channel.monitor import LinkView
from vehicle_mw.manifest.channel import PolicyConfig


@dataclass(frozen=True, slots=True)
class Decision:
    """Move data from ``from_link`` (None at start) to ``to_link`` for ``reason``."""

    from_link: str | None
    to_link: str
    reason: str
    measurements: LinkView | None  # of the link being left (or of the target at start)


class Negotiator:
    """Stateful policy; ``decide`` proposes, ``commit`` records that the switch happened."""

    def __init__(self, policy: PolicyConfig) -> None:
        self.policy = policy
        self.active: str | None = None
        self.last_switch: float = -math.inf
        self._penalty = 0.0
        self._penalty_at = 0.0
        self.switches = 0

    def penalty(self, now: float) -> float:
        """Recent switches, each decaying with the half-life."""
        return self._penalty * 0.5 ** ((now - self._penalty_at) / self.policy.flap_half_life_s)

    def dwell_s(self, now: float) -> float:
        return self.policy.min_dwell_s + self.policy.flap_penalty_s * self.penalty(now)

    def usable(self, v: LinkView, trusted: bool = True) -> bool:
        """Up, answering, and (``trusted``) measured often enough to base a voluntary switch on."""
        return v.up and v.alive and v.samples >= (self.policy.min_samples if trusted else 1)

    def impaired(self, v: LinkView) -> str | None:
        p = self.policy
        if v.rtt_ms > p.rtt_high_ms:
            return f"rtt {v.srtt_ms:.0f}+{v.rttvar_ms:.0f} ms > {p.rtt_high_ms:.0f} ms"
        if v.loss > p.loss_high:
            return f"loss {v.loss:.2f} > {p.loss_high:.2f}"
        return None

    def healthy(self, v: LinkView) -> bool:
        return self.usable(v) and v.rtt_ms < self.policy.rtt_low_ms and v.loss < self.policy.loss_low

    def decide(self, views: dict[str, LinkView], now: float) -> Decision | None:
        usable = {n: v for n, v in views.items() if self.usable(v)}
        active = views.get(self.active) if self.active else None
        if active is None or not (active.up and active.alive):
            reachable = {n: v for n, v in views.items() if self.usable(v, trusted=False)}
            if not reachable:
                return None
            best = self._best(reachable)
            if self.active is None:
                return Decision(None, best.name, "initial link", best)
            why = "down" if active is None or not active.up else "half-open (no answer for 2 probe intervals)"
            return Decision(self.active, best.name, f"active link {why}", active)
        if now - self.last_switch < self.dwell_s(now):
            return None
        others = {n: v for n, v in usable.items() if n != self.active}
        problem = self.impaired(active)
        if problem:
            better = [v for v in others.values() if self.impaired(v) is None and v.cost_ms < active.cost_ms]
            if better:
                return Decision(self.active, self._best(better).name, problem, active)
            return None
        preferred = views.get(self.policy.prefer)
        if self.active != self.policy.prefer and preferred is not None and self.healthy(preferred):
            return Decision(self.active, preferred.name, "preferred link healthy again", active)
        return None

    def commit(self, decision: Decision, now: float) -> None:
        if decision.from_link is not None:
            self._penalty = self.penalty(now) + 1.0
            self._penalty_at = now
            self.switches += 1
        self.active = decision.to_link
        self.last_switch = now

    def _best(self, views: dict[str, LinkView] | list[LinkView]) -> LinkView:
        items = list(views.values()) if isinstance(views, dict) else views
        return min(
            items, key=lambda v: (not (v.name == self.policy.prefer and self.impaired(v) is None), v.cost_ms)
        )


__all__ = ["Decision", "Negotiator"]

"""Per-link health from probes: smoothed RTT and RTT variance (RFC 6298), loss, half-open detection.

Pure bookkeeping driven by the caller's clock, so it is tested with synthetic timestamps and used
unchanged on real links. A probe answered later than the RTO (``srtt + 4 * rttvar``) or not at
all counts as lost; a link from which nothing at all arrived for two probe intervals is declared half-open
(data leaves it at once); after four intervals (at least 1 s) its session is torn down.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkView:
    """A snapshot of one link, what the negotiator decides on."""

    name: str
    up: bool  # session established (Welcome received)
    alive: bool  # something arrived within two probe intervals
    srtt_ms: float
    rttvar_ms: float
    loss: float
    samples: int  # RTT samples taken since the session came up

    @property
    def rtt_ms(self) -> float:
        """RTT as the policy judges it: srtt + rttvar, so a step up shows within a few probes."""
        return self.srtt_ms + self.rttvar_ms

    @property
    def cost_ms(self) -> float:
        """One number to compare links: what a message is likely to take, loss weighted as 1 s."""
        return self.srtt_ms + 4.0 * self.rttvar_ms + 1000.0 * self.loss


class LinkMonitor:
    """Probe bookkeeping for one link; reset whenever its session restarts."""

    ALPHA = 1 / 8
    BETA = 1 / 4
    MIN_LOSS_TIMEOUT_S = 0.2  # like Linux TCP_RTO_MIN: scheduling hiccups are not losses

    def __init__(self, name: str, probe_interval_s: float, window: int = 20) -> None:
        self.name = name
        self.interval = probe_interval_s
        self.window = window
        self.reset(0.0)

    def reset(self, now: float, up: bool = False) -> None:
        self.up = up
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.samples = 0
        self._outstanding: dict[int, float] = {}
        self._expired: dict[int, float] = {}  # counted as lost, an answer may still come
        self._results: deque[bool] = deque(maxlen=self.window)  # True = lost
        self._last_inbound = now
        self._next_id = 1

    # ---------------------------------------------------------------- events

    def probe_sent(self, now: float) -> int:
        """Register a probe sent at ``now``; returns its id."""
        pid = self._next_id
        self._next_id += 1
        self._outstanding[pid] = now
        return pid

    def echo_received(self, probe_id: int, now: float) -> float | None:
        """An Echo came back; returns the RTT sample in seconds (None for an unknown id)."""
        self.inbound(now)
        sent = self._outstanding.pop(probe_id, None)
        if sent is not None:
            self._results.append(now - sent > self.loss_timeout)
        else:
            sent = self._expired.pop(probe_id, None)  # already counted lost; its RTT still counts
            if sent is None:
                return None  # not ours
        rtt = max(0.0, now - sent)
        self._add_rtt(rtt)
        return rtt

    def inbound(self, now: float) -> None:
        """Anything arrived on this link (echo, ack, probe): it is not half-open."""
        self._last_inbound = max(self._last_inbound, now)

    def expire(self, now: float) -> None:
        """Count probes unanswered past the loss timeout as lost."""
        timeout = self.loss_timeout
        for pid, sent in list(self._outstanding.items()):
            if now - sent > timeout:
                del self._outstanding[pid]
                self._results.append(True)
                self._expired[pid] = sent
        while len(self._expired) > 4 * self.window:  # forget the oldest unanswered ones
            del self._expired[next(iter(self._expired))]

    # ---------------------------------------------------------------- views

    @property
    def last_inbound(self) -> float:
        return self._last_inbound

    @property
    def loss_timeout(self) -> float:
        """An answer later than this (RTO = srtt + 4 rttvar, at least MIN_LOSS_TIMEOUT_S) is a loss.

        On TCP a lost segment shows up as an answer delayed by a retransmission, so a late echo
        counts as lost (its RTT still feeds the estimator); no echo at all counts once expired.
        """
        if self.srtt is None:
            return max(2.0 * self.interval, self.MIN_LOSS_TIMEOUT_S)
        return max(self.srtt + 4.0 * self.rttvar, self.MIN_LOSS_TIMEOUT_S)

    @property
    def loss(self) -> float:
        if not self._results:
            return 0.0
        return sum(self._results) / len(self._results)

    def alive(self, now: float) -> bool:
        """False once nothing arrived for two probe intervals (half-open or dead link)."""
        return now - self._last_inbound <= 2.0 * self.interval

    def dead(self, now: float) -> bool:
        """Silent long enough to give the session up and reconnect (4 probe intervals, at least 1 s).

        Data moves away after two silent intervals already (:meth:`alive`); waiting longer before
        tearing down lets a link that only got slow (RTT > 2 intervals) show its real RTT instead.
        """
        return now - self._last_inbound > max(4.0 * self.interval, 1.0)

    def view(self, now: float) -> LinkView:
        self.expire(now)
        return LinkView(
            name=self.name,
            up=self.up,
            alive=self.up and self.alive(now),
            srtt_ms=(self.srtt or 0.0) * 1000.0,
            rttvar_ms=self.rttvar * 1000.0,
            loss=self.loss,
            samples=self.samples,
        )

    def _add_rtt(self, r: float) -> None:
        if self.srtt is None:  # RFC 6298 2.2
            self.srtt = r
            self.rttvar = r / 2.0
        else:  # RFC 6298 2.3: RTTVAR first, with the old SRTT
            self.rttvar = (1 - self.BETA) * self.rttvar + self.BETA * abs(self.srtt - r)
            self.srtt = (1 - self.ALPHA) * self.srtt + self.ALPHA * r
        self.samples += 1


__all__ = ["LinkMonitor", "LinkView"]

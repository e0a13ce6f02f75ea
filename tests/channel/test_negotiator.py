"""Negotiator with synthetic measurements: impaired -> move, noisy-but-stable -> stay, recovered -> return."""

from __future__ import annotations

import random

from vehicle_mw.channel import LinkView, Negotiator
from vehicle_mw.manifest.channel import PolicyConfig

POLICY = PolicyConfig(min_dwell_s=3.0, flap_penalty_s=3.0, flap_half_life_s=30.0)


def view(name: str, rtt: float = 20.0, loss: float = 0.0, up: bool = True, alive: bool = True) -> LinkView:
    return LinkView(name=name, up=up, alive=alive, srtt_ms=rtt, rttvar_ms=rtt / 10, loss=loss, samples=10)


def started(policy: PolicyConfig = POLICY) -> Negotiator:
    neg = Negotiator(policy)
    d = neg.decide({"grpc": view("grpc"), "websocket": view("websocket")}, 0.0)
    assert d is not None and d.to_link == "grpc" and d.reason == "initial link"
    neg.commit(d, 0.0)
    return neg


def test_initial_choice_is_the_preferred_link_unless_it_is_impaired():
    assert started().active == "grpc"
    neg = Negotiator(POLICY)
    d = neg.decide({"grpc": view("grpc", rtt=900), "websocket": view("websocket")}, 0.0)
    assert d.to_link == "websocket"


def test_moves_away_from_high_rtt_after_dwell():
    neg = started()
    links = {"grpc": view("grpc", rtt=400), "websocket": view("websocket", rtt=30)}
    assert neg.decide(links, 1.0) is None  # within the minimum dwell
    d = neg.decide(links, 3.5)
    assert d.to_link == "websocket" and d.reason.startswith("rtt 400+40 ms")
    assert d.measurements.srtt_ms == 400


def test_moves_away_from_loss():
    neg = started()
    d = neg.decide({"grpc": view("grpc", loss=0.4), "websocket": view("websocket")}, 5.0)
    assert d.to_link == "websocket" and d.reason.startswith("loss 0.40")


def test_does_not_move_to_a_link_that_is_worse():
    neg = started()
    assert neg.decide({"grpc": view("grpc", rtt=400), "websocket": view("websocket", rtt=900)}, 5.0) is None


def test_dead_active_link_moves_at_once_ignoring_dwell():
    neg = started()
    d = neg.decide({"grpc": view("grpc", alive=False), "websocket": view("websocket")}, 0.1)
    assert d.to_link == "websocket" and "half-open" in d.reason
    d = neg.decide({"grpc": view("grpc", up=False), "websocket": view("websocket")}, 0.1)
    assert d.to_link == "websocket" and "down" in d.reason


def test_noisy_but_stable_conditions_never_switch():
    rng = random.Random(7)
    neg = started()
    for step in range(2000):
        # RTT (srtt + rttvar) wanders between the thresholds, loss under loss_high: noisy, not impaired
        grpc = view("grpc", rtt=rng.uniform(60, 220), loss=rng.uniform(0, 0.15))
        ws = view("websocket", rtt=rng.uniform(5, 30), loss=0.0)
        d = neg.decide({"grpc": grpc, "websocket": ws}, step * 0.25)
        assert d is None, (step, d)


def test_returns_to_preferred_after_recovery_with_hysteresis():
    neg = started()
    d = neg.decide({"grpc": view("grpc", rtt=400), "websocket": view("websocket")}, 4.0)
    neg.commit(d, 4.0)
    # recovered only to between the thresholds: not healthy enough to come back
    assert neg.decide({"grpc": view("grpc", rtt=150), "websocket": view("websocket")}, 60.0) is None
    d = neg.decide({"grpc": view("grpc", rtt=100), "websocket": view("websocket")}, 60.0)  # 100+10 < 120
    assert d.to_link == "grpc" and d.reason == "preferred link healthy again"


def test_anti_flap_penalty_grows_with_switches_and_decays():
    neg = started()
    t = 0.0
    dwell = []
    for _ in range(4):  # a link flapping between bad and good
        t += neg.dwell_s(t) + 0.01
        bad = neg.active
        other = "websocket" if bad == "grpc" else "grpc"
        d = neg.decide({bad: view(bad, rtt=500), other: view(other)}, t)
        assert d is not None and d.to_link == other
        neg.commit(d, t)
        dwell.append(neg.dwell_s(t))
    assert dwell == sorted(dwell) and dwell[-1] > dwell[0] + 5  # each switch lengthens the dwell
    assert neg.dwell_s(t + 300) < POLICY.min_dwell_s + 0.1  # and it decays with the half-life
    assert neg.switches == 4


def test_untrusted_measurements_do_not_drive_voluntary_switches():
    neg = started()
    fresh = LinkView("websocket", True, True, 5.0, 1.0, 0.0, samples=1)
    assert neg.decide({"grpc": view("grpc", rtt=400), "websocket": fresh}, 10.0) is None

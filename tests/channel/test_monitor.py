"""Link monitor with synthetic timestamps: RFC 6298 smoothing, loss window, half-open detection."""

from __future__ import annotations

import pytest

from vehicle_mw.channel import LinkMonitor


def answer(mon: LinkMonitor, t: float, rtt: float) -> float:
    pid = mon.probe_sent(t)
    return mon.echo_received(pid, t + rtt)


def test_first_sample_sets_srtt_and_half_rttvar():
    mon = LinkMonitor("grpc", 0.25)
    mon.reset(0.0, up=True)
    answer(mon, 0.0, 0.100)
    assert mon.srtt == pytest.approx(0.100)
    assert mon.rttvar == pytest.approx(0.050)


def test_following_samples_follow_rfc6298_order():
    mon = LinkMonitor("grpc", 0.25)
    mon.reset(0.0, up=True)
    answer(mon, 0.0, 0.100)
    answer(mon, 0.25, 0.200)
    # RTTVAR uses the old SRTT: 3/4*0.05 + 1/4*|0.1-0.2| = 0.0625; SRTT = 7/8*0.1 + 1/8*0.2 = 0.1125
    assert mon.rttvar == pytest.approx(0.0625)
    assert mon.srtt == pytest.approx(0.1125)


def test_constant_rtt_converges_and_variance_decays():
    mon = LinkMonitor("ws", 0.1)
    mon.reset(0.0, up=True)
    for i in range(100):
        answer(mon, i * 0.1, 0.030)
    assert mon.srtt == pytest.approx(0.030, rel=1e-6)
    assert mon.rttvar < 1e-6


def test_loss_is_the_share_of_expired_probes_in_the_window():
    mon = LinkMonitor("grpc", 0.1, window=10)
    mon.reset(0.0, up=True)
    t = 0.0
    for i in range(10):
        pid = mon.probe_sent(t)
        if i % 5 != 0:  # 2 of 10 never answered
            mon.echo_received(pid, t + 0.01)
        t += 0.1
    mon.expire(t + 1.0)
    assert mon.loss == pytest.approx(0.2)
    for _ in range(10):  # a clean window pushes the losses out
        answer(mon, t, 0.01)
        t += 0.1
    assert mon.loss == 0.0


def test_late_echo_counts_as_lost_but_proves_life():
    mon = LinkMonitor("grpc", 0.1)
    mon.reset(0.0, up=True)
    pid = mon.probe_sent(0.0)
    mon.expire(0.5)  # no RTT yet: loss timeout is max(2 intervals, 200 ms) = 0.2 s
    assert mon.loss == 1.0
    assert not mon.alive(0.5)
    assert mon.echo_received(pid, 0.6) == pytest.approx(0.6)  # the RTT sample still counts
    assert mon.loss == 1.0  # and the loss is not counted twice
    assert mon.alive(0.6)


def test_answer_later_than_rto_counts_as_loss():
    mon = LinkMonitor("grpc", 0.25)
    mon.reset(0.0, up=True)
    for i in range(10):
        answer(mon, i * 0.25, 0.010)
    answer(mon, 3.0, 0.500)  # a retransmission-like delay, beyond max(srtt + 4 rttvar, 200 ms)
    assert mon.loss == pytest.approx(1 / 11)


def test_half_open_detected_within_two_probe_intervals():
    mon = LinkMonitor("grpc", 0.25)
    mon.reset(0.0, up=True)
    answer(mon, 0.0, 0.01)
    assert mon.alive(0.01 + 0.5)
    assert not mon.alive(0.01 + 0.5 + 1e-6)
    view = mon.view(0.6)
    assert view.up and not view.alive

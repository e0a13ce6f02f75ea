"""AUTOSAR E2E profiles 4/5/7: protect, check statuses, state machine, bad configuration."""

from __future__ import annotations

import doctest

import pytest

import vehicle_mw.e2e
from vehicle_mw.e2e import (
    CounterCheck,
    E2EConfigError,
    E2EProtector,
    E2EReceiver,
    E2EState,
    E2EStatus,
    SMConfig,
    StateMachine,
    profile,
)

S = E2EStatus


def test_package_docstring_runs():
    assert doctest.testmod(vehicle_mw.e2e).failed == 0


@pytest.mark.parametrize(
    "name,size,data_id", [("P04", 12, 0x0A0B0C0D), ("P05", 3, 0x1234), ("P07", 20, 0xCAFE)]
)
def test_protected_stream_checks_ok_and_counters_wrap(name, size, data_id):
    prof = profile(name)
    assert prof.header_size == size
    start = prof.counter_max - 2  # cross the wrap-around
    tx = E2EProtector(name, data_id, offset=4, first_counter=start)
    rx = E2EReceiver(name, data_id, offset=4)
    rx.counter.last = start - 1
    statuses = []
    for i in range(6):
        element = bytearray(4 + size + 8)
        element[4 + size :] = bytes([i]) * 8  # payload after the header
        tx.protect(element)
        assert prof.counter(element, 4) == (start + i) & prof.counter_max
        statuses.append(rx.status_of(bytes(element)))
    assert statuses == [S.OK] * 6


def test_every_status_of_the_counter_check():
    tx = E2EProtector("P04", 7)
    rx = E2EReceiver("P04", 7, max_delta_counter=3)
    frames = [bytes(tx.protect(bytearray(16))) for _ in range(10)]
    assert rx.status_of(frames[0]) is S.OK  # a stream starting at 0 is OK at once
    assert rx.status_of(frames[0]) is S.REPEATED
    assert rx.status_of(frames[2]) is S.OK_SOME_LOST  # one lost
    assert rx.status_of(frames[9]) is S.WRONG_SEQUENCE  # six lost: more than max_delta_counter
    assert rx.status_of(frames[1]) is S.WRONG_SEQUENCE  # went back
    corrupt = bytearray(frames[2])
    corrupt[-1] ^= 0x01
    assert rx.status_of(bytes(corrupt)) is S.ERROR  # payload bit flip: CRC
    assert rx.status_of(frames[2]) is S.OK  # the error did not move the expected counter
    assert E2EReceiver("P04", 8).status_of(frames[0]) is S.ERROR  # another data id
    assert rx.status_of(frames[3][:10]) is S.ERROR  # shorter than the header


def test_a_receiver_joining_mid_stream_goes_init_then_valid():
    tx = E2EProtector("P05", 0x99, first_counter=57)
    rx = E2EReceiver("P05", 0x99, sm=SMConfig(window_size=3, min_ok_state_init=2))
    states = [rx.check(bytes(tx.protect(bytearray(8)))) for _ in range(3)]
    assert rx.counts[S.WRONG_SEQUENCE] == 1 and rx.counts[S.OK] == 2
    assert states == [E2EState.INIT, E2EState.INIT, E2EState.VALID]


def test_state_machine_invalid_on_errors_and_recovery_per_config():
    sm = StateMachine(
        SMConfig(window_size=4, min_ok_state_init=2, max_error_state_valid=1, min_ok_state_invalid=3)
    )
    assert sm.step(S.ERROR) is E2EState.NODATA  # an error never leaves NODATA
    assert sm.step(S.NO_NEW_DATA) is E2EState.NODATA
    assert sm.step(S.OK) is E2EState.INIT
    assert sm.step(S.OK) is E2EState.VALID
    assert sm.step(S.ERROR) is E2EState.VALID  # one error tolerated in the window
    assert sm.step(S.ERROR) is E2EState.INVALID  # two are not
    assert sm.step(S.OK) is E2EState.INVALID
    assert sm.step(S.OK) is E2EState.INVALID  # window OK, OK, ERROR, ERROR -> errors 2
    assert sm.step(S.OK) is E2EState.INVALID  # OK x3 but one error left: max_error_state_invalid 0
    assert sm.step(S.OK) is E2EState.VALID
    assert sm.transitions == 4


def test_repeated_and_wrong_sequence_push_ok_out_of_the_window():
    sm = StateMachine(SMConfig(window_size=2, min_ok_state_valid=1))
    sm.step(S.OK)
    assert sm.state is E2EState.VALID
    sm.step(S.REPEATED)
    assert sm.state is E2EState.VALID  # one OK left in the window
    assert sm.step(S.WRONG_SEQUENCE) is E2EState.INVALID  # none left


def test_clear_to_invalid_needs_fresh_oks():
    cfg = SMConfig(window_size=3, max_error_state_valid=0, min_ok_state_invalid=2, clear_to_invalid=True)
    sm = StateMachine(cfg)
    for status in (S.OK, S.OK, S.ERROR):
        sm.step(status)
    assert sm.state is E2EState.INVALID and sm.counts() == (0, 0)
    assert sm.step(S.OK) is E2EState.INVALID
    assert sm.step(S.OK) is E2EState.VALID


def test_receiver_stats_and_no_new_data():
    rx = E2EReceiver("P07", 5)
    rx.no_new_data()
    assert rx.state is E2EState.NODATA
    assert rx.stats()["no_new_data"] == 1 and rx.stats()["state"] == "nodata"


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: profile("P99"), "unknown E2E profile 'P99'; supported: P04, P05, P07"),
        (lambda: E2EProtector("P05", 0x10000), "does not fit in 16 bits"),
        (lambda: E2EProtector("P04", 1, offset=-1), "offset must be >= 0"),
        (lambda: E2EProtector("P04", 1).protect(bytearray(8)), "no room for the 12-byte header"),
        (lambda: CounterCheck(255, 0), "max_delta_counter must be 1..255"),
        (lambda: SMConfig(window_size=2, min_ok_state_init=3), "min_ok_state_init must be 0..window_size"),
        (lambda: SMConfig(window_size=0), "window_size must be 1..1024"),
    ],
)
def test_bad_configuration_is_a_clear_error(make, match):
    with pytest.raises(E2EConfigError, match=match.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_profile_names_are_forgiving():
    assert profile("4") is profile("P04") is profile("profile_04") is profile("p4")

"""Function-group state switches start and stop exactly the applications that differ."""

from __future__ import annotations

from exec_helpers import actions, app


def running(status) -> set[str]:
    return {n for n, a in status["apps"].items() if a["state"] == "running"}


def test_switch_starts_and_stops_exactly_the_difference(ws, run_manager):
    # stop_timeout: a loaded CI machine once took > 3 s (the default) to run drive's SIGTERM handler,
    # and a SIGKILLed app writes no exit line for the order check below
    path = ws.write(
        [
            app("always", "steady", states=["Driving", "Parked", "Diagnostics"]),
            app("drive", "steady", states=["Driving"], stop_timeout=15),
            app("park", "steady", states=["Parked"]),
            app("both", "steady", states=["Driving", "Parked"]),
        ]
    )
    m = run_manager(path)
    s = m.wait_for(lambda s: running(s) == {"always", "drive", "both"}, 20)
    pids = {n: a["pid"] for n, a in s["apps"].items()}

    m.switch("Main", "Parked")
    s = m.wait_for(
        lambda s: running(s) == {"always", "park", "both"} and s["apps"]["drive"]["state"] == "off", 20
    )
    # apps in both states kept running: same processes
    assert s["apps"]["always"]["pid"] == pids["always"]
    assert s["apps"]["both"]["pid"] == pids["both"]
    assert ("stop", "not in Main state Parked") in actions(m, "drive")
    assert not any(a == "stop" for a, _ in actions(m, "always") + actions(m, "both"))
    # what left was stopped before what entered was started
    lines = ws.lines()
    assert lines.index("drive exit") < lines.index("park start")

    m.switch("Main", "Diagnostics")

    def off(s):
        return {n for n, a in s["apps"].items() if a["state"] == "off"}

    s = m.wait_for(lambda s: off(s) == {"drive", "park", "both"}, 20)
    assert running(s) == {"always"} and s["groups"]["Main"] == "Diagnostics"
    assert s["apps"]["always"]["pid"] == pids["always"]


def test_unknown_group_or_state_rejected(ws, run_manager):
    import pytest

    from vehicle_mw.exec import ExecError

    m = run_manager(ws.write([app("a", "steady")]))
    with pytest.raises(ExecError, match="has no state 'Flying'"):
        m.switch("Main", "Flying")
    with pytest.raises(ExecError, match="unknown function group 'Nope'"):
        m.switch("Nope", "Driving")

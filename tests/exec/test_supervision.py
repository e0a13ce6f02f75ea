"""Supervised apps as real processes: ordering, crash restarts with backoff, hang and logical violations."""

from __future__ import annotations

import re

from exec_helpers import actions, app, app_state

W = 20.0  # bound for each awaited condition


def test_startup_order_follows_dependencies(ws, run_manager):
    path = ws.write(
        [
            app("c", "steady", depends_on=["b"]),
            app("b", "steady", depends_on=["a"]),
            app("a", "steady"),
        ]
    )
    m = run_manager(path)
    m.wait_for(lambda s: all(a["state"] == "running" for a in s["apps"].values()), W)
    lines = ws.lines()
    # each app started only after its dependency reported running
    assert lines.index("b start") > lines.index("a running")
    assert lines.index("c start") > lines.index("b running")
    seq = {n: a["start_seq"] for n, a in m.status()["apps"].items()}
    assert seq["a"] < seq["b"] < seq["c"]
    assert ("waiting", "for ['a'] to report running") in actions(m, "b")


def test_crashing_app_restarts_with_growing_backoff_then_group_falls_back(ws, run_manager):
    restart = {"initial_delay": 0.1, "factor": 2.0, "jitter": 0.0, "max_restarts": 3, "window": 60}
    path = ws.write([app("crasher", "crash", restart=restart), app("safe", "steady", states=["Degraded"])])
    m = run_manager(path)
    m.wait_for(lambda s: s["groups"]["Main"] == "Degraded", W)
    m.wait_for(app_state("safe", "running"), W)
    ev = actions(m, "crasher")
    delays = [float(re.match(r"in ([\d.]+) s", r).group(1)) for a, r in ev if a == "restart-scheduled"]
    assert delays == [0.1, 0.2, 0.4]
    assert all("exited with code 3" in r for a, r in ev if a == "restart-scheduled")
    assert m.status()["apps"]["crasher"]["restarts"] == 3
    assert m.status()["apps"]["crasher"]["state"] == "failed"
    assert any(a == "failed" and "3 restarts within 60 s" in r for a, r in ev)
    assert ("fallback", "crasher exhausted its restarts -> Degraded") in actions(m, "Main")
    assert ws.lines().count("crasher start") == 4  # first start + 3 restarts
    # the real gaps between starts grow with the backoff
    starts = [e.t for e in m.events if e.subject == "crasher" and e.action == "start"]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4


def test_hung_app_detected_within_alive_window_and_restarted(ws, run_manager):
    alive = {"window": 0.5, "min": 2}
    path = ws.write(
        [app("hanger", "hang", supervision={"alive": alive}, restart={"initial_delay": 0.05, "jitter": 0.0})]
    )
    m = run_manager(path)
    m.wait_for(lambda s: s["apps"]["hanger"]["restarts"] >= 1, W)
    events = [e for e in m.events if e.subject == "hanger"]
    violation = next(e for e in events if e.action == "violation")
    assert violation.reason == "alive: no heartbeat for 0.5 s (min 2 per window): hung"
    # detected within one alive window of the last heartbeat (+ a 20 ms tick + slack on a loaded box)
    silent_since = ws.time_of("hanger hung")
    assert alive["window"] - 0.05 <= violation.t - silent_since <= alive["window"] + 0.4
    assert "hanger term" in ws.lines()  # stopped with SIGTERM before the restart


def test_logical_violation_detected(ws, run_manager):
    supervision = {
        "checkpoints": ["read", "compute", "publish"],
        "logical": {
            "initial": ["read"],
            "transitions": {"read": ["compute"], "compute": ["publish"], "publish": ["read"]},
        },
    }
    path = ws.write(
        [
            app("skipper", "steady", supervision=supervision, env={"VMW_TEST_CHECKPOINTS": "read,publish"}),
            app(
                "good",
                "steady",
                supervision=supervision,
                env={"VMW_TEST_CHECKPOINTS": "read,compute,publish"},
            ),
        ]
    )
    m = run_manager(path)
    m.wait_for(lambda s: any(e.action == "violation" for e in m.events), W)
    violations = [e for e in m.events if e.action == "violation"]
    assert violations[0].subject == "skipper"
    assert violations[0].reason == "logical: checkpoint 'publish' after 'read', allowed ['compute']"
    assert not any(e.subject == "good" for e in violations)


def test_deadline_violation_detected(ws, run_manager):
    # steady walks start -> end back to back (microseconds apart): a 1 s minimum is violated.
    supervision = {
        "checkpoints": ["start", "end"],
        "deadline": [{"start": "start", "end": "end", "min": 1.0, "max": 2.0}],
    }
    path = ws.write(
        [app("fast", "steady", supervision=supervision, env={"VMW_TEST_CHECKPOINTS": "start,end"})]
    )
    m = run_manager(path)
    m.wait_for(lambda s: any(e.action == "violation" for e in m.events), W)
    reason = next(e.reason for e in m.events if e.action == "violation")
    assert reason.startswith("deadline: start -> end took") and "allowed [1000, 2000] ms" in reason

"""The documented pytest fixture runs a scenario and formats failures readably."""

import pathlib

from vehicle_mw.hil.pytest_plugin import hil_run, report_failures  # noqa: F401 - fixture import
from vehicle_mw.hil.verdicts import Verdict

HIL = pathlib.Path(__file__).resolve().parents[2] / "hil"


def test_fixture_runs_a_short_scenario(hil_run, tmp_path):  # noqa: F811 - the fixture
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        "name: short\nduration_ms: 400\n"
        "assertions: [{name: heartbeat, message_period: {bus: body, message: BodyHeartbeat, from_ms: 0}}]\n"
    )
    report = hil_run(HIL / "benches/body-restbus.yaml", scenario)
    assert report.passed, report_failures(report)
    assert "median" in report.verdicts[0].measured


def test_report_failures_lists_measured_and_evidence():
    from vehicle_mw.hil.runner import HilReport

    report = HilReport(
        "b",
        "s",
        1.0,
        verdicts=[
            Verdict("ok", "error_frames_seen", True, "x", "y"),
            Verdict(
                "late", "signal_reaches", False, "within 10 ms", "reached after 55.0 ms", ["step at +5 ms"]
            ),
        ],
    )
    text = report_failures(report)
    assert "late: reached after 55.0 ms (expected within 10 ms)" in text and "step at +5 ms" in text
    assert "ok:" not in text

"""A deliberately failing assertion fails with evidence; the CLI exit code and reports say so."""

import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

HIL = pathlib.Path(__file__).resolve().parents[2] / "hil"

FAILING = """
name: deliberately-failing
duration_ms: 900
steps:
  - {at_ms: 300, id: speed-up, set_signal: {ecu: BodyEcu, signal: BodyStatus.VehicleSpeed, value: 42}}
assertions:
  - name: speed reaches a value nobody sets
    signal_reaches: {signal: BodyStatus.VehicleSpeed, value: 99, after: speed-up, within_ms: 100}
  - name: wrong expected period
    message_period: {bus: body, message: BodyStatus, expected_ms: 35, tolerance_pct: 10, from_ms: 50}
  - name: speed reaches 42
    signal_reaches: {signal: BodyStatus.VehicleSpeed, value: 42, after: speed-up, within_ms: 60}
  - name: BodyStatus claimed silent although it keeps being sent
    message_absent: {bus: body, message: BodyStatus, after: speed-up, from_ms: 0, to_ms: 200}
"""


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hil")
    scenario = tmp / "failing.yaml"
    scenario.write_text(FAILING)
    junit, html = tmp / "out.xml", tmp / "out.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "hil",
            "run",
            str(HIL / "benches/body-restbus.yaml"),
            str(scenario),
            "--junit",
            str(junit),
            "--html",
            str(html),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc, junit, html


def test_exit_code_is_one_and_output_names_the_failures(failing_run):
    proc, _, _ = failing_run
    assert proc.returncode == 1, proc.stderr
    assert (
        "FAIL  speed reaches a value nobody sets: never reached (last value after the step: 42)"
        in proc.stdout
    )
    assert "FAIL  wrong expected period: median " in proc.stdout
    assert "PASS  speed reaches 42: reached after" in proc.stdout
    silent = next(line for line in proc.stdout.splitlines() if "claimed silent" in line)
    frames = int(silent.split(": ")[1].split(" frames")[0])
    assert silent.startswith("FAIL") and 5 <= frames <= 15  # ~10 frames at 20 ms in 200 ms
    assert "1/4 passed (FAILED)" in proc.stdout


def test_junit_xml_parses_with_failures_and_evidence(failing_run):
    _, junit, _ = failing_run
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "3"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["wrong expected period"].find("failure")
    assert "median period 35 ms" in failure.get("message")
    assert "periods in the window" in failure.text
    assert cases["speed reaches 42"].find("failure") is None
    assert "BodyStatus.VehicleSpeed = 42" in suite.find("system-out").text


def test_html_report_is_self_contained(failing_run):
    _, _, html = failing_run
    page = html.read_text()
    assert "FAILED" in page and "wrong expected period" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page


def test_cli_rejects_a_bad_bench_with_exit_code_two(tmp_path):
    bench = tmp_path / "bench.yaml"
    bench.write_text("name: b\nbuses: [{name: x, channel: c, speed: 9}]\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "hil",
            "run",
            str(bench),
            str(HIL / "scenarios/restbus-signal-timing.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{bench}: buses[0].speed: unknown key" in proc.stderr


def test_a_trace_that_cannot_be_replayed_is_a_failed_verdict(tmp_path):
    import asyncio

    from vehicle_mw.hil import run_scenario

    (tmp_path / "junk.log").write_text("this is not a candump log\n")
    scenario = tmp_path / "sc.yaml"
    scenario.write_text(
        "name: junk-replay\nduration_ms: 300\n"
        "steps: [{at_ms: 0, replay: {file: junk.log, bus: body}}]\n"
        "assertions: [{name: heartbeat, message_period: {bus: body, message: BodyHeartbeat}}]\n"
    )
    report = asyncio.run(run_scenario(HIL / "benches/body-restbus.yaml", scenario))
    assert not report.passed
    failed = [v for v in report.verdicts if not v.passed]
    assert [v.name for v in failed] == ["replay of junk.log"]
    assert failed[0].measured.startswith("failed: ")


def test_several_scenarios_in_one_run_give_one_suite_each(tmp_path):
    ok, bad = tmp_path / "ok.yaml", tmp_path / "bad.yaml"
    period = "message_period: {bus: body, message: BodyHeartbeat, from_ms: 0"
    ok.write_text(f"name: ok\nduration_ms: 400\nassertions: [{{name: hb, {period}}}}}]\n")
    bad.write_text(f"name: bad\nduration_ms: 400\nassertions: [{{name: hb, {period}, expected_ms: 80}}}}]\n")
    junit = tmp_path / "out.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "hil",
            "run",
            str(HIL / "benches/body-restbus.yaml"),
            str(ok),
            str(bad),
            "--junit",
            str(junit),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [(s.get("name"), s.get("failures")) for s in suites] == [
        ("body-restbus.ok", "0"),
        ("body-restbus.bad", "1"),
    ]


def test_html_plots_each_asserted_signal_with_its_target_and_step(failing_run):
    import re

    _, _, html = failing_run
    page = html.read_text()
    assert "<h2>Asserted signals</h2>" in page and "<script" not in page
    svgs = [ET.fromstring(s) for s in re.findall(r"<svg .*?</svg>", page)]  # each well-formed SVG
    assert len(svgs) == 2  # the two signal_reaches assertions; other kinds have no signal to plot
    ns = "{http://www.w3.org/2000/svg}"
    titles = [[t.text for t in s.iter(f"{ns}title")] for s in svgs]
    assert "target 99" in titles[0] and "target 42" in titles[1]
    assert all(any(t.startswith("step speed-up at +3") for t in ts) for ts in titles)  # fired at ~300 ms
    for s in svgs:
        line = s.find(f"{ns}polyline")
        assert len(line.get("points").split()) > 10  # BodyStatus every 20 ms over 900 ms
        assert line.find(f"{ns}title").text == "BodyStatus.VehicleSpeed: 0 to 42"  # the step's value

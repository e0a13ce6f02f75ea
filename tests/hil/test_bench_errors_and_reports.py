"""Typos are rejected before a run, a broken bench is an error of its own (exit 3) with its reports,
and every report says when, where and with what it was made, beside a recording of the buses."""

from __future__ import annotations

import hashlib
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import can

import vehicle_mw

HIL = pathlib.Path(__file__).resolve().parents[2] / "hil"
BENCH = HIL / "benches/body-restbus.yaml"
DBC = HIL / "dbc/body.dbc"


def vmw(*args: str, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


TYPO = """name: typo
duration_ms: 300
steps:
  - {at_ms: 100, id: speed-up, set_signal: {ecu: BodyEcu, signal: BodyStatus.VehicleSped, value: 5}}
assertions:
  - {name: heartbeat, message_period: {bus: body, message: BodyHeartbeat, from_ms: 0}}
"""


def test_a_set_signal_typo_is_rejected_by_check_and_before_a_run(tmp_path):
    scenario = tmp_path / "typo.yaml"
    scenario.write_text(TYPO)
    for out in (
        vmw("hil", "check", str(BENCH), str(scenario)),
        vmw("hil", "run", str(BENCH), str(scenario), "--junit", str(tmp_path / "r.xml")),
    ):
        assert out.returncode in (1, 2), out.stderr
        assert str(scenario) in out.stderr and "steps[0].set_signal" in out.stderr, out.stderr
        assert (
            "'BodyStatus.VehicleSped'" in out.stderr
            and "did you mean 'BodyStatus.VehicleSpeed'" in out.stderr
        )
        assert "Traceback" not in out.stderr
    assert out.returncode == 2 and "PASS" not in out.stdout and "FAIL" not in out.stdout  # nothing ran
    assert not (tmp_path / "r.xml").exists()


def test_a_bench_whose_bus_cannot_open_exits_3_with_both_reports(tmp_path):
    bench = tmp_path / "broken.yaml"
    bench.write_text(
        "name: broken\nbuses:\n  - {name: body, interface: socketcan, channel: vmwnope0, "
        f"databases: [{DBC}]}}\necus: [{{name: BodyEcu, bus: body}}]\n"
    )
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\nduration_ms: 200\nassertions:\n"
        "  - {name: heartbeat, message_period: {bus: body, message: BodyHeartbeat, from_ms: 0}}\n"
        "  - {name: errors, error_frames_seen: {bus: body, at_least: 1}}\n"
    )
    junit, page = tmp_path / "out" / "r.xml", tmp_path / "out" / "r.html"
    junit.parent.mkdir()
    out = vmw("hil", "run", str(bench), str(scenario), "--junit", str(junit), "--html", str(page))
    assert out.returncode == 3, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "could not run" in out.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "2" and suite.get("failures") == "0"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["heartbeat", "errors"]
    assert all(c.find("error") is not None and "vmwnope0" in c.find("error").get("message") for c in cases)
    text = page.read_text()
    assert "BENCH ERROR" in text and "vmwnope0" in text


def test_reports_carry_run_facts_one_case_per_assertion_and_a_bus_log(tmp_path):
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        "name: short\nduration_ms: 500\n"
        "steps: [{at_ms: 100, id: speed,"
        " set_signal: {ecu: BodyEcu, signal: BodyStatus.VehicleSpeed, value: 42}}]\n"
        "assertions:\n"
        "  - {name: heartbeat, message_period: {bus: body, message: BodyHeartbeat, from_ms: 0}}\n"
        "  - {name: speed, signal_reaches: {signal: BodyStatus.VehicleSpeed, value: 42, tolerance: 0.01,"
        " after: speed, within_ms: 200}}\n"
        "  - {name: never, error_frames_seen: {bus: body, at_least: 1}}\n"
    )
    junit, page = tmp_path / "r.xml", tmp_path / "r.html"
    out = vmw("hil", "run", str(BENCH), str(scenario), "--junit", str(junit), "--html", str(page))
    assert out.returncode == 1, out.stdout + out.stderr  # 'never' fails: no error frames were sent
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert [c.get("name") for c in suite.findall("testcase")] == ["heartbeat", "speed", "never"]
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["bench.sha256"] == hashlib.sha256(BENCH.read_bytes()).hexdigest()
    assert props["scenario.sha256"] == hashlib.sha256(scenario.read_bytes()).hexdigest()
    assert (
        props["vehicle_mw"] == vehicle_mw.__version__ and props["host"] and props["time"].endswith("+00:00")
    )
    assert suite.get("timestamp") == props["time"] and suite.get("hostname") == props["host"]
    text = page.read_text()
    for value in (props["bench.sha256"], props["scenario.sha256"], props["time"], props["host"]):
        assert value in text
    log = tmp_path / "body-restbus.short.asc"
    assert props["bus_log"] == str(log) and log.name in text
    frames = list(can.ASCReader(str(log)))
    ids = {m.arbitration_id for m in frames}
    assert {0x120, 0x130, 0x140} <= ids  # BodyStatus, DoorStatus, BodyHeartbeat from the restbus
    assert all(m.channel == 0 for m in frames)  # the first bench bus
    speeds = [
        m for m in frames if m.arbitration_id == 0x120 and int.from_bytes(m.data[0:2], "little") == 4200
    ]
    assert speeds, "the set_signal step's value is in the recording"
    blf = vmw("hil", "run", str(BENCH), str(scenario), "--junit", str(junit), "--bus-log", "blf")
    assert blf.returncode == 1
    assert {m.arbitration_id for m in can.BLFReader(str(tmp_path / "body-restbus.short.blf"))} >= {
        0x120,
        0x140,
    }

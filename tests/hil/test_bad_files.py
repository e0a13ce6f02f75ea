"""Bad bench and scenario files are rejected naming the file, the path inside it and the reason."""

import asyncio
import pathlib

import pytest

from vehicle_mw.hil import HilError, run_scenario
from vehicle_mw.manifest import ManifestError

HIL = pathlib.Path(__file__).resolve().parents[2] / "hil"
BENCH = HIL / "benches/body-restbus.yaml"
SCENARIO = HIL / "scenarios/restbus-signal-timing.yaml"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(bench, scenario):
    return asyncio.run(run_scenario(bench, scenario))


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("name: b\nbuses: [{name: x, channel: c, bogus: 1}]\n", "buses[0].bogus", "unknown key"),
        ("name: b\nbuses: []\n", "buses", "at least 1"),
        (
            "name: b\nbuses: [{name: x, channel: c}]\necus: [{name: E, bus: nope}]\n",
            "<top>",
            "unknown bus 'nope'",
        ),
        ("name: b\nbuses: [{name: x, channel: c}\n", "line 3", "not valid YAML"),
    ],
)
def test_bad_bench_names_file_path_reason(tmp_path, text, where, reason):
    bench = _write(tmp_path, "bench.yaml", text)
    with pytest.raises(ManifestError) as err:
        _run(bench, SCENARIO)
    assert str(bench) in str(err.value) and where in str(err.value) and reason in str(err.value)


STEP = "{at_ms: 100, id: s, set_signal: {ecu: BodyEcu, signal: BodyStatus.VehicleSpeed, value: 1}}"
OK_ASSERT = "{name: a, error_frames_seen: {bus: body}}"


@pytest.mark.parametrize(
    ("steps", "assertions", "where", "reason"),
    [
        (
            f"[{STEP}]",
            "[{name: a, transport_switch: {to: lte, after: s, within_ms: 5}}]",
            "assertions[0].transport_switch.to",
            "'grpc' or 'websocket'",
        ),
        (
            "[{at_ms: 1, set_signal: {ecu: E, signal: M.S, value: 1}, stop_ecu: {ecu: E}}]",
            f"[{OK_ASSERT}]",
            "steps[0]",
            "exactly one of",
        ),
        (
            f"[{STEP}]",
            "[{name: a, signal_reaches: {signal: BodyStatus.VehicleSpeed, value: 1, after: nope, "
            "within_ms: 5}}]",
            "<top>",
            "unknown step 'nope'",
        ),
        (
            "[{at_ms: -5, stop_ecu: {ecu: BodyEcu}}]",
            f"[{OK_ASSERT}]",
            "steps[0].at_ms",
            "greater than or equal",
        ),
        (
            f"[{STEP}]",
            "[{name: a, message_period: {bus: body, message: M, speed: 3}}]",
            "assertions[0].message_period.speed",
            "unknown key",
        ),
    ],
)
def test_bad_scenario_is_a_manifest_error(tmp_path, steps, assertions, where, reason):
    scenario = _write(
        tmp_path, "sc.yaml", f"name: s\nduration_ms: 500\nsteps: {steps}\nassertions: {assertions}\n"
    )
    with pytest.raises(ManifestError) as err:
        _run(BENCH, scenario)
    assert str(scenario) in str(err.value) and where in str(err.value) and reason in str(err.value)


@pytest.mark.parametrize(
    ("step", "assertion", "message"),
    [
        ("{at_ms: 1, stop_ecu: {ecu: Engine}}", OK_ASSERT, "steps[0].stop_ecu: unknown ecu 'Engine'"),
        (
            "{at_ms: 1, set_signal: {ecu: BodyEcu, signal: Gearbox.Gear, value: 1}}",
            OK_ASSERT,
            "steps[0].set_signal: ecu 'BodyEcu' does not send 'Gearbox.Gear'",
        ),
        (
            "{at_ms: 1, error_frames: {bus: chassis}}",
            OK_ASSERT,
            "steps[0].error_frames: unknown bus 'chassis'",
        ),
        (
            "{at_ms: 1, link: {transport: grpc, cut: true}}",
            OK_ASSERT,
            "link steps need a bench with dut.uplink",
        ),
        ("{at_ms: 1, replay: {file: missing.log, bus: body}}", OK_ASSERT, "trace 'missing.log' not found"),
        (
            "{at_ms: 1, stop_ecu: {ecu: BodyEcu}}",
            "{name: a, delivered: {}}",
            "assertions[0].delivered: delivered needs a bench with dut.uplink",
        ),
        (
            "{at_ms: 1, stop_ecu: {ecu: BodyEcu}}",
            "{name: a, message_absent: {bus: body, message: Nope, from_ms: 0, to_ms: 5}}",
            "assertions[0].message_absent: bus 'body' has no message 'Nope' in its databases",
        ),
    ],
)
def test_names_the_bench_lacks_are_rejected_before_running(tmp_path, step, assertion, message):
    scenario = _write(
        tmp_path, "sc.yaml", f"name: s\nduration_ms: 300\nsteps: [{step}]\nassertions: [{assertion}]\n"
    )
    with pytest.raises(HilError) as err:
        _run(BENCH, scenario)
    assert str(scenario) in str(err.value) and message in str(err.value)

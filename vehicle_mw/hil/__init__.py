"""Bench (HIL) harness: benches, scenarios, restbus, fault injection and link impairment.

    import asyncio
    from vehicle_mw.hil import run_scenario, junit_xml, html_report

    report = asyncio.run(run_scenario("hil/benches/body-restbus.yaml",
                                      "hil/scenarios/restbus-signal-timing.yaml"))
    report.passed                     # every assertion held
    report.verdicts                   # Verdict(name, kind, passed, expected, measured, evidence)
    open("out.xml", "w").write(junit_xml(report))

A bench (``BenchConfig``) names the CAN buses, their databases, the simulated ECUs (restbus at
the DBC cycle times) and the device under test (the vehicle_mw runtime, optionally uplinked to a
local gateway through one :class:`LinkProxy` per transport). A scenario (``ScenarioConfig``)
fires timed steps and judges assertions with timing evidence. See docs/hil.md.

Every part is imported on first use, so ``from vehicle_mw.hil import LinkProxy`` stays light and the
pytest plugin (``vehicle_mw.hil.pytest_plugin``, loaded into every pytest run once registered) costs
only this file.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Impairment": "vehicle_mw.hil.link_proxy",
    "LinkProxy": "vehicle_mw.hil.link_proxy",
    "LinkProxyError": "vehicle_mw.hil.link_proxy",
    "control_request": "vehicle_mw.hil.link_proxy",
    "HilError": "vehicle_mw.hil.restbus",
    "RestbusEcu": "vehicle_mw.hil.restbus",
    "TracePlayer": "vehicle_mw.hil.player",
    "RuntimeUnderTest": "vehicle_mw.hil.dut",
    "Verdict": "vehicle_mw.hil.verdicts",
    "HilReport": "vehicle_mw.hil.runner",
    "ScenarioRun": "vehicle_mw.hil.runner",
    "load_bench": "vehicle_mw.hil.runner",
    "load_scenario": "vehicle_mw.hil.runner",
    "run_scenario": "vehicle_mw.hil.runner",
    "html_report": "vehicle_mw.hil.report",
    "junit_xml": "vehicle_mw.hil.report",
    "write_reports": "vehicle_mw.hil.report",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vehicle_mw.hil' has no attribute {name!r}")


__all__ = [
    "HilError",
    "HilReport",
    "Impairment",
    "LinkProxy",
    "LinkProxyError",
    "RestbusEcu",
    "RuntimeUnderTest",
    "ScenarioRun",
    "TracePlayer",
    "Verdict",
    "control_request",
    "html_report",
    "junit_xml",
    "load_bench",
    "load_scenario",
    "run_scenario",
    "write_reports",
]

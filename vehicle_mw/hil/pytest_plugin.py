"""pytest fixtures for HIL scenarios (import them into a conftest; not auto-registered).

    # conftest.py
    from vehicle_mw.hil.pytest_plugin import hil_run  # noqa: F401

    # test_bench.py
    def test_door_timing(hil_run):
        report = hil_run("hil/benches/body-restbus.yaml", "hil/scenarios/restbus-signal-timing.yaml")
        assert report.passed, report_failures(report)

``hil_run`` keeps each run's gateway database and outbox under the test's ``tmp_path`` and, when
``--hil-reports=DIR`` is given, writes JUnit XML and HTML there per run.
"""

from __future__ import annotations

import asyncio
import pathlib
import re

import pytest

from vehicle_mw.hil.report import write_reports
from vehicle_mw.hil.runner import HilReport, run_scenario


def report_failures(report: HilReport) -> str:
    """A readable assertion message: each failed verdict with what was measured and its evidence."""
    lines = [f"{report.scenario} on {report.bench}: failed assertions"]
    for v in report.verdicts:
        if not v.passed:
            lines.append(f"  {v.name}: {v.measured} (expected {v.expected})")
            lines.extend(f"      {e}" for e in v.evidence)
    return "\n".join(lines)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--hil-reports`` (call from a conftest's own ``pytest_addoption`` to enable it)."""
    parser.addoption("--hil-reports", default=None, help="folder for per-run HIL JUnit XML and HTML")


@pytest.fixture
def hil_run(request: pytest.FixtureRequest, tmp_path: pathlib.Path):
    """Callable ``(bench_file, scenario_file) -> HilReport`` running the scenario for real."""
    counter = iter(range(1_000_000))

    def run(bench: str | pathlib.Path, scenario: str | pathlib.Path) -> HilReport:
        report = asyncio.run(run_scenario(bench, scenario, tmp_path / f"run{next(counter)}"))
        folder = _option(request, "--hil-reports")
        if folder:
            out = pathlib.Path(folder)
            out.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{request.node.name}.{report.scenario}")
            write_reports(report, out / f"{stem}.xml", out / f"{stem}.html")
        return report

    return run


def _option(request: pytest.FixtureRequest, name: str):
    try:
        return request.config.getoption(name)
    except ValueError:  # the option was not registered
        return None


__all__ = ["hil_run", "pytest_addoption", "report_failures"]

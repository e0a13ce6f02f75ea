"""pytest fixtures for HIL scenarios: the ``hil_run`` fixture and the ``--hil-reports`` option.

Enable it with ``-p vehicle_mw.hil.pytest_plugin``, ``pytest_plugins = ["vehicle_mw.hil.pytest_plugin"]``
in the root conftest, or through the package's ``pytest11`` entry point (registered under the same
name, so loading it by all three routes registers it once):

    def test_door_timing(hil_run):
        report = hil_run("hil/benches/body-restbus.yaml", "hil/scenarios/restbus-signal-timing.yaml")
        assert report.passed, report_failures(report)

``hil_run`` keeps each run's gateway database and outbox under the test's ``tmp_path`` and, when
``--hil-reports=DIR`` is given, writes JUnit XML and HTML there per run.

Registered globally, this module is loaded by every pytest run on the machine, so it imports only
pytest and the standard library: the runner (cantools, python-can, the runtime, the gateway) is
imported when ``hil_run`` is first called.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from vehicle_mw.hil.runner import HilReport

OPTION = "--hil-reports"


def report_failures(report: HilReport) -> str:
    """A readable assertion message: each failed verdict with what was measured and its evidence."""
    lines = [f"{report.scenario} on {report.bench}: failed assertions"]
    for v in report.verdicts:
        if not v.passed:
            lines.append(f"  {v.name}: {v.measured} (expected {v.expected})")
            lines.extend(f"      {e}" for e in v.evidence)
    return "\n".join(lines)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--hil-reports``. Tolerates a second call: a conftest that imported this hook (the
    pre-entry-point way to enable the option) next to the registered plugin calls it twice."""
    try:
        parser.addoption(OPTION, metavar="DIR", help="folder for per-run HIL JUnit XML and HTML")
    except ValueError:  # "option names {'--hil-reports'} already added": same option, same meaning
        pass


@pytest.fixture
def hil_run(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Callable[[str | pathlib.Path, str | pathlib.Path], HilReport]:
    """Callable ``(bench_file, scenario_file) -> HilReport`` running the scenario for real."""
    counter = iter(range(1_000_000))

    def run(bench: str | pathlib.Path, scenario: str | pathlib.Path) -> HilReport:
        import asyncio

        from vehicle_mw.hil.report import write_reports
        from vehicle_mw.hil.runner import run_scenario

        report = asyncio.run(run_scenario(bench, scenario, tmp_path / f"run{next(counter)}"))
        folder = _option(request, OPTION)
        if folder:
            out = pathlib.Path(folder)
            out.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{request.node.name}.{report.scenario}")
            write_reports(report, out / f"{stem}.xml", out / f"{stem}.html")
        return report

    return run


def _option(request: pytest.FixtureRequest, name: str) -> str | None:
    try:
        return request.config.getoption(name)
    except ValueError:  # the option was not registered (fixture imported without the hook)
        return None


__all__ = ["hil_run", "pytest_addoption", "report_failures"]

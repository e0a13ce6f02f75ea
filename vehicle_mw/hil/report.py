"""Reports of HIL runs: JUnit XML (one test case per assertion) and a self-contained HTML page.

Both take one report or several (one per scenario run on the same invocation).
"""

from __future__ import annotations

import html
import pathlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from vehicle_mw.hil.plots import svg
from vehicle_mw.hil.runner import HilReport


def _many(reports: HilReport | Sequence[HilReport]) -> list[HilReport]:
    return [reports] if isinstance(reports, HilReport) else list(reports)


def _info_rows(report: HilReport) -> list[tuple[str, str]]:
    i = report.info
    return [
        ("time", i.started),
        ("host", i.host),
        ("vehicle_mw", i.version),
        ("bench", i.bench_file),
        ("bench.sha256", i.bench_sha256),
        ("scenario", i.scenario_file),
        ("scenario.sha256", i.scenario_sha256),
        ("bus_log", i.bus_log),
    ]


def _suite(report: HilReport) -> ET.Element:
    errored = bool(report.error)
    cases = len(report.assertions) if errored else len(report.verdicts)
    suite = ET.Element(
        "testsuite",
        name=f"{report.bench}.{report.scenario}",
        tests=str(cases),
        failures="0" if errored else str(sum(not v.passed for v in report.verdicts)),
        errors=str(cases) if errored else "0",
        time=f"{report.duration_s:.3f}",
        timestamp=report.info.started,
        hostname=report.info.host,
    )
    props = ET.SubElement(suite, "properties")
    for key, value in _info_rows(report):
        ET.SubElement(props, "property", name=key, value=value)
    if errored:  # the bench failed: every assertion is a test case in error, none is a verdict
        for name in report.assertions or ["bench"]:
            case = ET.SubElement(suite, "testcase", classname=f"hil.{report.scenario}", name=name)
            ET.SubElement(
                case, "error", message=f"not run: {report.error}", type="BenchFault"
            ).text = report.error
    for v in report.verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"hil.{report.scenario}", name=v.name)
        detail = "\n".join([f"expected: {v.expected}", f"measured: {v.measured}", *v.evidence])
        if v.passed:
            ET.SubElement(case, "system-out").text = detail
        else:
            failure = ET.SubElement(
                case, "failure", message=f"{v.kind}: {v.measured} (expected {v.expected})"
            )
            failure.text = detail
    ET.SubElement(suite, "system-out").text = "\n".join(f"+{t:9.1f} ms  {s}" for t, s in report.steps)
    return suite


def junit_xml(reports: HilReport | Sequence[HilReport]) -> str:
    """JUnit XML: a suite per scenario, a case per assertion, measured values in the failure text."""
    root = ET.Element("testsuites")
    for report in _many(reports):
        root.append(_suite(report))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.pass{background:#dff5df}.fail{background:#fbdcdc}.verdict{font-weight:bold}
ul{margin:0;padding-left:1.2em}code{font-size:90%}
"""


def _section(report: HilReport) -> str:
    e = html.escape
    verdict = "BENCH ERROR" if report.error else "PASSED" if report.passed else "FAILED"
    rows = []
    for v in report.verdicts:
        evidence = "".join(f"<li>{e(x)}</li>" for x in v.evidence)
        cls = "pass" if v.passed else "fail"
        rows.append(
            f'<tr class="{cls}"><td class="verdict">{"pass" if v.passed else "FAIL"}</td>'
            f"<td>{e(v.name)}</td><td><code>{e(v.kind)}</code></td><td>{e(v.expected)}</td>"
            f"<td>{e(v.measured)}</td><td><ul>{evidence}</ul></td></tr>"
        )
    steps = "".join(f"<tr><td>+{t:.1f} ms</td><td>{e(s)}</td></tr>" for t, s in report.steps)
    info = "".join(
        f"<tr><th>{e(k)}</th><td><code>{e(v or '-')}</code></td></tr>" for k, v in _info_rows(report)
    )
    plots = "".join(f"<h3>{e(p.title)}</h3>{svg(p)}" for p in report.plots)
    plots = f"<h2>Asserted signals</h2>{plots}" if plots else ""
    if report.error:
        summary = (
            f'<p class="fail error">The bench could not run the scenario: <code>{e(report.error)}</code>. '
            f"None of its {len(report.assertions)} assertions was judged.</p>"
        )
    else:
        summary = (
            f"<p>{sum(v.passed for v in report.verdicts)} of {len(report.verdicts)} assertions passed; "
            f"run took {report.duration_s:.1f} s.</p>"
        )
    return (
        f"<h1>{e(report.scenario)} on {e(report.bench)}: "
        f'<span class="{"pass" if report.passed else "fail"}">{verdict}</span></h1>'
        f'{summary}<h2>Run</h2><table class="run">{info}</table>'
        "<h2>Assertions</h2><table><tr><th>verdict</th><th>assertion</th><th>kind</th><th>expected</th>"
        f"<th>measured</th><th>evidence</th></tr>{''.join(rows)}</table>"
        f"{plots}<h2>Timeline</h2><table><tr><th>time</th><th>step</th></tr>{steps}</table>"
    )


def html_report(reports: HilReport | Sequence[HilReport]) -> str:
    """One HTML file, no scripts or external assets: per scenario its verdicts, evidence and timeline."""
    many = _many(reports)
    verdict = (
        "BENCH ERROR" if any(r.error for r in many) else "PASSED" if all(r.passed for r in many) else "FAILED"
    )
    title = ", ".join(html.escape(r.scenario) for r in many)
    body = "<hr>".join(_section(r) for r in many)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>HIL {title}: {verdict}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def write_reports(
    reports: HilReport | Sequence[HilReport],
    junit: pathlib.Path | None = None,
    html_file: pathlib.Path | None = None,
) -> None:
    if junit is not None:
        junit.write_text(junit_xml(reports), encoding="utf-8")
    if html_file is not None:
        html_file.write_text(html_report(reports), encoding="utf-8")


__all__ = ["html_report", "junit_xml", "write_reports"]

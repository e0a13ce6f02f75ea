"""``vmw hil``: run a HIL scenario on a bench and write JUnit XML / HTML reports."""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("hil", help="HIL bench: run scenarios, get verdicts with timing evidence")
    sub = p.add_subparsers(dest="hil_command", required=True)
    run = sub.add_parser("run", help="run a scenario on a bench; exit 0 when every assertion passes")
    run.add_argument("bench", type=pathlib.Path, help="bench file, e.g. hil/benches/body-restbus.yaml")
    run.add_argument(
        "scenarios",
        nargs="+",
        type=pathlib.Path,
        help="scenario file(s), e.g. hil/scenarios/*.yaml (run in order)",
    )
    run.add_argument("--junit", type=pathlib.Path, help="write JUnit XML here")
    run.add_argument("--html", type=pathlib.Path, help="write a self-contained HTML report here")
    run.add_argument("--workdir", type=pathlib.Path, help="keep the gateway database and outbox here")
    run.set_defaults(func=run_command)
    check = sub.add_parser("check", help="validate a bench and/or scenario files without running them")
    check.add_argument("files", nargs="+", type=pathlib.Path)
    check.set_defaults(func=check_command)
    schema = sub.add_parser("schema", help="write the bench/scenario JSON Schemas")
    schema.add_argument("--out", type=pathlib.Path, default=pathlib.Path("manifests/schemas"))
    schema.set_defaults(func=schema_command)


def run_command(args: argparse.Namespace) -> int:
    from vehicle_mw.errors import VehicleMwError
    from vehicle_mw.hil.report import write_reports
    from vehicle_mw.hil.runner import load_bench, load_scenario, run_scenario

    try:  # every file is checked before the first run
        load_bench(args.bench)
        for scenario in args.scenarios:
            load_scenario(scenario)
    except VehicleMwError as exc:
        print(f"vmw hil: {exc}", file=sys.stderr)
        return 2
    reports = []
    for scenario in args.scenarios:
        workdir = args.workdir / scenario.stem if args.workdir and len(args.scenarios) > 1 else args.workdir
        try:
            report = asyncio.run(run_scenario(args.bench, scenario, workdir))
        except VehicleMwError as exc:
            print(f"vmw hil: {exc}", file=sys.stderr)
            return 2
        _print(report)
        reports.append(report)
    write_reports(reports, args.junit, args.html)
    return 0 if all(r.passed for r in reports) else 1


def _print(report) -> None:
    for t, step in report.steps:
        print(f"  +{t:8.1f} ms  {step}")
    for v in report.verdicts:
        print(f"{'PASS' if v.passed else 'FAIL'}  {v.name}: {v.measured} (expected {v.expected})")
        if not v.passed:
            for line in v.evidence:
                print(f"        {line}")
    passed = sum(v.passed for v in report.verdicts)
    print(
        f"{report.scenario} on {report.bench}: {passed}/{len(report.verdicts)} passed "
        f"({'PASSED' if report.passed else 'FAILED'})"
    )


def check_command(args: argparse.Namespace) -> int:
    import yaml

    from vehicle_mw.hil.runner import load_bench, load_scenario
    from vehicle_mw.manifest import ManifestError

    status = 0
    for path in args.files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
            loader = load_scenario if isinstance(data, dict) and "assertions" in data else load_bench
            loader(path)
            print(f"{path}: ok")
        except (ManifestError, yaml.YAMLError) as exc:
            print(exc, file=sys.stderr)
            status = 1
    return status


def schema_command(args: argparse.Namespace) -> int:
    from vehicle_mw.manifest.hil import write_schemas

    args.out.mkdir(parents=True, exist_ok=True)
    for path in write_schemas(args.out):
        print(path)
    return 0

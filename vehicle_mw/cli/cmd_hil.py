"""``vmw hil``: run a HIL scenario on a bench and write JUnit XML / HTML reports."""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import re
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
    run.add_argument(
        "--bus-log",
        choices=("asc", "blf", "none"),
        default="asc",
        help="record the bench buses of each run as <bench>.<scenario>.asc|blf beside the report "
        "(or in --workdir); default asc",
    )
    run.set_defaults(func=run_command)
    check = sub.add_parser(
        "check",
        help="validate bench and scenario files without running them; scenarios are checked against "
        "every bench given (names of ECUs, signals, messages, buses)",
    )
    check.add_argument("files", nargs="+", type=pathlib.Path)
    check.set_defaults(func=check_command)
    schema = sub.add_parser("schema", help="write the bench/scenario JSON Schemas")
    schema.add_argument("--out", type=pathlib.Path, default=pathlib.Path("manifests/schemas"))
    schema.set_defaults(func=schema_command)


EXIT_PASSED, EXIT_FAILED, EXIT_BAD_FILES, EXIT_BENCH_ERROR = 0, 1, 2, 3


def _bus_log(args: argparse.Namespace, bench_name: str, scenario: pathlib.Path) -> pathlib.Path | None:
    if args.bus_log == "none":
        return None
    beside = args.junit or args.html
    folder = beside.parent if beside is not None else args.workdir
    if folder is None:
        return None
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{bench_name}.{scenario.stem}")
    return folder / f"{name}.{args.bus_log}"


def run_command(args: argparse.Namespace) -> int:
    """Exit 0: every assertion passed; 1: an assertion failed; 2: bad files (nothing ran);
    3: the bench failed (infrastructure: a bus that does not open, a DUT that does not start) --
    the reports are still written, with the error."""
    from vehicle_mw.errors import VehicleMwError
    from vehicle_mw.hil.report import write_reports
    from vehicle_mw.hil.runner import BenchFault, check_files, load_bench, run_scenario

    try:  # every file and every name is checked before the first run
        bench = load_bench(args.bench)
        for scenario in args.scenarios:
            check_files(args.bench, scenario)
    except VehicleMwError as exc:
        print(f"vmw hil: {exc}", file=sys.stderr)
        return EXIT_BAD_FILES
    reports = []
    fault = False
    for scenario in args.scenarios:
        workdir = args.workdir / scenario.stem if args.workdir and len(args.scenarios) > 1 else args.workdir
        try:
            report = asyncio.run(
                run_scenario(args.bench, scenario, workdir, _bus_log(args, bench.name, scenario))
            )
        except BenchFault as exc:
            print(f"vmw hil: {exc}", file=sys.stderr)
            reports.append(exc.report)
            fault = True
            break  # the bench is broken: the other scenarios would fail the same way
        except VehicleMwError as exc:
            print(f"vmw hil: {exc}", file=sys.stderr)
            if reports:
                write_reports(reports, args.junit, args.html)
            return EXIT_BAD_FILES
        _print(report)
        reports.append(report)
    write_reports(reports, args.junit, args.html)
    if fault:
        return EXIT_BENCH_ERROR
    return EXIT_PASSED if all(r.passed for r in reports) else EXIT_FAILED


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

    from vehicle_mw.hil.restbus import HilError
    from vehicle_mw.hil.runner import check_files, load_bench, load_scenario
    from vehicle_mw.manifest import ManifestError
    from vehicle_mw.signals import DatabaseError

    status = 0
    benches, scenarios = [], []
    for path in args.files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
            is_scenario = isinstance(data, dict) and "assertions" in data
            (load_scenario if is_scenario else load_bench)(path)
            (scenarios if is_scenario else benches).append(path)
            print(f"{path}: ok")
        except (ManifestError, yaml.YAMLError) as exc:
            print(exc, file=sys.stderr)
            status = 1
    for scenario in scenarios:  # names a scenario uses must exist on a bench it can run on
        errors = []
        for bench in benches:
            try:
                check_files(bench, scenario)
                print(f"{scenario}: names ok on {bench}")
                break
            except (HilError, ManifestError, DatabaseError) as exc:
                errors.append(f"{exc} (on {bench})")
        else:
            for line in errors:
                print(line, file=sys.stderr)
            status = 1 if errors else status
    if scenarios and not benches:
        print("names not checked: give the bench file too (vmw hil check BENCH SCENARIO...)", file=sys.stderr)
    return status


def schema_command(args: argparse.Namespace) -> int:
    from vehicle_mw.manifest.hil import write_schemas

    args.out.mkdir(parents=True, exist_ok=True)
    for path in write_schemas(args.out):
        print(path)
    return 0

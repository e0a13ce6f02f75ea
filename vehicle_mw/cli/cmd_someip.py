"""``vmw someip``: check a service-instance manifest, consume a service, or offer one."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("someip", help="SOME/IP services from service-instance manifests")
    sub = p.add_subparsers(dest="someip_cmd", required=True)

    check = sub.add_parser("check", help="validate a manifest and show its service")
    check.add_argument("manifest")
    check.set_defaults(func=run_check)

    schema = sub.add_parser("schema", help="print the JSON Schema of service-instance manifests")
    schema.set_defaults(func=run_schema)

    imp = sub.add_parser(
        "import-arxml", help="write manifests from ARXML service interfaces + SOME/IP deployments"
    )
    imp.add_argument("arxml", nargs="+", help="ARXML files (interfaces, deployments, data types)")
    imp.add_argument("-o", "--out", default=".", help="folder for the <service>.yaml files")
    imp.set_defaults(func=run_import)

    consume = sub.add_parser("consume", help="find, subscribe and print decoded samples")
    consume.add_argument("manifest")
    consume.add_argument("--interface", required=True, help="local IPv4 address (SD and endpoints)")
    consume.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until Ctrl-C)")
    consume.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the service")
    consume.set_defaults(func=run_consume)

    provide = sub.add_parser(
        "provide", help="offer the service (fields served; methods answer E_UNKNOWN_METHOD)"
    )
    provide.add_argument("manifest")
    provide.add_argument("--interface", required=True, help="local IPv4 address (SD and endpoints)")
    provide.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until Ctrl-C)")
    provide.set_defaults(func=run_provide)


def _load(path: str) -> Any:
    from vehicle_mw.manifest import load_manifest
    from vehicle_mw.manifest.someip import SomeIpService

    return load_manifest(path, SomeIpService)


def _type_problems(svc: Any) -> list[tuple[str, str]]:
    """Every type of the service compiled as the runtime will: (where, why) of those that cannot."""
    from vehicle_mw.someip.codec import CodecError, build_codec

    refs = [(f"event {e.name}", e.type) for e in svc.events]
    refs += [
        (f"method {m.name} {part}", getattr(m, part)) for m in svc.methods for part in ("request", "response")
    ]
    refs += [(f"field {f.name}", f.type) for f in svc.fields]
    out = []
    for where, ref in refs:
        try:
            build_codec(ref, svc.types, svc.byte_order)
        except CodecError as exc:
            out.append((where, str(exc)))
    return out


def run_check(args: argparse.Namespace) -> int:
    from vehicle_mw.manifest import ManifestError

    try:
        svc = _load(args.manifest)
    except ManifestError as exc:
        print(exc, file=sys.stderr)
        return 2
    problems = _type_problems(svc)
    for where, why in problems:
        print(f"{args.manifest}: {where}: {why}", file=sys.stderr)
    if problems:
        return 2
    print(
        f"{svc.name}: service {svc.service_id:#06x} instance {svc.instance_id:#06x} "
        f"v{svc.major_version}.{svc.minor_version}, SD {svc.sd.multicast_address}:{svc.sd.port}"
    )
    for e in svc.events:
        print(f"  event  {e.id:#06x} {e.name} ({e.protocol}) -> {len(e.signals)} signals")
    for m in svc.methods:
        print(f"  method {m.id:#06x} {m.name} ({m.protocol})")
    for f in svc.fields:
        print(f"  field  {f.name}: getter={f.getter} setter={f.setter} notifier={f.notifier}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    import pathlib

    import yaml

    from vehicle_mw.manifest import ManifestError, parse_manifest
    from vehicle_mw.manifest.someip import SomeIpService
    from vehicle_mw.someip.arxml import ArxmlError, import_arxml

    try:
        manifests = import_arxml(args.arxml)
    except ArxmlError as exc:
        print(exc, file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for data in manifests:
        path = out / f"{data['name']}.yaml"
        try:
            parse_manifest(data, SomeIpService, str(path))
        except ManifestError as exc:  # the ARXML itself is inconsistent (e.g. ids used twice)
            print(exc, file=sys.stderr)
            failed += 1
            continue
        header = "# imported from ARXML by `vmw someip import-arxml`; set instance_id and the endpoints\n"
        path.write_text(header + yaml.safe_dump(data, sort_keys=False))
        print(f"wrote {path}")
    return 1 if failed else 0


def run_schema(args: argparse.Namespace) -> int:
    from vehicle_mw.manifest.someip import SomeIpService

    print(json.dumps(SomeIpService.model_json_schema(), indent=2, sort_keys=True))
    return 0


async def _until_stopped(duration: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), duration if duration > 0 else None)
    except TimeoutError:
        pass


def run_consume(args: argparse.Namespace) -> int:
    from vehicle_mw.someip import SomeIpRuntime
    from vehicle_mw.someip.samples import samples_to_values

    svc = _load(args.manifest)
    names = {
        s.signal_id: s.vss or f"{e.name}.{s.path}" for e in [*svc.events, *svc.fields] for s in e.signals
    }

    class PrintSink:
        def push_batch(self, buf: memoryview) -> None:
            import numpy as np

            from vehicle_mw.native.records import SAMPLE_DTYPE

            rec = np.frombuffer(bytes(buf), SAMPLE_DTYPE)
            for sid, value in samples_to_values(rec).items():
                print(f"{int(rec['timestamp_ns'][-1])} {names.get(sid, sid)} = {value}", flush=True)

    async def main() -> int:
        async with SomeIpRuntime(args.interface) as rt:
            consumer = await rt.consume(svc, PrintSink())
            await consumer.wait_available(args.timeout)
            await _until_stopped(args.duration)
            print(
                f"events {consumer.stats.events}, dropped {dict(consumer.stats.dropped)}, "
                f"lost {consumer.lost_count}",
                file=sys.stderr,
            )
        return 0

    return asyncio.run(main())


def run_provide(args: argparse.Namespace) -> int:
    from vehicle_mw.someip import SomeIpRuntime

    svc = _load(args.manifest)

    async def main() -> int:
        async with SomeIpRuntime(args.interface) as rt:
            await rt.provide(svc)
            print(f"offering {svc.name} on {args.interface}:{svc.endpoint.port}", file=sys.stderr)
            await _until_stopped(args.duration)
        return 0

    return asyncio.run(main())

"""``vmw demo``: replay a real CAN trace through the runtime into a local gateway (``make run``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib

DEFAULT_WORKDIR = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "vmw-demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    import fastapi  # noqa: F401 - needs the gateway extra

    p = subparsers.add_parser("demo", help="end-to-end demo: CAN trace -> runtime -> gateway + dashboard")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = the trace's own timing)")
    p.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="manifests, outbox, database, dev PKI")
    p.add_argument("--http-port", type=int, default=7400, help="dashboard port (0: any free port)")
    p.add_argument("--no-tls", action="store_true", help="plaintext loopback, no vehicle certificate")
    p.add_argument(
        "--impair-at",
        type=float,
        default=10.0,
        metavar="S",
        help="make the gRPC link bad S seconds after start (skipped if --duration leaves no time to recover)",
    )
    p.add_argument(
        "--impair-for", type=float, default=15.0, metavar="S", help="how long the gRPC link is bad"
    )
    p.add_argument("--no-impair", action="store_true", help="keep both links clean")
    p.add_argument("--deployment", default="vmw-demo", help="deployment name (ring names /vmw.<name>.*)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vehicle_mw.demo import DemoOptions, ImpairmentScript, run_demo

    opts = DemoOptions(
        workdir=pathlib.Path(args.workdir),
        duration_s=args.duration,
        speed=args.speed,
        http_port=args.http_port,
        tls=not args.no_tls,
        script=ImpairmentScript(None if args.no_impair else args.impair_at, args.impair_for),
        deployment=args.deployment,
    )
    report = asyncio.run(run_demo(opts))
    lost = report.samples - report.stored_samples
    moves = ", ".join(f"{e.from_transport or 'none'}->{e.to_transport}" for e in report.switches) or "none"
    print(
        f"{report.samples} samples decoded, {report.stored_samples} stored at the gateway "
        f"({report.database}); link switches: {moves}; "
        f"{'nothing lost' if lost == 0 else f'{lost} not yet delivered'}"
    )
    return 0 if lost == 0 else 1

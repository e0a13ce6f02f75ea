"""``vmw channel``: run the vehicle uplink from a channel file, inspect an outbox, print the schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

SCHEMA_FILE = "manifests/schemas/channel.schema.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("channel", help="vehicle-cloud channel: run the uplink, inspect the outbox")
    sub = p.add_subparsers(dest="channel_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="deliver the outbox to the gateway until Ctrl-C")
    run.add_argument("config", help="channel file (YAML, see manifests/channel.example.yaml)")
    run.add_argument(
        "--synthetic",
        type=float,
        default=0.0,
        metavar="SAMPLES_PER_S",
        help="append synthetic samples at this rate (smoke test without a bus)",
    )
    run.add_argument(
        "--for", dest="duration", type=float, default=0.0, metavar="S", help="stop after S seconds"
    )
    run.set_defaults(func=run_uplink)
    check = sub.add_parser("check", help="validate a channel file")
    check.add_argument("config")
    check.set_defaults(func=run_check)
    outbox = sub.add_parser("outbox", help="show what an outbox folder holds")
    outbox.add_argument("directory")
    outbox.set_defaults(func=run_outbox)
    schema = sub.add_parser("schema", help="print the JSON Schema of channel files")
    schema.set_defaults(func=run_schema)


def channel_schema() -> dict:
    from vehicle_mw.manifest.channel import ChannelConfig

    return ChannelConfig.model_json_schema()


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(channel_schema(), indent=2, sort_keys=True))
    return 0


def run_check(args: argparse.Namespace) -> int:
    from vehicle_mw.manifest import load_manifest
    from vehicle_mw.manifest.channel import ChannelConfig

    cfg = load_manifest(args.config, ChannelConfig)
    print(
        f"{args.config}: ok: vehicle {cfg.vehicle_id}, grpc {cfg.grpc_target or '-'}, "
        f"websocket {cfg.websocket_url or '-'}, prefer {cfg.policy.prefer}, outbox {cfg.outbox.directory}"
    )
    return 0


def run_outbox(args: argparse.Namespace) -> int:
    import dataclasses
    import os
    import sys

    from vehicle_mw.store import Outbox

    if not os.path.isdir(args.directory):  # inspecting must not create an empty outbox
        print(f"vmw: error: {args.directory}: no such outbox folder", file=sys.stderr)
        return 2
    with Outbox(args.directory) as box:
        st = box.stats()
    for key, value in dataclasses.asdict(st).items():
        print(f"{key:16} {value}")
    return 0


def run_uplink(args: argparse.Namespace) -> int:
    from vehicle_mw.manifest import load_manifest
    from vehicle_mw.manifest.channel import ChannelConfig

    cfg = load_manifest(args.config, ChannelConfig)
    try:
        asyncio.run(_run(cfg, args.synthetic, args.duration))
    except KeyboardInterrupt:
        pass
    return 0


async def _run(cfg, rate: float, duration: float) -> None:
    import numpy as np

    from vehicle_mw.channel import Uplink
    from vehicle_mw.native.records import SAMPLE_DTYPE
    from vehicle_mw.store import Outbox

    outbox = Outbox(cfg.outbox.directory, cfg.outbox)
    uplink = Uplink(cfg, outbox)
    task = asyncio.create_task(uplink.run())
    start = time.monotonic()
    sent = 0
    try:
        while not duration or time.monotonic() - start < duration:
            await asyncio.sleep(1.0)
            if rate > 0:
                due = int((time.monotonic() - start) * rate) - sent
                s = np.zeros(due, SAMPLE_DTYPE)
                s["source_seq"] = np.arange(sent, sent + due)
                s["timestamp_ns"] = time.time_ns()
                outbox.append(s)
                sent += due
            links = "  ".join(
                f"{n}: {'up' if v.up else 'down'} rtt {v.srtt_ms:.1f} ms loss {v.loss:.2f}"
                for n, v in uplink.links().items()
            )
            print(
                f"active {uplink.active or '-':9} backlog {uplink.backlog:6} acked {uplink.acked_seq:8} "
                f"switches {uplink.switches:3}  {links}",
                flush=True,
            )
    finally:
        uplink.stop()
        await task
        outbox.close()

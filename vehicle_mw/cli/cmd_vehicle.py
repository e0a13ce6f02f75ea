"""``vmw vehicle run|status``: the vehicle runtime from manifests, in the foreground; its counters."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("vehicle", help="run the vehicle runtime from manifests, or show its counters")
    sub = p.add_subparsers(dest="vehicle_command", metavar="{run,status}", required=True)
    run_p = sub.add_parser("run", help="bus readers -> decoder -> outbox -> uplink, until SIGINT/SIGTERM")
    run_p.add_argument("--machine", required=True, help="machine manifest (buses, SOME/IP services, runtime)")
    run_p.add_argument("--channel", help="channel manifest (default: the machine manifest's runtime.channel)")
    run_p.add_argument("--execution", help="execution manifest: one supervised process per stage")
    run_p.add_argument("--metrics-port", type=int, help="Prometheus port (default: runtime.metrics_port)")
    run_p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default: manifest")
    run_p.add_argument("--quiet", action="store_true", help="no live summary (logs only)")
    run_p.set_defaults(func=run)
    st = sub.add_parser("status", help="per-stage counters of the running runtime")
    st.add_argument("--machine", required=True, help="machine manifest of the running deployment")
    st.add_argument("--json", action="store_true", help="the raw counters as JSON")
    st.set_defaults(func=status)


def run(args: argparse.Namespace) -> int:
    from vehicle_mw.exec import SystemdNotifier
    from vehicle_mw.runtime import VehicleRuntime, configure_logging, load_deployment
    from vehicle_mw.runtime.metrics import serve_metrics
    from vehicle_mw.runtime.summary import LiveSummary

    dep = load_deployment(args.machine, args.channel)
    configure_logging(args.log_level or dep.machine.runtime.log_level)
    rt = VehicleRuntime(dep, args.execution)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    notifier = SystemdNotifier() if args.execution is None else None  # process mode: the manager notifies
    rt.start()
    metrics = None
    port = args.metrics_port if args.metrics_port is not None else dep.machine.runtime.metrics_port
    try:
        if port is not None:
            metrics, bound = serve_metrics(rt.counters, dep.name, port, dep.machine.runtime.metrics_address)
            print(f"metrics    http://{dep.machine.runtime.metrics_address}:{bound}/metrics", flush=True)
        if notifier is not None:
            notifier.ready(f"vehicle runtime {dep.name}: {len(dep.buses)} buses")
        period = (notifier.watchdog_interval if notifier is not None else None) or 0.5
        with LiveSummary(f"vehicle_mw {dep.name} ({rt.mode})", quiet=args.quiet).live(rt.counters):
            while not stop.wait(min(period, 0.5)):
                if rt.error is not None:
                    break
                if notifier is not None:
                    notifier.watchdog()
    finally:
        if notifier is not None:
            notifier.stopping("draining the rings and the outbox")
        if metrics is not None:
            metrics.shutdown()
        rt.stop()
    if rt.error is not None:
        print(f"vmw: error: {rt.error}", file=sys.stderr)
        return 1
    return 0


def status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from vehicle_mw.manifest import load_manifest
    from vehicle_mw.manifest.machine import MachineManifest
    from vehicle_mw.runtime import read_counters
    from vehicle_mw.runtime.deployment import Deployment
    from vehicle_mw.runtime.summary import table

    machine = load_manifest(args.machine, MachineManifest)
    state_dir = Deployment.state_dir_of(machine, args.machine)
    docs = read_counters(state_dir)
    if args.json:
        print(json.dumps(docs, indent=2))
        return 0 if docs else 1
    if not docs:
        print(f"vmw: no runtime counters in {state_dir} (is `vmw vehicle run` running?)", file=sys.stderr)
        return 1
    stale = [
        f"{name} ({'not running' if not d['running'] else str(round(d['age_s'])) + ' s old'})"
        for name, d in docs.items()
        if not d["running"] or d["age_s"] > 5
    ]
    Console().print(table({n: d["counters"] for n, d in docs.items()}, f"vehicle_mw {state_dir.name}"))
    if stale:
        print("stale stages: " + ", ".join(stale))
    return 0

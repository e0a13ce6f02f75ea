"""``vmw linkproxy``: run a link impairment proxy, and change its impairment at runtime."""

from __future__ import annotations

import argparse
import asyncio
import json

from vehicle_mw.errors import VehicleMwError

SETTINGS = (
    "delay_ms",
    "jitter_ms",
    "bandwidth_kbps",
    "loss",
    "loss_penalty_ms",
    "stall",
    "blackhole",
    "refuse",
)


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("linkproxy", help="TCP proxy impairing a link (delay, loss, cut, half-open)")
    sub = p.add_subparsers(dest="linkproxy_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="run a proxy until Ctrl-C")
    serve.add_argument("--listen", type=_hostport, required=True, metavar="HOST:PORT")
    serve.add_argument("--upstream", type=_hostport, required=True, metavar="HOST:PORT")
    serve.add_argument(
        "--control", type=int, default=0, metavar="PORT", help="control port (default: any free)"
    )
    serve.add_argument("--name", default="link")
    serve.set_defaults(func=run_serve)
    for action, help_text in (
        ("set", "change settings: KEY=VALUE ... (" + ", ".join(SETTINGS) + ")"),
        ("clear", "remove every impairment"),
        ("cut", "abort every connection"),
        ("restore", "accept connections again after cut --refuse"),
        ("status", "print the proxy's state"),
    ):
        a = sub.add_parser(action, help=help_text)
        a.add_argument("--control", type=_hostport, required=True, metavar="HOST:PORT")
        if action == "set":
            a.add_argument("settings", nargs="+", metavar="KEY=VALUE")
        if action == "cut":
            a.add_argument("--refuse", action="store_true", help="also refuse new connections until restore")
        a.set_defaults(func=run_control, action=action)


def _parse_setting(text: str) -> tuple[str, float | bool]:
    key, sep, value = text.partition("=")
    if not sep or key not in SETTINGS:
        raise VehicleMwError(
            f"linkproxy set: {text!r}: expected KEY=VALUE with KEY one of {', '.join(SETTINGS)}"
        )
    if key in ("stall", "blackhole", "refuse"):
        if value.lower() not in ("1", "0", "true", "false", "on", "off"):
            raise VehicleMwError(f"linkproxy set: {key} takes on/off, got {value!r}")
        return key, value.lower() in ("1", "true", "on")
    try:
        return key, float(value)
    except ValueError:
        raise VehicleMwError(f"linkproxy set: {key} needs a number, got {value!r}") from None


def run_control(args: argparse.Namespace) -> int:
    from vehicle_mw.hil.link_proxy import control_request

    request: dict = {"cmd": args.action}
    if args.action == "set":
        request.update(dict(_parse_setting(s) for s in args.settings))
    if args.action == "cut":
        request["refuse"] = args.refuse
    reply = asyncio.run(control_request(*args.control, request))
    reply.pop("ok", None)
    print(json.dumps(reply, indent=2))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from vehicle_mw.hil.link_proxy import LinkProxy

    async def serve() -> None:
        proxy = LinkProxy(
            *args.upstream, listen_host=args.listen[0], listen_port=args.listen[1], name=args.name
        )
        await proxy.start(control_port=args.control)
        print(
            f"linkproxy {args.name}: {args.listen[0]}:{proxy.port} -> {args.upstream[0]}:{args.upstream[1]}, "
            f"control port {proxy.control_port}",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await proxy.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0

"""``vmw state``: show a running `vmw run`'s applications, or switch a function group's state."""

from __future__ import annotations

import argparse
import json
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("state", help="show or switch function-group states of a running `vmw run`")
    p.add_argument("--socket", default=None, help="control socket (default: $VMW_CONTROL_SOCKET or /run/...)")
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("show", help="function groups and application states (default)")
    sw = sub.add_parser("switch", help="switch a function group to another state")
    sw.add_argument("group")
    sw.add_argument("state")
    ev = sub.add_parser("events", help="decisions taken so far, with reasons")
    ev.add_argument("--since", type=int, default=0, help="skip the first N events")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vehicle_mw.exec import DEFAULT_SOCKET, request

    path = args.socket or os.environ.get("VMW_CONTROL_SOCKET", DEFAULT_SOCKET)
    action = args.action or "show"
    if action == "switch":
        reply = request(path, {"cmd": "switch", "group": args.group, "state": args.state})
        print(f"{args.group} -> {args.state} requested")
        return 0
    if action == "events":
        reply = request(path, {"cmd": "events", "since": args.since})
        if args.json:
            print(json.dumps(reply["events"], indent=2))
        for e in reply["events"]:
            if not args.json:
                print(f"{e['t']:12.3f}  {e['subject']:<16} {e['action']:<18} {e['reason']}")
        return 0
    reply = request(path, {"cmd": "status"})
    if args.json:
        print(json.dumps(reply, indent=2))
        return 0
    print(f"machine {reply['machine']}  healthy={reply['healthy']}")
    for group, state in reply["groups"].items():
        print(f"  function group {group}: {state}")
    for name, app in reply["apps"].items():
        print(f"  {name:<20} {app['state']:<10} pid={app['pid']} restarts={app['restarts']}")
    return 0

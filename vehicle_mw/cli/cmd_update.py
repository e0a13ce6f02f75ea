"""``vmw update``: the Image repository, the Director and their HTTP server (docs/updates.md)."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("update", help="secure updates: Image repository, Director, serving")
    p.add_argument(
        "--repo",
        default=os.environ.get("VMW_UPDATE_REPO", "update-repo"),
        help="repository folder with image/ and director/ (default $VMW_UPDATE_REPO or ./update-repo)",
    )
    p.add_argument(
        "--keys",
        default=os.environ.get("VMW_UPDATE_KEYS"),
        help="Image repository key folder, can be kept offline (default $VMW_UPDATE_KEYS or REPO/image-keys)",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION")

    keys_p = sub.add_parser("keys", help="create or rotate keys")
    keys = keys_p.add_subparsers(dest="keys_action", metavar="KEYS")
    keys.add_parser("init", help="keys and first metadata of the Image repository and the Director")
    rot = keys.add_parser("rotate", help="replace one role's key (a new root lists it)")
    rot.add_argument("role", choices=("root", "targets", "snapshot", "timestamp"))
    rot.add_argument("--director", action="store_true", help="the Director's key, not the Image repo's")

    pub = sub.add_parser("publish", help="sign a package or configuration file in the Image repository")
    pub.add_argument("package")
    pub.add_argument("--hardware-id", required=True, help="hardware id of the ECUs it is for")
    pub.add_argument("--release", required=True, type=int, help="release counter (must exceed the last one)")
    pub.add_argument("--kind", default="app", choices=("app", "manifest", "database", "campaign"))
    pub.add_argument("--name", default=None, help="what it replaces on the vehicle (default: file name stem)")

    veh = sub.add_parser("vehicle", help="register vehicles with the Director").add_subparsers(
        dest="vehicle_action", metavar="VEHICLE"
    )
    add = veh.add_parser("add", help="register (or update) a vehicle: its report key and ECUs")
    add.add_argument("vehicle_id")
    add.add_argument("--public-key", required=True, help="PEM file of the vehicle's Ed25519 report key")
    add.add_argument("--ecu", action="append", required=True, metavar="SERIAL=HARDWARE_ID")

    asg = sub.add_parser("assign", help="instruct vehicles to install a target")
    asg.add_argument("target", help="target path as printed by publish (NAME/RELEASE/FILE)")
    who = asg.add_mutually_exclusive_group(required=True)
    who.add_argument("--vehicles", help="comma-separated vehicle ids")
    who.add_argument("--select", help="all | hardware_id=HW | vehicle=GLOB")

    sub.add_parser("timestamp", help="fresh timestamps (Image repository and every vehicle's Director chain)")
    st = sub.add_parser("status", help="per vehicle: assigned, installed, attack indicator")
    st.add_argument("--json", action="store_true")
    roots = sub.add_parser("roots", help="write the trusted roots vehicles are provisioned with")
    roots.add_argument("out", help="folder for director-root.json and image-root.json")
    srv = sub.add_parser("serve", help="serve both repositories over HTTP (tools, tests)")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=7410)
    p.set_defaults(func=run, _parser=p)


def run(args: argparse.Namespace) -> int:
    from vehicle_mw.update import Director, ImageRepository, KeyDir

    repo = pathlib.Path(args.repo)
    keys = KeyDir(args.keys or repo / "image-keys")
    image = ImageRepository(repo / "image", keys)
    director = Director(repo / "director")
    action = args.action
    if action == "keys" and args.keys_action == "init":
        image.init()
        director.init()
        print(f"image repository {image.path} (keys in {keys.path}); director {director.path}")
    elif action == "keys" and args.keys_action == "rotate":
        version = director.rotate(args.role) if args.director else image.rotate(args.role)
        print(f"{'director' if args.director else 'image'} {args.role} key rotated; root v{version}")
    elif action == "publish":
        info = image.publish(args.package, args.hardware_id, args.release, args.kind, args.name)
        print(info.path)
    elif action == "vehicle" and args.vehicle_action == "add":
        from vehicle_mw.update.errors import UpdateError

        ecus = {}
        for item in args.ecu:
            serial, sep, hw = item.partition("=")
            if not sep or not serial or not hw:
                raise UpdateError(f"--ecu {item!r}: expected SERIAL=HARDWARE_ID")
            ecus[serial] = hw
        pem = pathlib.Path(args.public_key).read_text()
        director.register(args.vehicle_id, pem, ecus)
        print(f"vehicle {args.vehicle_id} registered ({', '.join(f'{s}={h}' for s, h in ecus.items())})")
    elif action == "assign":
        vehicles = args.vehicles.split(",") if args.vehicles else director.select(args.select)
        done = director.assign([v.strip() for v in vehicles if v.strip()], args.target, image)
        print(f"{args.target} assigned to {len(done)} vehicle(s): {', '.join(done)}")
    elif action == "timestamp":
        version = image.resign_timestamp()
        n = director.resign_timestamps()
        print(f"image timestamp v{version}; {n} director timestamp(s)")
    elif action == "status":
        status = director.status()
        if args.json:
            print(json.dumps(status, indent=2, sort_keys=True))
        elif not status:
            print("no vehicles registered (vmw update vehicle add)")
        for vid, s in sorted(status.items()):
            if args.json:
                break
            attack = f" ATTACK: {s['attack']['reason']}" if s["attack"] else ""
            print(f"{vid:<20} {s['state']:<10} report #{s['counter']}{attack}")
            for slot, a in sorted(s["assigned"].items()):
                print(f"  {slot:<30} assigned r{a['release']}  installed r{s['installed'].get(slot, '-')}")
    elif action == "roots":
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "director-root.json").write_bytes(director.root_bytes())
        (out / "image-root.json").write_bytes(image.root_bytes())
        print(f"trusted roots written to {out}")
    elif action == "serve":
        from vehicle_mw.update import UpdateServer

        server = UpdateServer(repo, args.host, args.port)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print(f"serving {repo} at {server.url}", flush=True)
        try:
            server.serve_forever()
        finally:
            server.stop()
    else:
        args._parser.print_help()
        return 2
    return 0

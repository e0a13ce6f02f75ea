"""``vmw campaign``: schema, keygen, sign, verify, push, list and dry-run of data-collection campaigns."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import sys
import urllib.error
import urllib.parse
import urllib.request

PUSH_TIMEOUT_S = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "campaign", help="data-collection campaigns: schema, sign, verify, push, list, dry-run"
    )
    sub = p.add_subparsers(dest="campaign_command", metavar="ACTION", required=True)

    s = sub.add_parser("schema", help="print the JSON Schema of a campaign document")
    s.set_defaults(func=_schema)

    k = sub.add_parser("keygen", help="write a new Ed25519 key pair (operator key: keep it offline)")
    k.add_argument("--out", required=True, help="private key PEM path; the public key goes to OUT.pub")
    k.set_defaults(func=_keygen)

    g = sub.add_parser("sign", help="validate a campaign document and write its signed envelope")
    g.add_argument("campaign", help="campaign YAML/JSON (one campaign)")
    g.add_argument("--key", required=True, help="Ed25519 private key PEM")
    g.add_argument("--out", default=None, help="output path (default: CAMPAIGN.signed.json)")
    g.set_defaults(func=_sign)

    v = sub.add_parser("verify", help="check a signed envelope against a public key")
    v.add_argument("signed", help="signed envelope (JSON)")
    v.add_argument(
        "--pub", action="append", required=True, help="trusted Ed25519 public key PEM (repeatable)"
    )
    v.set_defaults(func=_verify)

    u = sub.add_parser(
        "push", help="send a signed campaign to a connected vehicle through the gateway's command API"
    )
    u.add_argument("signed", help="signed envelope (vmw campaign sign)")
    u.add_argument(
        "--vehicle", required=True, action="append", help="vehicle id (repeat for several, one push each)"
    )
    u.add_argument(
        "--gateway",
        default=os.environ.get("VMW_GATEWAY_URL"),
        help="gateway HTTP API base URL, e.g. https://gw:8080 (default: $VMW_GATEWAY_URL)",
    )
    u.add_argument(
        "--token-file",
        help="file holding an operator API token (vmw gateway operator token); default: $VMW_TOKEN",
    )
    u.add_argument("--ca-file", help="CA certificate to verify an https gateway with")
    u.set_defaults(func=_push)

    li = sub.add_parser("list", help="the campaigns a vehicle accepted (its state folder), with counters")
    where = li.add_mutually_exclusive_group(required=True)
    where.add_argument("--machine", help="machine manifest of the deployment (its state folder is used)")
    where.add_argument(
        "--state-dir",
        help="the deployment's state folder (runtime.state_dir/<deployment>, where vmw vehicle status reads)",
    )
    li.add_argument("--json", action="store_true", help="print the list as JSON")
    li.set_defaults(func=_list)

    d = sub.add_parser(
        "dry-run", help="run campaigns over a recorded trace and report what they would upload"
    )
    d.add_argument("campaigns", nargs="+", help="campaign YAML/JSON files")
    d.add_argument("--db", action="append", required=True, help="signal database (repeat for several)")
    d.add_argument("--log", required=True, help="CAN log file")
    d.add_argument("--json", action="store_true", help='print {"campaigns": [...]} as JSON')
    d.add_argument("--html", default="campaign-dryrun.html", help="HTML report path (without --json)")
    d.add_argument("--non-strict", action="store_true", help="load databases with cantools strict=False")
    d.add_argument("--j1939", action="store_true", help="match extended ids by J1939 PGN")
    d.add_argument("--memory-limit", type=int, default=256 << 20, help="bytes of campaign state allowed")
    d.add_argument(
        "--outbox-bytes",
        type=int,
        default=None,
        help="also show what an outbox of this many bytes would evict by priority (vehicle offline)",
    )
    d.set_defaults(func=_dry_run)


def _schema(args: argparse.Namespace) -> int:
    from vehicle_mw.campaign import campaign_schema

    print(json.dumps(campaign_schema(), indent=2))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from vehicle_mw.campaign.signing import generate_key, key_id, private_key_pem, public_key_pem

    key = generate_key()
    out = pathlib.Path(args.out)
    out.write_bytes(private_key_pem(key))
    out.chmod(0o600)
    pathlib.Path(f"{out}.pub").write_bytes(public_key_pem(key.public_key()))
    print(f"key {key_id(key.public_key())}: private {out}, public {out}.pub")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from vehicle_mw.campaign import CampaignError, document_sha256, load_campaigns
    from vehicle_mw.campaign.signing import load_private_key, sign

    campaigns = load_campaigns(args.campaign)
    if len(campaigns) != 1:
        raise CampaignError("sign takes a file with one campaign", file=args.campaign)
    out = pathlib.Path(args.out or pathlib.Path(args.campaign).with_suffix(".signed.json"))
    out.write_bytes(sign(campaigns[0], load_private_key(args.key)))
    c = campaigns[0]
    print(f"{out}: campaign {c.name} version {c.version} sha256 {document_sha256(c)}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from vehicle_mw.campaign.signing import SignatureError, load_public_key, verify

    keys = [load_public_key(p) for p in args.pub]
    try:
        signed = verify(pathlib.Path(args.signed).read_bytes(), keys)
    except SignatureError as exc:
        print(f"vmw: refused ({exc.code}): {exc}", file=sys.stderr)
        return 1
    c = signed.campaign
    print(f"ok: campaign {c.name} version {c.version} key {signed.key_id} sha256 {signed.sha256}")
    return 0


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        try:
            return pathlib.Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(f"vmw: --token-file {args.token_file}: {exc.strerror}") from None
    token = os.environ.get("VMW_TOKEN", "").strip()
    if not token:
        raise SystemExit("vmw: no operator token: give --token-file or set $VMW_TOKEN")
    return token


def _push(args: argparse.Namespace) -> int:
    """POST /api/vehicles/{id}/commands {"kind": "campaign", "payload": <envelope>} per vehicle; exit
    0 all accepted, 1 one refused (its reason printed), 2 one the gateway did not deliver to."""
    from vehicle_mw.campaign.signing import FORMAT, MAX_SIGNED_BYTES

    if not args.gateway:
        raise SystemExit("vmw: no gateway: give --gateway URL or set $VMW_GATEWAY_URL")
    path = pathlib.Path(args.signed)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SystemExit(f"vmw: {path}: {exc.strerror}") from None
    if len(raw) > MAX_SIGNED_BYTES:
        raise SystemExit(f"vmw: {path}: larger than {MAX_SIGNED_BYTES} bytes")
    try:
        envelope = json.loads(raw)
    except ValueError as exc:
        raise SystemExit(f"vmw: {path}: not JSON ({exc})") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise SystemExit(f"vmw: {path}: not a {FORMAT} envelope (vmw campaign sign writes one)")
    body = json.dumps({"kind": "campaign", "payload": envelope}).encode()
    token = _token(args)
    context = None
    if args.ca_file:
        import ssl

        context = ssl.create_default_context(cafile=args.ca_file)
    return max(_push_one(args.gateway, vehicle, body, token, context) for vehicle in args.vehicle)


def _push_one(gateway: str, vehicle: str, body: bytes, token: str, context) -> int:
    url = f"{gateway.rstrip('/')}/api/vehicles/{urllib.parse.quote(vehicle, safe='')}/commands"
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=PUSH_TIMEOUT_S, context=context) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        print(f"vmw: {vehicle}: gateway {gateway}: HTTP {exc.code}: {detail}", file=sys.stderr)
        return 2
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"vmw: {vehicle}: gateway {gateway}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 2
    try:
        verdict = json.loads(answer.get("detail", ""))
    except (ValueError, AttributeError):
        verdict = {"reason": "?", "message": str(answer)}
    if answer.get("ok"):
        print(
            f"accepted by {vehicle}: campaign {verdict.get('campaign')} "
            f"version {verdict.get('version')} sha256 {verdict.get('sha256')}"
        )
        return 0
    print(f"vmw: refused by {vehicle} ({verdict.get('reason')}): {verdict.get('message')}", file=sys.stderr)
    return 1


def _list(args: argparse.Namespace) -> int:
    from vehicle_mw.campaign import CampaignError
    from vehicle_mw.campaign.signing import SignatureError, load_public_key, verify
    from vehicle_mw.runtime import counters as counter_files
    from vehicle_mw.runtime.campaigns import CAMPAIGNS_DIR, KEYS_DIR

    if args.machine:
        from vehicle_mw.manifest import load_manifest
        from vehicle_mw.manifest.machine import MachineManifest
        from vehicle_mw.runtime.deployment import Deployment

        state = Deployment.state_dir_of(load_manifest(args.machine, MachineManifest), args.machine)
    else:
        state = pathlib.Path(args.state_dir)
    if not state.is_dir():
        raise SystemExit(f"vmw: state folder {state}: no such folder (has the runtime run?)")
    keys = []
    for pem in sorted((state / KEYS_DIR).glob("*.pem")):
        try:
            keys.append(load_public_key(pem))
        except CampaignError:
            pass
    live = counter_files.read_all(state).get("uplink", {}).get("counters", {}).get("campaigns", {})
    now = dt.datetime.now(dt.UTC)
    rows = []
    for path in sorted((state / CAMPAIGNS_DIR).glob("*.json")):
        row: dict = {"file": path.name}
        try:
            signed = verify(path.read_bytes(), keys)
        except (OSError, SignatureError) as exc:
            row["problem"] = str(exc)
            rows.append(row)
            continue
        c = signed.campaign
        row.update(
            name=c.name,
            version=c.version,
            sha256=signed.sha256,
            priority=c.priority,
            kind=c.collection.type,
            start=c.start.isoformat() if c.start else None,
            expiry=c.expiry.isoformat(),
            in_time=c.active_at(now),
            counters=live.get("campaigns", {}).get(c.name),
        )
        rows.append(row)
    if args.json:
        print(json.dumps({"state_dir": str(state), "keys": len(keys), "campaigns": rows}))
        return 0
    if not rows:
        print(f"no campaigns in {state / CAMPAIGNS_DIR}")
        return 0
    for r in rows:
        if "problem" in r:
            print(f"{r['file']}: left out: {r['problem']}")
            continue
        counts = r["counters"] or {}
        extra = (
            f"  triggers {counts.get('triggers', 0)} stored {counts.get('stored', 0)} "
            f"dropped {counts.get('dropped', 0)}"
            if counts
            else ""
        )
        print(
            f"{r['name']}  v{r['version']}  {r['kind']}  priority {r['priority']}  "
            f"{'active' if r['in_time'] else 'not in its time window'}  sha256 {r['sha256'][:16]}{extra}"
        )
    return 0


def _dry_run(args: argparse.Namespace) -> int:
    from vehicle_mw.campaign import load_campaigns
    from vehicle_mw.campaign.dryrun import dry_run

    campaigns = [c for path in args.campaigns for c in load_campaigns(path)]
    report = dry_run(
        campaigns,
        args.db,
        args.log,
        strict=not args.non_strict,
        j1939=args.j1939,
        memory_limit_bytes=args.memory_limit,
        outbox_bytes=args.outbox_bytes,
    )
    if args.json:
        print(json.dumps(report.as_json()))
        return 0
    from rich.console import Console
    from rich.table import Table

    from vehicle_mw.campaign.report_html import render

    title = f"dry-run: {report.trace_samples:,} samples"
    if args.outbox_bytes is not None:
        title += f"; evicted: by an outbox of {args.outbox_bytes:,} B never acknowledged"
    table = Table(title=title)
    cols = ["campaign", "kind", "priority", "triggers", "suppressed", "overlapping", "samples", "bytes"]
    cols += ["compressed", *(["evicted"] if args.outbox_bytes is not None else []), "first triggers (s)"]
    for col in cols:
        table.add_column(
            col, justify="left" if col in ("campaign", "kind", "first triggers (s)") else "right"
        )
    for c in report.campaigns:
        first = ", ".join(f"{t / 1e9:.3f}" for t in c.triggers_ns[:3]) + (
            " ..." if len(c.triggers_ns) > 3 else ""
        )
        evicted = [] if c.evicted is None else [f"{c.evicted.samples:,} ({c.evicted.uploads} uploads)"]
        table.add_row(
            c.name,
            c.kind,
            str(c.priority),
            str(len(c.triggers_ns)),
            str(c.suppressed),
            str(c.overlaps),
            f"{c.samples:,}",
            f"{c.bytes:,}",
            f"{c.bytes_compressed:,}",
            *evicted,
            first,
        )
    Console().print(table)
    pathlib.Path(args.html).write_text(render(report))
    print(f"HTML report: {args.html}")
    return 0

"""``vmw campaign``: schema, keygen, sign, verify and dry-run of data-collection campaigns."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("campaign", help="data-collection campaigns: schema, sign, verify, dry-run")
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
    )
    if args.json:
        print(json.dumps(report.as_json()))
        return 0
    from rich.console import Console
    from rich.table import Table

    from vehicle_mw.campaign.report_html import render

    table = Table(title=f"dry-run: {report.trace_samples:,} samples")
    for col in (
        "campaign",
        "kind",
        "triggers",
        "suppressed",
        "overlapping",
        "samples",
        "bytes",
        "compressed",
        "first triggers (s)",
    ):
        table.add_column(
            col, justify="left" if col in ("campaign", "kind", "first triggers (s)") else "right"
        )
    for c in report.campaigns:
        first = ", ".join(f"{t / 1e9:.3f}" for t in c.triggers_ns[:3]) + (
            " ..." if len(c.triggers_ns) > 3 else ""
        )
        table.add_row(
            c.name,
            c.kind,
            str(len(c.triggers_ns)),
            str(c.suppressed),
            str(c.overlaps),
            f"{c.samples:,}",
            f"{c.bytes:,}",
            f"{c.bytes_compressed:,}",
            first,
        )
    Console().print(table)
    pathlib.Path(args.html).write_text(render(report))
    print(f"HTML report: {args.html}")
    return 0

"""``vmw gateway``: serve the fleet gateway, issue vehicle tokens, make a dev PKI, revoke vehicles."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys

from vehicle_mw.cli import gateway_operator


def _duration_s(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 12h, 30d)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _unix_time(text: str) -> float:
    import datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (unix seconds or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def register(subparsers: argparse._SubParsersAction) -> None:
    import fastapi  # noqa: F401 - the gateway extra; without it the command is listed as unavailable

    p = subparsers.add_parser("gateway", help="fleet gateway: serve, tokens, dev certificates, revoke")
    sub = p.add_subparsers(dest="gateway_command", metavar="ACTION", required=True)

    s = sub.add_parser("serve", help="run the gateway (gRPC + WebSocket + REST/dashboard)")
    s.add_argument("--config", help="gateway YAML (see manifests/gateway.yaml); flags below override it")
    s.add_argument("--database", help="SQLite file")
    s.add_argument("--host")
    s.add_argument("--grpc-port", type=int)
    s.add_argument("--ws-port", type=int)
    s.add_argument("--http-port", type=int)
    s.add_argument(
        "--allow-anonymous", action="store_true", help="accept vehicles without cert or token (dev)"
    )
    s.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per line on stderr (structlog, as vmw vehicle run)",
    )
    s.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), help="default: warning (-v: info)"
    )
    s.set_defaults(func=_serve)

    t = sub.add_parser("token", help="issue a signed token for a vehicle")
    t.add_argument("vehicle_id")
    t.add_argument("--secret-file", required=True, help="the gateway's token_secret_file")
    t.add_argument("--ttl", type=_duration_s, default=_duration_s("30d"), help="validity, e.g. 12h, 30d")
    t.set_defaults(func=_token)

    k = sub.add_parser("secret", help="write a new token secret file")
    k.add_argument("path")
    k.set_defaults(func=_secret)

    c = sub.add_parser(
        "pki",
        help="make a dev CA (kept when the folder has one), server and vehicle certificates",
    )
    c.add_argument("folder", help="folder of the PEM files (made if missing)")
    c.add_argument("--vehicle", action="append", default=[], help="vehicle id (repeatable)")
    c.add_argument("--host", default="localhost", help="server certificate host name")
    c.set_defaults(func=_pki)

    j = sub.add_parser(
        "schema", help="print the JSON Schema of gateway files (manifests/schemas/gateway.schema.json)"
    )
    j.set_defaults(func=_schema)

    r = sub.add_parser(
        "revoke", help="revoke a vehicle or its tokens (a running gateway ends its sessions within a second)"
    )
    r.add_argument("vehicle_id")
    r.add_argument("--database", required=True)
    r.add_argument(
        "--undo", action="store_true", help="admit the vehicle again (its old tokens stay revoked)"
    )
    r.add_argument("--token-id", help="revoke only the token with this id (jti)")
    r.add_argument(
        "--tokens-before",
        type=_unix_time,
        help="revoke only the vehicle's tokens issued before TIME (unix s or ISO 8601, 2026-12-01T12:00Z)",
    )
    r.set_defaults(func=_revoke)
    gateway_operator.register_actions(sub, _duration_s)  # operator, audit (HTTP API access)


def _config(args: argparse.Namespace):
    from vehicle_mw.manifest.gateway import GatewayConfig, load_gateway_config

    # paths in the file are relative to its folder; --database is relative to the current directory
    cfg = load_gateway_config(args.config) if args.config else GatewayConfig()
    overrides = {
        "database": args.database,
        "host": args.host,
        "grpc_port": args.grpc_port,
        "ws_port": args.ws_port,
        "http_port": args.http_port,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.allow_anonymous:
        overrides["allow_anonymous"] = True
    return cfg.model_copy(update=overrides)


def _serve(args: argparse.Namespace) -> int:
    from vehicle_mw.gateway import Gateway
    from vehicle_mw.gateway.event_loop import run
    from vehicle_mw.gateway.server import ListenError
    from vehicle_mw.gateway.storage import StorageConfigError, open_backend

    cfg = _config(args)
    try:
        backend = open_backend(cfg)  # a bad storage section is named before anything starts
    except StorageConfigError as exc:
        print(f"vmw: error: {args.config or 'gateway config'}: {exc}", file=sys.stderr)
        return 2
    if args.log_format == "json" or args.log_level:
        _logging(args, cfg.gateway_id)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Gateway(cfg, backend=backend) as gw:
            print(f"gateway {cfg.gateway_id}: grpc {gw.grpc_target}  websocket {gw.ws_url}", flush=True)
            print(
                f"dashboard {gw.http_url}/   API {gw.http_url}/docs   metrics {gw.http_url}/metrics",
                flush=True,
            )
            await stop.wait()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            run(main())  # authenticated sessions are served before new connections
    except ListenError as exc:  # a busy or foreign address: the operator's setup, not a crash
        print(f"vmw: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _logging(args: argparse.Namespace, gateway_id: str) -> None:
    import logging

    level = args.log_level or {0: "warning", 1: "info"}.get(args.verbose, "debug")
    if args.log_format == "json":
        from vehicle_mw.runtime.logs import configure_logging

        configure_logging(level, gateway_id=gateway_id)  # the gateway's own JSON events are merged flat
    else:
        logging.getLogger().setLevel(level.upper())


def _token(args: argparse.Namespace) -> int:
    from vehicle_mw.gateway import issue_token, load_secret

    print(issue_token(load_secret(args.secret_file), args.vehicle_id, args.ttl))
    return 0


def _secret(args: argparse.Namespace) -> int:
    from vehicle_mw.gateway import new_secret_file

    print(f"wrote {new_secret_file(args.path)}", file=sys.stderr)
    return 0


def _pki(args: argparse.Namespace) -> int:
    from vehicle_mw.gateway.pki import load_or_make_ca, make_server_cert, make_vehicle_cert

    ca = load_or_make_ca(args.folder)
    server = make_server_cert(ca, args.folder, args.host)
    print(f"CA {ca.cert}\nserver {server.cert} {server.key}")
    for vid in args.vehicle:
        pair = make_vehicle_cert(ca, args.folder, vid)
        print(f"vehicle {vid} {pair.cert} {pair.key}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from vehicle_mw.gateway import set_revoked
    from vehicle_mw.gateway.revocation import revoke_tokens

    if not os.path.isfile(args.database):  # revoking in a new empty file would protect nothing
        print(f"vmw: error: {args.database}: no such gateway database (see 'database' in the config)",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.token_id or args.tokens_before is not None:
        revoke_tokens(args.database, args.vehicle_id, args.token_id, args.tokens_before)
        gateway_operator.audit_cli(args.database, "revoke-tokens", args.vehicle_id)
        print(f"tokens of {args.vehicle_id} revoked in {args.database}")
        return 0
    set_revoked(args.database, args.vehicle_id, revoked=not args.undo)
    gateway_operator.audit_cli(args.database, "admit" if args.undo else "revoke", args.vehicle_id)
    print(f"{args.vehicle_id} {'admitted' if args.undo else 'revoked'} in {args.database}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from vehicle_mw.manifest.gateway import GatewayConfig

    print(json.dumps(GatewayConfig.model_json_schema(), indent=2))
    return 0

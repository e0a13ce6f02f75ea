"""``vmw gateway operator ...`` and ``vmw gateway audit``: operators of the HTTP API and the audit log.

They work on the gateway database directly (also while the gateway runs: SQLite WAL), and record
what they change in the audit log as actor ``cli:<local user>``.
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import os
import sys
from collections.abc import Callable


def register_actions(sub: argparse._SubParsersAction, duration: Callable[[str], float]) -> None:
    o = sub.add_parser("operator", help="operators of the HTTP API: add, token, list, remove, revoke-token")
    ops = o.add_subparsers(dest="operator_command", metavar="ACTION", required=True)

    def db_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--database", help="the gateway's SQLite file")
        p.add_argument("--config", help="gateway YAML to read 'database' from")

    a = ops.add_parser("add", help="add an operator (asks for the password unless --password-file)")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=("viewer", "operator", "admin"))
    a.add_argument("--password-file", help="file whose first line is the password ('-': stdin)")
    a.add_argument("--no-password", action="store_true", help="token-only operator (no dashboard login)")
    a.add_argument("--create", action="store_true", help="create the database when it does not exist")
    db_args(a)
    a.set_defaults(func=_add)

    t = ops.add_parser("token", help="issue an API token for an operator (printed once)")
    t.add_argument("name")
    t.add_argument("--expires", default="90d", help="lifetime, e.g. 12h, 30d, or 'never' (default 90d)")
    db_args(t)
    t.set_defaults(func=_token, duration=duration)

    p = ops.add_parser("passwd", help="set an operator's password")
    p.add_argument("name")
    p.add_argument("--password-file", help="file whose first line is the password ('-': stdin)")
    db_args(p)
    p.set_defaults(func=_passwd)

    li = ops.add_parser("list", help="operators and their tokens")
    db_args(li)
    li.set_defaults(func=_list)

    r = ops.add_parser("remove", help="remove an operator and their tokens")
    r.add_argument("name")
    db_args(r)
    r.set_defaults(func=_remove)

    k = ops.add_parser("revoke-token", help="revoke one API token by its id (see 'list')")
    k.add_argument("token_id")
    db_args(k)
    k.set_defaults(func=_revoke_token)

    u = sub.add_parser("audit", help="print the audit log (commands, revocations, logins), newest first")
    u.add_argument("--limit", type=int, default=100)
    u.add_argument("--actor")
    u.add_argument("--action", help="e.g. command, revoke, login, operator_add, token_issue")
    db_args(u)
    u.set_defaults(func=_audit)


def _database(args: argparse.Namespace) -> str:
    from vehicle_mw.gateway.operators import OperatorError

    if args.database:
        return args.database
    if args.config:
        from vehicle_mw.manifest.gateway import load_gateway_config

        return load_gateway_config(args.config).database  # relative to the file's folder
    raise OperatorError("name the gateway database: --database FILE or --config gateway.yaml")


def _store(args: argparse.Namespace, create: bool = False):
    from vehicle_mw.gateway.operators import OperatorStore

    return OperatorStore(_database(args), create=create)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def _audit_row(args: argparse.Namespace, action: str, target: str, detail: str = "") -> None:
    audit_cli(_database(args), action, target, detail)


def audit_cli(database: str, action: str, target: str, detail: str = "") -> None:
    """One audit row for a change made from the command line (actor ``cli:<local user>``)."""
    from vehicle_mw.gateway.audit import AuditLog

    with AuditLog(database) as log:
        log.record(_actor(), "cli", "local", action, target, "ok", detail)


def _read_password(path: str | None, name: str) -> str:
    from vehicle_mw.gateway.operators import OperatorError

    if path == "-":
        return sys.stdin.readline().rstrip("\n")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.readline().rstrip("\n")
        except OSError as exc:
            raise OperatorError(f"--password-file {path}: {exc.strerror}") from None
    if not sys.stdin.isatty():
        raise OperatorError("no terminal to ask for the password: pass --password-file FILE (or '-')")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise OperatorError("the two passwords differ")
    return first


def _add(args: argparse.Namespace) -> int:
    from vehicle_mw.gateway.operators import Role, check_name, check_password_strength

    check_name(args.name)
    password = (
        None if args.no_password else check_password_strength(_read_password(args.password_file, args.name))
    )
    with _store(args, create=args.create) as store:
        op = store.add(args.name, Role.parse(args.role), password)
    _audit_row(args, "operator_add", op.name, f"role {op.role.label}")
    print(f"operator {op.name} ({op.role.label}) added to {_database(args)}")
    return 0


def _token(args: argparse.Namespace) -> int:
    ttl = None if args.expires == "never" else args.duration(args.expires)
    with _store(args) as store:
        token, secret = store.issue_token(args.name, ttl)
    _audit_row(args, "token_issue", token.id, f"for {args.name}")
    until = "never expires" if token.expires_ns is None else f"expires {_when(token.expires_ns)}"
    print(f"token {token.id} for {args.name}, {until} (shown once; store it now):", file=sys.stderr)
    print(secret)
    return 0


def _passwd(args: argparse.Namespace) -> int:
    with _store(args) as store:
        store.require(args.name)
        store.set_password(args.name, _read_password(args.password_file, args.name))
    _audit_row(args, "operator_passwd", args.name)
    print(f"password of {args.name} changed")
    return 0


def _list(args: argparse.Namespace) -> int:
    import time

    with _store(args) as store:
        operators, tokens = store.list(), store.tokens()
    now = time.time_ns()
    for op in operators:
        login = "password" if op.has_password else "token only"
        print(f"{op.name}  {op.role.label}  {login}  since {_when(op.created_ns)}")
        for t in (t for t in tokens if t.operator == op.name):
            expires = "never" if t.expires_ns is None else _when(t.expires_ns)
            print(f"    token {t.id}  {t.state(now)}  created {_when(t.created_ns)}  expires {expires}")
    if not operators:
        print("no operators (add one: vmw gateway operator add NAME --role admin --database ...)")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _store(args) as store:
        store.remove(args.name)
    _audit_row(args, "operator_remove", args.name)
    print(f"operator {args.name} removed")
    return 0


def _revoke_token(args: argparse.Namespace) -> int:
    with _store(args) as store:
        token = store.revoke_token(args.token_id)
    _audit_row(args, "token_revoke", token.id, f"of {token.operator}")
    print(f"token {token.id} of {token.operator} revoked")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from vehicle_mw.gateway.audit import AuditLog

    _store(args).close()  # the clear 'database does not exist' error, not a new empty file
    with AuditLog(_database(args)) as log:
        rows = log.read(args.limit, args.actor, args.action)
    for r in rows:
        detail = f"  {r.detail}" if r.detail else ""
        print(f"{_when(r.ts_ns)}  {r.actor} ({r.via}, {r.peer})  {r.action} {r.target}  {r.result}{detail}")
    return 0


def _when(ts_ns: int) -> str:
    return datetime.datetime.fromtimestamp(ts_ns / 1e9, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["audit_cli", "register_actions"]

"""Revocation that a running gateway obeys: vehicles, single tokens, and tokens issued before a time.

The CLI (``vmw gateway revoke``) and the API append to the ``revocations`` table of the gateway
database; a running gateway polls that table's newest key (one indexed read per poll) and ends the
live sessions each new entry concerns at once, with an Error naming the reason.

Revoking a vehicle also revokes every token issued to it until then, so re-admitting it
(``--undo``) does not make its old tokens valid again: it needs a new token.
"""

from __future__ import annotations

import pathlib
import sqlite3
import time
from dataclasses import dataclass, field

from vehicle_mw.gateway.sqlite_schema import SCHEMA
from vehicle_mw.gateway.tokens import TokenClaims


@dataclass(frozen=True)
class Revocation:
    """One row of the ``revocations`` table."""

    key: int
    vehicle_id: str
    kind: str  # "vehicle" | "admit" | "token" | "tokens_before"
    token_id: str
    issued_before: int  # tokens with iat < issued_before are revoked (kind vehicle / tokens_before)


@dataclass
class RevokedTokens:
    """What the gateway refuses among otherwise valid tokens."""

    token_ids: set[str] = field(default_factory=set)
    issued_before: dict[str, int] = field(default_factory=dict)  # vehicle -> iat floor

    def apply(self, rev: Revocation) -> None:
        if rev.kind == "token":
            self.token_ids.add(rev.token_id)
        elif rev.kind in ("vehicle", "tokens_before"):
            floor = self.issued_before.get(rev.vehicle_id, 0)
            self.issued_before[rev.vehicle_id] = max(floor, rev.issued_before)

    def why_refused(self, claims: TokenClaims) -> str | None:
        """The reason a token is revoked, or None."""
        if claims.token_id and claims.token_id in self.token_ids:
            return f"token {claims.token_id} of {claims.vehicle_id} is revoked"
        floor = self.issued_before.get(claims.vehicle_id)
        if floor is not None and claims.issued_at < floor:
            return f"tokens of {claims.vehicle_id} issued before {floor} (unix s) are revoked"
        return None


def _open(path: str | pathlib.Path) -> sqlite3.Connection:
    from vehicle_mw.gateway.sqlite_sink import connect

    conn = connect(path)
    conn.executescript(SCHEMA)
    return conn


def record(
    path: str | pathlib.Path,
    vehicle_id: str,
    kind: str,
    token_id: str = "",
    issued_before: int = 0,
    conn: sqlite3.Connection | None = None,
) -> None:
    """Append a revocation (the running gateway picks it up at its next poll)."""
    own = conn is None
    conn = conn or _open(path)
    try:
        conn.execute(
            "INSERT INTO revocations(vehicle_id, kind, token_id, issued_before, ts_ns)"
            " VALUES (?, ?, ?, ?, ?)",
            (vehicle_id, kind, token_id, issued_before, time.time_ns()),
        )
    finally:
        if own:
            conn.close()


def revoke_tokens(
    path: str | pathlib.Path, vehicle_id: str, token_id: str | None = None, issued_before: float | None = None
) -> None:
    """Revoke one token (by its ``jti``) and/or every token of ``vehicle_id`` issued before a time."""
    conn = _open(path)
    try:
        if token_id:
            record(path, vehicle_id, "token", token_id=token_id, conn=conn)
        if issued_before is not None:
            record(path, vehicle_id, "tokens_before", issued_before=int(issued_before), conn=conn)
    finally:
        conn.close()


def read_since(conn: sqlite3.Connection, after_key: int) -> list[Revocation]:
    """Revocations newer than ``after_key``, oldest first."""
    rows = conn.execute(
        "SELECT key, vehicle_id, kind, token_id, issued_before FROM revocations WHERE key>? ORDER BY key",
        (after_key,),
    ).fetchall()
    return [Revocation(*row) for row in rows]


__all__ = ["Revocation", "RevokedTokens", "read_since", "record", "revoke_tokens"]

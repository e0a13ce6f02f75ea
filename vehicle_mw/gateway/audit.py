"""Audit log of the operator API: who did what to which target, when, and how it ended.

Rows live in the gateway database (table ``audit``) so they survive restarts and are read by
``GET /api/audit`` and ``vmw gateway audit``. Writes are synchronous, and an action that reaches a
vehicle is recorded (result ``pending``) before it is sent and completed after, so a crash in
between still leaves who sent what.
"""

from __future__ import annotations

import pathlib
import threading
import time
from dataclasses import asdict, dataclass

from vehicle_mw.gateway.sqlite_sink import connect

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    key INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    peer TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit(ts_ns);
"""
MAX_DETAIL_CHARS = 2000


@dataclass(frozen=True)
class AuditEntry:
    key: int
    ts_ns: int
    actor: str  # operator name, or '-' when nobody authenticated
    via: str  # 'token:<id>', 'session', 'password', 'cli'
    peer: str  # client address, or the local user for the CLI
    action: str  # command, revoke, login, logout, operator_add, token_issue, ...
    target: str  # vehicle id, operator name or token id
    result: str  # ok, refused, failed, error text class
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


class AuditLog:
    """Append and read audit rows; safe to call from worker threads."""

    def __init__(self, database: str | pathlib.Path):
        self._conn = connect(database)
        self._conn.executescript(AUDIT_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(
        self, actor: str, via: str, peer: str, action: str, target: str, result: str, detail: str = ""
    ) -> int:
        """Append one row; returns its key (for :meth:`finish`)."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO audit(ts_ns, actor, via, peer, action, target, result, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time_ns(), actor, via, peer, action, target, result, detail[:MAX_DETAIL_CHARS]),
            )
            return int(cur.lastrowid or 0)

    def finish(self, key: int, result: str, detail: str) -> None:
        """Complete a row recorded as ``pending`` with how the action ended."""
        with self._lock:
            self._conn.execute(
                "UPDATE audit SET result=?, detail=? WHERE key=?", (result, detail[:MAX_DETAIL_CHARS], key)
            )

    def read(
        self,
        limit: int = 200,
        actor: str | None = None,
        action: str | None = None,
        since_ns: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first."""
        where, args = [], []
        for column, value in (("actor", actor), ("action", action)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if since_ns is not None:
            where.append("ts_ns>=?")
            args.append(since_ns)
        sql = "SELECT key, ts_ns, actor, via, peer, action, target, result, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY key DESC LIMIT ?", (*args, limit)).fetchall()
        return [AuditEntry(*r) for r in rows]


__all__ = ["AuditEntry", "AuditLog"]

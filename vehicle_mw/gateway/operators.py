"""Operator identities of the gateway's HTTP API: roles, scrypt-hashed passwords, revocable API tokens.

Stored in the gateway's SQLite database (tables ``operators`` and ``operator_tokens``) so the CLI,
the running gateway and backups see one truth. Passwords are hashed with scrypt; API tokens are
random (``secrets.token_urlsafe``), shown once and stored only as SHA-256 (they carry 256 bits of
entropy, so a slow KDF adds nothing). Every comparison of secrets is constant-time.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import pathlib
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass

from vehicle_mw.gateway.errors import GatewayError
from vehicle_mw.gateway.sqlite_sink import connect

OPERATORS_SCHEMA = """
CREATE TABLE IF NOT EXISTS operators (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS operator_tokens (
    id TEXT PRIMARY KEY,
    operator TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    expires_ns INTEGER,
    revoked_ns INTEGER
);
"""

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD_CHARS = 10
TOKEN_PREFIX = "vmwop_"
# scrypt cost: ~50 ms and 16 MiB per check on one core (RFC 7914 interactive-login parameters)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class Role(enum.IntEnum):
    """Ordered: each role may do everything the roles below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            raise GatewayError(f"unknown role {text!r} (viewer, operator, admin)") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class OperatorError(GatewayError):
    """A bad operator request (unknown name, duplicate, weak password); the message says which."""


class TokenRejected(GatewayError):
    """An API token that does not authenticate; ``str()`` says why (unknown, expired, revoked)."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role
    created_ns: int
    has_password: bool


@dataclass(frozen=True)
class ApiToken:
    id: str
    operator: str
    created_ns: int
    expires_ns: int | None
    revoked_ns: int | None

    def state(self, now_ns: int) -> str:
        if self.revoked_ns is not None:
            return "revoked"
        if self.expires_ns is not None and now_ns >= self.expires_ns:
            return "expired"
        return "active"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# checked when the user is unknown, so a wrong name costs as long as a wrong password
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise OperatorError(f"operator name {name!r}: 1-64 of letters, digits, '.', '_', '@', '-'")
    return name


def check_password_strength(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise OperatorError(f"password too short: at least {MIN_PASSWORD_CHARS} characters")
    return password


class OperatorStore:
    """Operators and their API tokens in the gateway database; safe to call from worker threads."""

    def __init__(self, database: str | pathlib.Path, create: bool = True):
        self.path = pathlib.Path(database)
        if not create and not self.path.exists():
            raise OperatorError(
                f"database {self.path} does not exist (start the gateway once, or pass --create)"
            )
        self._conn = connect(self.path)
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(OPERATORS_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> OperatorStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _write(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    # operators

    def add(self, name: str, role: Role, password: str | None = None) -> Operator:
        check_name(name)
        hashed = hash_password(check_password_strength(password)) if password is not None else None
        now = time.time_ns()
        try:
            self._write(
                "INSERT INTO operators(name, role, password_hash, created_ns) VALUES (?, ?, ?, ?)",
                (name, role.label, hashed, now),
            )
        except sqlite3.IntegrityError:
            raise OperatorError(f"operator {name!r} already exists") from None
        return Operator(name, role, now, hashed is not None)

    def get(self, name: str) -> Operator | None:
        rows = self._rows("SELECT name, role, created_ns, password_hash FROM operators WHERE name=?", (name,))
        return self._operator(rows[0]) if rows else None

    def require(self, name: str) -> Operator:
        op = self.get(name)
        if op is None:
            raise OperatorError(f"unknown operator {name!r}")
        return op

    def list(self) -> list[Operator]:
        rows = self._rows("SELECT name, role, created_ns, password_hash FROM operators ORDER BY name")
        return [self._operator(r) for r in rows]

    def count(self, role: Role | None = None) -> int:
        if role is None:
            return self._rows("SELECT COUNT(*) FROM operators")[0][0]
        return self._rows("SELECT COUNT(*) FROM operators WHERE role=?", (role.label,))[0][0]

    def set_password(self, name: str, password: str) -> None:
        hashed = hash_password(check_password_strength(password))
        if not self._write("UPDATE operators SET password_hash=? WHERE name=?", (hashed, name)):
            raise OperatorError(f"unknown operator {name!r}")

    def remove(self, name: str) -> None:
        """The operator and every token of theirs; their dashboard sessions fail at the next request."""
        if not self._write("DELETE FROM operators WHERE name=?", (name,)):
            raise OperatorError(f"unknown operator {name!r}")

    def check_password(self, name: str, password: str) -> Operator | None:
        """The operator when the password is theirs; the same scrypt cost when the name is unknown."""
        rows = self._rows("SELECT name, role, created_ns, password_hash FROM operators WHERE name=?", (name,))
        stored = rows[0][3] if rows and rows[0][3] else _DUMMY_HASH
        ok = verify_password(password, stored)
        return self._operator(rows[0]) if ok and rows and rows[0][3] else None

    @staticmethod
    def _operator(row: tuple) -> Operator:
        return Operator(
            name=row[0], role=Role.parse(row[1]), created_ns=row[2], has_password=row[3] is not None
        )

    # tokens

    def issue_token(self, name: str, ttl_s: float | None = None) -> tuple[ApiToken, str]:
        """A new token for ``name``: (its record, the secret text, shown only now)."""
        self.require(name)
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = time.time_ns()
        expires = None if ttl_s is None else now + int(ttl_s * 1e9)
        self._write(
            "INSERT INTO operator_tokens(id, operator, token_hash, created_ns, expires_ns)"
            " VALUES (?, ?, ?, ?, ?)",
            (token_id, name, _token_hash(secret), now, expires),
        )
        return ApiToken(token_id, name, now, expires, None), f"{TOKEN_PREFIX}{token_id}.{secret}"

    def tokens(self, name: str | None = None) -> list[ApiToken]:
        sql = "SELECT id, operator, created_ns, expires_ns, revoked_ns FROM operator_tokens"
        rows = (
            self._rows(sql + " WHERE operator=? ORDER BY created_ns", (name,))
            if name
            else self._rows(sql + " ORDER BY operator, created_ns")
        )
        return [ApiToken(*r) for r in rows]

    def token(self, token_id: str) -> ApiToken | None:
        rows = self._rows(
            "SELECT id, operator, created_ns, expires_ns, revoked_ns FROM operator_tokens WHERE id=?",
            (token_id,),
        )
        return ApiToken(*rows[0]) if rows else None

    def revoke_token(self, token_id: str) -> ApiToken:
        if not self._write(
            "UPDATE operator_tokens SET revoked_ns=COALESCE(revoked_ns, ?) WHERE id=?",
            (time.time_ns(), token_id),
        ):
            raise OperatorError(f"unknown token {token_id!r}")
        token = self.token(token_id)
        assert token is not None
        return token

    def authenticate_token(self, text: str) -> tuple[Operator, str]:
        """(operator, token id) for a valid token; :class:`TokenRejected` naming why otherwise."""
        if not text.startswith(TOKEN_PREFIX) or "." not in text:
            raise TokenRejected("not an operator token")
        token_id, secret = text[len(TOKEN_PREFIX) :].split(".", 1)
        rows = self._rows(
            "SELECT t.token_hash, t.expires_ns, t.revoked_ns, o.name, o.role, o.created_ns, o.password_hash"
            " FROM operator_tokens t JOIN operators o ON o.name = t.operator WHERE t.id=?",
            (token_id,),
        )
        want = rows[0][0] if rows else _token_hash(secrets.token_urlsafe(32))
        if not hmac.compare_digest(_token_hash(secret), want) or not rows:
            raise TokenRejected("unknown token")
        _, expires_ns, revoked_ns, *op = rows[0]
        if revoked_ns is not None:
            raise TokenRejected(f"token {token_id} revoked")
        if expires_ns is not None and time.time_ns() >= expires_ns:
            raise TokenRejected(f"token {token_id} expired")
        return self._operator(tuple(op)), token_id


__all__ = [
    "ApiToken",
    "Operator",
    "OperatorError",
    "OperatorStore",
    "Role",
    "TokenRejected",
    "check_name",
    "check_password_strength",
    "hash_password",
    "verify_password",
]

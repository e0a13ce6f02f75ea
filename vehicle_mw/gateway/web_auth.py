"""Who is calling the operator API: bearer tokens for tools, a session cookie for the dashboard.

Every data and control route depends on :meth:`OperatorAuth.require` with the least role it needs.
State-changing requests are refused when their ``Origin`` is foreign; with cookie authentication
they also need the session's CSRF token in ``X-CSRF-Token`` and an ``Origin`` at all (browsers
always send one on such requests). Dashboard sessions live in memory: a restart logs everyone out.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

from vehicle_mw.gateway.audit import AuditLog
from vehicle_mw.gateway.operators import OperatorStore, Role, TokenRejected
from vehicle_mw.manifest.gateway import GatewayAuth

SESSION_COOKIE = "vmw_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_SESSIONS = 10_000
MAX_THROTTLE_KEYS = 100_000


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: operator name, current role, and how they authenticated."""

    name: str
    role: Role
    via: str  # 'token:<id>' or 'session'
    peer: str


@dataclass
class WebSession:
    operator: str
    csrf: str
    expires: float  # time.monotonic()


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class WebSessions:
    """Dashboard logins, keyed by the SHA-256 of the cookie value (a memory dump reveals no cookie)."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._by_digest: dict[str, WebSession] = {}

    def create(self, operator: str) -> tuple[str, WebSession]:
        now = time.monotonic()
        if len(self._by_digest) >= MAX_SESSIONS:
            self._by_digest = {k: s for k, s in self._by_digest.items() if s.expires > now}
            while len(self._by_digest) >= MAX_SESSIONS:  # oldest first (dicts keep insertion order)
                del self._by_digest[next(iter(self._by_digest))]
        session_id = secrets.token_urlsafe(32)
        session = WebSession(operator, secrets.token_urlsafe(32), now + self.ttl_s)
        self._by_digest[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str) -> WebSession | None:
        key = _digest(session_id)
        session = self._by_digest.get(key)
        if session is not None and session.expires <= time.monotonic():
            del self._by_digest[key]
            return None
        return session

    def drop(self, session_id: str) -> None:
        self._by_digest.pop(_digest(session_id), None)


class LoginThrottle:
    """At most ``max_failures`` failed logins per key (user name, client address) in ``window_s``."""

    def __init__(self, max_failures: int, window_s: float):
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        q = self._failures.get(key)
        if q is None:
            return collections.deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def retry_after(self, keys: Iterable[str]) -> float | None:
        """Seconds until a login may be tried again, or None when it may be tried now."""
        now = time.monotonic()
        waits = [
            q[0] + self.window_s - now for k in keys if len(q := self._recent(k, now)) >= self.max_failures
        ]
        return max(waits) if waits else None

    def fail(self, keys: Iterable[str]) -> None:
        now = time.monotonic()
        if len(self._failures) >= MAX_THROTTLE_KEYS:
            for key in list(self._failures):
                self._recent(key, now)
            while len(self._failures) >= MAX_THROTTLE_KEYS:  # still full: forget the oldest keys
                del self._failures[next(iter(self._failures))]
        for key in keys:
            self._failures.setdefault(key, collections.deque()).append(now)

    def clear(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)


def peer_of(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "-"


def own_origin(conn: HTTPConnection) -> str:
    """The origin a page served by this request would have (ws/wss map to http/https)."""
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return f"{scheme}://{conn.headers.get('host', '')}"


class OperatorAuth:
    """Authentication, authorisation, origin and CSRF checks of one gateway's HTTP API."""

    def __init__(self, store: OperatorStore, audit: AuditLog, config: GatewayAuth, tls: bool):
        self.store = store
        self.audit = audit
        self.config = config
        self.sessions = WebSessions(config.session_ttl_s)
        self.throttle = LoginThrottle(config.login_max_failures, config.login_window_s)
        self.cookie_secure = tls if config.cookie_secure is None else config.cookie_secure
        self._dependencies: dict[Role, Callable[[Request], Awaitable[Principal]]] = {}

    async def record(
        self, who: Principal | None, peer: str, action: str, target: str, result: str, detail: str = ""
    ) -> int:
        actor, via = (who.name, who.via) if who else ("-", "-")
        return await asyncio.to_thread(self.audit.record, actor, via, peer, action, target, result, detail)

    def origin_allowed(self, conn: HTTPConnection) -> bool:
        origin = conn.headers.get("origin")
        return origin is None or origin == own_origin(conn) or origin in self.config.allowed_origins

    async def identify(self, conn: HTTPConnection) -> Principal:
        """The caller, from ``Authorization: Bearer`` or the session cookie; 401 otherwise."""
        peer = peer_of(conn)
        header = conn.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _unauthorized("Authorization must be 'Bearer <operator token>'")
            try:
                op, token_id = await asyncio.to_thread(self.store.authenticate_token, token.strip())
            except TokenRejected as exc:
                raise _unauthorized(str(exc)) from None
            return Principal(op.name, op.role, f"token:{token_id}", peer)
        session_id = conn.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(session_id) if session_id else None
        if session is None:
            raise _unauthorized("log in (dashboard) or send 'Authorization: Bearer <operator token>'")
        op = await asyncio.to_thread(self.store.get, session.operator)
        if op is None:  # removed since they logged in
            assert session_id is not None
            self.sessions.drop(session_id)
            raise _unauthorized(f"operator {session.operator!r} no longer exists")
        return Principal(op.name, op.role, "session", peer)

    async def check(self, request: Request, role: Role) -> Principal:
        who = await self.identify(request)
        if request.method not in SAFE_METHODS:
            await self._check_unsafe(request, who)
        if who.role < role:
            await self.record(who, who.peer, "denied", request.url.path, "refused", f"needs {role.label}")
            raise HTTPException(
                403, f"operator {who.name!r} has role {who.role.label}; this needs {role.label}"
            )
        return who

    async def _check_unsafe(self, request: Request, who: Principal) -> None:
        origin = request.headers.get("origin")
        if not self.origin_allowed(request):
            await self.record(
                who, who.peer, "denied", request.url.path, "refused", f"foreign origin {origin}"
            )
            raise HTTPException(403, f"origin {origin} is not allowed (expected {own_origin(request)})")
        if who.via != "session":
            return
        if origin is None:
            raise HTTPException(403, "a cookie-authenticated change needs an Origin header")
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        sent = request.headers.get(CSRF_HEADER, "")
        if session is None or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            await self.record(
                who, who.peer, "denied", request.url.path, "refused", "missing or wrong CSRF token"
            )
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")

    def require(self, role: Role) -> Callable[[Request], Awaitable[Principal]]:
        """The FastAPI dependency admitting ``role`` and above (one callable per role)."""
        if role not in self._dependencies:

            async def dependency(request: Request) -> Principal:
                return await self.check(request, role)

            dependency.__name__ = f"require_{role.label}"
            self._dependencies[role] = dependency
        return self._dependencies[role]

    def is_guard(self, call: object) -> bool:
        return call in self._dependencies.values()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="vmw-gateway"'})


__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "LoginThrottle",
    "OperatorAuth",
    "Principal",
    "WebSessions",
    "own_origin",
    "peer_of",
]

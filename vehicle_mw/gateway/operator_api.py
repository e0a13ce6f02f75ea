"""HTTP routes of operator access: login page, login/logout, who-am-I, operators, tokens, audit."""

# no `from __future__ import annotations`: FastAPI must evaluate Annotated[..., Depends(<local>)]
# at definition time, or the operator check silently becomes a query parameter

import asyncio
import pathlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from vehicle_mw.gateway.operators import ApiToken, Operator, OperatorError, Role
from vehicle_mw.gateway.web_auth import SESSION_COOKIE, OperatorAuth, Principal, peer_of

STATIC = pathlib.Path(__file__).resolve().parent / "static"


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class NewOperator(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: str = Field(pattern="^(viewer|operator|admin)$")
    password: str | None = Field(None, max_length=1024, description="null: token-only operator")


class NewToken(BaseModel):
    expires_s: float | None = Field(None, gt=0, description="lifetime; null: until revoked")


def operator_view(op: Operator) -> dict[str, Any]:
    return {"name": op.name, "role": op.role.label, "created_ns": op.created_ns, "password": op.has_password}


def token_view(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "operator": token.operator,
        "created_ns": token.created_ns,
        "expires_ns": token.expires_ns,
        "revoked_ns": token.revoked_ns,
        "state": token.state(time.time_ns()),
    }


def add_operator_routes(router: APIRouter | FastAPI, auth: OperatorAuth) -> None:
    """Registered on the app itself (not included as a sub-router) so the app lists them as its routes."""
    store = auth.store
    viewer, admin = auth.require(Role.VIEWER), auth.require(Role.ADMIN)

    @router.get("/login", include_in_schema=False)
    async def login_page() -> FileResponse:
        return FileResponse(STATIC / "login.html")

    @router.post("/api/login", summary="dashboard login: sets the session cookie, returns the CSRF token")
    async def login(body: LoginRequest, request: Request, response: Response) -> dict[str, Any]:
        peer = peer_of(request)
        if not auth.origin_allowed(request):
            await auth.record(None, peer, "login", body.username, "refused", "foreign origin")
            raise HTTPException(403, f"origin {request.headers.get('origin')} is not allowed")
        keys = (f"user:{body.username}", f"peer:{peer}")
        wait = auth.throttle.retry_after(keys)
        if wait is not None:
            await auth.record(None, peer, "login", body.username, "throttled")
            raise HTTPException(
                429, f"too many failed logins; retry in {wait:.0f} s", headers={"Retry-After": f"{wait:.0f}"}
            )
        op = await asyncio.to_thread(store.check_password, body.username, body.password)
        if op is None:
            auth.throttle.fail(keys)
            await auth.record(None, peer, "login", body.username, "failed", "wrong user name or password")
            raise HTTPException(401, "wrong user name or password")
        auth.throttle.clear(keys)
        session_id, session = auth.sessions.create(op.name)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(auth.config.session_ttl_s),
            path="/",
            httponly=True,
            samesite="strict",
            secure=auth.cookie_secure,
        )
        who = Principal(op.name, op.role, "password", peer)
        await auth.record(who, peer, "login", op.name, "ok")
        return {"name": op.name, "role": op.role.label, "csrf_token": session.csrf}

    @router.post("/api/logout", summary="end the dashboard session")
    async def logout(
        who: Annotated[Principal, Depends(viewer)], request: Request, response: Response
    ) -> dict[str, Any]:
        auth.sessions.drop(request.cookies.get(SESSION_COOKIE, ""))
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=auth.cookie_secure
        )
        await auth.record(who, who.peer, "logout", who.name, "ok")
        return {"logged_out": who.name}

    @router.get("/api/me", summary="the caller: name, role, and (dashboard) the CSRF token")
    async def me(who: Annotated[Principal, Depends(viewer)], request: Request) -> dict[str, Any]:
        session = auth.sessions.get(request.cookies.get(SESSION_COOKIE, "")) if who.via == "session" else None
        return {
            "name": who.name,
            "role": who.role.label,
            "via": who.via,
            "csrf_token": session and session.csrf,
        }

    @router.get("/api/operators", summary="operators and their API tokens (admin)")
    async def operators(_: Annotated[Principal, Depends(admin)]) -> list[dict[str, Any]]:
        ops, tokens = await asyncio.gather(asyncio.to_thread(store.list), asyncio.to_thread(store.tokens))
        return [
            operator_view(o) | {"tokens": [token_view(t) for t in tokens if t.operator == o.name]}
            for o in ops
        ]

    @router.post("/api/operators", status_code=201, summary="add an operator (admin)")
    async def add_operator(who: Annotated[Principal, Depends(admin)], body: NewOperator) -> dict[str, Any]:
        try:
            op = await asyncio.to_thread(store.add, body.name, Role.parse(body.role), body.password)
        except OperatorError as exc:
            await auth.record(who, who.peer, "operator_add", body.name, "refused", str(exc))
            raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None
        await auth.record(who, who.peer, "operator_add", op.name, "ok", f"role {op.role.label}")
        return operator_view(op)

    @router.delete("/api/operators/{name}", summary="remove an operator and their tokens (admin)")
    async def remove_operator(who: Annotated[Principal, Depends(admin)], name: str) -> dict[str, Any]:
        target = await asyncio.to_thread(store.get, name)
        if target is None:
            raise HTTPException(404, f"unknown operator {name!r}")
        if target.role == Role.ADMIN and await asyncio.to_thread(store.count, Role.ADMIN) == 1:
            raise HTTPException(409, f"{name!r} is the last admin")
        await asyncio.to_thread(store.remove, name)
        await auth.record(who, who.peer, "operator_remove", name, "ok")
        return {"removed": name}

    @router.post("/api/operators/{name}/tokens", status_code=201, summary="issue an API token (admin)")
    async def issue_token(
        who: Annotated[Principal, Depends(admin)], name: str, body: NewToken
    ) -> dict[str, Any]:
        try:
            token, secret = await asyncio.to_thread(store.issue_token, name, body.expires_s)
        except OperatorError as exc:
            raise HTTPException(404, str(exc)) from None
        await auth.record(who, who.peer, "token_issue", token.id, "ok", f"for {name}")
        return token_view(token) | {"token": secret}

    @router.delete("/api/operator-tokens/{token_id}", summary="revoke an API token (admin)")
    async def revoke_token(who: Annotated[Principal, Depends(admin)], token_id: str) -> dict[str, Any]:
        try:
            token = await asyncio.to_thread(store.revoke_token, token_id)
        except OperatorError as exc:
            raise HTTPException(404, str(exc)) from None
        await auth.record(who, who.peer, "token_revoke", token_id, "ok", f"of {token.operator}")
        return token_view(token)

    @router.get("/api/audit", summary="audit log, newest first (admin)")
    async def audit(
        _: Annotated[Principal, Depends(admin)],
        limit: int = Query(200, ge=1, le=10_000),
        actor: str | None = None,
        action: str | None = None,
        since_ns: int | None = None,
    ) -> list[dict[str, Any]]:
        rows = await asyncio.to_thread(auth.audit.read, limit, actor, action, since_ns)
        return [r.as_dict() for r in rows]


__all__ = ["add_operator_routes"]

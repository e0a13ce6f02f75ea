"""REST query API (OpenAPI at ``/docs`` and ``/openapi.json``), live feed, dashboard and metrics.

Every route needs an authenticated operator (see :mod:`vehicle_mw.gateway.web_auth`) except the
few in :data:`PUBLIC_ROUTES`, which return no fleet data; :func:`build_app` refuses to build an
app with an unguarded route, so a new route cannot slip through.
"""

# no `from __future__ import annotations`: FastAPI must evaluate Annotated[..., Depends(<local>)]
# at definition time, or the operator check silently becomes a query parameter

import asyncio
import json
import pathlib
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from vehicle_mw.gateway.core import GatewayCore
from vehicle_mw.gateway.dashboard_api import add_dashboard_routes
from vehicle_mw.gateway.errors import CommandError, GatewayError
from vehicle_mw.gateway.operator_api import add_operator_routes
from vehicle_mw.gateway.operators import Role
from vehicle_mw.gateway.storage import Queries
from vehicle_mw.gateway.web_auth import SESSION_COOKIE, OperatorAuth, Principal

STATIC = pathlib.Path(__file__).resolve().parent / "static"
LIVE_PERIOD_S = 1.0
# (method, path) answered without an operator: liveness, the login page and the login call
PUBLIC_ROUTES = frozenset({("GET", "/api/health"), ("GET", "/login"), ("POST", "/api/login"), ("GET", "/")})


class CommandRequest(BaseModel):
    """A command for a connected vehicle; ``payload`` is sent as JSON."""

    kind: str = Field(min_length=1, max_length=64, examples=["config"])
    payload: Any = Field(default=None, examples=[{"status_period_s": 1}])


class CommandResult(BaseModel):
    id: int
    ok: bool
    detail: str


def build_app(core: GatewayCore, queries: Queries, auth: OperatorAuth) -> FastAPI:
    """The HTTP application of one gateway."""
    app = FastAPI(
        title="vehicle_mw gateway",
        version="1",
        description="Fleet data, link history, downlink. Authenticate with `Authorization: Bearer <token>` "
        "(`vmw gateway operator token NAME`).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    viewer, operator, admin = (auth.require(r) for r in (Role.VIEWER, Role.OPERATOR, Role.ADMIN))
    add_operator_routes(app, auth)
    add_dashboard_routes(app, core, queries, viewer)  # fleet page, GNSS track, series CSV

    async def q(fn, *args):
        return await asyncio.to_thread(fn, *args)

    async def known(vehicle_id: str) -> None:
        if vehicle_id not in core.vehicles and not await q(queries.exists, vehicle_id):
            raise HTTPException(404, f"unknown vehicle {vehicle_id}")

    @app.get("/api/health", summary="liveness only (no authentication, no fleet data)")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "time_ns": time.time_ns()}

    @app.get("/api/fleet", summary="vehicles with their live link state")
    async def fleet(_: Annotated[Principal, Depends(viewer)]) -> list[dict[str, Any]]:
        return core.live_fleet()

    @app.get("/api/vehicles", summary="every vehicle the database knows")
    async def vehicles(_: Annotated[Principal, Depends(viewer)]) -> list[dict[str, Any]]:
        return await q(queries.vehicles)

    @app.get("/api/vehicles/{vehicle_id}/sessions")
    async def sessions(
        _: Annotated[Principal, Depends(viewer)], vehicle_id: str, limit: int = Query(100, ge=1, le=10_000)
    ) -> list[dict[str, Any]]:
        await known(vehicle_id)
        return await q(queries.sessions, vehicle_id, limit)

    @app.get("/api/vehicles/{vehicle_id}/signals")
    async def signals(_: Annotated[Principal, Depends(viewer)], vehicle_id: str) -> list[dict[str, Any]]:
        await known(vehicle_id)
        return await q(queries.signals, vehicle_id)

    @app.get("/api/vehicles/{vehicle_id}/series", summary="one signal over a time range, downsampled")
    async def series(
        _: Annotated[Principal, Depends(viewer)],
        vehicle_id: str,
        signal: str = Query(description="signal name (message.signal) or id"),
        start_ns: int | None = None,
        end_ns: int | None = None,
        max_points: int = Query(600, ge=2, le=100_000),
    ) -> dict[str, Any]:
        await known(vehicle_id)
        sid = await q(queries.signal_id, vehicle_id, signal)
        if sid is None:
            raise HTTPException(404, f"vehicle {vehicle_id} has no signal {signal!r}")
        return await q(queries.series, vehicle_id, sid, start_ns, end_ns, max_points) | {"signal": signal}

    @app.get("/api/vehicles/{vehicle_id}/link-events")
    async def link_events(
        _: Annotated[Principal, Depends(viewer)], vehicle_id: str, limit: int = Query(200, ge=1, le=10_000)
    ) -> list[dict[str, Any]]:
        await known(vehicle_id)
        return await q(queries.link_events, vehicle_id, limit)

    @app.get("/api/vehicles/{vehicle_id}/status", summary="one vehicle's live state (as in /api/fleet)")
    async def vehicle_status(_: Annotated[Principal, Depends(viewer)], vehicle_id: str) -> dict[str, Any]:
        await known(vehicle_id)
        stored = await q(queries.latest_status, vehicle_id) or {}
        row = core.live_vehicle(vehicle_id)
        if row is None:  # known to the database only (not seen since this gateway started)
            keys = (
                "transport",
                "rtt_ms",
                "loss",
                "frames",
                "outbox_records",
                "outbox_bytes",
                "evicted",
                "corrupt",
            )
            row = {"vehicle_id": vehicle_id, "connected": False} | {k: stored.get(k) for k in keys}
        row["status_ts_ns"] = stored.get("ts_ns")  # vehicle time of the latest VehicleStatus (None: none yet)
        return row

    @app.get(
        "/api/vehicles/{vehicle_id}/link-history",
        summary="link RTT, loss, transport and outbox backlog over time, with the transport switches",
    )
    async def link_history(
        _: Annotated[Principal, Depends(viewer)],
        vehicle_id: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = Query(2000, ge=1, le=100_000),
    ) -> dict[str, Any]:
        """``status``: the VehicleStatus reports in the window, oldest first (``ts_ns``, ``transport``,
        ``rtt_ms``, ``loss``, ``outbox_records``, ``outbox_bytes``, ...); ``switches``: the link events in
        the same window (vehicle time, ns)."""
        await known(vehicle_id)
        return {
            "vehicle_id": vehicle_id,
            "status": await q(queries.status_history, vehicle_id, start_ns, end_ns, limit),
            "switches": await q(queries.link_events_between, vehicle_id, start_ns, end_ns, limit),
        }

    @app.get("/api/vehicles/{vehicle_id}/commands")
    async def commands(_: Annotated[Principal, Depends(viewer)], vehicle_id: str) -> list[dict[str, Any]]:
        await known(vehicle_id)
        return await q(queries.commands, vehicle_id)

    @app.post(
        "/api/vehicles/{vehicle_id}/commands",
        response_model=CommandResult,
        summary="send a command to a connected vehicle and wait for its CommandAck",
    )
    async def send_command(
        who: Annotated[Principal, Depends(operator)], vehicle_id: str, body: CommandRequest
    ) -> CommandResult:
        payload = json.dumps(body.payload).encode()
        row = await auth.record(
            who, who.peer, "command", vehicle_id, "pending", f"{body.kind} {payload[:200]!r}"
        )
        try:
            ack = await core.send_command(vehicle_id, body.kind, payload)
        except CommandError as exc:
            await q(auth.audit.finish, row, "failed", f"{body.kind}: {exc}")
            raise HTTPException(409 if "not connected" in str(exc) else 504, str(exc)) from None
        except BaseException as exc:  # cancelled (client gone, shutdown) or a bug: the row says so
            await asyncio.shield(q(auth.audit.finish, row, "error", f"{body.kind}: {exc!r}"))
            raise
        await q(
            auth.audit.finish, row, "acked" if ack.ok else "rejected", f"{body.kind} #{ack.id}: {ack.detail}"
        )
        return CommandResult(id=ack.id, ok=ack.ok, detail=ack.detail)

    @app.post(
        "/api/vehicles/{vehicle_id}/revoke", summary="refuse the vehicle from now on (ends its session)"
    )
    async def revoke(who: Annotated[Principal, Depends(admin)], vehicle_id: str) -> dict[str, Any]:
        await known(vehicle_id)
        row = await auth.record(who, who.peer, "revoke", vehicle_id, "pending")
        await q(queries.set_revoked, vehicle_id, True)
        core.revoke(vehicle_id)
        await q(auth.audit.finish, row, "ok", "")
        return {"vehicle_id": vehicle_id, "revoked": True}

    @app.get("/metrics", include_in_schema=False)
    async def metrics(_: Annotated[Principal, Depends(viewer)]) -> Response:
        return Response(generate_latest(core.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: Annotated[Principal, Depends(viewer)]) -> dict[str, Any]:
        spec = app.openapi()
        # the guard is a plain dependency, so say here how to authenticate (the /docs "Authorize" button)
        spec.setdefault("components", {})["securitySchemes"] = {
            "operatorToken": {"type": "http", "scheme": "bearer"}
        }
        spec["security"] = [{"operatorToken": []}]
        return spec

    @app.get("/docs", include_in_schema=False)
    async def docs(_: Annotated[Principal, Depends(viewer)]) -> HTMLResponse:
        # Swagger UI from /static (vendored swagger-ui-dist, Apache-2.0): works without internet
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="vehicle_mw gateway API",
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui-favicon.png",
        )

    @app.websocket("/api/live")
    async def live(ws: WebSocket) -> None:
        """Every second: the fleet's live state (viewer, checked again each time; our Origin only)."""
        if not auth.origin_allowed(ws):
            await ws.send_denial_response(Response(f"origin {ws.headers.get('origin')} is not allowed", 403))
            return
        try:
            await auth.identify(ws)
        except HTTPException as exc:
            await ws.send_denial_response(Response(str(exc.detail), exc.status_code, headers=exc.headers))
            return
        await ws.accept()
        try:
            while True:
                try:  # a logout, removed operator or revoked token ends the feed within a period
                    await auth.identify(ws)
                except HTTPException as exc:
                    await ws.close(code=1008, reason=str(exc.detail)[:120])
                    return
                await ws.send_text(
                    json.dumps(
                        {
                            "type": "fleet",
                            "time_ns": time.time_ns(),
                            "gateway_id": core.config.gateway_id,
                            "vehicles": core.live_fleet(),
                        }
                    )
                )
                await asyncio.sleep(LIVE_PERIOD_S)
        except (WebSocketDisconnect, RuntimeError):
            return

    @app.get("/", include_in_schema=False, response_model=None)
    async def dashboard(request: Request) -> FileResponse | RedirectResponse:
        """The page itself holds no data; without a login it sends the browser to /login."""
        if auth.sessions.get(request.cookies.get(SESSION_COOKIE, "")) is None:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / "dashboard.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _check_every_route_is_guarded(app, auth)
    return app


def _check_every_route_is_guarded(app: FastAPI, auth: OperatorAuth) -> None:
    """Refuse an app where a data or control route answers without an operator."""
    for route in app.routes:
        if isinstance(route, APIWebSocketRoute):
            continue  # /api/live checks Origin and the operator inside its handler
        if not isinstance(route, APIRoute):
            if getattr(route, "path", None) == "/static":
                continue  # page assets (HTML, JS, CSS), no data
            raise GatewayError(f"route {route!r} cannot be checked for an operator guard")
        for method in route.methods:
            if (method, route.path) in PUBLIC_ROUTES:
                continue
            if not any(auth.is_guard(d.call) for d in route.dependant.dependencies):
                raise GatewayError(f"route {method} {route.path} has no operator check")


__all__ = ["PUBLIC_ROUTES", "build_app"]

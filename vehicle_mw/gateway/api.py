"""REST query API (OpenAPI at ``/docs`` and ``/openapi.json``), live feed, dashboard and metrics."""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
from typing import Any

from fastapi import FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from vehicle_mw.gateway.core import GatewayCore
from vehicle_mw.gateway.errors import CommandError
from vehicle_mw.gateway.queries import SqliteQueries
from vehicle_mw.gateway.sqlite_sink import set_revoked

STATIC = pathlib.Path(__file__).resolve().parent / "static"
LIVE_PERIOD_S = 1.0


class CommandRequest(BaseModel):
    """A command for a connected vehicle; ``payload`` is sent as JSON."""

    kind: str = Field(min_length=1, max_length=64, examples=["config"])
    payload: Any = Field(default=None, examples=[{"status_period_s": 1}])


class CommandResult(BaseModel):
    id: int
    ok: bool
    detail: str


def build_app(core: GatewayCore, queries: SqliteQueries) -> FastAPI:
    """The HTTP application of one gateway."""
    app = FastAPI(title="vehicle_mw gateway", version="1", description="Fleet data, link history, downlink.")

    async def q(fn, *args):
        return await asyncio.to_thread(fn, *args)

    async def known(vehicle_id: str) -> None:
        if vehicle_id not in core.vehicles and not await q(queries.exists, vehicle_id):
            raise HTTPException(404, f"unknown vehicle {vehicle_id}")

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        return {
            "gateway_id": core.config.gateway_id,
            "sessions": len(core.sessions),
            "time_ns": time.time_ns(),
        }

    @app.get("/api/fleet", summary="vehicles with their live link state")
    async def fleet() -> list[dict[str, Any]]:
        return core.live_fleet()

    @app.get("/api/vehicles", summary="every vehicle the database knows")
    async def vehicles() -> list[dict[str, Any]]:
        return await q(queries.vehicles)

    @app.get("/api/vehicles/{vehicle_id}/sessions")
    async def sessions(vehicle_id: str, limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        await known(vehicle_id)
        return await q(queries.sessions, vehicle_id, limit)

    @app.get("/api/vehicles/{vehicle_id}/signals")
    async def signals(vehicle_id: str) -> list[dict[str, Any]]:
        await known(vehicle_id)
        return await q(queries.signals, vehicle_id)

    @app.get("/api/vehicles/{vehicle_id}/series", summary="one signal over a time range, downsampled")
    async def series(
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
    async def link_events(vehicle_id: str, limit: int = Query(200, ge=1, le=10_000)) -> list[dict[str, Any]]:
        await known(vehicle_id)
        return await q(queries.link_events, vehicle_id, limit)

    @app.get("/api/vehicles/{vehicle_id}/commands")
    async def commands(vehicle_id: str) -> list[dict[str, Any]]:
        await known(vehicle_id)
        return await q(queries.commands, vehicle_id)

    @app.post(
        "/api/vehicles/{vehicle_id}/commands",
        response_model=CommandResult,
        summary="send a command to a connected vehicle and wait for its CommandAck",
    )
    async def send_command(vehicle_id: str, body: CommandRequest) -> CommandResult:
        payload = json.dumps(body.payload).encode()
        try:
            ack = await core.send_command(vehicle_id, body.kind, payload)
        except CommandError as exc:
            raise HTTPException(409 if "not connected" in str(exc) else 504, str(exc)) from None
        return CommandResult(id=ack.id, ok=ack.ok, detail=ack.detail)

    @app.post(
        "/api/vehicles/{vehicle_id}/revoke", summary="refuse the vehicle from now on (ends its session)"
    )
    async def revoke(vehicle_id: str) -> dict[str, Any]:
        await known(vehicle_id)
        await q(set_revoked, core.config.database, vehicle_id, True)
        core.revoke(vehicle_id)
        return {"vehicle_id": vehicle_id, "revoked": True}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(core.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/api/live")
    async def live(ws: WebSocket) -> None:
        """Every second: the fleet's live state."""
        await ws.accept()
        try:
            while True:
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

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


__all__ = ["build_app"]

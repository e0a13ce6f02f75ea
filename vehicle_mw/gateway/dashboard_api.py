"""Routes behind the operator dashboard: a paged fleet list, a GNSS track, a series as CSV.

The fleet page merges the live state of this process (:meth:`GatewayCore.live_fleet`) with what the
database knows (vehicles not connected since the gateway started), then searches, counts, sorts and
pages on the server, so the browser holds one page even for a fleet of 10k vehicles.
"""

# no `from __future__ import annotations`: FastAPI must evaluate Annotated[..., Depends(<local>)]

import asyncio
import csv
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import Response

from vehicle_mw.gateway.core import GatewayCore
from vehicle_mw.gateway.dashboard_queries import DashboardQueries
from vehicle_mw.gateway.storage import Queries
from vehicle_mw.gateway.web_auth import Principal

MAX_PAGE = 500
LINK_STATES = ("up", "down", "revoked")
SortKey = Literal["id", "link", "transport", "rtt", "loss", "backlog", "last_seen"]
_SORT: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda r: r["vehicle_id"],
    "link": lambda r: LINK_STATES.index(r["link_state"]),
    "transport": lambda r: r["transport"],
    "rtt": lambda r: r["rtt_ms"],
    "loss": lambda r: r["loss"],
    "backlog": lambda r: None if r["outbox_records"] is None else (r["outbox_records"], r["outbox_bytes"]),
    "last_seen": lambda r: r["last_seen_ns"],
}
_LIVE_KEYS = ("transport", "rtt_ms", "loss", "outbox_records", "outbox_bytes", "frames", "acked_seq")


def merge_fleet(
    live: list[dict[str, Any]], stored: dict[str, dict[str, Any]], now_ns: int
) -> list[dict[str, Any]]:
    """One row per vehicle known live or stored; live values win where the vehicle reported them."""
    rows: dict[str, dict[str, Any]] = {}
    for vid, s in stored.items():
        rows[vid] = dict(s, connected=False, switches=None, samples=None)
    for lv in live:
        vid = lv["vehicle_id"]
        row = rows.setdefault(
            vid, {"vehicle_id": vid, "revoked": False, "last_seen_ns": None, "status_ts_ns": None}
        )
        for k in _LIVE_KEYS:
            if lv.get(k) is not None or k not in row:
                row[k] = lv.get(k)
        row.update(connected=lv["connected"], switches=lv["switches"], samples=lv["samples"])
        if lv["connected"]:
            row["last_seen_ns"] = now_ns
    for row in rows.values():
        row["link_state"] = "revoked" if row["revoked"] else ("up" if row["connected"] else "down")
    return list(rows.values())


def fleet_page(
    rows: list[dict[str, Any]],
    q: str,
    state: str | None,
    sort: str,
    order: str,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """Counts by link state (whole fleet), then the rows matching ``q``/``state``, sorted, one page.
    Rows without a value for the sort key come last in either order."""
    counts = {s: 0 for s in LINK_STATES}
    for r in rows:
        counts[r["link_state"]] += 1
    needle = q.casefold()
    hits = [
        r
        for r in rows
        if needle in r["vehicle_id"].casefold() and (state is None or r["link_state"] == state)
    ]
    hits.sort(key=_SORT["id"])
    key = _SORT[sort]
    valued = [r for r in hits if key(r) is not None]
    valued.sort(key=key, reverse=order == "desc")  # stable: ties stay in id order
    ordered = valued + [r for r in hits if key(r) is None]
    return {
        "total": len(hits),
        "offset": offset,
        "limit": limit,
        "counts": counts | {"all": len(rows)},
        "rows": ordered[offset : offset + limit],
    }


def _stored_from_queries(queries: Queries) -> dict[str, dict[str, Any]]:
    """The stored fleet through the generic :class:`Queries` API (backends without a SQLite file)."""
    out = {}
    for v in queries.vehicles():
        st = v.get("status") or {}
        out[v["vehicle_id"]] = {
            "vehicle_id": v["vehicle_id"],
            "revoked": bool(v.get("revoked")),
            "last_seen_ns": v.get("last_seen_ns") or None,
            "acked_seq": v.get("acked_seq"),
            "status_ts_ns": st.get("ts_ns"),
        } | {
            k: st.get(k) for k in ("transport", "rtt_ms", "loss", "outbox_records", "outbox_bytes", "frames")
        }
    return out


def _csv(series: dict[str, Any]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    down = series.get("downsampled", False)
    out.writerow(["ts_ns", "time_utc", "value"] + (["min", "max"] if down else []))
    for p in series["points"]:
        iso = datetime.fromtimestamp(p[0] / 1e9, UTC).isoformat(timespec="microseconds")
        out.writerow([p[0], iso, *("" if v is None else repr(v) for v in p[1:])])
    return buf.getvalue()


def add_dashboard_routes(app: FastAPI, core: GatewayCore, queries: Queries, viewer: Callable) -> None:
    """Register the dashboard's routes on ``app``; ``viewer`` is the operator guard (viewer and above)."""
    path = getattr(queries, "path", None)  # the SQLite backend's file: one query for the whole fleet
    dq = DashboardQueries(path) if path is not None else None

    async def known(vehicle_id: str) -> None:
        if vehicle_id not in core.vehicles and not await asyncio.to_thread(queries.exists, vehicle_id):
            raise HTTPException(404, f"unknown vehicle {vehicle_id}")

    @app.get("/api/fleet/page", summary="one page of the fleet: search, filter, sort, counts by link state")
    async def fleet_list(
        _: Annotated[Principal, Depends(viewer)],
        q: str = Query("", max_length=64, description="substring of the vehicle id (case-insensitive)"),
        state: Literal["up", "down", "revoked"] | None = Query(None, description="only this link state"),
        sort: SortKey = "id",
        order: Literal["asc", "desc"] = "asc",
        offset: int = Query(0, ge=0, le=10_000_000),
        limit: int = Query(50, ge=1, le=MAX_PAGE),
    ) -> dict[str, Any]:
        """``counts``: vehicles per link state in the whole fleet; ``total``: rows matching ``q`` and
        ``state``; ``rows``: the page, each with ``link_state`` (up, down, revoked)."""
        live = core.live_fleet()
        if dq is not None:
            stored = await asyncio.to_thread(dq.stored_fleet)
        else:
            stored = await asyncio.to_thread(_stored_from_queries, queries)
        rows = merge_fleet(live, stored, time.time_ns())
        return await asyncio.to_thread(fleet_page, rows, q, state, sort, order, offset, limit)

    @app.get(
        "/api/vehicles/{vehicle_id}/track", summary="GNSS position over time (latitude/longitude signals)"
    )
    async def track(
        _: Annotated[Principal, Depends(viewer)],
        vehicle_id: str,
        max_points: int = Query(2000, ge=2, le=20_000),
    ) -> dict[str, Any]:
        """``points``: [ts_ns, latitude, longitude]; the signals are the first whose names end in
        ``lat``/``latitude`` and ``lon``/``lng``/``longitude``; empty when the vehicle has none."""
        await known(vehicle_id)
        if dq is None:
            raise HTTPException(501, "GNSS tracks need the SQLite storage backend")
        return await asyncio.to_thread(dq.track, vehicle_id, max_points)

    @app.get(
        "/api/vehicles/{vehicle_id}/series.csv",
        summary="one signal over a time range as CSV (ts_ns, time_utc, value[, min, max])",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def series_csv(
        _: Annotated[Principal, Depends(viewer)],
        vehicle_id: str,
        signal: str = Query(min_length=1, max_length=256, description="signal name (message.signal) or id"),
        start_ns: int | None = None,
        end_ns: int | None = None,
        max_points: int = Query(100_000, ge=2, le=100_000),
    ) -> Response:
        await known(vehicle_id)
        sid = await asyncio.to_thread(queries.signal_id, vehicle_id, signal)
        if sid is None:
            raise HTTPException(404, f"vehicle {vehicle_id} has no signal {signal!r}")
        series = await asyncio.to_thread(queries.series, vehicle_id, sid, start_ns, end_ns, max_points)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{vehicle_id}_{signal}")
        return Response(
            _csv(series),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{safe}.csv"'},
        )


__all__ = ["MAX_PAGE", "add_dashboard_routes", "fleet_page", "merge_fleet"]

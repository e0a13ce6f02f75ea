"""Read-side queries the dashboard needs beyond :class:`~vehicle_mw.gateway.storage.Queries`.

The fleet page (every stored vehicle with its latest status, in one statement) and a GNSS track
(latitude and longitude joined on time, downsampled). Own read-only connection on the gateway's
SQLite file, opened per call (cheap; nothing to close when the gateway stops); callers in the event
loop go through ``asyncio.to_thread``.
"""

from __future__ import annotations

import math
import pathlib
import re
import sqlite3
import threading
import time
from typing import Any

LAT = re.compile(r"(?:^|[._/])(?:lat|latitude)$", re.IGNORECASE)
LON = re.compile(r"(?:^|[._/])(?:lon|lng|long|longitude)$", re.IGNORECASE)
FLEET_CACHE_S = 1.0  # the page polls; 10k vehicles are read at most once a second


def _real(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else v


class DashboardQueries:
    """Fleet rows and GNSS tracks from a gateway database (read-only)."""

    def __init__(self, path: str | pathlib.Path):
        self.uri = f"{pathlib.Path(path).resolve().as_uri()}?mode=ro"
        self._lock = threading.Lock()
        self._fleet: tuple[float, dict[str, dict[str, Any]]] | None = None

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(self.uri, uri=True, timeout=30)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def stored_fleet(self) -> dict[str, dict[str, Any]]:
        """vehicle id -> what the database knows (revoked, last seen, latest status); cached 1 s."""
        with self._lock:  # one reader refreshes the cache, the others wait for its result
            now = time.monotonic()
            if self._fleet is not None and now - self._fleet[0] < FLEET_CACHE_S:
                return self._fleet[1]
            self._fleet = (now, self._read_fleet())
            return self._fleet[1]

    def _read_fleet(self) -> dict[str, dict[str, Any]]:
        rows = self._query(
            "SELECT v.vehicle_id, v.revoked, v.last_seen_ns, v.acked_seq, s.ts_ns, s.transport, s.rtt_ms,"
            " s.loss, s.outbox_records, s.outbox_bytes, s.frames"
            " FROM vehicles v LEFT JOIN status s"
            " ON s.key = (SELECT MAX(key) FROM status WHERE vehicle_key = v.key)"
        )
        return {
            r[0]: {
                "vehicle_id": r[0],
                "revoked": bool(r[1]),
                "last_seen_ns": r[2] or None,
                "acked_seq": r[3],
                "status_ts_ns": r[4],
                "transport": r[5] or None,
                "rtt_ms": _real(r[6]),
                "loss": _real(r[7]),
                "outbox_records": r[8],
                "outbox_bytes": r[9],
                "frames": r[10],
            }
            for r in rows
        }

    def _signal(self, vehicle_id: str, pattern: re.Pattern) -> tuple[int, str] | None:
        rows = self._query(
            "SELECT s.signal_id, s.name FROM signals s JOIN vehicles v ON v.key = s.vehicle_key"
            " WHERE v.vehicle_id = ? ORDER BY s.name",
            (vehicle_id,),
        )
        return next(((sid, name) for sid, name in rows if pattern.search(name)), None)

    def track(self, vehicle_id: str, max_points: int) -> dict[str, Any]:
        """The vehicle's position over time: the first latitude/longitude signals by name, paired on
        their timestamps, averaged per time bucket when there are more than ``max_points``."""
        lat, lon = self._signal(vehicle_id, LAT), self._signal(vehicle_id, LON)
        out: dict[str, Any] = {
            "vehicle_id": vehicle_id,
            "latitude": lat[1] if lat else None,
            "longitude": lon[1] if lon else None,
            "points": [],
        }
        if lat is None or lon is None:
            return out
        join = (
            " FROM samples a JOIN vehicles v ON v.key = a.vehicle_key"
            " JOIN samples b ON b.vehicle_key = a.vehicle_key AND b.signal_id = ? AND b.ts_ns = a.ts_ns"
            " WHERE v.vehicle_id = ? AND a.signal_id = ? AND a.value = a.value AND b.value = b.value"
        )
        args = (lon[0], vehicle_id, lat[0])
        lo, hi, n = self._query(f"SELECT MIN(a.ts_ns), MAX(a.ts_ns), COUNT(*){join}", args)[0]
        out["count"] = n
        if not n:
            return out
        width = max(1, (hi - lo) // max_points + 1)
        rows = self._query(
            f"SELECT MIN(a.ts_ns), AVG(a.value), AVG(b.value){join} GROUP BY (a.ts_ns - ?) / ? ORDER BY 1",
            (*args, lo, width),
        )
        out["points"] = [[ts, la, lo_] for ts, la, lo_ in rows]
        return out


__all__ = ["LAT", "LON", "DashboardQueries"]

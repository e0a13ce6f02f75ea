"""Read side of the SQLite store: what the REST API and the dashboard show.

Runs on its own connection (WAL lets it read while the writer commits); callers in the event
loop go through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import pathlib
import sqlite3
import threading
from typing import Any

from vehicle_mw.gateway.sqlite_sink import connect, json_real, set_revoked
from vehicle_mw.gateway.storage import Queries


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class SqliteQueries(Queries):
    """Fleet, sessions, time series and link history from a gateway database."""

    def __init__(self, path: str | pathlib.Path):
        self.path = path
        self._conn = connect(path, readonly=True)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def _query(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return _rows(self._conn.execute(sql, args))

    def _vehicle_key(self, vehicle_id: str) -> int | None:
        rows = self._query("SELECT key FROM vehicles WHERE vehicle_id=?", (vehicle_id,))
        return rows[0]["key"] if rows else None

    def exists(self, vehicle_id: str) -> bool:
        return self._vehicle_key(vehicle_id) is not None

    def vehicles(self) -> list[dict[str, Any]]:
        """Every vehicle with its counters, latest status and latest link event."""
        rows = self._query(
            "SELECT v.vehicle_id, v.revoked, v.software_version, v.acked_seq, v.last_seen_ns,"
            " v.registered_ns,"
            " (SELECT COUNT(*) FROM batches b WHERE b.vehicle_key=v.key) AS batches,"
            " (SELECT COALESCE(SUM(samples), 0) FROM batches b WHERE b.vehicle_key=v.key) AS samples,"
            " (SELECT COUNT(*) FROM link_events e WHERE e.vehicle_key=v.key AND e.from_transport<>''"
            "   AND e.from_transport<>e.to_transport) AS switches"
            " FROM vehicles v ORDER BY v.vehicle_id"
        )
        for row in rows:
            key = self._vehicle_key(row["vehicle_id"])
            status = self._query(
                "SELECT ts_ns, frames, samples, outbox_records, outbox_bytes, evicted, corrupt, transport,"
                " rtt_ms, loss"
                " FROM status WHERE vehicle_key=? ORDER BY key DESC LIMIT 1",
                (key,),
            )
            row["status"] = status[0] if status else None
            row["revoked"] = bool(row["revoked"])
        return rows

    def sessions(self, vehicle_id: str, limit: int = 100) -> list[dict[str, Any]]:
        key = self._vehicle_key(vehicle_id)
        return self._query(
            "SELECT key, session_id, transport, peer, opened_ns, closed_ns, close_reason, batches, samples"
            " FROM sessions WHERE vehicle_key=? ORDER BY opened_ns DESC LIMIT ?",
            (key, limit),
        )

    def signals(self, vehicle_id: str) -> list[dict[str, Any]]:
        key = self._vehicle_key(vehicle_id)
        rows = self._query(
            "SELECT s.signal_id, s.name, s.unit, s.vss_path, s.kind, s.source, s.choices,"
            " (SELECT COUNT(*) FROM samples x WHERE x.vehicle_key=s.vehicle_key AND x.signal_id=s.signal_id)"
            " AS samples FROM signals s WHERE s.vehicle_key=? ORDER BY s.name",
            (key,),
        )
        for row in rows:
            row["choices"] = json.loads(row["choices"])
        return rows

    def signal_id(self, vehicle_id: str, signal: str) -> int | None:
        """A signal's id from its name (or its id as text)."""
        key = self._vehicle_key(vehicle_id)
        rows = self._query("SELECT signal_id FROM signals WHERE vehicle_key=? AND name=?", (key, signal))
        if rows:
            return rows[0]["signal_id"]
        return int(signal) if signal.isdigit() else None

    def series(
        self, vehicle_id: str, signal_id: int, start_ns: int | None, end_ns: int | None, max_points: int
    ) -> dict[str, Any]:
        """Samples of one signal in [start, end]; min/avg/max per bucket when more than max_points."""
        key = self._vehicle_key(vehicle_id)
        bounds = self._query(
            "SELECT MIN(ts_ns) AS lo, MAX(ts_ns) AS hi, COUNT(*) AS n FROM samples"
            " WHERE vehicle_key=? AND signal_id=? AND ts_ns BETWEEN ? AND ?",
            (
                key,
                signal_id,
                start_ns if start_ns is not None else -(2**63),
                end_ns if end_ns is not None else 2**63 - 1,
            ),
        )[0]
        out: dict[str, Any] = {"vehicle_id": vehicle_id, "signal_id": signal_id, "count": bounds["n"]}
        if not bounds["n"]:
            return out | {"downsampled": False, "points": []}
        lo, hi = bounds["lo"], bounds["hi"]
        if bounds["n"] <= max_points:
            pts = self._query(
                "SELECT ts_ns, value FROM samples WHERE vehicle_key=? AND signal_id=?"
                " AND ts_ns BETWEEN ? AND ?"
                " ORDER BY ts_ns",
                (key, signal_id, lo, hi),
            )
            return out | {"downsampled": False, "points": [[p["ts_ns"], json_real(p["value"])] for p in pts]}
        width = max(1, (hi - lo) // max_points + 1)
        pts = self._query(
            "SELECT (ts_ns - ?) / ? AS bucket, MIN(ts_ns) AS ts, AVG(NULLIF(value, 'NaN')) AS avg,"
            " MIN(NULLIF(value, 'NaN')) AS min, MAX(NULLIF(value, 'NaN')) AS max FROM samples"
            " WHERE vehicle_key=? AND signal_id=? AND ts_ns BETWEEN ? AND ?"
            " GROUP BY bucket ORDER BY bucket",
            (lo, width, key, signal_id, lo, hi),
        )
        return out | {
            "downsampled": True,
            "bucket_ns": width,
            "points": [[p["ts"], json_real(p["avg"]), json_real(p["min"]), json_real(p["max"])] for p in pts],
        }

    def link_events(self, vehicle_id: str, limit: int = 200) -> list[dict[str, Any]]:
        key = self._vehicle_key(vehicle_id)
        return self._query(
            "SELECT ts_ns, from_transport, to_transport, reason, rtt_ms, rttvar_ms, loss FROM link_events"
            " WHERE vehicle_key=? ORDER BY ts_ns DESC LIMIT ?",
            (key, limit),
        )

    _STATUS = (
        "ts_ns, transport, rtt_ms, loss, outbox_records, outbox_bytes, frames, samples, evicted, corrupt"
    )

    def latest_status(self, vehicle_id: str) -> dict[str, Any] | None:
        """The vehicle's most recent stored ``VehicleStatus``, or None before its first."""
        key = self._vehicle_key(vehicle_id)
        rows = self._query(
            f"SELECT {self._STATUS} FROM status WHERE vehicle_key=? ORDER BY key DESC LIMIT 1", (key,)
        )
        return rows[0] if rows else None

    def status_history(
        self, vehicle_id: str, start_ns: int | None = None, end_ns: int | None = None, limit: int = 2000
    ) -> list[dict[str, Any]]:
        """Stored statuses in [start_ns, end_ns] (vehicle time), oldest first, the newest ``limit`` of them:
        RTT, loss and transport of the link, outbox backlog, over time."""
        key = self._vehicle_key(vehicle_id)
        rows = self._query(
            f"SELECT {self._STATUS} FROM status WHERE vehicle_key=? AND ts_ns>=? AND ts_ns<=?"
            " ORDER BY key DESC LIMIT ?",
            (key, start_ns if start_ns is not None else -(2**63), end_ns if end_ns is not None else 2**63 - 1,
             limit),
        )  # fmt: skip
        rows.reverse()
        for row in rows:
            row["rtt_ms"], row["loss"] = json_real(row["rtt_ms"]), json_real(row["loss"])
        return rows

    def link_events_between(
        self, vehicle_id: str, start_ns: int | None, end_ns: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """Transport switches in [start_ns, end_ns], oldest first (the newest ``limit``)."""
        key = self._vehicle_key(vehicle_id)
        rows = self._query(
            "SELECT ts_ns, from_transport, to_transport, reason, rtt_ms, rttvar_ms, loss FROM link_events"
            " WHERE vehicle_key=? AND ts_ns>=? AND ts_ns<=? ORDER BY ts_ns DESC LIMIT ?",
            (key, start_ns if start_ns is not None else -(2**63), end_ns if end_ns is not None else 2**63 - 1,
             limit),
        )  # fmt: skip
        rows.reverse()
        return rows

    def commands(self, vehicle_id: str, limit: int = 50) -> list[dict[str, Any]]:
        key = self._vehicle_key(vehicle_id)
        rows = self._query(
            "SELECT command_id, kind, payload, sent_ns, ok, detail FROM commands WHERE vehicle_key=?"
            " ORDER BY key DESC LIMIT ?",
            (key, limit),
        )
        for row in rows:
            row["payload"] = bytes(row["payload"]).decode("utf-8", "replace")
            row["ok"] = None if row["ok"] is None else bool(row["ok"])
        return rows

    def sample_count(self, vehicle_id: str) -> int:
        key = self._vehicle_key(vehicle_id)
        return self._query("SELECT COUNT(*) AS n FROM samples WHERE vehicle_key=?", (key,))[0]["n"]

    def set_revoked(self, vehicle_id: str, revoked: bool) -> None:
        set_revoked(self.path, vehicle_id, revoked)


__all__ = ["SqliteQueries"]

"""Read side on PostgreSQL: the same answers as :class:`~vehicle_mw.gateway.queries.SqliteQueries`.

Samples live in chunks (:mod:`vehicle_mw.cluster.chunks`): a range read fetches the chunks whose
[t0, t1] overlaps the range through the (vehicle, signal, t0) index, decodes them with numpy and
downsamples to min/avg/max per bucket, the same buckets as the SQLite query.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from psycopg.rows import dict_row

from vehicle_mw.cluster import pg_store
from vehicle_mw.cluster.chunks import decode
from vehicle_mw.cluster.pg_sink import PgReader
from vehicle_mw.gateway.sqlite_sink import json_real
from vehicle_mw.gateway.storage import Queries

LO, HI = -(2**63), 2**63 - 1


def _bounds(start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
    return (LO if start_ns is None else start_ns, HI if end_ns is None else end_ns)


def _f(v: float | None) -> float | str | None:
    return None if v is None else json_real(float(v))


class PgQueries(Queries):
    """Fleet, sessions, time series and link history from the fleet's PostgreSQL database."""

    def __init__(self, dsn: str):
        self._reader = PgReader(dsn)

    def close(self) -> None:
        self._reader.close()

    def _query(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        def run(conn):
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql, args)
                return cur.fetchall()

        return self._reader.run(run)

    def _vehicle_key(self, vehicle_id: str) -> int | None:
        rows = self._query("SELECT key FROM vehicles WHERE vehicle_id=%s", (vehicle_id,))
        return rows[0]["key"] if rows else None

    def exists(self, vehicle_id: str) -> bool:
        return self._vehicle_key(vehicle_id) is not None

    def vehicles(self) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT v.vehicle_id, v.revoked, v.software_version, v.acked_seq, v.last_seen_ns,"
            " v.registered_ns,"
            " (SELECT COUNT(*) FROM batches b WHERE b.vehicle_key=v.key) AS batches,"
            " (SELECT COALESCE(SUM(samples), 0) FROM batches b WHERE b.vehicle_key=v.key)::bigint AS samples,"
            " (SELECT COUNT(*) FROM link_events e WHERE e.vehicle_key=v.key AND e.from_transport<>''"
            "   AND e.from_transport<>e.to_transport) AS switches, v.key AS vkey"
            " FROM vehicles v ORDER BY v.vehicle_id"
        )
        for row in rows:
            status = self._query(
                "SELECT ts_ns, frames, samples, outbox_records, outbox_bytes, evicted, corrupt, transport,"
                " rtt_ms, loss FROM status WHERE vehicle_key=%s ORDER BY key DESC LIMIT 1",
                (row.pop("vkey"),),
            )
            row["status"] = status[0] if status else None
        return rows

    def sessions(self, vehicle_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return self._query(
            "SELECT key, session_id, transport, peer, opened_ns, closed_ns, close_reason, batches, samples"
            " FROM sessions WHERE vehicle_key=%s ORDER BY opened_ns DESC LIMIT %s",
            (self._vehicle_key(vehicle_id), limit),
        )

    def signals(self, vehicle_id: str) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT s.signal_id, s.name, s.unit, s.vss_path, s.kind, s.source, s.choices,"
            " (SELECT COALESCE(SUM(n), 0) FROM chunks x WHERE x.vehicle_key=s.vehicle_key"
            "  AND x.signal_id=s.signal_id)::bigint AS samples"
            " FROM signals s WHERE s.vehicle_key=%s ORDER BY s.name",
            (self._vehicle_key(vehicle_id),),
        )
        for row in rows:
            row["choices"] = json.loads(row["choices"])
        return rows

    def signal_id(self, vehicle_id: str, signal: str) -> int | None:
        rows = self._query(
            "SELECT signal_id FROM signals WHERE vehicle_key=%s AND name=%s",
            (self._vehicle_key(vehicle_id), signal),
        )
        if rows:
            return rows[0]["signal_id"]
        return int(signal) if signal.isdigit() else None

    def _samples(self, key: int | None, signal_id: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._query(
            "SELECT data FROM chunks WHERE vehicle_key=%s AND signal_id=%s AND t0<=%s AND t1>=%s",
            (key, signal_id, hi, lo),
        )
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0)
        parts = [decode(bytes(r["data"])) for r in rows]
        ts = np.concatenate([p.ts for p in parts])
        val = np.concatenate([p.value for p in parts])
        keep = (ts >= lo) & (ts <= hi)
        ts, val = ts[keep], val[keep]
        order = np.argsort(ts, kind="stable")
        return ts[order], val[order]

    def series(
        self, vehicle_id: str, signal_id: int, start_ns: int | None, end_ns: int | None, max_points: int
    ) -> dict[str, Any]:
        """Samples of one signal in [start, end]; min/avg/max per bucket when more than max_points."""
        key = self._vehicle_key(vehicle_id)
        ts, val = self._samples(
            key, signal_id, LO if start_ns is None else start_ns, HI if end_ns is None else end_ns
        )
        out: dict[str, Any] = {"vehicle_id": vehicle_id, "signal_id": signal_id, "count": int(len(ts))}
        if not len(ts):
            return out | {"downsampled": False, "points": []}
        if len(ts) <= max_points:
            return out | {
                "downsampled": False,
                "points": [[int(t), _f(v)] for t, v in zip(ts, val, strict=True)],
            }
        lo, hi = int(ts[0]), int(ts[-1])
        width = max(1, (hi - lo) // max_points + 1)
        bucket = (ts - lo) // width
        cuts = np.flatnonzero(np.diff(bucket)) + 1
        starts = np.concatenate(([0], cuts))
        points = []
        for seg_ts, seg in zip(np.split(ts, cuts), np.split(val, cuts), strict=True):
            finite = seg[~np.isnan(seg)]
            if len(finite):
                points.append([int(seg_ts[0]), _f(finite.mean()), _f(finite.min()), _f(finite.max())])
            else:
                points.append([int(seg_ts[0]), None, None, None])
        assert len(points) == len(starts)
        return out | {"downsampled": True, "bucket_ns": width, "points": points}

    def link_events(self, vehicle_id: str, limit: int = 200) -> list[dict[str, Any]]:
        return self._query(
            "SELECT ts_ns, from_transport, to_transport, reason, rtt_ms, rttvar_ms, loss FROM link_events"
            " WHERE vehicle_key=%s ORDER BY ts_ns DESC LIMIT %s",
            (self._vehicle_key(vehicle_id), limit),
        )

    _STATUS = (
        "ts_ns, transport, rtt_ms, loss, outbox_records, outbox_bytes, frames, samples, evicted, corrupt"
    )

    def latest_status(self, vehicle_id: str) -> dict[str, Any] | None:
        rows = self._query(
            f"SELECT {self._STATUS} FROM status WHERE vehicle_key=%s ORDER BY key DESC LIMIT 1",
            (self._vehicle_key(vehicle_id),),
        )
        return rows[0] if rows else None

    def status_history(
        self, vehicle_id: str, start_ns: int | None = None, end_ns: int | None = None, limit: int = 2000
    ) -> list[dict[str, Any]]:
        rows = self._query(
            f"SELECT {self._STATUS} FROM status WHERE vehicle_key=%s AND ts_ns>=%s AND ts_ns<=%s"
            " ORDER BY key DESC LIMIT %s",
            (self._vehicle_key(vehicle_id), *_bounds(start_ns, end_ns), limit),
        )  # fmt: skip
        rows.reverse()
        for row in rows:
            row["rtt_ms"], row["loss"] = _f(row["rtt_ms"]), _f(row["loss"])
        return rows

    def link_events_between(
        self, vehicle_id: str, start_ns: int | None, end_ns: int | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT ts_ns, from_transport, to_transport, reason, rtt_ms, rttvar_ms, loss FROM link_events"
            " WHERE vehicle_key=%s AND ts_ns>=%s AND ts_ns<=%s ORDER BY ts_ns DESC LIMIT %s",
            (self._vehicle_key(vehicle_id), *_bounds(start_ns, end_ns), limit),
        )  # fmt: skip
        rows.reverse()
        return rows

    def commands(self, vehicle_id: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT command_id, kind, payload, sent_ns, ok, detail FROM commands WHERE vehicle_key=%s"
            " ORDER BY key DESC LIMIT %s",
            (self._vehicle_key(vehicle_id), limit),
        )
        for row in rows:
            row["payload"] = bytes(row["payload"]).decode("utf-8", "replace")
        return rows

    def sample_count(self, vehicle_id: str) -> int:
        rows = self._query(
            "SELECT COALESCE(SUM(n), 0)::bigint AS n FROM chunks WHERE vehicle_key=%s",
            (self._vehicle_key(vehicle_id),),
        )
        return int(rows[0]["n"])

    def source_seqs(self, vehicle_id: str) -> np.ndarray:
        """Every stored sample's (source_id << 40 | source_seq), for loss/duplicate checks."""
        rows = self._query("SELECT data FROM chunks WHERE vehicle_key=%s", (self._vehicle_key(vehicle_id),))
        parts = [decode(bytes(r["data"])) for r in rows]
        if not parts:
            return np.zeros(0, np.int64)
        return np.concatenate([(p.source_id << 40) | p.source_seq for p in parts])

    def set_revoked(self, vehicle_id: str, revoked: bool) -> None:
        self._reader.run(pg_store.set_revoked, vehicle_id, revoked)


__all__ = ["PgQueries"]

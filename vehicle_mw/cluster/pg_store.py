"""Writes to the PostgreSQL schema shared by the direct sink and the JetStream sink workers.

:func:`store_batches` is the idempotent part: in one transaction it inserts each batch's
``batches`` row with ``ON CONFLICT DO NOTHING`` (sorted, so two writers never deadlock) and COPYs
the chunks of only the batches whose row it inserted. A redelivered or resent batch is a no-op,
however long after the first copy it comes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import psycopg

from vehicle_mw.cluster.chunks import encode_columns
from vehicle_mw.v1 import link_pb2

CHUNK_COLUMNS = ("vehicle_key", "signal_id", "t0", "t1", "batch_seq", "n", "data")
CHUNK_TYPES = ["int4", "int4", "int8", "int8", "int8", "int4", "bytea"]


class VehicleKeys:
    """vehicle_id -> vehicles.key, created on first use (cache cleared when a transaction fails)."""

    def __init__(self) -> None:
        self._keys: dict[str, int] = {}

    def clear(self) -> None:
        self._keys.clear()

    def get(self, conn: psycopg.Connection, vehicle_id: str) -> int:
        key = self._keys.get(vehicle_id)
        if key is None:
            row = conn.execute(
                "INSERT INTO vehicles(vehicle_id, registered_ns) VALUES (%s, %s)"
                " ON CONFLICT (vehicle_id) DO UPDATE SET vehicle_id=EXCLUDED.vehicle_id RETURNING key",
                (vehicle_id, time.time_ns()),
            ).fetchone()
            assert row is not None
            key = self._keys[vehicle_id] = row[0]
        return key


def store_batches(
    conn: psycopg.Connection,
    keys: VehicleKeys,
    items: Sequence[tuple[str, link_pb2.SampleBatch, link_pb2.SampleColumns]],
) -> list[bool]:
    """Store each (vehicle, batch, columns) unless stored; True where stored now. Call inside a
    transaction (the caller commits, then acknowledges)."""
    if not items:
        return []
    now = time.time_ns()
    rows = [
        (keys.get(conn, vid), int(b.seq), len(c.signal_id), b.created_ns, now, b.evicted_before)
        for vid, b, c in items
    ]
    first: dict[tuple[int, int], int] = {}  # the same batch twice in one group: the first stores it
    for i, row in enumerate(rows):
        first.setdefault((row[0], row[1]), i)
    uniq = sorted(first)  # one order for every writer: concurrent writers never deadlock
    cols = list(zip(*(rows[first[k]] for k in uniq), strict=True))
    stored = [False] * len(items)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO batches(vehicle_key, seq, samples, created_ns, stored_ns, evicted_before)"
            " SELECT * FROM unnest(%s::int4[], %s::int8[], %s::int4[], %s::int8[], %s::int8[], %s::int8[])"
            " ON CONFLICT DO NOTHING RETURNING vehicle_key, seq",
            [list(c) for c in cols],
        )
        for vk, seq in cur.fetchall():
            stored[first[(vk, seq)]] = True
        new = [i for i in range(len(items)) if stored[i]]
        if new:
            with cur.copy(f"COPY chunks ({', '.join(CHUNK_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(CHUNK_TYPES)
                for i in new:
                    vk, seq = rows[i][0], rows[i][1]
                    for ch in encode_columns(items[i][2]):
                        copy.write_row((vk, ch.signal_id, ch.t0, ch.t1, seq, ch.n, ch.data))
    return stored


def register(conn, keys: VehicleKeys, vehicle_id: str, software_version: str) -> None:
    conn.execute(
        "UPDATE vehicles SET software_version=%s, last_seen_ns=%s WHERE key=%s",
        (software_version, time.time_ns(), keys.get(conn, vehicle_id)),
    )


def acked(conn, keys: VehicleKeys, vehicle_id: str, acked_seq: int) -> None:
    conn.execute(
        "UPDATE vehicles SET acked_seq=GREATEST(acked_seq, %s), last_seen_ns=%s WHERE key=%s",
        (acked_seq, time.time_ns(), keys.get(conn, vehicle_id)),
    )


def catalog(conn, keys: VehicleKeys, vehicle_id: str, cat: link_pb2.Catalog) -> None:
    key = keys.get(conn, vehicle_id)
    conn.execute("DELETE FROM signals WHERE vehicle_key=%s", (key,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO signals VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(key, s.id, s.name, s.unit, s.vss_path, s.kind, s.source,
              json.dumps({str(k): v for k, v in s.choices.items()})) for s in cat.signals],
        )  # fmt: skip
    conn.execute("UPDATE vehicles SET catalog_hash=%s WHERE key=%s", (cat.hash, key))


def link_event(conn, keys: VehicleKeys, vehicle_id: str, ev: link_pb2.LinkEvent) -> None:
    conn.execute(
        "INSERT INTO link_events(vehicle_key, ts_ns, from_transport, to_transport, reason, rtt_ms,"
        " rttvar_ms, loss) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (keys.get(conn, vehicle_id), ev.ts_ns, ev.from_transport, ev.to_transport, ev.reason,
         ev.rtt_ms, ev.rttvar_ms, ev.loss),
    )  # fmt: skip


def status(conn, keys: VehicleKeys, vehicle_id: str, st: link_pb2.VehicleStatus) -> None:
    conn.execute(
        "INSERT INTO status(vehicle_key, ts_ns, frames, samples, outbox_records, outbox_bytes, evicted,"
        " corrupt, transport, rtt_ms, loss) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (keys.get(conn, vehicle_id), st.ts_ns, st.frames, st.samples, st.outbox_records, st.outbox_bytes,
         st.evicted, st.corrupt, st.transport, st.rtt_ms, st.loss),
    )  # fmt: skip


def open_session(conn, keys: VehicleKeys, vehicle_id, session_id, transport, peer, opened_ns) -> int:
    row = conn.execute(
        "INSERT INTO sessions(vehicle_key, session_id, transport, peer, opened_ns)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING key",
        (keys.get(conn, vehicle_id), session_id, transport, peer, opened_ns),
    ).fetchone()
    return int(row[0])


def close_session(conn, keys: VehicleKeys, session_key, closed_ns, reason, batches, samples) -> None:
    conn.execute(
        "UPDATE sessions SET closed_ns=%s, close_reason=%s, batches=%s, samples=%s WHERE key=%s",
        (closed_ns, reason, batches, samples, session_key),
    )


def command(conn, keys: VehicleKeys, vehicle_id, cmd: link_pb2.Command, sent_ns: int, ack) -> None:
    conn.execute(
        "INSERT INTO commands(vehicle_key, command_id, kind, payload, sent_ns, ok, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (keys.get(conn, vehicle_id), cmd.id, cmd.kind, cmd.payload, sent_ns,
         None if ack is None else ack.ok, None if ack is None else ack.detail),
    )  # fmt: skip


def set_revoked(conn, vehicle_id: str, revoked: bool) -> None:
    """Revoke or re-admit (revoking also revokes every token issued until now, as on SQLite)."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO vehicles(vehicle_id, registered_ns) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (vehicle_id, time.time_ns()),
        )
        conn.execute("UPDATE vehicles SET revoked=%s WHERE vehicle_id=%s", (revoked, vehicle_id))
        kind, floor = ("vehicle", int(time.time()) + 1) if revoked else ("admit", 0)
        conn.execute(
            "INSERT INTO revocations(vehicle_id, kind, issued_before, ts_ns) VALUES (%s, %s, %s, %s)",
            (vehicle_id, kind, floor, time.time_ns()),
        )


__all__ = ["CHUNK_COLUMNS", "VehicleKeys", "store_batches"]

"""PostgreSQL sink: the SQLite sink's fair group commits, each group one transaction with one COPY.

The grouping (one queue per vehicle, round-robin groups, futures resolved after COMMIT) is
inherited from :class:`~vehicle_mw.gateway.sqlite_sink.SqliteSink`; what differs is the
transaction. A lost connection (server restart, failover) is not a failed write: the group is
retried on a new connection with backoff, its futures unresolved meanwhile, so vehicles get no Ack
and keep their data in their outboxes, and the session's in-flight bound stops reading from them
(back-pressure). A retry after an uncertain COMMIT is safe: the batch rows are the dedup key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

import psycopg

from vehicle_mw.cluster import pg_store
from vehicle_mw.cluster.pg_schema import apply_schema
from vehicle_mw.gateway import revocation
from vehicle_mw.gateway.errors import GatewayError
from vehicle_mw.gateway.sink import VehicleRecord
from vehicle_mw.gateway.sqlite_sink import SqliteSink

log = logging.getLogger("vehicle_mw.cluster.pg")
MAX_BACKOFF_S = 2.0


class _NoConn:
    def close(self) -> None:
        pass


def load_vehicle(conn: psycopg.Connection, vehicle_id: str) -> VehicleRecord | None:
    """The vehicle's record from PostgreSQL (watermark, stored seqs above it, catalog, revoked)."""
    row = conn.execute(
        "SELECT key, acked_seq, catalog_hash, revoked FROM vehicles WHERE vehicle_id=%s", (vehicle_id,)
    ).fetchone()
    if row is None:
        return None
    key, acked, catalog_hash, revoked = row
    ids = frozenset(i for (i,) in conn.execute("SELECT signal_id FROM signals WHERE vehicle_key=%s", (key,)))
    above = [s for (s,) in conn.execute(
        "SELECT seq FROM batches WHERE vehicle_key=%s AND seq>%s ORDER BY seq", (key, acked))]  # fmt: skip
    record = VehicleRecord(vehicle_id, acked, set(), bytes(catalog_hash), bool(revoked), ids or None)
    for seq in above:
        if seq == record.acked_seq + 1:
            record.acked_seq = seq
        else:
            record.stored_above.add(seq)
    return record


def read_revocations(conn: psycopg.Connection, after_key: int) -> list[revocation.Revocation]:
    rows = conn.execute(
        "SELECT key, vehicle_id, kind, token_id, issued_before FROM revocations WHERE key>%s ORDER BY key",
        (after_key,),
    ).fetchall()
    return [revocation.Revocation(*r) for r in rows]


class PgReader:
    """One reading connection, reopened after a failure; blocking calls made under a lock."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def run(self, fn, *args) -> Any:
        with self._lock:
            for attempt in (0, 1):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                    return fn(self._conn, *args)
                except psycopg.OperationalError as exc:
                    self.close_unlocked()
                    if attempt:
                        raise GatewayError(f"postgresql: {exc}") from None

    def close_unlocked(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self.close_unlocked()


class PgSink(SqliteSink):
    """Durable writes to PostgreSQL (``dsn``: a libpq connection string)."""

    def __init__(self, dsn: str, *, fair: bool = True):
        super().__init__("postgresql", fair=fair)
        self.dsn = dsn
        self._pg: psycopg.Connection | None = None
        self._pgkeys = pg_store.VehicleKeys()
        self._pgreader = PgReader(dsn)
        self._stopping = False
        self._down_since: float | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._pg = await asyncio.to_thread(self._connect)
            await asyncio.to_thread(apply_schema, self._pg)
        except psycopg.Error as exc:
            raise GatewayError(f"postgresql: {exc}") from None
        self._thread = threading.Thread(
            target=self._run, args=(_NoConn(),), name="vmw-pg-writer", daemon=True
        )
        self._thread.start()

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)

    async def stop(self) -> None:
        self._stopping = True  # a write that cannot reach the server now fails instead of waiting
        await super().stop()
        self._pgreader.close()
        if self._pg is not None:
            self._pg.close()
            self._pg = None

    async def load_vehicle(self, vehicle_id: str) -> VehicleRecord | None:
        return await asyncio.to_thread(self._pgreader.run, load_vehicle, vehicle_id)

    async def revocations_since(self, after_key: int) -> list[revocation.Revocation]:
        return await asyncio.to_thread(self._pgreader.run, read_revocations, after_key)

    # ------------------------------------------------------------------ the writer thread's transaction

    def _transaction(self, _conn, group: list) -> list[Any]:
        delay = 0.05
        while True:
            try:
                if self._pg is None or self._pg.closed:
                    self._pg = self._connect()
                results = self._write(self._pg, group)
                if self._down_since is not None:
                    log.warning(
                        json.dumps(
                            {"event": "postgresql_back", "after_s": time.monotonic() - self._down_since}
                        )
                    )
                    self._down_since = None
                return results
            except psycopg.OperationalError as exc:  # connection lost, server restarting, deadlock
                self._pgkeys.clear()
                if self._pg is not None and (self._pg.closed or self._pg.broken):
                    self._pg = None
                if self._stopping:
                    raise
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    log.warning(json.dumps({"event": "postgresql_unavailable", "error": str(exc).strip()}))
                time.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)
            except Exception:
                self._pgkeys.clear()
                raise

    def _write(self, conn: psycopg.Connection, group: list) -> list[Any]:
        results: list[Any] = [None] * len(group)
        batches = []
        with conn.transaction():
            for i, (op, args, _fut) in enumerate(group):
                if op == self._op_batch:
                    batches.append(i)
                else:
                    results[i] = op(conn, *args)
            stored = pg_store.store_batches(conn, self._pgkeys, [group[i][1] for i in batches])
        for i, s in zip(batches, stored, strict=True):
            results[i] = s
        return results

    # the ops keep SqliteSink's names and arguments (its grouping looks at them)
    def _op_batch(self, conn, vehicle_id, batch, cols) -> bool:  # taken in _write, all at once
        raise AssertionError("batches are written by store_batches")

    def _op_register(self, conn, vehicle_id, software_version) -> None:
        pg_store.register(conn, self._pgkeys, vehicle_id, software_version)

    def _op_acked(self, conn, vehicle_id, acked_seq) -> None:
        pg_store.acked(conn, self._pgkeys, vehicle_id, acked_seq)

    def _op_catalog(self, conn, vehicle_id, catalog) -> None:
        pg_store.catalog(conn, self._pgkeys, vehicle_id, catalog)

    def _op_link_event(self, conn, vehicle_id, ev) -> None:
        pg_store.link_event(conn, self._pgkeys, vehicle_id, ev)

    def _op_status(self, conn, vehicle_id, st) -> None:
        pg_store.status(conn, self._pgkeys, vehicle_id, st)

    def _op_open_session(self, conn, vehicle_id, session_id, transport, peer, opened_ns) -> int:
        return pg_store.open_session(conn, self._pgkeys, vehicle_id, session_id, transport, peer, opened_ns)

    def _op_close_session(self, conn, session_key, closed_ns, reason, batches, samples) -> None:
        pg_store.close_session(conn, self._pgkeys, session_key, closed_ns, reason, batches, samples)

    def _op_command(self, conn, vehicle_id, command, sent_ns, ack) -> None:
        pg_store.command(conn, self._pgkeys, vehicle_id, command, sent_ns, ack)


__all__ = ["PgReader", "PgSink", "load_vehicle", "read_revocations"]

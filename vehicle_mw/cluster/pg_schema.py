"""The PostgreSQL schema of a gateway fleet (the SQLite schema's tables, samples as chunks)."""

from __future__ import annotations

import psycopg

SCHEMA = """
CREATE TABLE IF NOT EXISTS vehicles (
    key serial PRIMARY KEY,
    vehicle_id text NOT NULL UNIQUE,
    registered_ns bigint NOT NULL,
    revoked boolean NOT NULL DEFAULT false,
    software_version text NOT NULL DEFAULT '',
    catalog_hash bytea NOT NULL DEFAULT '',
    acked_seq bigint NOT NULL DEFAULT 0,
    last_seen_ns bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    key bigserial PRIMARY KEY,
    vehicle_key integer NOT NULL REFERENCES vehicles(key),
    session_id text NOT NULL,
    transport text NOT NULL,
    peer text NOT NULL,
    opened_ns bigint NOT NULL,
    closed_ns bigint,
    close_reason text,
    batches bigint NOT NULL DEFAULT 0,
    samples bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_vehicle ON sessions(vehicle_key, opened_ns);
CREATE TABLE IF NOT EXISTS signals (
    vehicle_key integer NOT NULL REFERENCES vehicles(key),
    signal_id integer NOT NULL,
    name text NOT NULL,
    unit text NOT NULL,
    vss_path text NOT NULL,
    kind integer NOT NULL,
    source text NOT NULL,
    choices text NOT NULL,
    PRIMARY KEY (vehicle_key, signal_id)
);
-- one row per stored batch: the dedup key that makes every write idempotent, whatever redelivers it
CREATE TABLE IF NOT EXISTS batches (
    vehicle_key integer NOT NULL,
    seq bigint NOT NULL,
    samples integer NOT NULL,
    created_ns bigint NOT NULL,
    stored_ns bigint NOT NULL,
    evicted_before bigint NOT NULL,
    PRIMARY KEY (vehicle_key, seq)
);
-- samples: one compressed chunk per (batch, signal), see vehicle_mw.cluster.chunks
CREATE TABLE IF NOT EXISTS chunks (
    vehicle_key integer NOT NULL,
    signal_id integer NOT NULL,
    t0 bigint NOT NULL,
    t1 bigint NOT NULL,
    batch_seq bigint NOT NULL,
    n integer NOT NULL,
    data bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_signal ON chunks(vehicle_key, signal_id, t0);
CREATE TABLE IF NOT EXISTS link_events (
    key bigserial PRIMARY KEY,
    vehicle_key integer NOT NULL,
    ts_ns bigint NOT NULL,
    from_transport text NOT NULL,
    to_transport text NOT NULL,
    reason text NOT NULL,
    rtt_ms double precision NOT NULL,
    rttvar_ms double precision NOT NULL,
    loss double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS link_events_by_vehicle ON link_events(vehicle_key, ts_ns);
CREATE TABLE IF NOT EXISTS status (
    key bigserial PRIMARY KEY,
    vehicle_key integer NOT NULL,
    ts_ns bigint NOT NULL,
    frames bigint NOT NULL,
    samples bigint NOT NULL,
    outbox_records bigint NOT NULL,
    outbox_bytes bigint NOT NULL,
    evicted bigint NOT NULL,
    corrupt bigint NOT NULL DEFAULT 0,
    transport text NOT NULL,
    rtt_ms double precision NOT NULL,
    loss double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS status_by_vehicle ON status(vehicle_key, key);
CREATE TABLE IF NOT EXISTS revocations (
    key bigserial PRIMARY KEY,
    vehicle_id text NOT NULL,
    kind text NOT NULL,
    token_id text NOT NULL DEFAULT '',
    issued_before bigint NOT NULL DEFAULT 0,
    ts_ns bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    key bigserial PRIMARY KEY,
    vehicle_key integer NOT NULL,
    command_id bigint NOT NULL,
    kind text NOT NULL,
    payload bytea NOT NULL,
    sent_ns bigint NOT NULL,
    ok boolean,
    detail text
);
"""

_LOCK = 7_401_013  # advisory lock: replicas and workers starting together create the schema once


def apply_schema(conn: psycopg.Connection) -> None:
    """Create what is missing (idempotent; safe from several processes at once)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        new = conn.execute("SELECT to_regclass('chunks') IS NULL").fetchone()[0]
        conn.execute(SCHEMA)
        if new:  # chunks are compressed already; once only (ALTER locks the table against COPYs)
            conn.execute("ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL")


__all__ = ["SCHEMA", "apply_schema"]

"""The SQLite schema of the gateway (one file, WAL journal), and the migrations of older databases.

``SCHEMA`` creates what is missing; ``COLUMNS_ADDED`` lists the columns later versions added to
existing tables (``CREATE TABLE IF NOT EXISTS`` leaves an old table as it is), which
:func:`apply_schema` adds to a database that lacks them.
"""

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS vehicles (
    key INTEGER PRIMARY KEY,
    vehicle_id TEXT NOT NULL UNIQUE,
    registered_ns INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    software_version TEXT NOT NULL DEFAULT '',
    catalog_hash BLOB NOT NULL DEFAULT x'',
    acked_seq INTEGER NOT NULL DEFAULT 0,
    last_seen_ns INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    key INTEGER PRIMARY KEY,
    vehicle_key INTEGER NOT NULL REFERENCES vehicles(key),
    session_id TEXT NOT NULL,
    transport TEXT NOT NULL,
    peer TEXT NOT NULL,
    opened_ns INTEGER NOT NULL,
    closed_ns INTEGER,
    close_reason TEXT,
    batches INTEGER NOT NULL DEFAULT 0,
    samples INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_vehicle ON sessions(vehicle_key, opened_ns);
CREATE TABLE IF NOT EXISTS signals (
    vehicle_key INTEGER NOT NULL REFERENCES vehicles(key),
    signal_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    vss_path TEXT NOT NULL,
    kind INTEGER NOT NULL,
    source TEXT NOT NULL,
    choices TEXT NOT NULL,
    PRIMARY KEY (vehicle_key, signal_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    vehicle_key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    stored_ns INTEGER NOT NULL,
    evicted_before INTEGER NOT NULL,
    PRIMARY KEY (vehicle_key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS samples (
    vehicle_key INTEGER NOT NULL,
    signal_id INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    value REAL NOT NULL,
    int_value INTEGER,
    source_id INTEGER NOT NULL,
    source_seq INTEGER NOT NULL,
    batch_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_signal ON samples(vehicle_key, signal_id, ts_ns);
CREATE TABLE IF NOT EXISTS link_events (
    key INTEGER PRIMARY KEY,
    vehicle_key INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    from_transport TEXT NOT NULL,
    to_transport TEXT NOT NULL,
    reason TEXT NOT NULL,
    rtt_ms REAL NOT NULL,
    rttvar_ms REAL NOT NULL,
    loss REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS link_events_by_vehicle ON link_events(vehicle_key, ts_ns);
CREATE TABLE IF NOT EXISTS status (
    key INTEGER PRIMARY KEY,
    vehicle_key INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    outbox_records INTEGER NOT NULL,
    outbox_bytes INTEGER NOT NULL,
    evicted INTEGER NOT NULL,
    corrupt INTEGER NOT NULL DEFAULT 0,
    transport TEXT NOT NULL,
    rtt_ms REAL NOT NULL,
    loss REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS status_by_vehicle ON status(vehicle_key, key);
CREATE TABLE IF NOT EXISTS revocations (
    key INTEGER PRIMARY KEY,
    vehicle_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    token_id TEXT NOT NULL DEFAULT '',
    issued_before INTEGER NOT NULL DEFAULT 0,
    ts_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    key INTEGER PRIMARY KEY,
    vehicle_key INTEGER NOT NULL,
    command_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    sent_ns INTEGER NOT NULL,
    ok INTEGER,
    detail TEXT
);
"""

# (table, column, definition): columns added after a table first shipped, oldest first
COLUMNS_ADDED: tuple[tuple[str, str, str], ...] = (
    # VehicleStatus.corrupt: outbox samples lost to damaged records (0 in rows stored before)
    ("status", "corrupt", "INTEGER NOT NULL DEFAULT 0"),
)


def apply_schema(conn: sqlite3.Connection) -> list[str]:
    """Create missing tables and add missing columns; returns the ``table.column`` names added."""
    conn.executescript(SCHEMA)
    added = []
    for table, column, definition in COLUMNS_ADDED:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            added.append(f"{table}.{column}")
    return added

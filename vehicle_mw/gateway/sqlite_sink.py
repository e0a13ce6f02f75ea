"""SQLite sink: one writer thread, WAL journal, group commits, futures resolved after COMMIT.

Every write is queued; the writer takes everything queued (up to a bound), runs it in one
transaction, commits, and only then completes the futures, so an Ack never precedes durability.
Dedup is durable: the ``batches`` row (vehicle, seq) is inserted in the same transaction as the
batch's samples, and a batch whose row exists is skipped.

Fairness: writes wait in one queue per vehicle, in the order the vehicle's session made them, and
a group is formed round-robin over those queues, least recently served vehicle first, up to
``max_group_samples`` samples (a bigger batch commits in a group of its own). So a vehicle flooding
maximum-size batches delays another vehicle's small batch by the commit in progress and at most one
more of its batches (when it is the flooder's turn), not by everything it has queued; a vehicle's
own writes still commit in its order.

Isolation: a group whose commit fails is rolled back and its writes retried one transaction each,
so only the write that cannot be stored fails (its vehicle gets the Error) and the others commit.

NaN: SQLite turns a NaN REAL into NULL, so a NaN sample (or NaN in a link event or status) is
stored as the TEXT ``'NaN'`` in its REAL column; +-inf are stored as REAL. :func:`real_value`
turns a read value back into a float.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import pathlib
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from vehicle_mw.gateway import revocation
from vehicle_mw.gateway.errors import GatewayError
from vehicle_mw.gateway.sink import Sink, VehicleRecord
from vehicle_mw.gateway.sqlite_schema import apply_schema
from vehicle_mw.v1 import link_pb2

log = logging.getLogger("vehicle_mw.gateway.sqlite")

MAX_OPS_PER_COMMIT = 512
# Samples per commit group: a batch this big or bigger commits alone. Inserting 131,072 samples
# took ~1.4 s on a loaded 2-core machine; bigger groups save little (the per-commit cost, an fsync,
# is small next to inserting that many rows) and make every other vehicle's next batch wait longer.
MAX_SAMPLES_PER_COMMIT = 65_536
_SESSIONS_LANE = ("sessions",)  # close_session writes name no vehicle (never equal to a vehicle id)
_STOP = object()
NAN_TEXT = "NaN"  # how a NaN float is stored in a REAL column (SQLite would store NULL)


def sql_real(x: float) -> float | str:
    """A float as SQLite stores it losslessly: itself, or ``'NaN'``."""
    return NAN_TEXT if x != x else x


def real_value(v: float | str | None) -> float | None:
    """A REAL column read back: ``'NaN'`` is NaN again."""
    return math.nan if v == NAN_TEXT else v


def json_real(v: float | str | None) -> float | str | None:
    """A REAL column for a JSON answer: non-finite values as the strings ``NaN``, ``Infinity``,
    ``-Infinity`` (JSON has no such numbers; ``float()`` parses these strings back)."""
    v = real_value(v)
    if v is None or math.isfinite(v):
        return v
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


def connect(
    path: str | pathlib.Path, synchronous: str = "full", readonly: bool = False
) -> sqlite3.Connection:
    """A connection with the gateway's pragmas (WAL, busy timeout)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    else:
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: keeps the samples index hot while it grows
    return conn


class SqliteSink(Sink):
    """The embedded default sink."""

    def __init__(
        self,
        path: str | pathlib.Path,
        synchronous: str = "full",
        *,
        fair: bool = True,
        max_group_samples: int = MAX_SAMPLES_PER_COMMIT,
    ):
        self.path = pathlib.Path(path)
        self.synchronous = synchronous
        self.fair = fair  # False: one queue for all, groups in arrival order (for comparison)
        self.max_group_samples = max_group_samples
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keys: dict[str, int] = {}
        self.commits = 0
        self.commit_seconds_total = 0.0
        self.on_commit: Callable[[int, float], None] | None = None  # (ops, seconds), for metrics
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._takes = 0  # batches taken into groups so far (the writer thread's clock for fairness)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path, self.synchronous)
            for column in apply_schema(conn):
                log.info("database %s: added column %s (older schema)", self.path, column)
        except sqlite3.Error as exc:
            raise GatewayError(f"database {self.path}: {exc}") from None
        self._thread = threading.Thread(target=self._run, args=(conn,), name="vmw-sqlite-writer", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # ------------------------------------------------------------------ reads at connect

    async def load_vehicle(self, vehicle_id: str) -> VehicleRecord | None:
        return await asyncio.to_thread(self._load_vehicle, vehicle_id)

    def _load_vehicle(self, vehicle_id: str) -> VehicleRecord | None:
        with self._read_lock:
            if self._reader is None:
                self._reader = connect(self.path, self.synchronous, readonly=True)
            return self._load_with(self._reader, vehicle_id)

    @staticmethod
    def _load_with(conn: sqlite3.Connection, vehicle_id: str) -> VehicleRecord | None:
        row = conn.execute(
            "SELECT key, acked_seq, catalog_hash, revoked FROM vehicles WHERE vehicle_id=?", (vehicle_id,)
        ).fetchone()
        if row is None:
            return None
        key, acked, catalog_hash, revoked = row
        rows = conn.execute("SELECT signal_id FROM signals WHERE vehicle_key=?", (key,))
        ids = frozenset(i for (i,) in rows)
        above = {
            s
            for (s,) in conn.execute(
                "SELECT seq FROM batches WHERE vehicle_key=? AND seq>? ORDER BY seq", (key, acked)
            )
        }
        record = VehicleRecord(vehicle_id, acked, set(), bytes(catalog_hash), bool(revoked), ids or None)
        for seq in sorted(above):
            if seq == record.acked_seq + 1:
                record.acked_seq = seq
            else:
                record.stored_above.add(seq)
        return record

    async def revocations_since(self, after_key: int) -> list[revocation.Revocation]:
        return await asyncio.to_thread(self._revocations_since, after_key)

    def _revocations_since(self, after_key: int) -> list[revocation.Revocation]:
        with self._read_lock:
            if self._reader is None:
                self._reader = connect(self.path, self.synchronous, readonly=True)
            return revocation.read_since(self._reader, after_key)

    # ------------------------------------------------------------------ writes

    def _submit(self, op: Callable[..., Any], *args: Any) -> asyncio.Future:
        assert self._loop is not None, "sink not started"
        fut = self._loop.create_future()
        self._queue.put((op, args, fut))
        return fut

    def register_vehicle(self, vehicle_id: str, software_version: str) -> asyncio.Future[None]:
        return self._submit(self._op_register, vehicle_id, software_version)

    def write_batch(self, vehicle_id, batch, columns) -> asyncio.Future[bool]:
        return self._submit(self._op_batch, vehicle_id, batch, columns)

    def write_acked(self, vehicle_id: str, acked_seq: int) -> asyncio.Future[None]:
        return self._submit(self._op_acked, vehicle_id, acked_seq)

    def write_catalog(self, vehicle_id, catalog) -> asyncio.Future[None]:
        return self._submit(self._op_catalog, vehicle_id, catalog)

    def write_link_event(self, vehicle_id, event) -> asyncio.Future[None]:
        return self._submit(self._op_link_event, vehicle_id, event)

    def write_status(self, vehicle_id, status) -> asyncio.Future[None]:
        return self._submit(self._op_status, vehicle_id, status)

    def open_session(self, vehicle_id, session_id, transport, peer, opened_ns) -> asyncio.Future[int]:
        return self._submit(self._op_open_session, vehicle_id, session_id, transport, peer, opened_ns)

    def close_session(self, session_key, closed_ns, reason, batches, samples) -> None:
        fut = self._submit(self._op_close_session, session_key, closed_ns, reason, batches, samples)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # failures are logged by the writer

    def write_command(self, vehicle_id, command, sent_ns, ack) -> asyncio.Future[None]:
        return self._submit(self._op_command, vehicle_id, command, sent_ns, ack)

    # ------------------------------------------------------------------ writer thread

    def _run(self, conn: sqlite3.Connection) -> None:
        lanes: dict[Hashable, deque] = {}  # per vehicle: (arrival number, item), in arrival order
        served: dict[Hashable, int] = {}  # per vehicle: when a group last took one of its batches
        arrivals = 0
        stopping = False
        while True:
            block = not lanes  # wait only when nothing is pending
            while not stopping:
                try:
                    item = self._queue.get() if block else self._queue.get_nowait()
                except queue.Empty:
                    break
                block = False
                if item is _STOP:
                    stopping = True  # what is queued before the stop is still committed
                    break
                arrivals += 1
                lanes.setdefault(self._lane(item), deque()).append((arrivals, item))
            if not lanes:
                break
            self._commit_group(conn, self._form_group(lanes, served))
            if len(served) > 4 * len(lanes) + 1024:  # forget vehicles with nothing pending
                for key in [k for k in served if k not in lanes]:
                    del served[key]
        conn.close()

    def _lane(self, item: tuple) -> Hashable:
        """The queue a write waits in: its vehicle's (one queue for all when not fair)."""
        if not self.fair:
            return None
        op, args, _fut = item
        return _SESSIONS_LANE if op == self._op_close_session else args[0]

    def _form_group(self, lanes: dict[Hashable, deque], served: dict[Hashable, int]) -> list:
        """Take the next commit group out of ``lanes``: one batch per vehicle in turn, with the
        writes without samples (watermarks, status, sessions) queued before it, starting with the
        vehicle whose batch was taken least recently (then by arrival); at most
        ``MAX_OPS_PER_COMMIT`` writes and ``max_group_samples`` samples, a group's first batch taken
        whatever its size. A vehicle whose next batch does not fit waits for the next group, its
        later writes with it (its order is kept)."""
        order = sorted(lanes, key=lambda k: (served.get(k, -1), lanes[k][0][0]))
        group: list = []
        samples = 0
        while order and len(group) < MAX_OPS_PER_COMMIT:
            again = []
            for key in order:
                lane = lanes[key]
                turn = True  # a turn: the writes without samples at the head, then one batch
                while lane and turn and len(group) < MAX_OPS_PER_COMMIT:
                    item = lane[0][1]
                    size = len(item[1][2].signal_id) if item[0] == self._op_batch else 0
                    if size:
                        if samples and samples + size > self.max_group_samples:
                            break  # this vehicle is done for this group
                        samples += size
                        self._takes += 1
                        served[key] = self._takes
                        turn = False
                    lane.popleft()
                    group.append(item)
                if not lane:
                    del lanes[key]
                elif not turn:
                    again.append(key)
                if len(group) >= MAX_OPS_PER_COMMIT:
                    break
            order = again
        return group

    def _commit_group(self, conn: sqlite3.Connection, group: list) -> None:
        t0 = time.perf_counter()
        try:
            outcomes: list[tuple[Any, BaseException | None]] = [
                (r, None) for r in self._transaction(conn, group)
            ]
        except Exception as exc:  # noqa: BLE001 - isolate: retry each write in its own transaction
            log.error(json.dumps({"event": "sqlite_commit_failed", "error": str(exc), "ops": len(group)}))
            outcomes = []
            for item in group:
                try:
                    outcomes.append((self._transaction(conn, [item])[0], None))
                except Exception as one:  # noqa: BLE001 - this write alone fails
                    log.error(
                        json.dumps(
                            {"event": "sqlite_write_failed", "op": item[0].__name__, "error": str(one)}
                        )
                    )
                    outcomes.append((None, GatewayError(f"database {self.path}: {one}")))
        elapsed = time.perf_counter() - t0
        self.commits += 1
        self.commit_seconds_total += elapsed
        if self.on_commit is not None:
            self.on_commit(len(group), elapsed)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, [g[2] for g in group], outcomes)

    def _transaction(self, conn: sqlite3.Connection, group: list) -> list[Any]:
        """Run ``group`` in one transaction; on failure roll back and raise."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [op(conn, *args) for op, args, _fut in group]
            conn.execute("COMMIT")
        except Exception:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._keys.clear()  # keys created in the rolled-back transaction are gone
            raise
        return results

    def _key(self, conn: sqlite3.Connection, vehicle_id: str) -> int:
        key = self._keys.get(vehicle_id)
        if key is None:
            conn.execute(
                "INSERT OR IGNORE INTO vehicles(vehicle_id, registered_ns) VALUES (?, ?)",
                (vehicle_id, time.time_ns()),
            )
            key = conn.execute("SELECT key FROM vehicles WHERE vehicle_id=?", (vehicle_id,)).fetchone()[0]
            self._keys[vehicle_id] = key
        return key

    def _op_register(self, conn, vehicle_id: str, software_version: str) -> None:
        key = self._key(conn, vehicle_id)
        conn.execute(
            "UPDATE vehicles SET software_version=?, last_seen_ns=? WHERE key=?",
            (software_version, time.time_ns(), key),
        )

    def _op_batch(
        self, conn, vehicle_id: str, batch: link_pb2.SampleBatch, cols: link_pb2.SampleColumns
    ) -> bool:
        key = self._key(conn, vehicle_id)
        n = len(cols.signal_id)
        cur = conn.execute(
            "INSERT OR IGNORE INTO batches(vehicle_key, seq, samples, created_ns, stored_ns, evicted_before)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key, batch.seq, n, batch.created_ns, time.time_ns(), batch.evicted_before),
        )
        if cur.rowcount == 0:
            return False
        seq = int(batch.seq)
        values: Any = cols.value
        if any(map(math.isnan, values)):
            values = [sql_real(v) for v in values]
        if len(cols.int_value) == n and n:
            kinds = list(cols.kind) if len(cols.kind) == n else [0] * n
            ints = [iv if k else None for iv, k in zip(cols.int_value, kinds, strict=True)]
            rows = zip(
                cols.signal_id,
                cols.source_ts_ns,
                values,
                ints,
                cols.source_id,
                cols.source_seq,
                strict=True,
            )
            conn.executemany(f"INSERT INTO samples VALUES ({key}, ?, ?, ?, ?, ?, ?, {seq})", rows)
        else:
            # the common all-float batch: constants in the statement, five bound columns per row
            rows = zip(
                cols.signal_id, cols.source_ts_ns, values, cols.source_id, cols.source_seq, strict=True
            )
            conn.executemany(f"INSERT INTO samples VALUES ({key}, ?, ?, ?, NULL, ?, ?, {seq})", rows)
        return True

    def _op_acked(self, conn, vehicle_id: str, acked_seq: int) -> None:
        conn.execute(
            "UPDATE vehicles SET acked_seq=MAX(acked_seq, ?), last_seen_ns=? WHERE key=?",
            (acked_seq, time.time_ns(), self._key(conn, vehicle_id)),
        )

    def _op_catalog(self, conn, vehicle_id: str, catalog: link_pb2.Catalog) -> None:
        key = self._key(conn, vehicle_id)
        conn.execute("DELETE FROM signals WHERE vehicle_key=?", (key,))
        conn.executemany(
            "INSERT OR REPLACE INTO signals VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    key,
                    s.id,
                    s.name,
                    s.unit,
                    s.vss_path,
                    s.kind,
                    s.source,
                    json.dumps({str(k): v for k, v in s.choices.items()}),
                )
                for s in catalog.signals
            ],
        )
        conn.execute("UPDATE vehicles SET catalog_hash=? WHERE key=?", (catalog.hash, key))

    def _op_link_event(self, conn, vehicle_id: str, ev: link_pb2.LinkEvent) -> None:
        conn.execute(
            "INSERT INTO link_events(vehicle_key, ts_ns, from_transport, to_transport, reason, rtt_ms,"
            " rttvar_ms, loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._key(conn, vehicle_id),
                ev.ts_ns,
                ev.from_transport,
                ev.to_transport,
                ev.reason,
                sql_real(ev.rtt_ms),
                sql_real(ev.rttvar_ms),
                sql_real(ev.loss),
            ),
        )

    def _op_status(self, conn, vehicle_id: str, st: link_pb2.VehicleStatus) -> None:
        conn.execute(
            "INSERT INTO status(vehicle_key, ts_ns, frames, samples, outbox_records, outbox_bytes, evicted,"
            " corrupt, transport, rtt_ms, loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._key(conn, vehicle_id),
                st.ts_ns,
                st.frames,
                st.samples,
                st.outbox_records,
                st.outbox_bytes,
                st.evicted,
                st.corrupt,
                st.transport,
                sql_real(st.rtt_ms),
                sql_real(st.loss),
            ),
        )

    def _op_open_session(self, conn, vehicle_id, session_id, transport, peer, opened_ns) -> int:
        cur = conn.execute(
            "INSERT INTO sessions(vehicle_key, session_id, transport, peer, opened_ns)"
            " VALUES (?, ?, ?, ?, ?)",
            (self._key(conn, vehicle_id), session_id, transport, peer, opened_ns),
        )
        return int(cur.lastrowid)

    def _op_close_session(self, conn, session_key, closed_ns, reason, batches, samples) -> None:
        conn.execute(
            "UPDATE sessions SET closed_ns=?, close_reason=?, batches=?, samples=? WHERE key=?",
            (closed_ns, reason, batches, samples, session_key),
        )

    def _op_command(self, conn, vehicle_id, command: link_pb2.Command, sent_ns: int, ack) -> None:
        conn.execute(
            "INSERT INTO commands(vehicle_key, command_id, kind, payload, sent_ns, ok, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._key(conn, vehicle_id),
                command.id,
                command.kind,
                command.payload,
                sent_ns,
                None if ack is None else int(ack.ok),
                None if ack is None else ack.detail,
            ),
        )


def _resolve(futures: list[asyncio.Future], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    for fut, (result, error) in zip(futures, outcomes, strict=True):
        if fut.done():
            continue
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)


def set_revoked(path: str | pathlib.Path, vehicle_id: str, revoked: bool) -> None:
    """Revoke (or re-admit) a vehicle: a running gateway ends its sessions and refuses its Hellos."""
    conn = connect(path)
    try:
        apply_schema(conn)
        conn.execute(
            "INSERT OR IGNORE INTO vehicles(vehicle_id, registered_ns) VALUES (?, ?)",
            (vehicle_id, time.time_ns()),
        )
        conn.execute("UPDATE vehicles SET revoked=? WHERE vehicle_id=?", (int(revoked), vehicle_id))
        # revoking also revokes every token issued until now (so --undo needs a new token)
        kind, floor = ("vehicle", int(time.time()) + 1) if revoked else ("admit", 0)
        revocation.record(path, vehicle_id, kind, issued_before=floor, conn=conn)
    finally:
        conn.close()


__all__ = ["NAN_TEXT", "SqliteSink", "connect", "json_real", "real_value", "set_revoked", "sql_real"]

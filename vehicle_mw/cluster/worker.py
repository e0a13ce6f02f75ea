"""Sink worker: a durable pull consumer of the batch stream that COPYs into PostgreSQL.

Any number run side by side on the one durable consumer (JetStream hands each message to one of
them). A fetched group is stored in one transaction (:func:`~vehicle_mw.cluster.pg_store.store_batches`:
idempotent by (vehicle, seq)) and acknowledged only after COMMIT, so a worker killed mid-COPY
loses nothing: its unacknowledged messages are redelivered after ``ack_wait_s`` to another
worker, and what it may have committed is not stored twice. PostgreSQL down: the group is retried
(nothing acked, the stream holds the data, the workers' ``max_ack_pending`` bounds what is out).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass

import nats
import nats.errors
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig

from vehicle_mw.cluster import js_stream, pg_store
from vehicle_mw.cluster.pg_schema import apply_schema
from vehicle_mw.gateway.validate import batch_columns
from vehicle_mw.manifest.gateway import GatewayLimits

log = logging.getLogger("vehicle_mw.cluster.worker")


@dataclass
class WorkerStats:
    groups: int = 0
    stored: int = 0
    duplicates: int = 0
    bad: int = 0
    samples: int = 0


class SinkWorker:
    """Run with :meth:`run` until ``stop`` is set."""

    def __init__(
        self, nats_urls: list[str], dsn: str, *, fetch: int = 256, ack_wait_s: float = 10.0,
        max_ack_pending: int = 4096, replicas: int = 3, duplicate_window_s: float = 120.0,
        max_bytes: int = 1 << 30,
    ):  # fmt: skip
        self.nats_urls, self.dsn = nats_urls, dsn
        self.fetch, self.ack_wait_s, self.max_ack_pending = fetch, ack_wait_s, max_ack_pending
        self.replicas, self.duplicate_window_s, self.max_bytes = replicas, duplicate_window_s, max_bytes
        # a fetch waiting for new messages returns what it has after this long (nats-py keeps filling
        # the batch until then): the bound on the latency a quiet stream adds before a COPY
        self.linger_s = 0.05
        self.limits = GatewayLimits()
        self.stats = WorkerStats()
        self._conn: psycopg.Connection | None = None
        self._keys = pg_store.VehicleKeys()

    def _store(self, items: list) -> list[bool]:
        delay = 0.05
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(
                        self.dsn,
                        autocommit=True,
                        connect_timeout=5,
                        application_name=f"vmw-sink-{os.getpid()}",
                    )
                    apply_schema(self._conn)
                with self._conn.transaction():
                    return pg_store.store_batches(self._conn, self._keys, items)
            except psycopg.OperationalError as exc:
                self._keys.clear()
                if self._conn is not None and (self._conn.closed or self._conn.broken):
                    self._conn = None
                log.warning(json.dumps({"event": "worker_pg_retry", "error": str(exc).strip()[:200]}))
                time.sleep(delay)
                delay = min(2.0, delay * 2)
            except Exception:
                self._keys.clear()
                raise

    async def run(self, stop: asyncio.Event) -> None:
        nc = await nats.connect(
            servers=self.nats_urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2, name="vmw-sink-worker"
        )
        try:
            js = nc.jetstream(timeout=10)
            await js_stream.ensure_stream(js, self.replicas, self.duplicate_window_s, self.max_bytes)
            sub = await js.pull_subscribe(
                js_stream.SUBJECT,
                durable=js_stream.DURABLE,
                stream=js_stream.STREAM,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=self.ack_wait_s,
                    max_ack_pending=self.max_ack_pending,
                ),
            )
            log.info(json.dumps({"event": "worker_started", "stream": js_stream.STREAM}))
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self.fetch, timeout=self.linger_s)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except nats.errors.Error as exc:  # a node gone: the client reconnects, fetch again
                    log.warning(json.dumps({"event": "worker_fetch_failed", "error": str(exc)}))
                    await asyncio.sleep(0.2)
                    continue
                await self._handle(msgs)
        finally:
            await nc.close()
            if self._conn is not None:
                self._conn.close()

    async def _handle(self, msgs: list) -> None:
        items, good = [], []
        for m in msgs:
            try:
                vid, batch = js_stream.decode(m.data)
                cols = batch_columns(batch, self.limits.max_batch_samples, self.limits.max_decompressed_bytes)
            except Exception as exc:  # noqa: BLE001 - a bad message is dropped, never retried forever
                self.stats.bad += 1
                log.error(json.dumps({"event": "worker_bad_message", "error": str(exc)[:200]}))
                await m.term()
                continue
            items.append((vid, batch, cols))
            good.append(m)
        if not items:
            return
        stored = await asyncio.to_thread(self._store, items)
        for m in good:  # after COMMIT only
            try:
                await m.ack()
            except nats.errors.Error:  # lost ack: redelivered, and dropped by the key
                pass
        self.stats.groups += 1
        self.stats.stored += sum(stored)
        self.stats.duplicates += len(stored) - sum(stored)
        self.stats.samples += sum(len(it[2].signal_id) for it, s in zip(items, stored, strict=True) if s)


def main(argv: list[str] | None = None) -> int:
    """``python -m vehicle_mw.cluster.worker --nats URL... --dsn DSN`` (``vmw cluster`` starts these)."""
    import argparse
    import signal

    p = argparse.ArgumentParser(prog="vmw-sink-worker")
    p.add_argument("--nats", action="append", required=True)
    p.add_argument("--dsn-file", required=True, help="file holding the libpq connection string")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--ack-wait", type=float, default=10.0, help="redelivery after this many s unacked")
    args = p.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(message)s")
    dsn = open(args.dsn_file).read().strip()  # noqa: SIM115,PTH123 - tiny read
    worker = SinkWorker(args.nats, dsn, replicas=args.replicas, ack_wait_s=args.ack_wait)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["SinkWorker", "WorkerStats", "main"]

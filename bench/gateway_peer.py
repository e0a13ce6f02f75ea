"""The benchmark peer of the gateway: a raw ``websockets`` server doing the same I/O, nothing more.

It answers Hello with Welcome, Probe with Echo, and stores each SampleBatch into the same SQLite
schema as the gateway (one executemany + COMMIT per batch, in the handler) before sending the Ack.
No authentication, no dedup state, no rate limits, no group commit: the floor of what the I/O costs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from websockets.asyncio.server import serve

from vehicle_mw.gateway.sqlite_schema import SCHEMA
from vehicle_mw.v1 import link_pb2


async def serve_peer(host: str, port: int, database: str):
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    keys: dict[str, int] = {}

    async def handler(ws) -> None:
        vehicle_key = 0
        async for frame in ws:
            up = link_pb2.Uplink.FromString(frame)
            kind = up.WhichOneof("msg")
            if kind == "hello":
                vid = up.hello.vehicle_id
                vehicle_key = keys.setdefault(vid, len(keys) + 1)
                welcome = link_pb2.Welcome(
                    protocol_version=1, catalog_known=True, gateway_id="peer", max_message_bytes=8 << 20
                )
                await ws.send(link_pb2.Downlink(welcome=welcome).SerializeToString())
            elif kind == "batch":
                b = up.batch
                c = b.columns
                n = len(c.signal_id)
                conn.execute("BEGIN")
                conn.execute(
                    "INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?, ?, ?)",
                    (vehicle_key, b.seq, n, b.created_ns, time.time_ns(), b.evicted_before),
                )
                conn.executemany(
                    "INSERT INTO samples VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                    zip(
                        [vehicle_key] * n,
                        c.signal_id,
                        c.source_ts_ns,
                        c.value,
                        c.source_id,
                        c.source_seq,
                        [b.seq] * n,
                        strict=True,
                    ),
                )
                conn.execute("COMMIT")
                await ws.send(link_pb2.Downlink(ack=link_pb2.Ack(acked_seq=b.seq)).SerializeToString())
            elif kind == "probe":
                echo = link_pb2.Echo(id=up.probe.id, sent_ns=up.probe.sent_ns)
                await ws.send(link_pb2.Downlink(echo=echo).SerializeToString())

    return await serve(handler, host, port, max_size=None, compression=None, ping_interval=None)


async def main(host: str, port: int, database: str, ready: asyncio.Event | None = None) -> None:
    server = await serve_peer(host, port, database)
    print(f"peer ws://{host}:{server.sockets[0].getsockname()[1]}/v1/link", flush=True)
    await asyncio.Future()

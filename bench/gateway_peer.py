"""The benchmark peers of the gateway: raw ``websockets`` and ``grpcio`` servers doing the same I/O.

They answer Hello with Welcome, Probe with Echo, and store each SampleBatch into the same SQLite
schema as the gateway (one executemany + COMMIT per batch, in the handler) before sending the Ack.
No authentication, no dedup state, no rate limits, no group commit: the floor of what the I/O costs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import grpc
from grpc import aio
from websockets.asyncio.server import Server, serve

from vehicle_mw.gateway.sqlite_schema import SCHEMA
from vehicle_mw.v1 import link_pb2

WELCOME = link_pb2.Downlink(
    welcome=link_pb2.Welcome(
        protocol_version=1, catalog_known=True, gateway_id="peer", max_message_bytes=8 << 20
    )
).SerializeToString()


async def serve_peer(host: str, port: int, database: str) -> tuple[Server, int]:
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    keys: dict[str, int] = {}

    def handle(frame: bytes, mine: dict) -> bytes | None:
        up = link_pb2.Uplink.FromString(frame)
        kind = up.WhichOneof("msg")
        if kind == "hello":
            mine["key"] = keys.setdefault(up.hello.vehicle_id, len(keys) + 1)
            return WELCOME
        if kind == "batch":
            b, key = up.batch, mine["key"]
            c = b.columns
            n = len(c.signal_id)
            conn.execute("BEGIN")
            conn.execute(
                "INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?, ?, ?)",
                (key, b.seq, n, b.created_ns, time.time_ns(), b.evicted_before),
            )
            conn.executemany(
                "INSERT INTO samples VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                zip(
                    [key] * n,
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
            return link_pb2.Downlink(ack=link_pb2.Ack(acked_seq=b.seq)).SerializeToString()
        if kind == "probe":
            echo = link_pb2.Echo(id=up.probe.id, sent_ns=up.probe.sent_ns)
            return link_pb2.Downlink(echo=echo).SerializeToString()
        return None

    async def ws_handler(ws) -> None:
        mine: dict = {}
        async for frame in ws:
            reply = handle(frame, mine)
            if reply is not None:
                await ws.send(reply)

    async def grpc_session(requests, context):
        mine: dict = {}
        async for frame in requests:
            reply = handle(frame, mine)
            if reply is not None:
                yield reply

    ws_server = await serve(ws_handler, host, port, max_size=None, compression=None, ping_interval=None)
    rpc = aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    handler = grpc.stream_stream_rpc_method_handler(grpc_session)
    rpc.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("vehicle_mw.v1.VehicleLink", {"Session": handler}),)
    )
    grpc_port = rpc.add_insecure_port(f"{host}:0")
    await rpc.start()
    ws_server.grpc = rpc  # keep a reference: the server lives as long as the WebSocket one
    return ws_server, grpc_port


async def main(host: str, port: int, database: str) -> None:
    server, grpc_port = await serve_peer(host, port, database)
    ws_port = server.sockets[0].getsockname()[1]
    print(f"peer ws://{host}:{ws_port}/v1/link grpc {host}:{grpc_port}", flush=True)
    await asyncio.Future()

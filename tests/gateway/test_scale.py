"""1,000 simulated vehicles connected at once to one gateway process, each stored and acked."""

from __future__ import annotations

import asyncio
import sqlite3

from vehicle_mw.gateway.loadgen import WsVehicle, batch, hello

from .helpers import GatewayProcess, http_json, local_config, operator_token, run

N = 1000


def test_thousand_vehicles_at_once(tmp_path):
    token = operator_token(local_config(tmp_path).database, "viewer")
    gw = GatewayProcess(local_config(tmp_path, allow_anonymous=True, grpc_port=None), tmp_path).start()
    connected = asyncio.Event()

    async def vehicle(i: int, gate: asyncio.Semaphore, clients: list) -> None:
        async with gate:  # bound concurrent handshakes, not connections
            v = await WsVehicle.connect(gw.ws_url)
            clients.append(v)
            first = await v.open(hello(f"VIN{i:014d}"), timeout=60)
            assert first.WhichOneof("msg") == "welcome"
        await v.send(batch(1, [1, 2], [float(i), 1.0], [1, 2]))
        assert await v.wait_ack(1, timeout=60) == 1

    async def scenario() -> int:
        clients: list[WsVehicle] = []
        gate = asyncio.Semaphore(64)
        try:
            await asyncio.gather(*(vehicle(i, gate, clients) for i in range(N)))
            connected.set()
            status, fleet = await http_json(f"{gw.http_url}/api/fleet", token=token)
            return sum(1 for v in fleet if v["connected"])
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    try:
        sessions = run(scenario(), timeout=150)
    finally:
        gw.stop()
    assert connected.is_set() and sessions == N
    conn = sqlite3.connect(local_config(tmp_path).database)
    rows = conn.execute("SELECT COUNT(DISTINCT vehicle_key), COUNT(*) FROM samples").fetchone()
    conn.close()
    assert rows == (N, 2 * N)

"""PostgreSQL down under the postgresql backend: no Ack, the gateway holds a bounded number of
samples (the session stops reading), and after the restart everything is stored once."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile

import pytest

from tests.gateway.helpers import local_config, run
from vehicle_mw.cluster.local_pg import LocalPostgres, PostgresMissing
from vehicle_mw.cluster.pg_queries import PgQueries
from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import WsVehicle, hello

from .fleet import PER, numbered

V = "VIN-BP-1"
BOUND = 10 * PER  # limits.max_inflight_samples


@pytest.fixture
def own_pg():
    root = tempfile.mkdtemp(prefix="vmw-test-pgbp-")
    os.chmod(root, 0o755)
    try:
        pg = LocalPostgres(root)
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    with pg:
        yield pg
    shutil.rmtree(root, ignore_errors=True)


def test_postgresql_down_withholds_acks_and_bounds_the_gateway(tmp_path, own_pg):
    limits = {"max_inflight_samples": BOUND}
    cfg = local_config(tmp_path, allow_anonymous=True, limits=limits,
                       storage={"backend": "postgresql", "dsn": own_pg.dsn})  # fmt: skip
    total = 60

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello(V))
            for seq in (1, 2, 3):
                await v.send(numbered(seq))
            assert await v.wait_ack(3) == 3
            await asyncio.to_thread(own_pg.stop)
            sender = asyncio.create_task(_send_all(v, 4, total))  # blocks when the gateway stops reading
            with pytest.raises(TimeoutError):
                await v.wait_ack(4, timeout=3.0)  # nothing durable: no Ack
            state = gw.core.vehicles[V]
            assert 0 < state.inflight_samples <= BOUND + PER  # held in the gateway: bounded
            await asyncio.to_thread(own_pg.start)
            assert await v.wait_ack(total, timeout=60) == total
            await sender
            await v.close()

    run(scenario(), timeout=120)
    q = PgQueries(own_pg.dsn)
    seqs = sorted(int(x) & ((1 << 40) - 1) for x in q.source_seqs(V))
    q.close()
    assert seqs == list(range(1, total * PER + 1))


async def _send_all(v: WsVehicle, first: int, last: int) -> None:
    for seq in range(first, last + 1):
        await v.send(numbered(seq))

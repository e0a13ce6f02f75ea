"""The gateway on the postgresql backend: ack after commit, dedup by (vehicle, seq), and the query
API answering as it does on SQLite."""

from __future__ import annotations

import math

import psycopg

from tests.gateway.helpers import http_json, local_config, operator_token, run
from vehicle_mw.cluster.pg_queries import PgQueries
from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, batch, hello
from vehicle_mw.gateway.queries import SqliteQueries
from vehicle_mw.v1 import link_pb2

V = "VIN-PG-1"


def numbered(seq: int, per: int = 10, signals: int = 3):
    first = (seq - 1) * per + 1
    ids = list(range(first, first + per))
    values = [math.nan if i == 7 else float(i) * 0.5 for i in ids]
    return batch(seq, [i % signals + 1 for i in ids], values, ids, ts_ns=[1_000_000_000 * i for i in ids])


def stored_source_seqs(dsn: str, vehicle: str = V) -> list[int]:
    q = PgQueries(dsn)
    try:
        return sorted(int(x) & ((1 << 40) - 1) for x in q.source_seqs(vehicle))
    finally:
        q.close()


def test_ack_follows_commit_and_resends_are_stored_once(tmp_path, pg_dsn):
    cfg = local_config(tmp_path, allow_anonymous=True, storage={"backend": "postgresql", "dsn": pg_dsn})

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello(V))).welcome.acked_seq == 0
            for seq in (1, 2, 3):
                await v.send(numbered(seq))
            assert await v.wait_ack(3) == 3
            assert stored_source_seqs(pg_dsn) == list(range(1, 31))  # durable before the ack
            await v.close()
            g = await GrpcVehicle.connect(gw.grpc_target)
            welcome = (await g.open(hello(V, resume_after_seq=1, transport="grpc"))).welcome
            assert welcome.acked_seq == 3
            for seq in (2, 3, 4):
                await g.send(numbered(seq))
            assert await g.wait_ack(4) == 4
            await g.close()
        async with Gateway(cfg) as gw:  # a new gateway process on the same database knows what is stored
            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello(V))).welcome.acked_seq == 4
            await v.send(numbered(4))
            await v.send(numbered(5))
            assert await v.wait_ack(5) == 5
            await v.close()
        assert stored_source_seqs(pg_dsn) == list(range(1, 51))

    run(scenario())


def test_store_batches_is_idempotent_beyond_any_window(pg_dsn):
    from vehicle_mw.cluster import pg_store
    from vehicle_mw.cluster.pg_schema import apply_schema

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        apply_schema(conn)
        keys = pg_store.VehicleKeys()
        items = []
        for seq in (1, 2, 2, 3):
            up = numbered(seq)
            items.append((V, up.batch, up.batch.columns))
        with conn.transaction():
            assert pg_store.store_batches(conn, keys, items) == [True, True, False, True]
        with conn.transaction():  # a redelivery long after: nothing stored twice
            assert pg_store.store_batches(conn, keys, items[:2]) == [False, False]
    assert stored_source_seqs(pg_dsn) == list(range(1, 31))


def test_query_api_answers_as_on_sqlite(tmp_path, pg_dsn):
    """The same uplink into a SQLite gateway and a PostgreSQL gateway: the same API answers."""
    catalog = link_pb2.Catalog(
        hash=b"c1",
        signals=[link_pb2.SignalInfo(id=i, name=f"s{i}", unit="V", kind=0) for i in (1, 2, 3)],
    )
    answers = {}
    for name, storage in (("sqlite", None), ("pg", {"backend": "postgresql", "dsn": pg_dsn})):
        (tmp_path / name).mkdir()
        cfg = local_config(tmp_path / name, allow_anonymous=True, storage=storage)
        token = operator_token(cfg.database, "admin")

        async def scenario(cfg=cfg, token=token, name=name):
            async with Gateway(cfg) as gw:
                v = await WsVehicle.connect(gw.ws_url)
                await v.open(hello(V, catalog_hash=b"c1"))
                await v.send(link_pb2.Uplink(catalog=catalog))
                for seq in range(1, 21):
                    await v.send(numbered(seq))
                await v.wait_ack(20)
                await v.close()
                base = f"{gw.http_url}/api/vehicles/{V}"
                out = {}
                paths = ("/series?signal=s1", "/series?signal=s2&max_points=5", "/signals", "/sessions",
                         "/series?signal=2&start_ns=20000000000&end_ns=90000000000")  # fmt: skip
                for path in paths:
                    status, body = await http_json(base + path, token=token)
                    assert status == 200, (name, path, body)
                    out[path] = body
                # ids, peers and times differ between the runs; what was counted must not
                keep = ("transport", "batches", "samples")
                out["/sessions"] = [{k: r[k] for k in keep} | {"closed": r["closed_ns"] is not None}
                                    for r in out["/sessions"]]  # fmt: skip
                status, fleet = await http_json(f"{gw.http_url}/api/vehicles", token=token)
                out["vehicles"] = [
                    {k: r[k] for k in ("vehicle_id", "batches", "samples", "revoked")} for r in fleet
                ]
                status, body = await http_json(f"{base}/revoke", "POST", token=token)
                assert status == 200
                status, fleet = await http_json(f"{gw.http_url}/api/vehicles", token=token)
                out["revoked"] = fleet[0]["revoked"]
                return out

        answers[name] = run(scenario())
    assert answers["pg"] == answers["sqlite"]
    assert answers["pg"]["/series?signal=s2&max_points=5"]["downsampled"] is True
    assert answers["pg"]["revoked"] is True
    _ = SqliteQueries  # the reference implementation the answers are compared with

"""Real servers for the cluster tests: a private PostgreSQL (one per session, a fresh database per
test) and NATS clusters, started here and torn down; a missing binary skips with the reason."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

import pytest

psycopg = pytest.importorskip("psycopg", reason="the cluster extra (psycopg) is not installed")
pytest.importorskip("nats", reason="the cluster extra (nats-py) is not installed")

from vehicle_mw.cluster.local_nats import LocalNats, NatsMissing  # noqa: E402
from vehicle_mw.cluster.local_pg import LocalPostgres, PostgresMissing  # noqa: E402


@pytest.fixture(scope="session")
def pg_server():
    root = tempfile.mkdtemp(prefix="vmw-test-pg-")  # under /tmp: the postgres user must reach it
    os.chmod(root, 0o755)
    try:
        server = LocalPostgres(root)
    except PostgresMissing as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(str(exc))
    server.init()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_dsn(pg_server):
    """A new empty database on the session's server; its connection string."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_server.dsn.replace("dbname=vmw", f"dbname={name}")
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def nats1():
    """A one-node NATS server of the test's own (JetStream on), in a temporary folder."""
    root = tempfile.mkdtemp(prefix="vmw-test-nats-")
    try:
        cluster = LocalNats(root, 1)
    except NatsMissing as exc:
        pytest.skip(str(exc))
    with cluster:
        yield cluster
    shutil.rmtree(root, ignore_errors=True)

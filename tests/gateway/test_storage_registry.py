"""Storage is chosen by name in the gateway config; bad names and fields are clear errors."""

import asyncio

import pytest

from vehicle_mw.gateway.queries import SqliteQueries
from vehicle_mw.gateway.sqlite_sink import SqliteSink
from vehicle_mw.gateway.storage import StorageConfigError, available, open_backend
from vehicle_mw.manifest.gateway import GatewayConfig

from .test_cli import vmw


def test_default_is_sqlite_in_the_database_file(tmp_path):
    backend = open_backend(GatewayConfig(database=str(tmp_path / "g.sqlite")))
    assert backend.name == "sqlite" and isinstance(backend.sink(), SqliteSink)
    assert set(available()) >= {"sqlite", "postgresql", "jetstream"}


def test_sqlite_backend_queries_read_what_its_sink_wrote(tmp_path):
    backend = open_backend(GatewayConfig(database=str(tmp_path / "g.sqlite"), storage={"backend": "sqlite"}))
    sink = backend.sink()

    async def write() -> None:
        await sink.start()
        await sink.register_vehicle("VIN1", "1.0")
        await sink.stop()

    asyncio.run(write())
    queries = backend.queries()
    assert isinstance(queries, SqliteQueries) and queries.exists("VIN1")
    queries.set_revoked("VIN1", True)
    assert queries.vehicles()[0]["revoked"] is True
    queries.close()


def test_unknown_backend_names_the_field_and_the_known_ones():
    with pytest.raises(StorageConfigError, match=r"storage\.backend: unknown backend 'kafka'.*postgresql"):
        open_backend(GatewayConfig(storage={"backend": "kafka"}))


def test_unknown_backend_field_is_named():
    with pytest.raises(StorageConfigError, match=r"storage\.colour: .*backend sqlite"):
        open_backend(GatewayConfig(storage={"backend": "sqlite", "colour": "red"}))


def test_serve_with_a_bad_storage_section_exits_with_the_file_and_field(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("storage: {backend: nope}\n")
    out = vmw("gateway", "serve", "--config", str(cfg), cwd=tmp_path)
    assert out.returncode == 2 and "gw.yaml" in out.stderr and "storage.backend" in out.stderr
    assert "Traceback" not in out.stderr

"""The ``postgresql`` storage backend: one gateway (or several) writing PostgreSQL directly."""

from __future__ import annotations

import pathlib
import re

from pydantic import Field

from vehicle_mw.cluster.pg_queries import PgQueries
from vehicle_mw.cluster.pg_sink import PgSink
from vehicle_mw.gateway.sink import Sink
from vehicle_mw.gateway.storage import BackendOptions, Queries, StorageBackend


class PostgresOptions(BackendOptions):
    dsn: str = Field(description="libpq connection string, e.g. 'host=db port=5432 user=vmw dbname=vmw'")
    password_file: str | None = Field(None, description="file holding the password (kept out of the config)")


def full_dsn(options: PostgresOptions) -> str:
    if options.password_file is None:
        return options.dsn
    password = pathlib.Path(options.password_file).read_text().strip()
    return f"{options.dsn} password={password}"


class PostgresBackend(StorageBackend):
    name = "postgresql"
    Options = PostgresOptions

    @property
    def dsn(self) -> str:
        assert isinstance(self.options, PostgresOptions)
        return full_dsn(self.options)

    def sink(self) -> Sink:
        return PgSink(self.dsn)

    def queries(self) -> Queries:
        return PgQueries(self.dsn)

    def describe(self) -> str:
        assert isinstance(self.options, PostgresOptions)
        return "postgresql:" + re.sub(r"password=\S+", "password=***", self.options.dsn)


__all__ = ["PostgresBackend", "PostgresOptions", "full_dsn"]

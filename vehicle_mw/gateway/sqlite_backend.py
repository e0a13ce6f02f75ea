"""The ``sqlite`` storage backend: one file next to the gateway (the embedded default)."""

from __future__ import annotations

from vehicle_mw.gateway.queries import SqliteQueries
from vehicle_mw.gateway.sink import Sink
from vehicle_mw.gateway.sqlite_sink import SqliteSink
from vehicle_mw.gateway.storage import Queries, StorageBackend


class SqliteBackend(StorageBackend):
    """Writes and reads ``config.database`` (``sqlite_synchronous`` applies)."""

    name = "sqlite"

    def sink(self) -> Sink:
        return SqliteSink(self.config.database, self.config.sqlite_synchronous)

    def queries(self) -> Queries:
        return SqliteQueries(self.config.database)

    def describe(self) -> str:
        return f"sqlite:{self.config.database}"


__all__ = ["SqliteBackend"]

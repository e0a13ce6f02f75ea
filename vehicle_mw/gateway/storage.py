"""Storage backends chosen by name: the ``storage.backend`` field of the gateway config.

A backend gives the gateway its write side (:class:`~vehicle_mw.gateway.sink.Sink`) and its read
side (:class:`Queries`, what the REST API and the dashboard show). The built-in ones are ``sqlite``
(the embedded default), ``postgresql`` and ``jetstream``; another package adds one by declaring an
entry point in the ``vehicle_mw.gateway.storage`` group whose object is a :class:`StorageBackend`
subclass, like python-can's interfaces. Built-ins are imported only when selected, so the SQLite
gateway needs neither psycopg nor nats-py.
"""

from __future__ import annotations

import abc
import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from vehicle_mw.gateway.errors import GatewayError

if TYPE_CHECKING:
    from vehicle_mw.gateway.sink import Sink
    from vehicle_mw.manifest.gateway import GatewayConfig

ENTRY_POINT_GROUP = "vehicle_mw.gateway.storage"
BUILTIN: dict[str, str] = {
    "sqlite": "vehicle_mw.gateway.sqlite_backend:SqliteBackend",
    "postgresql": "vehicle_mw.cluster.pg_backend:PostgresBackend",
    "jetstream": "vehicle_mw.cluster.js_backend:JetStreamBackend",
}


class StorageConfigError(GatewayError):
    """The ``storage`` section names an unknown backend or has a bad field."""


class Queries(abc.ABC):
    """What the REST API and the dashboard read; blocking calls (the API runs them in a thread)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def exists(self, vehicle_id: str) -> bool: ...

    @abc.abstractmethod
    def vehicles(self) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def sessions(self, vehicle_id: str, limit: int = 100) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def signals(self, vehicle_id: str) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def signal_id(self, vehicle_id: str, signal: str) -> int | None: ...

    @abc.abstractmethod
    def series(
        self, vehicle_id: str, signal_id: int, start_ns: int | None, end_ns: int | None, max_points: int
    ) -> dict[str, Any]: ...

    @abc.abstractmethod
    def link_events(self, vehicle_id: str, limit: int = 200) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def latest_status(self, vehicle_id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def status_history(
        self, vehicle_id: str, start_ns: int | None = None, end_ns: int | None = None, limit: int = 2000
    ) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def link_events_between(
        self, vehicle_id: str, start_ns: int | None, end_ns: int | None, limit: int
    ) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def commands(self, vehicle_id: str, limit: int = 50) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def sample_count(self, vehicle_id: str) -> int: ...

    @abc.abstractmethod
    def set_revoked(self, vehicle_id: str, revoked: bool) -> None:
        """Revoke (or re-admit) a vehicle; every gateway on this storage obeys at its next poll."""


class BackendOptions(BaseModel):
    """Fields of a backend's ``storage`` section besides ``backend``; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class StorageBackend(abc.ABC):
    """One way of storing a gateway's data; made from the config, then asked for a sink and queries."""

    name: ClassVar[str]
    Options: ClassVar[type[BackendOptions]] = BackendOptions

    def __init__(self, config: GatewayConfig, options: BackendOptions):
        self.config = config
        self.options = options

    @abc.abstractmethod
    def sink(self) -> Sink:
        """A new (not started) sink."""

    @abc.abstractmethod
    def queries(self) -> Queries:
        """A read connection for the API (call after the sink started: it may create the schema)."""

    def describe(self) -> str:
        """Where the data lives, for logs (no secrets)."""
        return self.name


def available() -> dict[str, str]:
    """Backend names and where they come from (built-in module or entry point)."""
    out = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        out.setdefault(ep.name, ep.value)
    return out


def backend_class(name: str) -> type[StorageBackend]:
    """The class registered as ``name``; a clear error names the field and the known backends."""
    known = available()
    target = known.get(name)
    if target is None:
        raise StorageConfigError(
            f"storage.backend: unknown backend {name!r}; known: {', '.join(sorted(known))}"
        )
    if name in BUILTIN:
        module, _, attr = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            raise StorageConfigError(
                f"storage.backend: {name} needs a package that is not installed ({exc.name}); "
                "install vehicle_mw[cluster]"
            ) from None
    else:
        (ep,) = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == name]
        cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, StorageBackend)):
        raise StorageConfigError(f"storage.backend: {target} is not a StorageBackend")
    return cls


def open_backend(config: GatewayConfig) -> StorageBackend:
    """The backend the config selects, its options checked (errors name ``storage.<field>``)."""
    section = dict(config.storage or {})
    name = section.pop("backend", "sqlite")
    if not isinstance(name, str):
        raise StorageConfigError(f"storage.backend: expected a name, got {name!r}")
    cls = backend_class(name)
    try:
        options = cls.Options.model_validate(section)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise StorageConfigError(f"storage.{where}: {err['msg']} (backend {name})") from None
    return cls(config, options)


__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "BackendOptions",
    "Queries",
    "StorageBackend",
    "StorageConfigError",
    "available",
    "backend_class",
    "open_backend",
]

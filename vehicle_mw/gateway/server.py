"""The whole gateway in one event loop: gRPC + WebSocket vehicle endpoints, HTTP API, storage backend."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import time

import uvicorn

from vehicle_mw.gateway.api import build_app
from vehicle_mw.gateway.audit import AuditLog
from vehicle_mw.gateway.core import GatewayCore
from vehicle_mw.gateway.errors import GatewayError
from vehicle_mw.gateway.grpc_server import serve_grpc
from vehicle_mw.gateway.metrics import VehicleGauges
from vehicle_mw.gateway.operators import OperatorStore
from vehicle_mw.gateway.process_limits import freeze_startup_heap, protect_process, uvicorn_limits
from vehicle_mw.gateway.sink import Sink
from vehicle_mw.gateway.storage import Queries, StorageBackend, open_backend
from vehicle_mw.gateway.tls import grpc_server_credentials, server_ssl_context
from vehicle_mw.gateway.tokens import load_secret
from vehicle_mw.gateway.web_auth import OperatorAuth
from vehicle_mw.gateway.ws_server import PATH, serve_websocket
from vehicle_mw.manifest.gateway import GatewayConfig

log = logging.getLogger("vehicle_mw.gateway")


class ListenError(GatewayError):
    """An endpoint cannot listen on its address (in use, not an address of this host, no permission)."""


async def _serve_http(server: uvicorn.Server, sock: socket.socket) -> None:
    """uvicorn exits the process (SystemExit) when it fails at start; keep that inside the task."""
    try:
        await server.serve(sockets=[sock])
    except SystemExit:
        log.error(json.dumps({"event": "http_failed", "port": server.config.port}))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if "Failed to bind" in str(exc):  # grpcio says no more than that
        return "address in use or not available"
    return str(exc)


def _http_socket(host: str, port: int) -> socket.socket:
    """The HTTP API's listening socket, bound here so a failure is an OSError and not uvicorn's exit."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; any other name or wildcard counts as public."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_operator_access(config: GatewayConfig, operators: OperatorStore) -> None:
    """Refuse to serve the operator API beyond loopback while nobody could log in to it."""
    host = config.bind("http")
    if config.http_port is None or operators.count() > 0:
        return
    if is_loopback(host):
        hint = f"vmw gateway operator add NAME --role admin --database {config.database}"
        log.warning(json.dumps({"event": "no_operators", "detail": f"nobody can use the HTTP API: {hint}"}))
        return
    key = "http_host" if config.http_host else "host"
    raise GatewayError(
        f"{key}: {host} is not a loopback address and {config.database} has no operators; add one with"
        f" 'vmw gateway operator add NAME --role admin --database {config.database}'"
        " or set http_host: 127.0.0.1 (vehicles keep grpc_host/ws_host)"
    )


class Gateway:
    """Start with :meth:`start`, stop with :meth:`stop`; ports 0 are resolved after start."""

    def __init__(
        self, config: GatewayConfig, sink: Sink | None = None, backend: StorageBackend | None = None
    ):
        self.config = config
        self.backend = backend or open_backend(config)  # storage.backend names it (sqlite by default)
        self.sink = sink or self.backend.sink()
        secret = load_secret(config.token_secret_file) if config.token_secret_file else None
        self.core = GatewayCore(config, self.sink, secret)
        self.vehicle_gauges = VehicleGauges(self.core.vehicles, config.metrics_max_vehicles)
        self.core.metrics.registry.register(self.vehicle_gauges)
        self.grpc_port: int | None = None
        self.ws_port: int | None = None
        self.http_port: int | None = None
        self._grpc = None
        self._ws = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task | None = None
        self._prober: asyncio.Task | None = None
        self.queries: Queries | None = None
        self.operators: OperatorStore | None = None
        self.audit: AuditLog | None = None
        self.app = None  # the FastAPI application once the HTTP API runs

    @property
    def scheme(self) -> str:
        return "wss" if self.config.tls else "ws"

    @property
    def ws_url(self) -> str:
        return f"{self.scheme}://{self.config.bind('ws')}:{self.ws_port}{PATH}"

    @property
    def grpc_target(self) -> str:
        return f"{self.config.bind('grpc')}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        scheme = "https" if self.config.http_tls else "http"
        return f"{scheme}://{self.config.bind('http')}:{self.http_port}"

    async def start(self) -> None:
        cfg = self.config
        self.sink.on_commit = lambda _ops, s: self.core.metrics.commit_seconds.observe(s)
        protect_process()  # descriptor limit raised, repeated log lines rate-limited
        await self.sink.start()
        await self.core.start()  # revocations written by the CLI/API take effect while running
        if cfg.http_port is not None:
            self.operators = OperatorStore(cfg.database)
            self.audit = AuditLog(cfg.database)
            try:
                check_operator_access(cfg, self.operators)
            except GatewayError:
                await self.stop()
                raise
        try:
            await self._listen()
        except BaseException:
            await self.stop()
            raise
        self._prober = asyncio.create_task(self._probe_loop())
        freeze_startup_heap()  # full collections walk only what connections made since
        log.info(
            json.dumps(
                {
                    "event": "gateway_started",
                    "grpc": self.grpc_port,
                    "ws": self.ws_port,
                    "http": self.http_port,
                    "database": cfg.database,
                    "storage": self.backend.describe(),
                }
            )
        )

    def _listen_error(self, endpoint: str, port: int, exc: BaseException) -> ListenError:
        return ListenError(
            f"{endpoint}: cannot listen on {self.config.bind(endpoint)}:{port}: {_reason(exc)}"  # type: ignore[arg-type]
            f" (change {endpoint}_port or {endpoint}_host)"
        )

    async def _listen(self) -> None:
        cfg = self.config
        if cfg.grpc_port is not None:
            creds = grpc_server_credentials(cfg.tls) if cfg.tls else None
            try:
                self._grpc, self.grpc_port = await serve_grpc(
                    self.core, cfg.bind("grpc"), cfg.grpc_port, creds
                )
            except (OSError, RuntimeError) as exc:  # grpcio: RuntimeError "Failed to bind"
                raise self._listen_error("grpc", cfg.grpc_port, exc) from None
        if cfg.ws_port is not None:
            ctx = server_ssl_context(cfg.tls) if cfg.tls else None
            try:
                self._ws = await serve_websocket(self.core, cfg.bind("ws"), cfg.ws_port, ctx)
            except OSError as exc:
                raise self._listen_error("ws", cfg.ws_port, exc) from None
            self.ws_port = self._ws.sockets[0].getsockname()[1]
        if cfg.http_port is not None:
            try:
                sock = _http_socket(cfg.bind("http"), cfg.http_port)
            except OSError as exc:
                raise self._listen_error("http", cfg.http_port, exc) from None
            assert self.operators is not None and self.audit is not None
            self.queries = self.backend.queries()
            auth = OperatorAuth(self.operators, self.audit, cfg.auth, tls=cfg.http_tls)
            app = self.app = build_app(self.core, self.queries, auth)
            tls_files = (
                {"ssl_certfile": cfg.tls.cert, "ssl_keyfile": cfg.tls.key} if cfg.http_tls and cfg.tls else {}
            )
            ucfg = uvicorn.Config(
                app,
                host=cfg.bind("http"),
                port=cfg.http_port,
                log_level="warning",
                lifespan="off",
                ws="websockets-sansio",
                access_log=False,
                **tls_files,
                **uvicorn_limits(cfg.limits),  # slowloris: request-head deadline, concurrency bound
            )
            self._http = uvicorn.Server(ucfg)
            self._http.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            self._http_task = asyncio.create_task(_serve_http(self._http, sock))
            while not self._http.started:
                if self._http_task.done():
                    raise GatewayError(f"HTTP API on {cfg.bind('http')}:{cfg.http_port} did not start")
                await asyncio.sleep(0.01)
            self.http_port = self._http.servers[0].sockets[0].getsockname()[1]

    async def _probe_loop(self) -> None:
        """Measure each session's RTT from the gateway side every few seconds."""
        while True:
            await asyncio.sleep(5)
            for session in list(self.core.sessions):
                session.probe()

    async def stop(self) -> None:
        self.core.stop()
        if self._prober:
            self._prober.cancel()
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task:
                await self._http_task
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        for session in list(self.core.sessions):
            session.close("gateway shutting down")
        await self.sink.stop()
        for db in (self.queries, self.operators, self.audit):
            if db is not None:
                db.close()
        self.queries = self.operators = self.audit = None
        log.info(json.dumps({"event": "gateway_stopped", "time_ns": time.time_ns()}))

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()


__all__ = ["Gateway", "ListenError", "check_operator_access", "is_loopback"]

"""Shared helpers of the gateway tests: a gateway in this process or in a child process."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.request
from collections.abc import Coroutine
from typing import Any

import yaml

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.operators import OperatorStore, Role
from vehicle_mw.manifest.gateway import GatewayConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(coro: Coroutine, timeout: float = 60.0) -> Any:
    """Run a coroutine with a hard bound, so a hung test fails instead of stalling."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def local_config(tmp_path: pathlib.Path, **overrides: Any) -> GatewayConfig:
    """A gateway on loopback with ephemeral ports and its database in ``tmp_path``."""
    base = dict(
        database=str(tmp_path / "gw.sqlite"), grpc_port=0, ws_port=0, http_port=0, sqlite_synchronous="normal"
    )
    return GatewayConfig.model_validate(base | overrides)


def operator_token(database: str | pathlib.Path, role: str = "admin", name: str | None = None) -> str:
    """A new operator with ``role`` in the gateway database (created if needed) and an API token of theirs."""
    store = OperatorStore(database)
    try:
        name = name or f"test-{role}"
        if store.get(name) is None:
            store.add(name, Role.parse(role))
        return store.issue_token(name)[1]
    finally:
        store.close()


async def http_json(
    url: str, method: str = "GET", body: Any = None, token: str | None = None, headers: dict | None = None
) -> tuple[int, Any]:
    """(status, JSON body) of one HTTP request, off the event loop; ``token``: sent as Bearer."""

    def call() -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        sent = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
        req = urllib.request.Request(url, data=data, method=method, headers=sent | (headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    return await asyncio.to_thread(call)


class GatewayProcess:
    """``vmw gateway serve`` as a child process; learns its ports from what it prints."""

    LINE = re.compile(r"grpc (\S+)\s+websocket (\S+)")
    HTTP = re.compile(r"dashboard (\S+)/ ")

    def __init__(self, config: GatewayConfig, workdir: pathlib.Path):
        self.config_file = workdir / "gateway.yaml"
        self.config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        self.log_file = workdir / "gateway.log"
        self.proc: subprocess.Popen | None = None
        self.grpc_target = self.ws_url = self.http_url = ""

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vehicle_mw", "gateway", "serve", "--config", str(self.config_file)],
            stdout=subprocess.PIPE,
            stderr=self.log_file.open("a"),
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        for _ in range(2):
            line = self.proc.stdout.readline()  # blocks until the gateway prints (or exits)
            if not line:
                raise RuntimeError(f"gateway exited: {self.log_file.read_text()[-2000:]}")
            if m := self.LINE.search(line):
                self.grpc_target, self.ws_url = m.group(1), m.group(2)
            if m := self.HTTP.search(line):
                self.http_url = m.group(1)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


__all__ = ["Gateway", "GatewayProcess", "http_json", "local_config", "operator_token", "run"]

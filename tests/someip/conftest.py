"""Fixtures: a netns pair per session, peers (provider/consumer processes) inside it, manifests."""

from __future__ import annotations

import json
import os
import pathlib
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import yaml

from tests.someip.netns import NetnsPair

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "manifests" / "someip" / "vehicle_dynamics.yaml"
PEER = pathlib.Path(__file__).with_name("peer.py")


@pytest.fixture(scope="session")
def netns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    pair = NetnsPair().create()
    try:
        yield pair
    finally:
        pair.delete()


class Peer:
    """A peer.py process in a namespace; ``cmd`` sends one command and waits (bounded) for its reply."""

    def __init__(self, argv: list[str], tmpdir: pathlib.Path):
        # TMPDIR: daemon folders of peers killed on purpose are removed with the test's tmp_path
        env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmpdir))
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = self._read(20.0)
        assert ready == {"ok": True, "result": "ready"}, ready

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._sel.select(max(0.0, deadline - time.monotonic())):
                line = self.proc.stdout.readline()
                if not line:
                    raise AssertionError(
                        f"peer exited: {self.proc.wait(5)} {self.proc.stderr.read()[-3000:]}"
                    )
                return json.loads(line)
        raise AssertionError(f"peer gave no reply within {timeout} s")

    def cmd(self, op: str, timeout: float = 15.0, **kw: Any) -> Any:
        self.proc.stdin.write(json.dumps({"op": op, "timeout": timeout, **kw}) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout + 5.0)
        if not reply["ok"]:
            raise AssertionError(reply["error"] + "\n" + reply.get("trace", ""))
        return reply["result"]

    def kill(self) -> None:
        """Kill the peer and its someipy daemon at once (no StopOffer: a crash)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            stream.close()


def write_manifest(
    tmp_path: pathlib.Path, name: str = "svc.yaml", protocol: str = "udp", **overrides: Any
) -> pathlib.Path:
    """The example manifest, with every event/method/field on ``protocol`` and top-level overrides."""
    data = yaml.safe_load(EXAMPLE.read_text())
    for section in ("events", "methods", "fields"):
        for item in data[section]:
            item["protocol"] = protocol
    data["sd"]["ttl"] = 2
    data["sd"]["cyclic_offer_delay_ms"] = 200
    data.update(overrides)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def peers(netns, tmp_path):
    """Factory: ``peers(role, manifest, side)`` starts a peer in namespace a or b; all closed afterwards."""
    started: list[Peer] = []

    def start(role: str, manifest: pathlib.Path, side: str) -> Peer:
        ns, ip = (netns.ns_a, netns.ip_a) if side == "a" else (netns.ns_b, netns.ip_b)
        peer = Peer([*netns.exec_prefix(ns), sys.executable, str(PEER), role, str(manifest), ip], tmp_path)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.close()

"""Fixtures of the CAN tests: a private network namespace for buses between processes."""

from __future__ import annotations

import select
import shutil
import subprocess

import pytest

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def netns():
    """The ``nsenter`` prefix of a fresh network namespace with multicast on its loopback."""
    pytest.importorskip("msgpack", reason="python-can's udp_multicast needs msgpack")
    if not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
        pytest.skip("needs unshare, nsenter and ip (util-linux, iproute2)")
    holder = subprocess.Popen(
        [
            "unshare",
            "-rn",
            "sh",
            "-c",
            "ip link set lo up && ip route add 224.0.0.0/4 dev lo && echo ready && exec sleep 3600",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([holder.stdout], [], [], TIMEOUT)
        if not ready or holder.stdout.readline().strip() != "ready":
            pytest.skip(
                f"cannot make a network namespace here: {holder.stderr.read() if holder.poll() else ''}"
            )
        yield ["nsenter", "-t", str(holder.pid), "-U", "-n", "--preserve-credentials"]
    finally:
        holder.kill()
        holder.wait(TIMEOUT)

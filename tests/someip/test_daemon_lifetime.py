"""The someipy daemon does not outlive its host: a SIGKILLed host (no chance to stop it) leaves
no daemon, no SD port bound and no temporary directory."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time

import pytest

from tests.someip.conftest import write_manifest

pytestmark = pytest.mark.netns


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _sd_port_bound(netns) -> bool:
    out = subprocess.run(
        [*netns.exec_prefix(netns.ns_a), "ss", "-Hulpn", "sport = :30490"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    return bool(out.stdout.strip())


def test_daemon_exits_with_a_sigkilled_host(peers, tmp_path, netns):
    provider = peers("provide", write_manifest(tmp_path), "a")
    info = provider.cmd("daemon")
    assert _alive(info["pid"]) and pathlib.Path(info["dir"]).is_dir() and _sd_port_bound(netns)
    os.kill(provider.proc.pid, signal.SIGKILL)  # the host only, not its process group
    provider.proc.wait(10)
    deadline = time.monotonic() + 5
    while _alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(info["pid"]), "someipy daemon still running after its host was killed"
    assert not pathlib.Path(info["dir"]).exists()
    assert not _sd_port_bound(netns)

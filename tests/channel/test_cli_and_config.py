"""Channel file validation, its committed JSON Schema, and the vmw channel / linkproxy commands."""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import sys

import pytest

from vehicle_mw.cli.cmd_channel import channel_schema
from vehicle_mw.manifest import ManifestError, load_manifest
from vehicle_mw.manifest.channel import ChannelConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]


def vmw(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", *args], capture_output=True, text=True, timeout=timeout
    )


def test_committed_schema_equals_the_model():
    committed = json.loads((ROOT / "manifests/schemas/channel.schema.json").read_text())
    assert committed == channel_schema(), "run: vmw channel schema > manifests/schemas/channel.schema.json"


def test_example_manifest_loads():
    cfg = load_manifest(ROOT / "manifests/channel.example.yaml", ChannelConfig)
    assert cfg.policy.prefer == "grpc" and cfg.tls is not None


def test_bad_channel_file_names_file_and_field(tmp_path):
    bad = tmp_path / "channel.yaml"
    bad.write_text("vehicle_id: V\nwebsocket_url: http://x/v1/link\n")
    with pytest.raises(ManifestError) as err:
        load_manifest(bad, ChannelConfig)
    text = str(err.value)
    assert str(bad) in text and "ws://" in text
    bad.write_text("vehicle_id: V\ngrpc_target: h:1\npolicy: {rtt_low_ms: 500}\n")
    with pytest.raises(ManifestError, match="policy: .*hysteresis"):
        load_manifest(bad, ChannelConfig)


def test_linkproxy_cli_serves_and_is_controlled_at_runtime():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        control = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "linkproxy",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:9",
            "--control",
            str(control),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "control port" in proc.stdout.readline()  # listening now
        out = vmw("linkproxy", "set", "--control", f"127.0.0.1:{control}", "delay_ms=80", "blackhole=on")
        assert out.returncode == 0, out.stderr
        state = json.loads(out.stdout)
        assert state["impairment"]["delay_ms"] == 80 and state["impairment"]["blackhole"] is True
        out = vmw("linkproxy", "set", "--control", f"127.0.0.1:{control}", "loss=7")
        assert out.returncode == 1 and "loss must be within 0..1" in out.stderr
        out = vmw("linkproxy", "set", "--control", f"127.0.0.1:{control}", "colour=1")
        assert out.returncode == 1 and "KEY=VALUE" in out.stderr
        out = vmw("linkproxy", "clear", "--control", f"127.0.0.1:{control}")
        assert json.loads(out.stdout)["impairment"]["delay_ms"] == 0
    finally:
        proc.terminate()
        proc.wait(10)


def test_outbox_cli_reports_backlog(tmp_path):
    from channel_rig import make_samples

    from vehicle_mw.store import Outbox

    with Outbox(tmp_path) as box:
        box.append(make_samples(0, 5000))
    out = vmw("channel", "outbox", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "backlog_records  5000" in out.stdout

"""``vmw gateway`` and friends with bad input: paths, busy ports, missing files, closed pipes.

Each is a one-line error naming what is wrong (no traceback), and nothing is created on the way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import yaml

from vehicle_mw.manifest.gateway import GatewayConfig, load_gateway_config

from .helpers import ROOT


def vmw(*args: str, cwd=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def one_line_error(out: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("vmw: error:")]
    assert "Traceback" not in out.stderr, out.stderr
    assert len(lines) == 1, out.stderr
    return lines[0]


# ----------------------------------------------------------------- config paths


def test_relative_paths_in_a_gateway_file_mean_its_folder(tmp_path):
    folder = tmp_path / "etc" / "vmw"
    folder.mkdir(parents=True)
    (folder / "gw.yaml").write_text(
        "database: data/gw.sqlite\ntoken_secret_file: token.secret\n"
        "tls: {cert: ../pki/s.crt, key: /abs/s.key, client_ca: ca.crt}\n"
    )
    cfg = load_gateway_config(folder / "gw.yaml")
    assert cfg.database == str(folder / "data" / "gw.sqlite")
    assert cfg.token_secret_file == str(folder / "token.secret")
    assert cfg.tls is not None
    assert (cfg.tls.cert, cfg.tls.key, cfg.tls.client_ca) == (
        str(tmp_path / "etc" / "pki" / "s.crt"),
        "/abs/s.key",
        str(folder / "ca.crt"),
    )
    assert GatewayConfig(database=":memory:").relative_to(folder).database == ":memory:"


def test_serve_from_another_directory_uses_the_files_beside_the_config(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    assert vmw("gateway", "secret", str(folder / "token.secret")).returncode == 0
    (folder / "gw.yaml").write_text(
        yaml.safe_dump(
            {
                "database": "gw.sqlite",
                "token_secret_file": "token.secret",
                "grpc_port": 0,
                "ws_port": 0,
                "http_port": None,
                "sqlite_synchronous": "normal",
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "vehicle_mw", "gateway", "serve", "--config", "../conf/gw.yaml"],
        cwd=elsewhere,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("gateway "), proc.stderr.read() if proc.poll() is not None else line
        assert (folder / "gw.sqlite").exists()
        assert not (elsewhere / "gw.sqlite").exists() and not any(elsewhere.iterdir())
    finally:
        proc.terminate()
        proc.wait(15)
    # the operator CLI reads 'database' the same way
    out = vmw("gateway", "operator", "list", "--config", "../conf/gw.yaml", cwd=elsewhere)
    assert out.returncode == 0, out.stderr


# ----------------------------------------------------------------- busy ports


@pytest.mark.parametrize("endpoint", ["grpc", "ws", "http"])
def test_a_busy_port_is_a_one_line_error_naming_the_address(tmp_path, endpoint):
    holder = socket.socket()
    # SO_REUSEPORT as another gRPC server sets it: the gateway must still not share the port
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    ports = {"grpc": "0", "ws": "0", "http": "0"} | {endpoint: str(port)}
    try:
        out = vmw(
            "gateway", "serve", "--database", str(tmp_path / "gw.sqlite"),
            "--grpc-port", ports["grpc"], "--ws-port", ports["ws"], "--http-port", ports["http"],
            timeout=30,
        )  # fmt: skip
    finally:
        holder.close()
    assert out.returncode == 2, out.stderr
    line = one_line_error(out)
    assert f"127.0.0.1:{port}" in line and endpoint in line, line
    assert "http_failed" not in out.stderr and "Errno" not in out.stderr


# ----------------------------------------------------------------- no side effects


def test_revoke_on_a_missing_database_creates_nothing(tmp_path):
    out = vmw("gateway", "revoke", "VIN1", "--database", "nope.sqlite", cwd=tmp_path)
    assert out.returncode == 2
    line = one_line_error(out)
    assert "nope.sqlite" in line and "revoked" not in out.stdout
    assert list(tmp_path.iterdir()) == []
    tokens = vmw("gateway", "revoke", "VIN1", "--database", "nope.sqlite", "--token-id", "x", cwd=tmp_path)
    assert tokens.returncode == 2 and "nope.sqlite" in one_line_error(tokens)
    assert list(tmp_path.iterdir()) == []


def test_channel_outbox_of_a_missing_folder_creates_nothing(tmp_path):
    missing = tmp_path / "nonexistent"
    out = vmw("channel", "outbox", str(missing))
    assert out.returncode == 2
    assert str(missing) in one_line_error(out)
    assert not missing.exists()


@pytest.mark.parametrize(
    "args",
    [("gateway", "schema"), ("channel", "schema"), ("--help",)],
)
def test_printing_into_a_closed_pipe_is_quiet(args):
    """`vmw gateway schema | head -1`: no BrokenPipe traceback, no 'Exception ignored' note."""
    r, w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vehicle_mw", *args], stdout=w, stderr=subprocess.PIPE, cwd=ROOT
    )
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        assert reader.read(1)  # it started printing; now the reader goes away like `head` does
    deadline = time.monotonic() + 30
    _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    assert b"Traceback" not in err and b"BrokenPipe" not in err and b"Exception ignored" not in err, err
    assert proc.returncode in (0, 141)


# ----------------------------------------------------------------- JSON logs


def test_json_logs_are_one_flat_object_per_line(tmp_path):
    import json

    proc = subprocess.Popen(
        [
            sys.executable, "-m", "vehicle_mw", "gateway", "serve", "--database", str(tmp_path / "gw.sqlite"),
            "--grpc-port", "0", "--ws-port", "0", "--http-port", "0",
            "--log-format", "json", "--log-level", "info",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("gateway "), proc.stderr.read() if proc.poll() else ""
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    objects = [json.loads(ln) for ln in lines]  # every line is JSON...
    assert all(isinstance(o, dict) for o in objects)  # ...an object
    events = {o["event"]: o for o in objects}
    assert {"gateway_started", "no_operators", "gateway_stopped"} <= events.keys(), lines
    started = events["gateway_started"]
    assert started["level"] == "info" and started["logger"] == "vehicle_mw.gateway"
    assert started["gateway_id"] == "gw-local" and isinstance(started["grpc"], int) and "timestamp" in started
    assert not any(isinstance(o["event"], str) and o["event"].startswith("{") for o in objects)

"""`vmw vehicle run` in the foreground and `vmw vehicle status` / Prometheus / JSON logs while it runs."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from runtime_rig import (
    GNSS_DBC,
    GNSS_TRACE,
    LocalGateway,
    duplicates,
    expected_samples,
    run_name,
    shm_segments,
    stored_by_source,
    wait_until,
    write_manifests,
)


def _vmw(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", *args], capture_output=True, text=True, timeout=60, **kw
    )


def _read_metrics_port(proc: subprocess.Popen, timeout: float) -> int:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(0.5):
            line = proc.stdout.readline()
            assert line, f"vmw vehicle run exited: {proc.poll()}"
            if line.startswith("metrics"):
                return int(line.rsplit(":", 1)[1].split("/")[0])
    raise AssertionError("no metrics line")


def test_run_status_metrics_and_json_logs(tmp_path):
    bus = {
        "interface": "replay",
        "file": str(GNSS_TRACE),
        "speed": 4,
        "loop": True,
        "databases": [str(GNSS_DBC)],
    }
    with LocalGateway(tmp_path) as gw:
        machine, _ = write_manifests(tmp_path / "m", gw, [dict(bus, name="pt")], deployment="t-cli")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vehicle_mw",
                "vehicle",
                "run",
                "--machine",
                str(machine),
                "--metrics-port",
                "0",
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            stderr=open(tmp_path / "log.jsonl", "w"),
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            port = _read_metrics_port(proc, 60)
            wait_until(lambda: gw.sample_count() > 100, 60, "samples at the gateway")

            def status() -> dict:
                out = _vmw("vehicle", "status", "--machine", str(machine), "--json")
                return json.loads(out.stdout) if out.returncode == 0 else {}

            wait_until(lambda: status().get("uplink", {}).get("counters", {}).get("transport"), 30, "a link")
            docs = status()
            assert set(docs) == {"can", "decode", "uplink"} and all(d["running"] for d in docs.values())
            assert docs["can"]["counters"]["buses"]["pt"]["frames"] > 0
            assert docs["decode"]["counters"]["buses"]["pt"]["decoded"] > 0
            table = _vmw("vehicle", "status", "--machine", str(machine))
            assert table.returncode == 0 and "bus pt" in table.stdout and "transport" in table.stdout
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            assert f'vmw_can_frames_total{{bus="pt",deployment="{run_name("t-cli")}"}}' in body
            assert "vmw_link_rtt_ms" in body and "vmw_outbox_backlog_batches" in body
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    assert proc.returncode == 0
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines() if line.strip()]
    events = [r["event"] for r in records]
    assert "runtime starting" in events and "stage started" in events and "runtime stopped" in events
    assert any(r["event"] == "link switch" for r in records)
    assert shm_segments("t-cli") == []


def _vehicle_run(machine, *extra: str, env: dict | None = None, log=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vehicle_mw", "vehicle", "run", "--machine", str(machine), "--quiet", *extra],
        stdout=subprocess.DEVNULL,
        stderr=log or subprocess.DEVNULL,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
    )


def test_sigkill_of_the_whole_threads_runtime_then_restart_delivers_exactly_once(tmp_path):
    """systemd restarts a threads-mode runtime that was killed: the rings of the deployment are
    rejoined (not reclaimed empty), the replay resumes, nothing is lost or doubled, /dev/shm ends clean."""
    expected = expected_samples(GNSS_TRACE, GNSS_DBC)
    bus = {"interface": "replay", "file": str(GNSS_TRACE), "speed": 30, "databases": [str(GNSS_DBC)]}
    with LocalGateway(tmp_path) as gw:
        machine, _ = write_manifests(tmp_path / "m", gw, [dict(bus, name="pt")], deployment="t-crash")
        first = _vehicle_run(machine)
        try:
            wait_until(lambda: gw.sample_count() > 500, 60, "samples before the kill")
        finally:
            first.kill()
            first.wait(30)
        assert shm_segments("t-crash")  # left behind by the crash ...
        second = _vehicle_run(machine)
        try:
            wait_until(lambda: gw.sample_count() >= sum(expected.values()), 120, "the rest after the restart")
            time.sleep(0.5)  # a duplicate would be in flight now
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(60)
        assert second.returncode == 0
        assert duplicates(gw) == 0 and stored_by_source(gw) == {0: expected}
    assert shm_segments("t-crash") == []  # ... and removed by the clean stop


def test_systemd_ready_watchdog_and_stopping(tmp_path):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    bus = {"interface": "replay", "file": str(GNSS_TRACE), "speed": 1, "databases": [str(GNSS_DBC)]}
    with LocalGateway(tmp_path) as gw:
        machine, _ = write_manifests(tmp_path / "m", gw, [dict(bus, name="pt")], deployment="t-notify")
        proc = _vehicle_run(machine, env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"})
        got: list[str] = []
        try:
            while not any(m.startswith("WATCHDOG=1") for m in got):
                got.append(sock.recv(4096).decode())
            assert any("READY=1" in m for m in got)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        sock.settimeout(5)
        rest = []
        with contextlib.suppress(TimeoutError):
            while not any("STOPPING=1" in m for m in rest):
                rest.append(sock.recv(4096).decode())
        sock.close()
    assert proc.returncode == 0 and any("STOPPING=1" in m for m in rest)

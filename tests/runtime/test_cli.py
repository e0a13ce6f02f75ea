"""`vmw vehicle run` in the foreground and `vmw vehicle status` / Prometheus / JSON logs while it runs."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request

from runtime_rig import GNSS_DBC, GNSS_TRACE, LocalGateway, shm_segments, wait_until, write_manifests


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
            assert 'vmw_can_frames_total{bus="pt",deployment="t-cli"}' in body
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

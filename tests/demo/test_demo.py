"""`make run` end to end, bounded: real trace -> runtime -> TLS channel -> gateway, nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import can
import cantools

from vehicle_mw.demo import DBC, TRACE, VEHICLE_ID


def vmw_demo(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vehicle_mw", "demo", "--workdir", str(tmp_path), "--http-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def check_database(db: str, frames_replayed: int) -> None:
    conn = sqlite3.connect(db)
    total, distinct = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT source_id || ':' || signal_id || ':' || source_seq) FROM samples"
    ).fetchone()
    names = {r[0] for r in conn.execute("SELECT name FROM signals")}
    vehicles = [r[0] for r in conn.execute("SELECT vehicle_id FROM vehicles")]
    transports = {r[0] for r in conn.execute("SELECT transport FROM sessions")}
    conn.close()
    assert vehicles == [VEHICLE_ID]
    assert total == distinct > 0, "each decoded sample stored exactly once"
    assert {"gnss_pos.Latitude", "gnss_speed.Speed"} <= names
    assert transports <= {"grpc", "websocket"} and transports
    # the samples are what the DBC decodes from the frames replayed (the trace's first frames)
    db_ = cantools.database.load_file(str(DBC))
    known = {m.frame_id: m for m in db_.messages}
    expected = 0
    for n, frame in enumerate(can.LogReader(str(TRACE))):
        if n == frames_replayed:
            break
        msg = known.get(frame.arbitration_id)
        if msg is not None and len(frame.data) >= msg.length:
            expected += len(msg.decode(frame.data, decode_choices=False))
    assert total == expected


def final_counts(out: str) -> tuple[int, int, int]:
    final = next(line for line in out.splitlines() if line.startswith("final: "))
    fields = dict(kv.split("=", 1) for kv in final.split() if "=" in kv)
    return int(fields["frames"]), int(fields["samples"]), int(fields["stored"])


def test_demo_with_duration_delivers_everything(tmp_path):
    proc = vmw_demo(tmp_path, "--duration", "4", "--speed", "8")
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    assert "dashboard  http://127.0.0.1:" in out
    assert "login      user demo  password " in out  # the demo's admin operator (docs/gateway.md)
    frames, samples, stored = final_counts(out)
    assert frames > 100 and samples == stored
    assert "nothing lost" in out
    check_database(str(tmp_path / "gateway.sqlite"), frames)


def test_demo_stops_cleanly_on_ctrl_c(tmp_path):
    proc = vmw_demo(tmp_path, "--speed", "8")
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # wait until the pipeline reports progress
        lines.append(line)
        if line.startswith("t="):
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    frames, samples, stored = final_counts(out)
    assert samples == stored > 0
    check_database(str(tmp_path / "gateway.sqlite"), frames)

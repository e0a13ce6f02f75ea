"""`make run` end to end, bounded: real trace -> runtime -> TLS channel (through the impairment
proxies) -> gateway; the scripted bad gRPC link moves the channel to WebSocket and back; nothing lost."""

from __future__ import annotations

import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import can
import cantools
import yaml

from vehicle_mw.demo import DBC, TRACE, VEHICLE_ID
from vehicle_mw.runtime import load_deployment


def vmw_demo(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "demo",
            "--workdir",
            str(tmp_path),
            "--http-port",
            "0",
            "--deployment",
            deployment(tmp_path),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def deployment(tmp_path) -> str:
    return f"demo-test-{os.getpid()}-{tmp_path.name}"[:60]


def our_rings(tmp_path) -> list[str]:
    return [e.path for e in os.scandir("/dev/shm") if e.name.startswith(f"vmw.{deployment(tmp_path)}.")]


def expected_samples(frames_replayed: int) -> int:
    """What the DBC decodes from the first ``frames_replayed`` frames of the looping trace."""
    db_ = cantools.database.load_file(str(DBC))
    known = {m.frame_id: m for m in db_.messages}
    per_frame = []
    for frame in can.LogReader(str(TRACE)):
        msg = known.get(frame.arbitration_id)
        ok = msg is not None and len(frame.data) >= msg.length
        per_frame.append(len(msg.decode(frame.data, decode_choices=False)) if ok else 0)
    return sum(itertools.islice(itertools.cycle(per_frame), frames_replayed))


def check_database(db: str, frames_replayed: int) -> sqlite3.Connection:
    conn = sqlite3.connect(db)
    total, distinct = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT source_id || ':' || signal_id || ':' || source_seq) FROM samples"
    ).fetchone()
    names = {r[0] for r in conn.execute("SELECT name FROM signals")}
    vehicles = [r[0] for r in conn.execute("SELECT vehicle_id FROM vehicles")]
    transports = {r[0] for r in conn.execute("SELECT transport FROM sessions")}
    assert vehicles == [VEHICLE_ID]
    assert total == distinct > 0, "each decoded sample stored exactly once"
    assert {"gnss_pos.Latitude", "gnss_speed.Speed"} <= names
    assert transports <= {"grpc", "websocket"} and transports
    assert total == expected_samples(frames_replayed)
    return conn


def final_counts(out: str) -> tuple[int, int, int]:
    final = next(line for line in out.splitlines() if line.startswith("final: "))
    fields = dict(kv.split("=", 1) for kv in final.split() if "=" in kv)
    return int(fields["frames"]), int(fields["samples"]), int(fields["stored"])


def read_until(proc: subprocess.Popen, done, timeout: float) -> list[str]:
    """Lines of the demo's output until ``done(lines)`` holds (bounded by ``timeout``)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if done(lines) or time.monotonic() > deadline:
            break
    return lines


def test_demo_with_duration_delivers_everything(tmp_path):
    proc = vmw_demo(tmp_path, "--duration", "4", "--speed", "8")
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    assert "dashboard  http://127.0.0.1:" in out
    assert "login      user demo  password " in out  # the demo's admin operator (docs/gateway.md)
    assert "script     skipped" in out  # 4 s leave no time for the bad link and the way back
    frames, samples, stored = final_counts(out)
    assert frames > 100 and samples == stored
    assert "nothing lost" in out and not our_rings(tmp_path)
    check_database(str(tmp_path / "gateway.sqlite"), frames).close()
    # the manifests the demo wrote are ones the runtime loads as they are (an integrator's copy)
    dep = load_deployment(tmp_path / "machine.yaml", tmp_path / "channel.yaml")
    assert dep.buses[0].interface == "replay" and dep.buses[0].loop
    assert dep.channel.tls is not None and dep.channel.tls.cert_file.endswith(f"{VEHICLE_ID}.crt")
    assert yaml.safe_load((tmp_path / "machine.yaml").read_text())["runtime"]["channel"] == "channel.yaml"


SWITCH = re.compile(r"^link       (\S+) -> (\S+): (.+)$")


def test_bad_grpc_link_moves_to_websocket_and_back(tmp_path):
    proc = vmw_demo(tmp_path, "--speed", "4", "--impair-at", "1", "--impair-for", "10")
    try:

        def back_on_grpc(lines: list[str]) -> bool:
            moves = [m.groups() for line in lines if (m := SWITCH.match(line.rstrip()))]
            away = [i for i, (a, b, _) in enumerate(moves) if (a, b) == ("grpc", "websocket")]
            return bool(away) and any(b == "grpc" for _, b, _ in moves[away[0] + 1 :])

        lines = read_until(proc, back_on_grpc, timeout=90)
        assert back_on_grpc(lines), "".join(lines)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            for ring in our_rings(tmp_path):  # a killed demo cannot remove its rings
                os.unlink(ring)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert "script     impairing the gRPC link" in out
    assert not our_rings(tmp_path)
    moves = [m.groups() for line in lines if (m := SWITCH.match(line.rstrip()))]
    away = next(reason for a, b, reason in moves if (a, b) == ("grpc", "websocket"))
    # +300 ms RTT and 20 % loss show as high RTT, loss, or probes unanswered (half-open): all three
    # are the impairment's doing and the monitor's words for it
    assert re.match(r"(rtt \d+\+\d+ ms > 250 ms|loss 0\.\d+ > 0\.20|active link half-open)", away), away
    assert ("websocket", "grpc", "preferred link healthy again") in moves
    # the final summary repeats the switches with their reasons; nothing lost
    assert f"link switch grpc -> websocket: {away}" in out
    frames, samples, stored = final_counts(out)
    assert samples == stored > 0 and "nothing lost" in out
    conn = check_database(str(tmp_path / "gateway.sqlite"), frames)
    # the gateway's link history (what the dashboard's link table shows) has both with reasons
    events = conn.execute(
        "SELECT from_transport, to_transport, reason FROM link_events ORDER BY ts_ns"
    ).fetchall()
    conn.close()
    assert ("grpc", "websocket", away) in events
    assert ("websocket", "grpc", "preferred link healthy again") in events


def test_demo_stops_cleanly_on_ctrl_c(tmp_path):
    proc = vmw_demo(tmp_path, "--speed", "8", "--no-impair")
    lines = read_until(proc, lambda ls: ls[-1].startswith("t="), timeout=60)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    frames, samples, stored = final_counts(out)
    assert samples == stored > 0
    check_database(str(tmp_path / "gateway.sqlite"), frames).close()
    assert not our_rings(tmp_path)  # a clean stop leaves no shared memory behind

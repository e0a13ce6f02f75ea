"""``vmw decode`` with bad or empty logs, and its CSV values as cantools prints them."""

from __future__ import annotations

import csv
import pathlib
import subprocess
import sys

DBC = pathlib.Path(__file__).resolve().parents[2] / "hil" / "dbc" / "body.dbc"


def _vmw(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_garbage_log_names_file_and_line(tmp_path):
    log = tmp_path / "bad.log"
    log.write_text("(1.000000) vcan0 130#03\n\n(1.100000) vcan0 130#01\nhello world\n")
    out = _vmw("decode", "--db", str(DBC), "--log", str(log))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    err = [ln for ln in out.stderr.splitlines() if ln.startswith("vmw: error:")]
    assert len(err) == 1 and f"{log}: line 4:" in err[0] and "hello world" in err[0], out.stderr


def test_empty_log_says_so(tmp_path):
    log = tmp_path / "empty.log"
    log.write_text("")
    out = _vmw("decode", "--db", str(DBC), "--log", str(log))
    assert out.returncode == 0  # as cantools decode on empty input
    assert "no frames" in out.stderr and str(log) in out.stderr


def test_missing_log_writes_no_csv_header(tmp_path):
    out = _vmw("decode", "--db", str(DBC), "--log", str(tmp_path / "missing.log"))
    assert out.returncode == 1 and "missing.log: log file not found" in out.stderr
    assert out.stdout == ""
    to_file = _vmw("decode", "--db", str(DBC), "--log", "missing.log", "--csv", "out.csv", cwd=tmp_path)
    assert to_file.returncode == 1 and not (tmp_path / "out.csv").exists()


def test_one_bit_signals_print_as_0_and_1(tmp_path):
    log = tmp_path / "doors.log"
    log.write_text("(1.000000) vcan0 130#0500\n(1.100000) vcan0 130#0200\n")  # DoorFL=1 Locked=1, DoorFR=1
    out = _vmw("decode", "--db", str(DBC), "--log", str(log), "--signals", "DoorStatus.*")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(out.stdout.splitlines()))
    values = {(r["timestamp"], r["signal"]): r["value"] for r in rows}
    assert values[("1.000000", "DoorStatus.DoorFL")] == "1"
    assert values[("1.000000", "DoorStatus.DoorFR")] == "0"
    assert values[("1.100000", "DoorStatus.DoorFR")] == "1"
    assert {r["value"] for r in rows} == {"0", "1"}

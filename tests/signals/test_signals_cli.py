"""``vmw decode`` as a user runs it (a real subprocess)."""

from __future__ import annotations

import csv
import pathlib
import subprocess
import sys

import can

from vehicle_mw.can import frames_from_messages
from vehicle_mw.signals import Decoder, load_catalog

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "opendbc"
DBC = DATA / "toyota_prius_2010_pt.dbc"
LOG = DATA / "prius_random.log"


def _vmw(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", *args], capture_output=True, text=True, timeout=120
    )


def test_decode_to_csv_writes_every_sample(tmp_path):
    out = tmp_path / "out.csv"
    proc = _vmw("decode", "--db", str(DBC), "--log", str(LOG), "--csv", str(out), "--labels")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    catalog = load_catalog(DBC)
    samples = Decoder(catalog).decode_array(frames_from_messages(can.LogReader(str(LOG))))
    assert len(rows) == len(samples)
    assert [r["signal"] for r in rows] == [catalog.by_id(i).name for i in samples["signal_id"].tolist()]
    labelled = [r for r in rows if r["label"]]
    assert labelled and all(catalog.find(r["signal"]).choices for r in labelled)
    assert "2 unknown id, 1 too short" in proc.stderr


def test_decode_selected_signals_only():
    proc = _vmw(
        "decode", "--db", str(DBC), "--log", str(LOG), "--signals", "GEAR_PACKET.GEAR", "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 + 40  # header + one value per GEAR_PACKET frame
    assert all(",GEAR_PACKET.GEAR," in line for line in lines[1:])


def test_a_database_cantools_rejects_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.dbc"
    bad.write_text("BO_ nonsense\n")
    proc = _vmw("decode", "--db", str(bad), "--log", str(LOG))
    assert proc.returncode == 1
    assert "bad.dbc" in proc.stderr and "Traceback" not in proc.stderr

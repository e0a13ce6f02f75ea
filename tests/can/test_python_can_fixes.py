"""vehicle_mw/_python_can_fixes.py: python-can without asammdf's import cost, MF4 still on demand."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_importing_can_through_vehicle_mw_does_not_load_asammdf():
    out = _run(
        "import sys, vehicle_mw, can, cantools\n"
        "import vehicle_mw.can, vehicle_mw.signals\n"
        "print(sorted(m for m in ('asammdf', 'pandas', 'canmatrix') if m in sys.modules))"
    )
    assert out == "[]"


def test_an_mf4_log_is_written_and_replayed_after_the_deferred_import(tmp_path):
    pytest.importorskip("asammdf", reason="MF4 logs need asammdf (extra 'mf4')")
    path = tmp_path / "trace.mf4"
    out = _run(
        "import vehicle_mw, can\n"
        "from vehicle_mw._python_can_fixes import load_mf4_support\n"
        "from vehicle_mw.can.replay import open_log\n"
        "assert load_mf4_support()\n"
        f"w = can.Logger({str(path)!r})\n"
        "for i in range(5):\n"
        "    m = can.Message(timestamp=1.0 + i, arbitration_id=0x100 + i, data=bytes([i] * 8))\n"
        "    w.on_message_received(m)\n"
        "w.stop()\n"
        f"print([hex(m.arbitration_id) for m in open_log({str(path)!r})])"
    )
    assert out == str([hex(0x100 + i) for i in range(5)])

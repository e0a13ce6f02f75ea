"""vehicle_mw/_structlog_fixes.py: structlog without rich's traceback renderer, JSON logs unchanged."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_structlog_through_vehicle_mw_does_not_load_rich_tracebacks_and_still_logs_json():
    out = _run(
        "import sys, vehicle_mw, structlog\n"
        "structlog.configure(processors=[structlog.processors.JSONRenderer()],\n"
        "                    logger_factory=structlog.PrintLoggerFactory(sys.stdout))\n"
        "structlog.get_logger().info('started', stage='decode')\n"
        "print(sorted(m for m in ('rich.traceback', 'pygments') if m in sys.modules))\n"
        "import rich.console\n"  # rich itself stays importable for the terminal summary
        "print(structlog.dev.rich is None)"
    )
    line, loaded, plain = out.splitlines()
    assert json.loads(line) == {"event": "started", "stage": "decode"}
    assert loaded == "[]"
    assert plain == "True"


def test_rich_tracebacks_come_back_on_demand():
    out = _run(
        "import vehicle_mw, structlog\n"
        "from vehicle_mw._structlog_fixes import load_rich_tracebacks\n"
        "dev = structlog.dev\n"
        "print(load_rich_tracebacks(), dev.rich is not None, hasattr(dev, 'rich_traceback'))"
    )
    assert out == "True True True"

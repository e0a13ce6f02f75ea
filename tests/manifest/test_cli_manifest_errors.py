"""Every command that reads a manifest answers a broken one with a one-line error, never a traceback.

Exit code: 1 (``vmw: error: ...``, the CLI's convention for VehicleMwError); ``someip check``
keeps its own 2 for "manifest invalid". The loader's cases are covered one by one in
test_loading_limits.py; here each command gets a different one, run in parallel.
"""

from __future__ import annotations

import subprocess
import sys

CASES = [
    (["channel", "check"], b"a: 1\n\xff\n", 1, "line 2, column 1: not UTF-8 text"),
    (["someip", "check"], b"a: " + b"[" * 3000 + b"]" * 3000, 2, "nested more than 64 levels deep"),
    (["run"], b"a: " + b"9" * 5000, 1, "line 1, column 4: integer of 5000 digits is out of range"),
    (["gateway", "serve", "--config"], b"- 1\n", 1, "<top>: the top level must be a mapping"),
]


def test_each_command_reports_a_broken_manifest_in_one_line(tmp_path):
    procs = []
    for i, (argv, content, _, _) in enumerate(CASES):
        path = tmp_path / f"bad{i}.yaml"
        path.write_bytes(content)
        cmd = [sys.executable, "-m", "vehicle_mw", *argv, str(path)]
        procs.append((path, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    try:
        for (path, proc), (argv, _, code, reason) in zip(procs, CASES, strict=True):
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == code, (argv, err)
            (line,) = err.strip().splitlines()
            assert f"invalid manifest: {path}: " in line and reason in line, (argv, err)
    finally:
        for _, proc in procs:
            proc.kill()
            proc.wait()

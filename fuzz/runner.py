"""Run fuzz targets, each in its own libFuzzer subprocess, and collect what they found.

A finding stops a target's run (libFuzzer's default); its input is written under
``fuzz/findings/<target>/`` as ``crash-*`` (unexpected exception or signal), ``timeout-*`` (an input
slower than ``timeout_s``: a hang) or ``oom-*`` (past ``rss_limit_mb``).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from fuzz.harness import CORPUS, FINDINGS, ROOT

_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STATUS = re.compile(r"^#(\d+)\s", re.M)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass(frozen=True)
class FuzzResult:
    """What one target's run did."""

    target: str
    inputs: int
    crashes: list[str]
    hangs: list[str]
    ooms: list[str]
    seconds: float
    returncode: int
    log: str
    known: dict[str, int]  # tolerated known findings (fuzz.known): reason -> inputs that hit it

    @property
    def findings(self) -> list[str]:
        return self.crashes + self.hangs + self.ooms

    @property
    def clean(self) -> bool:
        return not self.findings and self.returncode == 0


def libfuzzer_args(
    target: str,
    runs: int,
    max_time: float,
    timeout_s: int,
    rss_limit_mb: int,
    work: pathlib.Path | None = None,
) -> list[str]:
    """Flags and corpus folders: new inputs go to ``work`` (default findings/<target>/corpus, gitignored,
    kept between runs so coverage accumulates), seeds are read from corpus/<target>."""
    (FINDINGS / target).mkdir(parents=True, exist_ok=True)
    work = work or FINDINGS / target / "corpus"
    work.mkdir(parents=True, exist_ok=True)
    seeds = CORPUS / target
    args = [
        f"-runs={runs}",
        f"-max_total_time={max(1, int(max_time))}",
        f"-timeout={timeout_s}",
        f"-rss_limit_mb={rss_limit_mb}",
        "-max_len=65536",
        f"-artifact_prefix={FINDINGS / target}/",
        "-print_final_stats=1",
        str(work),
    ]
    if seeds.is_dir():
        args.append(str(seeds))
    return args


def run_target(
    target: str,
    runs: int = 1_000_000,
    max_time: float = 600,
    timeout_s: int = 10,
    rss_limit_mb: int = 2048,
    hard_timeout: float | None = None,
    tolerate_known: bool = True,
    work: pathlib.Path | None = None,
) -> FuzzResult:
    """Fuzz ``target`` for ``runs`` inputs or ``max_time`` seconds, whichever ends first.

    ``tolerate_known``: findings listed in :mod:`fuzz.known` are counted, not a stop.
    """
    cmd = [sys.executable, "-m", "fuzz.run_target", target]
    cmd += libfuzzer_args(target, runs, max_time, timeout_s, rss_limit_mb, work)
    env = dict(os.environ, PYTHONPATH=str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    report = FINDINGS / target / "known.json"
    report.unlink(missing_ok=True)
    if tolerate_known:
        env["VMW_FUZZ_KNOWN_REPORT"] = str(report)
    scratch = tempfile.mkdtemp(prefix=f"vmw-fuzz-{target}-")
    env["VMW_FUZZ_SCRATCH"] = scratch
    start = time.monotonic()
    limit = hard_timeout if hard_timeout is not None else max_time + 120
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT.parent, env=env, capture_output=True, text=True, errors="replace", timeout=limit
        )
        log, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        log = out.decode(errors="replace") if isinstance(out, bytes) else out
        log += f"\nrunner: killed after {limit:.0f} s (a hang the per-input timeout did not catch)"
        rc = -9
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - start
    done = _DONE.search(log)
    inputs = int(done.group(1)) if done else max((int(n) for n in _STATUS.findall(log)), default=0)
    artifacts = _ARTIFACT.findall(log)
    name = os.path.basename
    crashes = [a for a in artifacts if name(a).startswith(("crash-", "leak-"))]
    hangs = [a for a in artifacts if name(a).startswith("timeout-")]
    ooms = [a for a in artifacts if name(a).startswith("oom-")]
    if rc == -9:
        hangs.append("<whole run>")
    elif rc != 0 and not artifacts:
        crashes.append(f"<exit status {rc}>")
    known = json.loads(report.read_text()) if report.exists() else {}
    return FuzzResult(target, inputs, crashes, hangs, ooms, seconds, rc, log, known)


__all__ = ["FuzzResult", "libfuzzer_args", "run_target"]

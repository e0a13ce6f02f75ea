"""Per-stage counters published as small JSON files in the deployment's state folder.

A stage (thread or process) rewrites ``<state_dir>/<deployment>/<stage>.json`` atomically a few
times a second; ``vmw vehicle status``, the live summary and the Prometheus endpoint read them. A file
works the same whether the stage is a thread or a process, survives the reader's restarts, and needs
no server in the stage.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Any


def publish(state_dir: pathlib.Path, stage: str, counters: dict[str, Any]) -> None:
    """Replace the stage's counter file (write to a temporary name, then rename)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    doc = {"stage": stage, "pid": os.getpid(), "time": time.time(), "counters": counters}
    tmp = state_dir / f".{stage}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, default=str), encoding="utf-8")
    os.replace(tmp, state_dir / f"{stage}.json")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_all(state_dir: pathlib.Path) -> dict[str, dict[str, Any]]:
    """Every stage's last counters, with ``age_s`` and whether its process still runs."""
    out: dict[str, dict[str, Any]] = {}
    if not state_dir.is_dir():
        return out
    now = time.time()
    for path in sorted(state_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being replaced right now, or not ours
        doc["age_s"] = round(now - float(doc.get("time", 0)), 3)
        doc["running"] = _alive(int(doc.get("pid", 0)))
        out[doc.get("stage", path.stem)] = doc
    return out


def remove(state_dir: pathlib.Path, stage: str) -> None:
    try:
        (state_dir / f"{stage}.json").unlink()
    except FileNotFoundError:
        pass


__all__ = ["publish", "read_all", "remove"]

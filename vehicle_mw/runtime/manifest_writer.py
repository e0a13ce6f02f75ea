"""Writes a runtime deployment's manifests (machine, channel) as YAML files the runtime is built from.

Whoever composes a deployment in code -- ``vmw demo``, the HIL device under test, a benchmark --
writes its manifest documents with :func:`write_manifest` and then calls
``VehicleRuntime.from_manifests`` on the files, so what runs is exactly what the files say and the
files are a working starting point for a real deployment (docs/deployment.md).
"""

from __future__ import annotations

import pathlib
from typing import Any

import yaml


def write_manifest(
    path: pathlib.Path,
    doc: dict[str, Any],
    what: str,
    *,
    written_by: str,
    docs: str = "docs/deployment.md",
) -> pathlib.Path:
    """Write ``doc`` to ``path`` as YAML (keys in the order given) under a one-line comment saying
    what it is, who wrote it and where it is documented; returns ``path``."""
    header = f"# {what}, written by {written_by} ({docs})\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    return path


__all__ = ["write_manifest"]
